"""Typed evaluation samples and the loaders that build them from the on-disk test sets.

A sample carries what a predictor may use (the image, the audio and its sample rate) and the
ground truth, which only the oracle bounds and the scoring code read.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avloc.data.flickr import FlickrSample
from avloc.data.manifest import SceneClip
from avloc.data.music import DSOL_CATEGORIES, DsolVideo
from avloc.data.vggss import VggssSample

NormBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class LocalizationSample:
    """One image + audio pair of a single-source test set (Flickr-SoundNet, VGG-SS).

    Shape:
        image: (H, W, 3) uint8 RGB; audio: (T,) float32 in [-1, 1]; gt: (E, E) float64 at
        the protocol's evaluation size E.
    """

    id: str
    image: np.ndarray
    audio: np.ndarray
    sample_rate: int
    boxes: tuple[NormBox, ...]  # ground truth, normalised to the image given (oracle only)
    gt: np.ndarray = field(repr=False)  # the map scored against (consensus or union)


@dataclass(frozen=True)
class ClassAwareSample:
    """One frame of a scene-manifest clip or a DSOL-annotated video, for class-aware localization.

    Shape:
        image: (H, W, 3) uint8 RGB; audio: (T,) float32, the window around ``time_s``.
    """

    id: str  # "<clip_id>_<t_ms>"
    clip_id: str
    time_s: float
    image: np.ndarray
    audio: np.ndarray
    sample_rate: int
    vocabulary: tuple[str, ...]  # every class of the manifest, sorted
    sounding: tuple[str, ...]  # the classes sounding in this clip (sorted, unique)
    class_boxes: dict[str, tuple[NormBox, ...]] = field(repr=False)  # sounding class → boxes


@dataclass(frozen=True)
class SeparationSample:
    """One mix-and-separate mixture of solo clips of different classes.

    Shape:
        mixture: (T,) float32; references: (S, T) float32, each stem scaled by 1/S (what was
        summed); frames: S arrays (N, H, W, 3) uint8, N frames per source (N may be 0).
    """

    id: str
    mixture: np.ndarray
    references: np.ndarray = field(repr=False)
    frames: tuple[np.ndarray, ...] = field(repr=False)
    classes: tuple[str, ...]
    clip_ids: tuple[str, ...]
    sample_rate: int


def sample_time_id(clip_id: str, time_s: float) -> str:
    """The id of a clip frame: ``<clip_id>_<t_ms>`` (also the ``--maps`` file stem)."""
    return f"{clip_id}_{round(time_s * 1000)}"


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Trim or zero-pad ``audio`` to exactly ``num_samples``. Shape: (T,) -> (num_samples,)."""
    out = np.zeros(num_samples, np.float32)
    n = min(num_samples, audio.shape[0])
    out[:n] = audio[:n]
    return out


def center_square(image: np.ndarray) -> np.ndarray:
    """The centred square crop (LVS's Resize(224)+CenterCrop(224) up to the final resize).

    Shape:
        image: (H, W, 3) -> (min(H, W), min(H, W), 3).
    """
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def read_window(
    path: Path, sample_rate: int, center_s: float, window_s: float | None
) -> np.ndarray:
    """Mono audio of ``path``: the whole file, or ``window_s`` centred on ``center_s``.

    A window of 0 s returns no samples without decoding.

    The window is zero-padded where it runs past either end of the file, so every window of a
    given length has exactly ``round(window_s · sample_rate)`` samples.

    Shape:
        returns (T,) float32.
    """
    from avloc.media import read_audio

    if window_s is None:
        return read_audio(path, sample_rate)
    num = round(window_s * sample_rate)
    if num <= 0:  # the predictor ignores audio (e.g. saved maps): decode nothing
        return np.zeros(0, np.float32)
    start = center_s - window_s / 2.0
    pad = round(max(0.0, -start) * sample_rate)
    audio = read_audio(path, sample_rate, start_s=max(0.0, start), duration_s=window_s)
    return fit_length(np.concatenate([np.zeros(pad, np.float32), audio]), num)


def read_frame(path: Path, time_s: float, fps: float) -> np.ndarray:
    """The frame of a video displayed at ``time_s`` (the last frame when past the end).

    Shape:
        returns (H, W, 3) uint8.

    Raises:
        ValueError: the video yields no frame.
    """
    from avloc.media import probe, read_video

    video = read_video(path, fps=fps, start_s=time_s, duration_s=1.0 / fps)
    if video.frames.shape[0] == 0:
        last = max(0.0, probe(path).duration_s - 1.0 / fps)
        video = read_video(path, fps=fps, start_s=last, duration_s=1.0 / fps)
    if video.frames.shape[0] == 0:
        raise ValueError(f"{path}: no video frame at {time_s:.3f}s")
    return video.frames[0]


