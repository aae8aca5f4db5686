"""Rendering shared by the CLI and the app: heatmap overlays, boxes and per-object thumbnails.

All functions take and return uint8 RGB images ``(H, W, 3)``; heatmaps are float maps in [0, 1]
at the model's grid resolution and are upsampled here, at drawing time, so that results stay
small in memory.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from avloc.inference import LocalizationResult

# Turbo: its hot end is red, which stays visible over the bright, saturated objects that
# sound (inferno's hot end is pale yellow and vanishes on white piano keys or a green trumpet).
DEFAULT_COLORMAP = "turbo"
OVERLAY_MAX_SIDE = 480  # longer side of overlay videos, pixels (CPU H.264 encoding is slow)
OVERLAY_MAX_FPS = 30.0  # overlays play at the source's frame rate, up to this

# Distinct, colour-blind friendly box colours (Okabe-Ito), RGB.
BOX_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (255, 255, 255),
)


@functools.lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """A 256-entry RGB lookup table for a matplotlib colormap.

    Args:
        name: a matplotlib colormap name, e.g. ``"inferno"``, ``"jet"``, ``"viridis"``.

    Returns:
        uint8 array of shape (256, 3).

    Raises:
        ValueError: ``name`` is not a known colormap.
    """
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"unknown colormap {name!r}; use a matplotlib name such as 'inferno', 'jet' or "
            "'viridis'"
        ) from None
    lut = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    lut = (lut * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def list_colormaps() -> list[str]:
    """A short list of colormaps that read well over video, for menus."""
    return ["turbo", "jet", "inferno", "viridis", "magma", "hot"]


def _check_image(image: np.ndarray, what: str = "frame") -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"{what} must be a uint8 numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must have shape (H, W, 3), got {image.shape}")


def _check_map(heatmap: np.ndarray) -> np.ndarray:
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must have shape (h, w), got {heatmap.shape}")
    return heatmap


def upsample_map(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a grid map to an image size, clipped to [0, 1]. NaN (no value:
    a cell or a frame the map does not cover) reads as 0, so an overlay leaves it uncoloured.

    Args:
        heatmap: map at grid resolution.
        size: ``(height, width)`` of the output.

    Shape:
        heatmap: (h, w) -> (H, W) float32.
    """
    heatmap = _check_map(heatmap)
    height, width = size
    big = cv2.resize(heatmap, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.nan_to_num(big, nan=0.0), 0.0, 1.0)


