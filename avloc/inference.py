"""Inference: media → model → result dataclasses, streamed in chunks so any length fits in memory.

:class:`Pipeline` owns decoding (through :mod:`avloc.media`), resampling, batching, chunking with
overlap, ``torch.inference_mode`` and device placement. Every preprocessing value (sample rate,
frame rate, frame size, mean/std, audio window) is read from ``model.config``.

Localisation runs one model step per analysed frame: the frame at time t is paired with the
audio window of ``audio_window_s`` seconds centred on t, so successive windows overlap. Frames
and audio are decoded chunk by chunk; only grid-resolution maps are kept.

Separation is Sound-of-Pixels style (Zhao et al. 2018): one visual vector per object (pooled over
the object's map region, or for :meth:`Pipeline.separate_at` off every object taken at one pixel
or pooled over a box)
conditions a mask on the mixture's spectrogram; the objects' masks share each bin with the
rest of the sound, which is the residual. Long audio is cut into windows with 50 % overlap that
are cross-faded with a periodic Hann window (which sums to one), so no seams are audible.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from avloc import media
from avloc.checkpoint import check_device
from avloc.data.transforms import normalize_frames
from avloc.defaults import (
    CLASS_GUIDANCE,
    DEFAULT_SCALES,
    IMAGE_AUDIO_S,
    REFINE_SOURCES,
    SOURCE_MAP_OFFSET,
    MaskRule,
)
from avloc.maps import (
    CLASS_MAP_OPTIONS,
    HEATMAP_OPTIONS,
    MapOptions,
    check_class_guidance,
    check_logit_offset,
    check_scales,
    fuse_scales,
    guide_by_classes,
)
from avloc.masks import check_mask_rule
from avloc.models.layers import box_weights
from avloc.objects import DetectedObject, extract_objects, loudness_db
from avloc.sources import (
    ArraySource,
    AudioSource,
    AudioWindows,
    ClipSource,
    FileSource,
    VideoInput,
    centre_window,
    check_audio,
    open_source,
    prefetch,
)

PRECISIONS = ("bf16", "fp32")


@dataclass(frozen=True, eq=False)
class LocalizationResult:
    """What :meth:`Pipeline.localize` found, at the model's grid resolution.

    Shape:
        times_s: (N,); heatmaps: (N, h, w) float32 in [0, 1]; class_maps: (N, K, h, w) in
        [0, 1]; class_presence: (N, K) in [0, 1]; loudness_db: (N,) dBFS of each frame's
        audio window.
    """

    times_s: np.ndarray
    heatmaps: np.ndarray
    class_maps: np.ndarray
    class_presence: np.ndarray
    loudness_db: np.ndarray
    objects: tuple[DetectedObject, ...]
    fps: float  # analysis frame rate (the model's)
    sample_rate: int  # the model's audio sample rate
    frame_size: tuple[int, int]  # (height, width) of the largest scale the model saw
    duration_s: float  # length of the input
    num_chunks: int  # how many decoded chunks were streamed through the model
    class_vectors: np.ndarray | None = None  # (N, K, K_s) separator vector per class region
    silence_classes: tuple[int, ...] = ()  # classes heard in silence: never objects

    @property
    def num_frames(self) -> int:
        return len(self.times_s)


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """One model step over frames, each paired with its own audio window.

    Shape:
        maps: (B, h, w) in [0, 1]; class_maps: (B, K, h, w) in [0, 1]; class_presence: (B, K)
        in [0, 1]; class_vectors: (B, K, K_s), the separator vector pooled over each class's
        map region (K_s = 0 for a model without a separator).
    """

    maps: np.ndarray
    class_maps: np.ndarray
    class_presence: np.ndarray
    class_vectors: np.ndarray


@dataclass(frozen=True, eq=False)
class SeparationResult:
    """One waveform per sounding object plus what is left over.

    ``residual = mixture - sources.sum(0)``, so sources and residual add back to the input.

    Shape:
        sources: (S, T) float32; residual: (T,); mixture: (T,).
    """

    sources: np.ndarray
    labels: tuple[str, ...]
    residual: np.ndarray
    mixture: np.ndarray
    sample_rate: int
    num_chunks: int  # audio windows processed (overlap-added)


# ----------------------------------------------------------------------------------------------
# The pipeline.


def _check_same_length(loc: LocalizationResult, source: Any) -> None:
    if abs(loc.duration_s - source.duration_s) > max(0.5, 0.02 * source.duration_s):
        raise ValueError(
            f"localization is of a {loc.duration_s:.2f}-s input, but the video lasts "
            f"{source.duration_s:.2f} s: pass the localize result of this same video"
        )


def object_at(
    objects: Sequence[DetectedObject], point: tuple[float, float], min_fraction: float = 0.5
) -> int | None:
    """The index of the object ``point`` is on: inside its box for at least ``min_fraction``
    of the frames where it sounds (the most often, if several); None when on none.

    Shape:
        each object's ``boxes``: (N, 4) normalised ``(x0, y0, x1, y1)``, NaN where silent.
    """
    x, y = point
    best, best_fraction = None, min_fraction
    for k, obj in enumerate(objects):
        boxes = obj.boxes
        sounding = ~np.isnan(boxes[:, 0])
        if not sounding.any():
            continue
        inside = sounding & (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y)
        inside &= y <= boxes[:, 3]
        fraction = float(inside.sum() / sounding.sum())
        if fraction >= best_fraction:
            best, best_fraction = k, fraction
    return best


def objects_in(
    objects: Sequence[DetectedObject],
    box: tuple[float, float, float, float],
    min_overlap: float = 0.5,
    min_fraction: float = 0.5,
) -> list[int]:
    """The indices of the objects ``box`` holds: at each frame where an object sounds, the
    smaller of its box and ``box`` lies at least ``min_overlap`` inside the other, for at
    least ``min_fraction`` of those frames. So a box around an object holds it, and so does
    a box drawn on part of it.

    Shape:
        box: normalised ``(x0, y0, x1, y1)``; each object's ``boxes``: (N, 4), NaN where silent.
    """
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    held = []
    for k, obj in enumerate(objects):
        boxes = obj.boxes[~np.isnan(obj.boxes[:, 0])]
        if not len(boxes):
            continue
        width = np.minimum(x1, boxes[:, 2]) - np.maximum(x0, boxes[:, 0])
        height = np.minimum(y1, boxes[:, 3]) - np.maximum(y0, boxes[:, 1])
        overlap = np.clip(width, 0, None) * np.clip(height, 0, None)
        smaller = np.minimum(area, (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        inside = overlap >= min_overlap * np.maximum(smaller, 1e-12)
        if inside.mean() >= min_fraction:
            held.append(k)
    return held


def _checked_place(point: Any, box: Any) -> tuple[float, float] | tuple[float, float, float, float]:
    """``separate_at``'s place: a point ``(x, y)`` or a box ``(x0, y0, x1, y1)``, normalised."""
    if (point is None) == (box is None):
        raise ValueError(
            "point must be (x, y) normalised to [0, 1], or pass box=(x0, y0, x1, y1) "
            f"instead (one of the two); got point={point!r}, box={box!r}"
        )
    name, value, size = ("point", point, 2) if box is None else ("box", box, 4)
    shape = "(x, y)" if size == 2 else "(x0, y0, x1, y1)"
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):  # a string, None, ...
        numbers = ()
    if len(numbers) != size or not all(0.0 <= v <= 1.0 for v in numbers):
        raise ValueError(f"{name} must be {shape} normalised to [0, 1], got {value!r}")
    if size == 4 and not (numbers[0] < numbers[2] and numbers[1] < numbers[3]):
        raise ValueError(f"box must have x0 < x1 and y0 < y1, got {value!r}")
    return numbers  # type: ignore[return-value]