def frame_times(duration_s: float, frames_per_clip: int) -> tuple[float, ...]:
    """Evenly spread scoring times: ``t_i = (i + 0.5) · duration / n``."""
    return tuple((i + 0.5) * duration_s / frames_per_clip for i in range(frames_per_clip))


def manifest_vocabulary(clips: Sequence[SceneClip]) -> tuple[str, ...]:
    """Every class name of the manifest's objects, sorted."""
    return tuple(sorted({obj.class_name for clip in clips for obj in clip.objects}))


def class_aware_samples(
    clips: Sequence[SceneClip],
    vocabulary: tuple[str, ...],
    frames_per_clip: int,
    sample_rate: int,
    audio_window_s: float | None,
) -> Iterator[ClassAwareSample]:
    """Decode the scored frames of ``clips`` with their sounding classes' boxes.

    The audio is the clip's mixture audio: a window of ``audio_window_s`` centred on the frame
    time, or the whole clip when ``None``.
    """
    for clip in clips:
        sounding = tuple(sorted({obj.class_name for obj in clip.sounding}))
        for t in frame_times(clip.duration_s, frames_per_clip):
            boxes: dict[str, list[NormBox]] = {c: [] for c in sounding}
            for obj in clip.sounding:
                row = obj.box_at(t)
                boxes[obj.class_name].append((row.x0, row.y0, row.x1, row.y1))
            yield ClassAwareSample(
                id=sample_time_id(clip.clip_id, t),
                clip_id=clip.clip_id,
                time_s=t,
                image=read_frame(clip.clip, t, clip.fps),
                audio=read_window(clip.clip, sample_rate, t, audio_window_s),
                sample_rate=sample_rate,
                vocabulary=vocabulary,
                sounding=sounding,
                class_boxes={c: tuple(b) for c, b in boxes.items()},
            )


def dsol_samples(
    videos: Sequence[DsolVideo],
    vocabulary: tuple[str, ...],
    sample_rate: int,
    audio_window_s: float | None,
) -> Iterator[ClassAwareSample]:
    """Decode DSOL's annotated frames of real MUSIC videos with their sounding classes' boxes.

    As DSOL's preprocessing made them: frame ``n`` is the video's n-th frame, at its average
    frame rate (shown from ``n / fps``; decoded mid-frame, at ``(n + 0.5) / fps``), and it
    hears the 1-s audio of its second: a window of ``audio_window_s`` centred on that second's
    middle, or the whole video's audio when ``None``.

    Raises:
        MediaError: a video cannot be read or has no video stream.
    """
    from avloc.media import MediaError, NoVideoStreamError, probe

    for video in videos:
        info = probe(video.path)
        fps = info.fps
        if not fps:
            raise NoVideoStreamError(video.path, "no video frame rate to place DSOL's frames by")
        last = max(f.frame_index for f in video.frames)
        if last / fps > info.duration_s + 1.0:  # a shorter video: not the one DSOL annotated
            raise MediaError(
                video.path,
                f"DSOL annotates its frame {last} ({last / fps:.1f} s at {fps:g} fps), past "
                f"this video's end ({info.duration_s:.1f} s): not the video DSOL annotated?",
            )
        for frame in video.frames:
            boxes: dict[str, list[NormBox]] = {}
            for category, box in frame.boxes:
                boxes.setdefault(DSOL_CATEGORIES[category], []).append(box)
            t = (frame.frame_index + 0.5) / fps
            yield ClassAwareSample(
                id=frame.key,
                clip_id=video.id,
                time_s=t,
                image=read_frame(video.path, t, fps),
                audio=read_window(video.path, sample_rate, frame.second + 0.5, audio_window_s),
                sample_rate=sample_rate,
                vocabulary=vocabulary,
                sounding=tuple(sorted(boxes)),
                class_boxes={c: tuple(b) for c, b in boxes.items()},
            )


def solo_clips(clips: Sequence[SceneClip]) -> tuple[list[SceneClip], int]:
    """The clips usable for mix-and-separate (exactly one sounding object, with a stem).

    Returns:
        The usable clips and how many were left out.
    """
    usable = [c for c in clips if len(c.sounding) == 1 and c.sounding[0].stem is not None]
    return usable, len(clips) - len(usable)


def draw_pairs(
    clips: Sequence[SceneClip], num_mixtures: int, num_sources: int, seed: int
) -> list[tuple[int, ...]]:
    """Seeded draws of ``num_sources`` clips of pairwise *different* classes per mixture.

    No set of clips is drawn twice (a repeat would count one mixture double, and results are
    keyed by mixture id). A manifest with fewer such sets than ``num_mixtures`` gives them all,
    in a seeded order.

    Raises:
        ValueError: fewer distinct classes than ``num_sources``.
    """
    classes = [c.sounding[0].class_name for c in clips]
    if len(set(classes)) < num_sources:
        raise ValueError(
            f"separation needs solo clips of at least {num_sources} different classes; the "
            f"manifest has {sorted(set(classes))}"
        )
    rng = np.random.default_rng(seed)
    if num_mixtures >= count_mixtures(classes, num_sources):
        every = [
            picked
            for picked in itertools.combinations(range(len(clips)), num_sources)
            if len({classes[i] for i in picked}) == num_sources
        ]
        return [every[i] for i in rng.permutation(len(every))]
    draws: list[tuple[int, ...]] = []
    seen: set[frozenset[int]] = set()
    while len(draws) < num_mixtures:
        picked = tuple(int(i) for i in rng.choice(len(clips), size=num_sources, replace=False))
        if len({classes[i] for i in picked}) == num_sources and frozenset(picked) not in seen:
            seen.add(frozenset(picked))
            draws.append(picked)
    return draws