def colorize(heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """Map values in [0, 1] to RGB colours.

    Shape:
        heatmap: (H, W) -> (H, W, 3) uint8.
    """
    lut = colormap_lut(colormap)
    index = np.clip(np.nan_to_num(heatmap, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if index.ndim != 2:
        return lut[index]
    # cv2.LUT looks up each channel in its own column: a third faster than fancy indexing,
    # which counts when every frame of an overlay video is coloured
    return cv2.LUT(cv2.merge([index, index, index]), lut[:, None, :])


def overlay_heatmap(
    frame: np.ndarray,
    heatmap: np.ndarray,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = 0.5,
) -> np.ndarray:
    """Blend a heatmap over a frame; the colour's weight grows with the map's value.

    Weighting the blend by the map keeps silent regions looking like the original frame, so
    the eye goes to what sounds.

    Args:
        frame: the RGB frame.
        heatmap: map in [0, 1] at any resolution (upsampled to the frame).
        colormap: matplotlib colormap name.
        opacity: the colour's weight where the map is 1, in [0, 1].

    Shape:
        frame: (H, W, 3) uint8; heatmap: (h, w) -> (H, W, 3) uint8.

    Raises:
        ValueError: bad shapes, opacity outside [0, 1] or an unknown colormap.
    """
    _check_image(frame)
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    big = upsample_map(heatmap, frame.shape[:2])
    colour = colorize(big, colormap).astype(np.float32)
    weight = (opacity * np.sqrt(big))[..., None]
    out = frame.astype(np.float32) * (1.0 - weight) + colour * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def scale_for_display(maps: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Maps divided by their overall maximum, so the strongest response shows at full colour.

    Calibrated maps are probabilities, often far below 1 (a confident model still spreads its
    mass), which would draw an almost invisible overlay; one scale for the whole stack keeps
    the relative levels between frames (a quiet frame stays pale).

    Shape:
        maps: (..., h, w) in [0, 1] -> same shape, max 1 (unchanged when all are ~0).
    """
    maps = np.asarray(maps, dtype=np.float32)
    return maps / max(float(maps.max(initial=0.0)), floor)


class TemporalSmoother:
    """Exponential moving average over successive heatmaps (stateful, for streaming).

    ``smoothing`` is the weight of the past: 0 disables smoothing, 0.9 is very smooth.
    """

    def __init__(self, smoothing: float = 0.0) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"temporal smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = smoothing
        self._state: np.ndarray | None = None

    def __call__(self, heatmap: np.ndarray) -> np.ndarray:
        """Smooth the next map; shape (..., h, w) kept."""
        current = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
        if self._state is None or self._state.shape != current.shape:
            self._state = current
        else:
            self._state = self.smoothing * self._state + (1.0 - self.smoothing) * current
        return self._state


def smooth_heatmaps(heatmaps: np.ndarray, smoothing: float) -> np.ndarray:
    """EMA over the first (time) axis of a stack of maps.

    Shape:
        heatmaps: (N, ...) -> (N, ...) float32.
    """
    smoother = TemporalSmoother(smoothing)
    return np.stack([smoother(m) for m in heatmaps]) if len(heatmaps) else heatmaps


def box_color(index: int) -> tuple[int, int, int]:
    """The drawing colour of the ``index``-th object."""
    return BOX_COLORS[index % len(BOX_COLORS)]


def draw_boxes(
    frame: np.ndarray,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str],
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """Draw labelled boxes (normalised ``(x0, y0, x1, y1)``) on a copy of the frame.

    Boxes with any NaN coordinate (object absent at this time) are skipped.

    Shape:
        frame: (H, W, 3) uint8 -> (H, W, 3) uint8; boxes: (M, 4).

    Raises:
        ValueError: ``boxes`` and ``labels`` differ in length.
    """
    _check_image(frame)
    if len(boxes) != len(labels):
        raise ValueError(f"got {len(boxes)} boxes but {len(labels)} labels")
    out = np.ascontiguousarray(frame.copy())
    height, width = out.shape[:2]
    thickness = max(1, round(min(height, width) / 160))
    scale = max(0.3, min(height, width) / 500)
    for i, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        if np.any(np.isnan(np.asarray(box, dtype=np.float64))):
            continue
        color = colors[i] if colors is not None else box_color(i)
        x0, y0, x1, y1 = (float(v) for v in box)
        p0 = (round(x0 * (width - 1)), round(y0 * (height - 1)))
        p1 = (round(x1 * (width - 1)), round(y1 * (height - 1)))
        cv2.rectangle(out, p0, p1, color, thickness)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(th + base, p0[1])
        cv2.rectangle(out, (p0[0], ty - th - base), (p0[0] + tw, ty), color, -1)
        cv2.putText(out, label, (p0[0], ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1)
    return out


def map_thumbnails(
    frame: np.ndarray,
    maps: np.ndarray,
    size: tuple[int, int] = (160, 160),
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = 0.6,
) -> list[np.ndarray]:
    """One small overlay image per map (e.g. one per detected object), for galleries.

    Args:
        frame: the frame the maps belong to.
        maps: the maps, values in [0, 1].
        size: ``(height, width)`` of each thumbnail.
        colormap: matplotlib colormap name.
        opacity: colour weight where a map is 1.

    Shape:
        frame: (H, W, 3) uint8; maps: (K, h, w) -> K arrays (height, width, 3) uint8.
    """
    _check_image(frame)
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (K, h, w), got {maps.shape}")
    small = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return [overlay_heatmap(small, scale_for_display(m), colormap, opacity) for m in maps]


def heatmap_at(times_s: np.ndarray, heatmaps: np.ndarray, t_s: float) -> np.ndarray:
    """The map at time ``t_s``, linearly interpolated between the two nearest analysed frames.

    Shape:
        times_s: (N,) increasing; heatmaps: (N, ...) -> (...).
    """
    if len(times_s) == 0:
        raise ValueError("no heatmaps to look up (the result has zero frames)")
    if len(times_s) != len(heatmaps) or not np.isfinite(t_s):
        raise ValueError(
            f"heatmap_at needs one time per map and a finite t_s; got {len(times_s)} times, "
            f"{len(heatmaps)} maps, t_s {t_s}"
        )
    j = int(np.searchsorted(times_s, t_s))
    if j <= 0:
        return np.asarray(heatmaps[0], dtype=np.float32)
    if j >= len(times_s):
        return np.asarray(heatmaps[-1], dtype=np.float32)
    t0, t1 = float(times_s[j - 1]), float(times_s[j])
    w = 0.0 if t1 <= t0 else (t_s - t0) / (t1 - t0)
    return (1.0 - w) * heatmaps[j - 1].astype(np.float32) + w * heatmaps[j].astype(np.float32)


def render_overlay(
    frames: Iterable[tuple[float, np.ndarray]],
    times_s: np.ndarray,
    heatmaps: np.ndarray,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = 0.5,
    smoothing: float = 0.0,
    boxes: Sequence[tuple[str, np.ndarray]] = (),
) -> Iterator[np.ndarray]:
    """Overlay frames lazily: each ``(t_s, frame)`` gets the heatmap at its time.

    Works at any frame rate (maps are interpolated in time) and never holds more than one
    frame, so it can feed a streaming video writer.

    Args:
        frames: ``(time in s, frame)`` pairs in time order.
        times_s: the analysed frame times of ``heatmaps``.
        heatmaps: the maps.
        colormap: matplotlib colormap name.
        opacity: colour weight where the map is 1.
        smoothing: EMA weight of the past over successive output frames, in [0, 1).
        boxes: ``(label, boxes over the analysed times (N, 4))`` per object to draw.

    Shape:
        times_s: (N,); heatmaps: (N, h, w); yields (H, W, 3) uint8.
    """
    colormap_lut(colormap)  # fail before the first frame is decoded
    smoother = TemporalSmoother(smoothing)
    labels = [label for label, _ in boxes]
    for t_s, frame in frames:
        out = overlay_heatmap(
            frame, smoother(heatmap_at(times_s, heatmaps, t_s)), colormap, opacity
        )
        if boxes:
            j = int(np.argmin(np.abs(times_s - t_s)))
            out = draw_boxes(out, [track[j] for _, track in boxes], labels)
        yield out


def overlay_size(height: int, width: int, max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    """An overlay's ``(height, width)``: the source's aspect, longer side capped, even sizes.

    Raises:
        ValueError: ``max_side`` below 16 pixels.
    """
    if not max_side >= 16:
        raise ValueError(f"max_side must be at least 16 pixels, got {max_side}")
    scale = min(1.0, max_side / max(height, width))
    return (max(2, round(height * scale / 2) * 2), max(2, round(width * scale / 2) * 2))


def overlay_fps(source_fps: float | None, analysis_fps: float) -> float:
    """An overlay's frame rate: the source's, at most :data:`OVERLAY_MAX_FPS` and never below
    the analysis rate (nor when the source's rate is unknown)."""
    if not source_fps or source_fps <= analysis_fps:
        return analysis_fps
    return min(source_fps, max(OVERLAY_MAX_FPS, analysis_fps))


def write_overlay_video(
    path: str | Path,
    video: str | Path,
    result: LocalizationResult,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = 0.5,
    smoothing: float = 0.5,
    draw_objects: bool = True,
    max_side: int = OVERLAY_MAX_SIDE,
) -> Path:
    """Stream ``video``'s frames through :func:`render_overlay` into an H.264/AAC file.

    The overlay plays at the source's frame rate (:func:`overlay_fps`), not the slower rate the
    model analysed: each frame gets the map interpolated to its time. Frames are overlaid one
    at a time and encoded by :class:`avloc.media.VideoWriter`; the original soundtrack is
    decoded in blocks alongside, so memory stays bounded whatever the length.

    Args:
        path: the output ``.mp4``.
        video: the analysed video.
        result: its :class:`~avloc.inference.LocalizationResult`.
        colormap, opacity: as for :func:`render_overlay`.
        smoothing: the temporal EMA's weight of the past per *analysed* frame, in [0, 1);
            converted to the overlay's frame rate so that its time constant stays the same.
        draw_objects: draw the objects' boxes and labels.
        max_side: longer side of the output, pixels.

    Returns:
        ``path``.
    """
    from avloc import media
    from avloc.sources import prefetch

    info = media.probe(video)
    if info.height is None or info.width is None or info.sample_rate is None:
        raise media.MediaError(video, "needs both a video and an audio stream for an overlay")
    size = overlay_size(info.height, info.width, max_side)
    fps = overlay_fps(info.fps, result.fps)

    # Decoding, overlaying and encoding each take about a third of the time. Each runs in its
    # own thread (PyAV, cv2 and numpy release the GIL while they work), so they overlap: a
    # third less time on 2 cores (benchmarks/bench_localize.py).
    chunks = prefetch(media.iter_video(video, fps, size=size, hold_last=True), 2)

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        for part in chunks:
            yield from zip(part.times_s.tolist(), part.frames, strict=True)

    boxes = [(o.label, o.boxes) for o in result.objects] if draw_objects else []
    heatmaps = scale_for_display(result.heatmaps)
    per_frame = smoothing ** (result.fps / fps) if 0.0 < smoothing < 1.0 else smoothing
    rendered = prefetch(
        render_overlay(frames(), result.times_s, heatmaps, colormap, opacity, per_frame, boxes), 4
    )
    rate = info.sample_rate
    audio = media.iter_audio(video, rate, chunk_s=2.0)  # streamed alongside, never all at once
    fed_s = 0.0
    # "veryfast": half medium's encoding time, which was most of an overlay's at 30 fps
    with (
        contextlib.closing(chunks),  # on any failure both threads stop: the overlaying one
        contextlib.closing(rendered),  # first, as it is the one reading the decoded chunks
        media.VideoWriter(path, fps, sample_rate=rate, preset="veryfast") as writer,
    ):
        for frame in rendered:
            writer.write(frame)
            while fed_s < writer.num_frames / fps:
                block = next(audio, None)
                if block is None:
                    fed_s = float("inf")
                    break
                writer.write_audio(block)
                fed_s += len(block) / rate
        for block in audio:
            writer.write_audio(block)
    return Path(path)
