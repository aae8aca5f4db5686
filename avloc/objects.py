"""Sounding objects read off per-class maps: presence over time, boxes and loudness.

A self-supervised model gives pseudo-classes (clusters), not named classes, so an "object" is a
pseudo-class that sounds somewhere in the clip. Its box at each frame is the connected region of
its map (thresholded relative to the map's maximum, the class-aware rule of Qian et al. 2020,
see ``protocols.md`` §3) that holds the map's strongest peak.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from skimage.feature import peak_local_max
from skimage.measure import label as label_regions
from skimage.measure import regionprops

SILENCE_DB = -100.0  # loudness reported for digital silence


@dataclass(frozen=True, eq=False)
class DetectedObject:
    """One sounding object (pseudo-class) of a clip.

    Shape:
        boxes: (N, 4) normalised ``(x0, y0, x1, y1)`` per analysed frame, NaN where absent.
    """

    label: str  # e.g. "class_3", or the model's class name
    class_index: int  # index k into the class maps
    presence: float  # mean class presence over the frames where it sounds, in [0, 1]
    active_fraction: float  # fraction of the analysed frames where it sounds
    boxes: np.ndarray
    loudness_db: float  # mean RMS level (dBFS) of the audio while it sounds

    def to_json(self, times_s: np.ndarray) -> dict[str, object]:
        """A JSON-ready dict; the track lists ``[t_s, x0, y0, x1, y1]`` rows where present."""
        track = [
            [round(float(t), 4), *(round(float(v), 4) for v in box)]
            for t, box in zip(times_s, self.boxes, strict=True)
            if not np.isnan(box).any()
        ]
        return {
            "label": self.label,
            "class_index": self.class_index,
            "presence": round(self.presence, 4),
            "active_fraction": round(self.active_fraction, 4),
            "loudness_db": round(self.loudness_db, 2),
            "track": track,
        }


def loudness_db(windows: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each audio window (floored at ``SILENCE_DB``).

    Shape:
        windows: (N, T) -> (N,) float32.
    """
    rms = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=-1))
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DB).astype(np.float32)


def box_from_map(heatmap: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The box of the region around a map's strongest peak.

    The map is binarised at ``threshold * max``; the connected region (8-connectivity) holding
    the highest local maximum gives the box. Coordinates are cell edges normalised to [0, 1].

    Args:
        heatmap: a non-negative map at grid resolution.
        threshold: the fraction of the map's maximum that counts as "on", in (0, 1].

    Returns:
        ``(x0, y0, x1, y1)`` as float32, or NaNs when the map is empty (max <= 0).

    Shape:
        heatmap: (h, w) -> (4,).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"map threshold must be in (0, 1], got {threshold}")
    heatmap = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    top = float(heatmap.max())
    if top <= 0.0:
        return np.full(4, np.nan, np.float32)
    peaks = peak_local_max(heatmap, num_peaks=1, exclude_border=False)
    row, col = (
        (int(v) for v in peaks[0])
        if len(peaks)
        else np.unravel_index(heatmap.argmax(), heatmap.shape)
    )
    regions = label_regions(heatmap >= threshold * top, connectivity=2)
    region_id = int(regions[row, col])
    if region_id == 0:  # plateau peaks can fall just outside; use the global maximum instead
        row, col = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
        region_id = int(regions[row, col])
    (prop,) = [p for p in regionprops(regions) if p.label == region_id]
    y0, x0, y1, x1 = prop.bbox
    height, width = heatmap.shape
    return np.array([x0 / width, y0 / height, x1 / width, y1 / height], np.float32)


def extract_objects(
    class_maps: np.ndarray,
    class_presence: np.ndarray,
    frame_loudness_db: np.ndarray,
    labels: Sequence[str] | None = None,
    presence_threshold: float = 0.5,
    map_threshold: float = 0.5,
    ignore: Collection[int] = (),
) -> tuple[DetectedObject, ...]:
    """The sounding objects of a clip, strongest first.

    A pseudo-class sounds at frame n when ``class_presence[n, k] >= presence_threshold``; a
    class that never does is not an object, nor is any class in ``ignore``.

    Args:
        class_maps: per-class maps in [0, 1].
        class_presence: per-class presence probabilities.
        frame_loudness_db: the audio level at each frame.
        labels: one name per class; default ``"class_<k>"``.
        presence_threshold: presence that counts as sounding, in [0, 1].
        map_threshold: fraction of a map's maximum kept for its box, in (0, 1].
        ignore: class indices that are never objects, e.g. the classes a model hears in
            silence (``Pipeline.silence_classes``).

    Shape:
        class_maps: (N, K, h, w); class_presence: (N, K); frame_loudness_db: (N,).

    Raises:
        ValueError: inconsistent shapes or labels.
    """
    class_maps = np.asarray(class_maps, dtype=np.float32)
    class_presence = np.asarray(class_presence, dtype=np.float32)
    if class_maps.ndim != 4 or class_presence.shape != class_maps.shape[:2]:
        raise ValueError(
            f"class_maps must be (N, K, h, w) and class_presence (N, K); got "
            f"{class_maps.shape} and {class_presence.shape}"
        )
    num_frames, num_classes = class_presence.shape
    if len(frame_loudness_db) != num_frames:
        raise ValueError(
            f"frame_loudness_db has {len(frame_loudness_db)} values, expected {num_frames}"
        )
    names = list(labels) if labels is not None else [f"class_{k}" for k in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"got {len(names)} labels for {num_classes} classes")
    objects = []
    for k in range(num_classes):
        if k in ignore:
            continue
        active = class_presence[:, k] >= presence_threshold
        if not active.any():
            continue
        boxes = np.full((num_frames, 4), np.nan, np.float32)
        for n in np.flatnonzero(active):
            boxes[n] = box_from_map(class_maps[n, k], map_threshold)
        objects.append(
            DetectedObject(
                label=names[k],
                class_index=k,
                presence=float(class_presence[active, k].mean()),
                active_fraction=float(active.mean()),
                boxes=boxes,
                loudness_db=float(np.mean(np.asarray(frame_loudness_db)[active])),
            )
        )
    return tuple(sorted(objects, key=lambda o: -o.presence * o.active_fraction))