def count_mixtures(classes: Sequence[str], num_sources: int) -> int:
    """How many sets of ``num_sources`` clips with pairwise different classes exist.

    The elementary symmetric polynomial of degree ``num_sources`` in the per-class clip counts.
    """
    ways = [1] + [0] * num_sources  # ways[k]: sets of k clips from the classes seen so far
    for count in collections.Counter(classes).values():
        for k in range(num_sources, 0, -1):
            ways[k] += ways[k - 1] * count
    return ways[num_sources]


def separation_window_s(clips: Sequence[SceneClip], window_s: float | None, max_s: float) -> float:
    """The mixture length: ``window_s``, or the shortest clip capped at ``max_s``."""
    if window_s is not None:
        return window_s
    return min(min(c.duration_s for c in clips), max_s)


def separation_sample(
    picked: Sequence[SceneClip], window_s: float, sample_rate: int, num_frames: int
) -> SeparationSample:
    """Mix the stems of ``picked`` (each scaled by 1/S) over a centred window.

    ``num_frames`` frames per source are decoded evenly over the window (0: none).
    """
    refs, frames = [], []
    for clip in picked:
        center = clip.duration_s / 2.0
        stem = clip.sounding[0].stem
        assert stem is not None
        refs.append(read_window(stem, sample_rate, center, window_s) / len(picked))
        frames.append(_window_frames(clip, center - window_s / 2.0, window_s, num_frames))
    references = np.stack(refs).astype(np.float32)
    return SeparationSample(
        id="+".join(c.clip_id for c in picked),
        mixture=references.sum(axis=0),
        references=references,
        frames=tuple(frames),
        classes=tuple(c.sounding[0].class_name for c in picked),
        clip_ids=tuple(c.clip_id for c in picked),
        sample_rate=sample_rate,
    )


def _window_frames(clip: SceneClip, start_s: float, window_s: float, num_frames: int) -> np.ndarray:
    if num_frames == 0:
        return np.zeros((0, 0, 0, 3), np.uint8)
    times = [max(0.0, start_s) + (i + 0.5) * window_s / num_frames for i in range(num_frames)]
    return np.stack([read_frame(clip.clip, t, clip.fps) for t in times])


def num_match_clips(num_clips: int, fraction: float) -> int:
    """Size of the matching split: ``ceil(fraction · num_clips)`` (0 when fraction is 0)."""
    # round() first so that e.g. 0.4 · 5 = 2.0000000000000004 does not become 3.
    return math.ceil(round(fraction * num_clips, 9)) if fraction > 0 else 0


def flickr_sample(
    sample: FlickrSample,
    gt: np.ndarray,
    sample_rate: int,
    crop: str,
    frame: int,
) -> LocalizationSample:
    """A Flickr-SoundNet test image with its full audio; boxes normalised by the 256² frame."""
    from avloc.media import read_audio, read_image

    image = read_image(sample.image_path)
    return LocalizationSample(
        id=sample.id,
        image=center_square(image) if crop == "center-square" else image,
        audio=read_audio(sample.audio_path, sample_rate),
        sample_rate=sample_rate,
        boxes=tuple(tuple(float(v) / frame for v in box) for box in sample.boxes),  # type: ignore[misc]
        gt=gt,
    )


def vggss_sample(
    sample: VggssSample, gt: np.ndarray, sample_rate: int, crop: str
) -> LocalizationSample:
    """A VGG-SS clip: its frame + audio pair, or the middle frame and full audio of its video."""
    from avloc.media import probe, read_audio, read_image

    if sample.image_path is not None and sample.audio_path is not None:
        image = read_image(sample.image_path)
        audio = read_audio(sample.audio_path, sample_rate)
    elif sample.video_path is not None:
        info = probe(sample.video_path)
        image = read_frame(sample.video_path, info.duration_s / 2.0, info.fps or 25.0)
        audio = read_audio(sample.video_path, sample_rate)
    else:
        raise ValueError(f"VGG-SS sample {sample.id} has neither a frame + audio nor a video")
    return LocalizationSample(
        id=sample.id,
        image=center_square(image) if crop == "center-square" else image,
        audio=audio,
        sample_rate=sample_rate,
        boxes=sample.boxes,
        gt=gt,
    )