def place_name(
    point: tuple[float, float] | None = None, box: tuple[float, float, float, float] | None = None
) -> str:
    """A file stem naming :meth:`Pipeline.separate_at`'s place: ``point_X_Y`` or
    ``box_X0_Y0_X1_Y1``, two decimals each (the CLI and the app name their files so).

    Raises:
        ValueError: as ``separate_at`` for a place that is not one point or one box.
    """
    place = _checked_place(point, box)
    return "_".join(["point" if box is None else "box", *(f"{v:.2f}" for v in place)])


def _as_size(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    height, width = value
    return (int(height), int(width))


class _FrameArrays:
    """Per-frame arrays filled chunk by chunk into buffers sized for the whole video.

    Joining chunks at the end would hold a long video's maps twice (the class maps are
    4 bytes x K x grid cells a frame: 177 MB for 10 minutes at the default two scales). The
    buffers are sized from the video's duration, grown by doubling if that falls short.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._buffers: list[np.ndarray] = []
        self.num_frames = 0
        self.num_chunks = 0

    def append(self, *fields: np.ndarray) -> None:
        """One chunk: arrays with the same first (frame) dimension."""
        count = len(fields[0])
        if not self._buffers:
            self._buffers = [np.empty((self._capacity, *f.shape[1:]), f.dtype) for f in fields]
        end = self.num_frames + count
        if end > len(self._buffers[0]):
            size = max(end, 2 * len(self._buffers[0]))
            self._buffers = [self._grown(b, size) for b in self._buffers]
        for buffer, field in zip(self._buffers, fields, strict=True):
            buffer[self.num_frames : end] = field
        self.num_frames, self.num_chunks = end, self.num_chunks + 1

    def _grown(self, buffer: np.ndarray, size: int) -> np.ndarray:
        grown = np.empty((size, *buffer.shape[1:]), buffer.dtype)
        grown[: self.num_frames] = buffer[: self.num_frames]
        return grown

    def arrays(self) -> list[np.ndarray]:
        """The filled frames of each field (copied only when most of a buffer went unused)."""
        n = self.num_frames
        return [b[:n] if 2 * n >= len(b) else b[:n].copy() for b in self._buffers]


def _hann_weights(length: int) -> np.ndarray:
    """Periodic Hann: windows at 50 % overlap sum exactly to one."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float32)


# How much louder :meth:`Pipeline.source_vectors` may make a source's first estimate (20 dB).
MAX_ESTIMATE_GAIN = 10.0


class ModelOutputError(ValueError):
    """The model itself gave unusable output (NaN maps): every input would fail the same way."""


class Pipeline:
    """Localise sounding objects in videos and separate their sounds with one model.

    Args:
        model: a loaded avloc model (``avloc.load_model``); its ``config`` holds the
            preprocessing contract.
        device: where the model runs (``"cpu"``, ``"cuda"``); default: where it already is.
        batch_size: frames per model step (and decoded chunk).
        precision: ``"bf16"`` (autocast) or ``"fp32"``.
        decode_ahead: decoded chunks prepared ahead in a background thread (0: none).
        presence_threshold: class presence that counts as sounding, in [0, 1].
        map_threshold: fraction of a class map's maximum that makes its box, in (0, 1].
        heatmap_options: how the heatmaps are drawn from the audio-visual logits (logit
            offset, then peak-preserving smoothing: :class:`avloc.maps.MapOptions`);
            ``dataclasses.replace(HEATMAP_OPTIONS, smoothing=0)`` gives the model's raw maps.
        class_map_options: the same for the class activation maps.
        source_map_offset: added to the class maps' logits before the separator vectors are
            pooled under them (unsmoothed): ``SOURCE_MAP_OFFSET`` (0), the model's own class
            maps, which mix-and-separate trains the separator with. In [-50, 50].
        refine_sources: :meth:`source_vectors` looks for each source twice, the second time
            hearing its first estimate (``REFINE_SOURCES``: yes).
        flip: also look at each frame's mirror image and average the two looks' heatmaps and
            class maps (test-time augmentation; twice the localisation time; off by default).
        class_guidance: how much each heatmap is weighted toward where the classes heard are
            seen (:func:`avloc.maps.guide_by_classes`), in [0, 1]: ``CLASS_GUIDANCE``; 0 gives
            the audio-visual map alone.
        scales: frame sizes the model looks at, as factors of its own (``DEFAULT_SCALES``:
            1 and 1.5); the maps of all scales are fused by their per-cell maximum on the
            finest grid. The separator vectors are pooled at the scale nearest 1.
        mask_rule: how the separated objects share the sound (:func:`avloc.masks.combine_masks`):
            ``"independent"`` (each object's own mask; the rest stays in the residual),
            ``"share"`` (the objects split every bin: no residual) or ``"winner"``.

    Raises:
        ValueError: bad batch size, precision or thresholds.
    """

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        precision: str = "bf16",
        decode_ahead: int = 0,
        presence_threshold: float = 0.5,
        map_threshold: float = 0.5,
        mask_rule: MaskRule = "independent",
        heatmap_options: MapOptions = HEATMAP_OPTIONS,
        class_map_options: MapOptions = CLASS_MAP_OPTIONS,
        scales: Sequence[float] = DEFAULT_SCALES,
        source_map_offset: float = SOURCE_MAP_OFFSET,
        refine_sources: bool = REFINE_SOURCES,
        flip: bool = False,
        class_guidance: float = CLASS_GUIDANCE,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(
                f"batch_size must be an int (frames per model step), got {batch_size!r}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for name, options in (
            ("heatmap_options", heatmap_options),
            ("class_map_options", class_map_options),
        ):
            if not isinstance(options, MapOptions):
                raise TypeError(f"{name} must be an avloc.maps.MapOptions, got {options!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if decode_ahead < 0:
            raise ValueError(f"decode_ahead must be >= 0, got {decode_ahead}")
        if not 0.0 <= presence_threshold <= 1.0 or not 0.0 < map_threshold <= 1.0:
            raise ValueError("presence_threshold must be in [0, 1] and map_threshold in (0, 1]")
        check_logit_offset(source_map_offset, "source_map_offset")
        check_mask_rule(mask_rule, "mask_rule")
        self.scales = check_scales(scales)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a loaded torch model, got {type(model).__name__}; by name or "
                "file: Pipeline.from_pretrained(name) or avloc.load_model(name)"
            )
        if device is not None:
            check_device(str(device))
            model = model.to(device)
        # Typed loosely: any model with the AVLocModel methods (duck-typed) will do.
        self.model: Any = model.eval()
        self.device = next(model.parameters()).device
        self.batch_size = batch_size
        self.precision = precision
        self.decode_ahead = decode_ahead
        self.presence_threshold = presence_threshold
        self._silence_presence: np.ndarray | None = None
        self.map_threshold = map_threshold
        self.mask_rule: MaskRule = mask_rule
        self.heatmap_options = heatmap_options
        self.class_map_options = class_map_options
        self.source_map_offset = float(source_map_offset)
        self.refine_sources = bool(refine_sources)
        self.flip = bool(flip)
        self.class_guidance = float(check_class_guidance(class_guidance, "class_guidance"))
        config: Any = self.model.config
        self.sample_rate = int(config.sample_rate)
        self.fps = float(config.fps)
        self.frame_size = _as_size(config.frame_size)
        # One frame size per scale, each a whole number of grid cells; frames are decoded at
        # the largest (``input_size``) and shrunk to the others.
        grid = _as_size(config.grid_size)
        strides = [size // cells for size, cells in zip(self.frame_size, grid, strict=True)]
        self.scale_sizes = tuple(
            (
                round(self.frame_size[0] * s / strides[0]) * strides[0],
                round(self.frame_size[1] * s / strides[1]) * strides[1],
            )
            for s in self.scales
        )
        if min(min(size) for size in self.scale_sizes) < max(strides):
            raise ValueError(f"scales {self.scales} make frames smaller than one grid cell")
        self.input_size = max(self.scale_sizes)
        # The grid of the maps it returns: the largest scale's.
        self.grid_size = (self.input_size[0] // strides[0], self.input_size[1] // strides[1])
        # Separator vectors (of class regions, sources and points) are pooled at the frame size
        # of the scale nearest the model's own.
        nearest = min(range(len(self.scales)), key=lambda i: abs(self.scales[i] - 1))
        self._vector_size = self.scale_sizes[nearest]
        self.mean = tuple(config.mean)
        self.std = tuple(config.std)
        self.audio_window_s = float(config.audio_window_s)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, device: str | None = None, **kwargs: Any
    ) -> Pipeline:
        """Load a model by name or bundle path and wrap it (kwargs go to the constructor)."""
        from avloc.pretrained import load_model

        return cls(load_model(str(name_or_path), device=device), **kwargs)

    def with_mask_rule(self, mask_rule: str) -> Pipeline:
        """This pipeline (the same model, no copy of it) with another ``mask_rule``.

        Raises:
            ValueError: unknown rule.
        """
        other = copy.copy(self)
        other.mask_rule = check_mask_rule(mask_rule, "mask_rule")
        return other

    def with_flip(self, flip: bool) -> Pipeline:
        """This pipeline (the same model, no copy of it), looking at mirror images too or not."""
        other = copy.copy(self)
        other.flip = bool(flip)
        return other

    # -- model steps --------------------------------------------------------------------------

    def _autocast(self) -> Any:
        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def _frames_tensor(self, frames: np.ndarray) -> torch.Tensor:
        return normalize_frames(frames, self.mean, self.std).to(self.device)

    def _localize_batch(self, frames: np.ndarray, windows: np.ndarray) -> FrameAnalysis:
        """:meth:`_look` at the frames, and with ``flip`` at their mirror images too: the two
        looks' maps averaged (the mirrored ones mirrored back); the separator vectors are the
        unmirrored frames'. Then the heatmaps are guided by the class maps
        (``class_guidance``)."""
        step = self._look(frames, windows)
        if self.flip:
            mirrored = self._look(np.ascontiguousarray(frames[:, :, ::-1]), windows)
            step = dataclasses.replace(
                step,
                maps=0.5 * (step.maps + mirrored.maps[..., ::-1]),
                class_maps=0.5 * (step.class_maps + mirrored.class_maps[..., ::-1]),
            )
        if self.class_guidance == 0 or step.class_maps.shape[1] == 0:
            return step
        guided = guide_by_classes(
            step.maps,
            step.class_maps,
            step.class_presence,
            self.class_guidance,
            ignore=self.silence_classes,
        )
        return dataclasses.replace(step, maps=guided)

    def _look(self, frames: np.ndarray, windows: np.ndarray) -> FrameAnalysis:
        """One model step over frames at ``input_size``, each with its window: every scale's
        maps fused (:func:`fuse_scales`), then smoothed. A single frame is encoded once and
        heard with every window (a still image's, :meth:`analyze_image`)."""
        maps_at: list[torch.Tensor] = []
        class_maps_at: list[torch.Tensor] = []  # shown and scored (offset, then smoothed)
        with torch.inference_mode(), self._autocast():
            audio = self.model.encode_audio(torch.from_numpy(windows).to(self.device))
            for size in self.scale_sizes:
                scaled = self._resized(frames, size)
                visual = self.model.encode_frames(self._frames_tensor(scaled))
                if len(frames) < len(windows):  # one still image: its encoding serves each
                    visual = dataclasses.replace(
                        visual,
                        features=visual.features.expand(len(windows), -1, -1, -1),
                        grid=visual.grid.expand(len(windows), -1, -1, -1),
                    )
                out = self.model.localize_from(visual, audio)
                maps_at.append(out.shifted_maps(self.heatmap_options.offset))
                class_maps = out.shifted_class_maps(self.class_map_options.offset)
                if class_maps is None or out.class_probs is None:  # no class head
                    empty = torch.zeros((len(windows), 0, *out.maps.shape[1:]))
                    class_maps_at.append(empty)
                    probs = empty.flatten(2)[..., 0]
                    continue
                probs = out.class_probs.float().clamp(0.0, 1.0)  # audio only: one per batch
                class_maps_at.append(class_maps)
                if size == self._vector_size:
                    vector_visual = visual
                    vector_maps = out.shifted_class_maps(self.source_map_offset)
            vectors = torch.zeros((*probs.shape, 0))
            if hasattr(self.model, "visual_vectors") and probs.shape[1] > 0:
                vectors = self.model.visual_vectors(vector_visual, self._regions(vector_maps))
            maps = self.heatmap_options.smooth(fuse_scales(maps_at))
            class_maps = self.class_map_options.smooth(fuse_scales(class_maps_at))
        return FrameAnalysis(*(t.float().cpu().numpy() for t in (maps, class_maps, probs, vectors)))

    def analyze_frames(self, frames: np.ndarray, windows: np.ndarray) -> FrameAnalysis:
        """Maps for still frames, each with its own audio window (for evaluation on images).

        Args:
            frames: RGB frames of any size; they are resized to the model's frame size.
            windows: the audio paired with each frame, at the model's sample rate, usually
                ``audio_window_s`` long and centred on the frame's time.

        Shape:
            frames: (B, H, W, 3) uint8; windows: (B, L) float32.

        Raises:
            ValueError: wrong shapes or a batch-size mismatch.
        """
        frames = np.asarray(frames)
        windows = check_audio(windows, "windows", ndim=2)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"frames must be (B, H, W, 3) and windows (B, L), got {frames.shape} and "
                f"{windows.shape}"
            )
        if len(frames) != len(windows):
            raise ValueError(f"{len(frames)} frames but {len(windows)} audio windows")
        return self._localize_batch(self._resized(frames), windows)

    def analyze_image(
        self, image: np.ndarray, audio: np.ndarray, audio_s: float = IMAGE_AUDIO_S
    ) -> FrameAnalysis:
        """Maps for one still image and its sound, averaged over the sound's windows.

        The image is paired with each of the model's audio windows that tile the centre
        ``audio_s`` seconds of ``audio`` (one centred window, zero-padded, when the sound is
        shorter than two), and the maps, presences and vectors are averaged over them.

        Args:
            image: RGB image of any size.
            audio: mono sound at the model's ``sample_rate``.
            audio_s: how much of the sound's centre to hear (at least one window).

        Shape:
            image: (H, W, 3) uint8; audio: (T,) float32 -> a :class:`FrameAnalysis` of batch 1.
        """
        audio = check_audio(audio)
        if not (math.isfinite(audio_s) and audio_s > 0):
            raise ValueError(f"audio_s must be a positive number of seconds, got {audio_s}")
        length = round(self.audio_window_s * self.sample_rate)
        span = min(len(audio), round(audio_s * self.sample_rate))
        count = max(1, span // length)
        windows = centre_window(audio, count * length).reshape(count, length)
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise TypeError(f"image must be uint8 RGB (0-255), got dtype {image.dtype}")
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image must be (H, W, 3), got shape {image.shape}")
        each = self._localize_batch(self._resized(image[None]), windows)
        return FrameAnalysis(
            *(
                a.mean(axis=0, keepdims=True)
                for a in (each.maps, each.class_maps, each.class_presence, each.class_vectors)
            )
        )

    def _resized(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """RGB frames (B, H, W, 3) of any size at ``size`` (default ``input_size``; area
        filter)."""
        import cv2

        height, width = self.input_size if size is None else size
        if frames.ndim != 4 or min(frames.shape[1:3]) < 1:  # cv2 would fail on an assertion
            raise ValueError(f"frames must be (B, H, W, 3) with H, W >= 1, got {frames.shape}")
        if frames.shape[1:3] == (height, width):
            return frames
        return np.stack(
            [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames]
        )

    def source_vectors(
        self, frames: Sequence[np.ndarray], mixture: np.ndarray, refine: bool | None = None
    ) -> np.ndarray:
        """The separator vector of each source's object, seen in its own frames while the
        mixture plays: the rule mix-and-separate trains with (``model.source_weights``), the
        max over each source's frames (Sound-of-Pixels' temporal pooling).

        Refined (the pipeline's ``refine_sources`` by default), the mixture is separated with
        these vectors and each source is looked for again, its frames hearing its own estimate
        (brought to the mixture's level) instead of the mixture; the two looks' vectors are
        averaged.

        Args:
            frames: one RGB array per source, each with the same number of frames (any size;
                resized to the model's), frame i of every source taken at the same time.
            mixture: the mixture at the model's sample rate; its centred ``audio_window_s``
                is what every frame hears.
            refine: look again with each source's first estimate (None: ``refine_sources``).

        Shape:
            frames: S × (F, H, W, 3) uint8; mixture: (T,) -> (S, K_s).

        Raises:
            ValueError: no sources, unequal frame counts, or a model without a separator.
        """
        self._check_separator()
        if not frames or len({len(f) for f in frames}) != 1 or len(frames[0]) == 0:
            raise ValueError(
                f"source_vectors needs the same number (>= 1) of frames for every source, got "
                f"{[len(f) for f in frames]}"
            )
        mixture = check_audio(mixture, "mixture")
        heard = np.broadcast_to(mixture, (len(frames), len(mixture)))
        vectors = self._looked_for(frames, heard)
        if not (self.refine_sources if refine is None else refine):
            return vectors
        estimates = self.separate_mixture(mixture, vectors)
        # Each estimate heard at the mixture's level (up to 20 dB louder), as the model learnt
        # to hear whole clips and mixtures; quieter, their pseudo-classes are heard less surely.
        level = np.sqrt(np.mean(np.square(mixture)))
        own = np.sqrt(np.mean(np.square(estimates), axis=1, keepdims=True))
        gains = np.minimum(level / np.maximum(own, 1e-8), MAX_ESTIMATE_GAIN)
        return 0.5 * (vectors + self._looked_for(frames, estimates * gains))

    def _looked_for(self, frames: Sequence[np.ndarray], heard: np.ndarray) -> np.ndarray:
        """:meth:`source_vectors`' one look: source s's frames each hear the centred window of
        ``heard[s]``; the sources keep distinct pseudo-classes (``model.mixture_vectors``).

        Shape:
            frames: S × (F, H, W, 3); heard: (S, T) -> (S, K_s).
        """
        num_sources, num_frames = len(frames), len(frames[0])
        # Frame-major: frame i of every source side by side, as mixture_vectors groups them.
        stacked = np.stack([self._resized(f, self._vector_size) for f in frames], axis=1)
        stacked = stacked.reshape(-1, *stacked.shape[2:])
        length = round(self.audio_window_s * self.sample_rate)
        windows = np.stack([centre_window(np.asarray(h, np.float32), length) for h in heard])
        with torch.inference_mode(), self._autocast():
            visual = self.model.encode_frames(self._frames_tensor(stacked))
            sounds = self.model.encode_audio(torch.from_numpy(windows).to(self.device))
            sounds = type(sounds)(  # (S, ...) -> (F * S, ...), frame-major like the frames
                **{k: v.repeat(num_frames, *[1] * (v.dim() - 1)) for k, v in vars(sounds).items()}
            )
            located = self.model.localize_from(visual, sounds)
            shifted = located.shifted_class_maps(self.source_map_offset)
            located = dataclasses.replace(located, class_maps=shifted)
            vectors = self.model.mixture_vectors(visual, located, num_sources)  # (F, S, K_s)
        return vectors.float().amax(dim=0).cpu().numpy()

    def separate_mixture(self, mixture: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Separate a mixture into one source per given separator vector (held constant).

        Args:
            mixture: audio at the model's sample rate.
            vectors: one separator vector per source, e.g. from
                :attr:`FrameAnalysis.class_vectors`.

        Shape:
            mixture: (T,) float32; vectors: (S, K_s); returns (S, T) float32.

        Raises:
            ValueError: the model has no separator, or ``vectors`` is not (S, K_s).
        """
        self._check_separator()
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) == 0 or not np.isfinite(vectors).all():
            raise ValueError(
                f"vectors must be (S, K_s) with S >= 1 and finite values, got shape {vectors.shape}"
            )
        source = ArraySource(mixture)
        # Frame times covering every window, each carrying the same vectors.
        times = np.arange(
            0.0, len(source.mixture) / self.sample_rate + 1.0 / self.fps, 1 / self.fps
        )
        per_frame = np.repeat(vectors[None], len(times), axis=0)
        active = np.ones((len(times), len(vectors)), bool)
        labels = [f"source_{i}" for i in range(len(vectors))]
        return self._separate_stream(source, (times, per_frame, active), labels).sources

    def _regions(self, maps: torch.Tensor) -> torch.Tensor:
        """Each map kept where it reaches ``map_threshold`` of its maximum (zero elsewhere)."""
        top = maps.flatten(2).amax(-1)[..., None, None]
        return maps * (maps >= self.map_threshold * top)

    # -- localisation -------------------------------------------------------------------------

    def localize(
        self, video: VideoInput, progress: Callable[[int], None] | None = None
    ) -> LocalizationResult:
        """Heatmaps, per-class maps and sounding objects for every analysed frame.

        Args:
            video: a media file path, a :class:`~avloc.sources.Clip`, or ``(frames, audio, fps, sample_rate)``.
            progress: called with the number of frames done after each chunk (e.g. a tqdm
                bar's ``update``).

        Returns:
            The maps at grid resolution for frames at the model's frame rate.

        Raises:
            FileNotFoundError: missing file. media.MediaError (a ValueError): unreadable
            media, no video or no audio stream. TypeError: unsupported ``video``.
            ModelOutputError (a ValueError): the model gave NaN or infinite maps.
        """
        source = open_source(video)
        window = round(self.audio_window_s * self.sample_rate)
        audio = AudioWindows(iter(source.audio(self.sample_rate)))
        results = _FrameArrays(math.ceil(source.duration_s * self.fps) + 1)
        chunks = source.frames(self.fps, self.input_size, self.batch_size)
        for times, frames in prefetch(chunks, self.decode_ahead):
            starts = np.round(times * self.sample_rate).astype(np.int64) - window // 2
            windows = np.stack([audio.window(int(s), window) for s in starts])
            step = self._localize_batch(frames, windows)
            results.append(
                times,
                step.maps,
                step.class_maps,
                step.class_presence,
                step.class_vectors,
                loudness_db(windows),
            )
            if progress is not None:
                progress(len(times))
        if results.num_frames == 0:
            if isinstance(video, (str, Path)):
                raise media.EmptyMediaError(video, "no frames could be decoded")
            raise media.EmptyMediaError("<in-memory clip>", "shorter than one analysis frame")
        times, maps, class_maps, probs, vectors, level = results.arrays()
        if not (np.isfinite(maps).all() and np.isfinite(class_maps).all()):
            raise ModelOutputError(
                f"the model gave NaN or infinite maps for {video}: its weights are damaged or "
                "come from a diverged training run (the video is not at fault)"
            )
        silence_classes = self.silence_classes
        objects = extract_objects(
            class_maps,
            probs,
            level,
            self._class_labels(class_maps.shape[1]),
            self.presence_threshold,
            self.map_threshold,
            ignore=silence_classes,
        )
        return LocalizationResult(
            times_s=times,
            heatmaps=maps.astype(np.float32, copy=False),
            class_maps=class_maps.astype(np.float32, copy=False),
            class_presence=probs.astype(np.float32, copy=False),
            loudness_db=level,
            objects=objects,
            fps=self.fps,
            sample_rate=self.sample_rate,
            frame_size=self.input_size,
            duration_s=source.duration_s,
            num_chunks=results.num_chunks,
            class_vectors=vectors,
            silence_classes=silence_classes,
        )

    def _class_labels(self, num_classes: int) -> list[str]:
        names = getattr(self.model.config, "class_names", None)
        if names and len(names) == num_classes:
            return [str(n) for n in names]
        return [f"class_{k}" for k in range(num_classes)]

    @property
    def silence_classes(self) -> tuple[int, ...]:
        """The pseudo-classes the model hears in digital silence (its class classifier says
        present, presence >= 0.5, for a silent audio window), which :meth:`localize` never
        lists as objects: clustering unlabelled audio can make a class of the quiet starts and
        ends of clips, and silence is no sounding object."""
        if self._silence_presence is None:  # class presence depends on the audio alone
            window = np.zeros((1, round(self.audio_window_s * self.sample_rate)), np.float32)
            blank = np.zeros((1, *self.input_size, 3), np.uint8)
            # one plain look: presence depends on neither mirror images nor class guidance
            self._silence_presence = self._look(blank, window).class_presence[0]
        return tuple(int(k) for k in np.flatnonzero(self._silence_presence >= 0.5))

    # -- separation ---------------------------------------------------------------------------

    def separate(
        self,
        video: VideoInput,
        localization: LocalizationResult | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SeparationResult:
        """One waveform per sounding object (pseudo-class), plus the residual.

        Each object's visual vector is pooled over its map region at every frame where it
        sounds; an audio window uses the max over its frames (Sound-of-Pixels' temporal
        max-pooling), and is silent for an object that does not sound in it. Sound that no
        object makes (from off screen, or from an object not found) stays in the residual.

        Args:
            video: as for :meth:`localize`.
            localization: a previous :meth:`localize` result of the same video (saves a pass).
            progress: called with the number of frames done after each chunk.

        Returns:
            Sources at the model's sample rate; with no sounding object ``sources`` is
            (0, T) and the residual is the whole mixture.

        Raises:
            As :meth:`localize`.
        """
        self._check_separator()
        source = open_source(video)
        loc = localization if localization is not None else self.localize(video, progress)
        _check_same_length(loc, source)
        return self._separate_objects(source, loc)

    def _separate_objects(
        self, source: FileSource | ClipSource, loc: LocalizationResult
    ) -> SeparationResult:
        """:meth:`separate` once the source is open and ``loc`` checked against it."""
        if not loc.objects:
            return self._separate_stream(source, None, ())
        vectors, active = self._object_vectors(loc)
        return self._separate_stream(
            source, (loc.times_s, vectors, active), [o.label for o in loc.objects]
        )

    def _check_separator(self) -> None:
        if not hasattr(self.model, "separate") or not hasattr(self.model, "visual_vectors"):
            raise ValueError(
                f"model {type(self.model).__name__} has no separator; use an AVLocModel"
            )

    def separate_at(
        self,
        video: VideoInput,
        point: tuple[float, float] | None = None,
        localization: LocalizationResult | None = None,
        progress: Callable[[int], None] | None = None,
        *,
        box: tuple[float, float, float, float] | None = None,
    ) -> np.ndarray:
        """The sound coming from one place: a point, or a region of the frame (``box``).

        On a detected object (the point inside its box for at least half the frames where
        it sounds) this is that object's sound, as :meth:`separate` gives it; a box gives
        the summed sounds of the objects it holds (:func:`objects_in`: around an object, or
        drawn on part of it). Elsewhere it is Sound-of-Pixels' pixel-wise separation: the
        visual vector at that pixel (or pooled over the box), competing for each
        spectrogram bin with every detected object and with the rest of the sound; a place
        where nothing sounds gets little.

        Args:
            video: as for :meth:`localize`.
            point: ``(x, y)`` normalised to [0, 1] of the frame's width and height.
            localization: a previous :meth:`localize` result of the same video (saves a pass).
            progress: called with the number of frames done after each chunk.
            box: instead of ``point``, ``(x0, y0, x1, y1)`` normalised to [0, 1].

        Returns:
            The waveform at the model's sample rate.

        Shape:
            returns (T,) float32.

        Raises:
            ValueError: neither or both of ``point`` and ``box``, either outside [0, 1]², an
                empty box, or a localization of another video; otherwise as :meth:`localize`.
        """
        place = _checked_place(point, box)
        self._check_separator()
        loc = localization if localization is not None else self.localize(video, progress)
        source = open_source(video)
        _check_same_length(loc, source)
        if len(place) == 2:
            on = object_at(loc.objects, place)
            held = [] if on is None else [on]
        else:
            held = objects_in(loc.objects, place)
        if held:
            return self._separate_objects(source, loc).sources[held].sum(axis=0)
        times, vectors = self._place_vectors(source, place, progress)
        active = np.ones((len(vectors), 1), bool)
        labels = ["place"]
        if loc.objects:
            count = min(len(times), len(loc.times_s))  # the same frames, decoded twice
            others, others_active = self._object_vectors(loc)
            times = times[:count]
            vectors = np.concatenate([vectors[:count], others[:count]], axis=1)
            active = np.concatenate([active[:count], others_active[:count]], axis=1)
            labels += [o.label for o in loc.objects]
        return self._separate_stream(source, (times, vectors, active), labels).sources[0]

    def _object_vectors(self, loc: LocalizationResult) -> tuple[np.ndarray, np.ndarray]:
        """Each object's separator vectors per frame (N, S, K_s) and where it sounds (N, S)."""
        if loc.class_vectors is None or loc.class_vectors.shape[-1] == 0:
            raise ValueError("the localization result holds no separator vectors; rerun localize")
        vectors = loc.class_vectors[:, [o.class_index for o in loc.objects]]
        active = np.stack([~np.isnan(o.boxes[:, 0]) for o in loc.objects], axis=1)
        return vectors, active

    def _place_vectors(
        self,
        source: FileSource | ClipSource,
        place: tuple[float, ...],
        progress: Callable[[int], None] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frame times (N,) and the separator vector per frame (N, 1, K_s) at a point
        ``(x, y)``, or pooled over a box ``(x0, y0, x1, y1)``."""
        times_out: list[np.ndarray] = []
        out: list[np.ndarray] = []
        chunks = source.frames(self.fps, self._vector_size, self.batch_size)
        at = torch.tensor(place, dtype=torch.float32, device=self.device)
        for times, frames in prefetch(chunks, self.decode_ahead):
            where = at.expand(len(times), 1, len(place))
            with torch.inference_mode(), self._autocast():
                visual = self.model.encode_frames(self._frames_tensor(frames))
                if len(place) == 2:
                    vectors = self.model.pixel_visual_vectors(visual, where)
                else:
                    grid = visual.features.shape[-2:]
                    weights = box_weights(where, *grid)
                    vectors = self.model.visual_vectors(visual, weights)
            out.append(vectors.float().cpu().numpy())
            times_out.append(times)
            if progress is not None:
                progress(len(times))
        if not out:
            raise media.EmptyMediaError("<input>", "no frames could be decoded")
        return np.concatenate(times_out), np.concatenate(out)

    def _separate_stream(
        self,
        source: AudioSource,
        visual: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        labels: Iterable[str],
    ) -> SeparationResult:
        """Overlap-add separation over the whole audio; ``visual`` = (times, vectors, active)."""
        labels = tuple(labels)
        total = source.num_samples(self.sample_rate)
        length = self._separation_window()
        hop = length // 2
        weights = _hann_weights(length)
        mixture = np.zeros(total, np.float32)
        sources = np.zeros((len(labels), total), np.float32)
        audio = AudioWindows(iter(source.audio(self.sample_rate)))
        starts = list(range(-hop, total, hop))  # a half window before 0: every sample gets two
        # The U-Net runs once per (window, object): keep that product near batch_size so that
        # memory does not grow with the number of objects.
        step = max(1, self.batch_size // max(1, len(labels)))
        for first in range(0, len(starts), step):
            batch = starts[first : first + step]
            windows = np.stack([audio.window(s, length) for s in batch])
            for s, w in zip(batch, windows, strict=True):
                lo, hi = max(s, 0), min(s + length, total)
                mixture[lo:hi] = w[lo - s : hi - s]
            if visual is None:
                continue
            separated = self._separate_batch(windows, batch, length, visual) * weights
            for s, part in zip(batch, separated, strict=True):
                lo, hi = max(s, 0), min(s + length, total)
                sources[:, lo:hi] += part[:, lo - s : hi - s]
        return SeparationResult(
            sources=sources,
            labels=labels,
            residual=mixture - sources.sum(axis=0),
            mixture=mixture,
            sample_rate=self.sample_rate,
            num_chunks=len(starts),
        )

    def _separate_batch(
        self,
        windows: np.ndarray,
        starts: list[int],
        length: int,
        visual: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """Separate a batch of windows: (B, L) -> (B, S, L), silent where an object is not."""
        times, vectors, active = visual
        pooled = np.zeros((len(starts), *vectors.shape[1:]), np.float32)
        sounding = np.zeros((len(starts), vectors.shape[1]), bool)
        for b, s in enumerate(starts):
            inside = (times >= s / self.sample_rate) & (times < (s + length) / self.sample_rate)
            for j in range(vectors.shape[1]):
                frames = inside & active[:, j]
                if frames.any():
                    pooled[b, j] = vectors[frames, j].max(axis=0)
                    sounding[b, j] = True
        with torch.inference_mode(), self._autocast():
            out = self.model.separate(
                torch.from_numpy(windows).to(self.device),
                torch.from_numpy(pooled).to(self.device),
                rule=self.mask_rule,
                active=torch.from_numpy(sounding).to(self.device),
            )
        waves = out.waveforms.float().cpu().numpy()[..., :length]
        return waves * sounding[..., None]

    def _separation_window(self) -> int:
        seconds = getattr(self.model.config, "separation_window_s", None) or self.audio_window_s
        length = round(float(seconds) * self.sample_rate)
        return length + length % 2  # even, so that 50 % Hann overlap sums to one
