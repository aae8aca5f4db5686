"""Torch Datasets that yield typed audio-visual samples for training and evaluation.

Decoding happens in ``__getitem__`` through :mod:`avloc.media`, so it runs in DataLoader
workers. Each item is an audio window of ``audio_duration_s`` (random start when training,
centred otherwise) and ``num_frames`` frames around the window's centre, ``1 / fps`` apart on
the clip's ``k / fps`` grid (so cached and freshly decoded items agree). Randomness is a function of ``(seed, epoch, index)`` only: the same item of the same
epoch is identical whatever the worker or the number of workers (call :meth:`set_epoch` before
each epoch, as with ``DistributedSampler``).

CPU training re-reads small clips many times, so ``cache=True`` keeps each decoded clip (uint8
frames at ``frame_size`` and the audio) after its first read. Each DataLoader worker holds its
own copy of the dataset: call :meth:`ClipDataset.preload` before building the DataLoader so the
workers share one cache copy-on-write, or use ``persistent_workers=True``. Memory: a 3-s clip
at 8 fps and 128×128 takes about 1.2 MB (3.6 MB at 224×224).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from avloc import media
from avloc.data.flickr import FlickrTestSet
from avloc.data.manifest import SceneClip
from avloc.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    FrameAugment,
    augment_audio,
    frames_to_float,
    normalize_frames,
)

_EPS_S = 1e-6


@dataclass(frozen=True)
class SampleConfig:
    """What one training sample holds; models store the same values as their preprocessing."""

    frame_size: int = 128  # frames are decoded square, frame_size × frame_size pixels
    num_frames: int = 1  # video frames per sample, centred on the audio window
    fps: float = 8.0  # spacing of the frames (1 / fps seconds) and the cache's decode rate
    sample_rate: int = 11025  # audio rate in Hz
    audio_duration_s: float = 1.0  # audio window length in seconds
    mean: tuple[float, float, float] = IMAGENET_MEAN  # frame normalisation (RGB, [0, 1] pixels)
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        for name in ("frame_size", "num_frames", "sample_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SampleConfig.{name} must be an int >= 1, got {value!r}")
        for name in ("fps", "audio_duration_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"SampleConfig.{name} must be a number > 0, got {value!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("SampleConfig.mean/std need 3 values each, std > 0")

    @property
    def num_samples(self) -> int:
        """Audio samples per item: ``round(audio_duration_s * sample_rate)``."""
        return round(self.audio_duration_s * self.sample_rate)


@dataclass
class AVSample:
    """One item.

    Shape:
        frames: (N, 3, H, W) float32, normalised with the config's mean/std.
        audio: (T,) float32 in [-1, 1], T = ``SampleConfig.num_samples``.
    """

    frames: Tensor
    audio: Tensor
    clip_index: int  # position of the clip (or image) in the dataset
    start_s: float  # start of the audio window in the clip, seconds


@dataclass
class AVBatch:
    """A collated batch of :class:`AVSample`.

    Shape:
        frames: (B, N, 3, H, W) float32.
        audio: (B, T) float32.
        clip_index: (B,) int64.
        start_s: (B,) float64.
    """

    frames: Tensor
    audio: Tensor
    clip_index: Tensor
    start_s: Tensor = field(repr=False)

    @property
    def batch_size(self) -> int:
        return int(self.frames.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> AVBatch:
        """The batch with its tensors on ``device``."""
        return AVBatch(*(t.to(device, non_blocking=non_blocking) for t in self._tensors()))

    def pin_memory(self) -> AVBatch:
        """Page-locked copy; the DataLoader calls this when ``pin_memory=True``."""
        return AVBatch(*(t.pin_memory() for t in self._tensors()))

    def _tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return (self.frames, self.audio, self.clip_index, self.start_s)


def collate_av(samples: Sequence[AVSample]) -> AVBatch:
    """Stack samples into an :class:`AVBatch` (the DataLoader's ``collate_fn``).

    Raises:
        ValueError: no samples, or samples of different shapes (mixed configs).
    """
    if not samples:
        raise ValueError("collate_av needs at least one AVSample")
    shapes = {(tuple(s.frames.shape), tuple(s.audio.shape)) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"samples differ in shape (frames, audio): {sorted(shapes)}")
    return AVBatch(
        frames=torch.stack([s.frames for s in samples]),
        audio=torch.stack([s.audio for s in samples]),
        clip_index=torch.tensor([s.clip_index for s in samples], dtype=torch.int64),
        start_s=torch.tensor([s.start_s for s in samples], dtype=torch.float64),
    )


def _fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``num_samples`` (clips shorter than the window)."""
    if audio.size >= num_samples:
        return audio[:num_samples]
    return np.pad(audio, (0, num_samples - audio.size))


@dataclass
class _Decoded:
    """A whole clip held in memory: frames at ``fps`` from t=0, and all the audio."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    audio: np.ndarray  # (T,) float32


@dataclass
class _RawItem:
    """An item before augmentation and normalisation."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    audio: np.ndarray  # the window's samples (may be short at the clip's end)
    index: int
    start_s: float
    aug_seed: int


class _WindowedDataset(Dataset[AVSample]):
    """Shared machinery: seeded per-item randomness, audio windows, frame finishing."""

    def __init__(
        self, config: SampleConfig, train: bool, seed: int, augment: AugmentConfig | None
    ) -> None:
        if not isinstance(config, SampleConfig):
            raise TypeError(f"config must be a SampleConfig, got {type(config).__name__}")
        self.config = config
        self.train = train
        self.seed = int(seed)
        self.epoch = 0
        self._augment = FrameAugment(config.frame_size, augment) if train else None

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (call before iterating each epoch)."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch, index))

    def _window_start(self, duration_s: float, rng: np.random.Generator) -> float:
        """Random start (train) or centred start (eval) of the audio window."""
        slack = max(0.0, duration_s - self.config.audio_duration_s)
        return float(rng.uniform(0.0, slack)) if self.train else slack / 2

    def _raw(self, index: int) -> _RawItem:
        """The item's uint8 frames and audio window before finishing (subclasses)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> AVSample:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[AVSample]:
        """Several items at once (the DataLoader's batched fetch): frames of equal shape are
        augmented and normalised as one batch. Each item is the same as ``self[index]``."""
        raws = [self._raw(int(index)) for index in indices]
        config = self.config
        frames = torch.stack([frames_to_float(raw.frames) for raw in raws])
        if self._augment is not None:
            size = (frames.shape[-2], frames.shape[-1])
            draws = [self._augment.draw(np.random.default_rng(r.aug_seed), size) for r in raws]
            frames = self._augment.clips(frames, draws)
        frames = normalize_frames(frames.flatten(0, 1), config.mean, config.std).reshape(
            frames.shape
        )
        samples = []
        for raw, clip_frames in zip(raws, frames, strict=True):
            audio = _fit_length(np.asarray(raw.audio, np.float32), config.num_samples)
            if self._augment is not None:
                audio = augment_audio(audio, config.sample_rate, self._augment.config, raw.aug_seed)
            samples.append(
                AVSample(
                    frames=clip_frames,
                    audio=torch.from_numpy(np.ascontiguousarray(audio)),
                    clip_index=raw.index,
                    start_s=raw.start_s,
                )
            )
        return samples


class ClipDataset(_WindowedDataset):
    """Audio windows and their frames from a list of video files (with sound).

    Args:
        paths: video files, e.g. ``[c.clip for c in read_manifest(...)]`` or
            :func:`avloc.data.folder.find_videos`.
        config: sample shape and normalisation.
        train: random window starts and frame augmentation; otherwise centred, no augmentation.
        seed: base seed; item randomness depends on ``(seed, epoch, index)`` only.
        augment: augmentation strengths when training (default :class:`AugmentConfig`).
        cache: keep each decoded clip in memory after its first read (see :meth:`preload`).
        durations_s: the clips' durations if known (a manifest has them); else probed lazily.

    Raises:
        ValueError: no paths, or ``durations_s`` of another length or not positive.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        config: SampleConfig | None = None,
        *,
        train: bool = False,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        cache: bool = False,
        durations_s: Sequence[float] | None = None,
    ) -> None:
        super().__init__(config or SampleConfig(), train, seed, augment)
        self.paths = tuple(Path(p) for p in paths)
        if not self.paths:
            raise ValueError("ClipDataset needs at least one video path")
        if durations_s is not None and (
            len(durations_s) != len(self.paths) or min(durations_s) <= 0
        ):
            raise ValueError(
                f"durations_s must hold one positive duration per path ({len(self.paths)}), "
                f"got {len(durations_s)} values"
            )
        self._durations: dict[int, float] = dict(enumerate(durations_s or ()))
        self.cache = cache
        self._cache: dict[int, _Decoded] = {}

    @classmethod
    def from_manifest(
        cls,
        clips: Sequence[SceneClip],
        config: SampleConfig | None = None,
        *,
        train: bool = False,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        cache: bool = False,
    ) -> ClipDataset:
        """A dataset over the clips of a scene manifest (durations taken from it)."""
        durations_s = [c.duration_s for c in clips]
        return cls(
            [c.clip for c in clips],
            config,
            train=train,
            seed=seed,
            augment=augment,
            cache=cache,
            durations_s=durations_s,
        )

    def __len__(self) -> int:
        return len(self.paths)

    def view(
        self, audio_duration_s: float | None = None, augment: AugmentConfig | None = None
    ) -> ClipDataset:
        """The same clips and seed with another audio window length and/or (when training)
        other augmentation strengths; the view shares this dataset's decoded-clip cache, so
        one :meth:`preload` serves both."""
        view = copy.copy(self)
        if audio_duration_s is not None:
            view.config = dataclasses.replace(self.config, audio_duration_s=audio_duration_s)
        if augment is not None and self.train:
            view._augment = FrameAugment(self.config.frame_size, augment)
        return view

    def duration_s(self, index: int) -> float:
        """The clip's duration (probed once, then remembered)."""
        if index not in self._durations:
            self._durations[index] = media.probe(self.paths[index]).duration_s
        return self._durations[index]

    def preload(self) -> None:
        """Decode every clip into the cache now (in this process); enables ``cache``."""
        self.cache = True
        for index in range(len(self.paths)):
            self._decoded(index)

    def _decoded(self, index: int) -> _Decoded:
        if index not in self._cache:
            path, config = self.paths[index], self.config
            size = (config.frame_size, config.frame_size)
            frames = media.read_video(path, config.fps, size).frames
            if frames.shape[0] == 0:
                raise media.EmptyMediaError(path, "no video frames to sample")
            audio = media.read_audio(path, config.sample_rate)
            expected_s = self._durations.get(index)  # known from a manifest
            if expected_s is not None and len(audio) < 0.9 * expected_s * config.sample_rate:
                # a file cut short can still decode, to fewer samples than the clip had
                raise media.MediaError(
                    path,
                    f"decodes to {len(audio) / config.sample_rate:.2f} s of sound, but the "
                    f"manifest says the clip lasts {expected_s:g} s: damaged or truncated",
                )
            self._cache[index] = _Decoded(frames, audio)
        return self._cache[index]

    def _frame_times(self, start_s: float, duration_s: float) -> np.ndarray:
        """``num_frames`` times ``1 / fps`` apart around the window's centre, inside the clip."""
        config = self.config
        span_s = (config.num_frames - 1) / config.fps
        centre_s = start_s + min(config.audio_duration_s, duration_s) / 2
        first_s = min(centre_s - span_s / 2, duration_s - span_s - 1 / config.fps)
        # On the decode grid k / fps, so cached and freshly decoded items show the same frames.
        first_k = max(0, math.floor(first_s * config.fps + _EPS_S))
        return (first_k + np.arange(config.num_frames)) / config.fps

    def _read_frames(self, index: int, times_s: np.ndarray) -> np.ndarray:
        config = self.config
        if self.cache:
            cached = self._decoded(index).frames
            rows = np.clip(np.floor(times_s * config.fps + _EPS_S).astype(int), 0, len(cached) - 1)
            return cached[rows]
        size = (config.frame_size, config.frame_size)
        frames = media.read_video(
            self.paths[index], config.fps, size, float(times_s[0]), config.num_frames / config.fps
        ).frames
        if frames.shape[0] == 0:  # the header's duration overstated the video: use its end
            frames = media.read_video(self.paths[index], config.fps, size).frames[-1:]
        if frames.shape[0] == 0:
            raise media.EmptyMediaError(self.paths[index], "no video frames to sample")
        rows = np.minimum(np.arange(config.num_frames), frames.shape[0] - 1)
        return frames[rows]

    def _read_audio(self, index: int, start_s: float) -> np.ndarray:
        config = self.config
        if self.cache:
            first = round(start_s * config.sample_rate)
            return self._decoded(index).audio[first : first + config.num_samples]
        return media.read_audio(
            self.paths[index], config.sample_rate, start_s, config.audio_duration_s
        )

    def _raw(self, index: int) -> _RawItem:
        if not 0 <= index < len(self.paths):
            raise IndexError(f"index {index} out of range for {len(self.paths)} clips")
        rng = self._rng(index)
        duration_s = self.duration_s(index)
        start_s = self._window_start(duration_s, rng)
        frames = self._read_frames(index, self._frame_times(start_s, duration_s))
        audio = self._read_audio(index, start_s)
        return _RawItem(frames, audio, index, start_s, int(rng.integers(2**31)))


class ImageAudioDataset(_WindowedDataset):
    """Still images paired with audio files (Flickr-SoundNet style).

    The image fills every one of the ``num_frames`` frames; the audio window is random
    (train) or centred (eval) in the audio file.

    Args:
        pairs: ``(image_path, audio_path)`` per item.
        config, train, seed, augment: as for :class:`ClipDataset`.
        cache: keep each decoded image and audio in memory after its first read.

    Raises:
        ValueError: no pairs, or an item that is not a pair of paths.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str | Path, str | Path]],
        config: SampleConfig | None = None,
        *,
        train: bool = False,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        cache: bool = False,
    ) -> None:
        super().__init__(config or SampleConfig(), train, seed, augment)
        if not pairs:
            raise ValueError("ImageAudioDataset needs at least one (image_path, audio_path) pair")
        for number, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"item {number} must be (image_path, audio_path), got {pair!r}")
        self.pairs = tuple((Path(image), Path(audio)) for image, audio in pairs)
        self.cache = cache
        self._cache: dict[int, _Decoded] = {}

    @classmethod
    def from_flickr(
        cls,
        test_set: FlickrTestSet,
        config: SampleConfig | None = None,
        *,
        train: bool = False,
        seed: int = 0,
        cache: bool = False,
    ) -> ImageAudioDataset:
        """A dataset over the samples found by :func:`avloc.data.flickr.read_flickr`."""
        pairs: list[tuple[str | Path, str | Path]] = [
            (s.image_path, s.audio_path) for s in test_set.samples
        ]
        return cls(pairs, config, train=train, seed=seed, cache=cache)

    def __len__(self) -> int:
        return len(self.pairs)

    def _decoded(self, index: int) -> _Decoded:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        image_path, audio_path = self.pairs[index]
        size = (self.config.frame_size, self.config.frame_size)
        image = media.read_image(image_path, size)[None]
        decoded = _Decoded(image, media.read_audio(audio_path, self.config.sample_rate))
        if self.cache:
            self._cache[index] = decoded
        return decoded

    def _raw(self, index: int) -> _RawItem:
        if not 0 <= index < len(self.pairs):
            raise IndexError(f"index {index} out of range for {len(self.pairs)} pairs")
        config = self.config
        decoded = self._decoded(index)
        rng = self._rng(index)
        start_s = self._window_start(decoded.audio.size / config.sample_rate, rng)
        first = round(start_s * config.sample_rate)
        audio = decoded.audio[first : first + config.num_samples]
        frames = np.repeat(decoded.frames, config.num_frames, axis=0)
        return _RawItem(frames, audio, index, start_s, int(rng.integers(2**31)))
