"""How the model's raw maps become the maps avloc shows, scores and separates under.

* :func:`fuse_scales`: the maps of frames looked at several sizes, as one map keeping each
  cell's highest value;
* :func:`smooth_maps`: peak-preserving smoothing, ``max(map, halo)``;
* :func:`guide_by_classes`: heatmaps weighted toward where the classes heard are;
* :class:`MapOptions`: how one kind of map is drawn (logit offset, then smoothing), with the
  defaults :data:`HEATMAP_OPTIONS` and :data:`CLASS_MAP_OPTIONS`, each value chosen on tuning
  sets (never an evaluation set) as the comments say, with the experiments in
  ``docs/findings.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from avloc.defaults import (
    CLASS_MAP_HALO,
    CLASS_MAP_KERNEL,
    CLASS_MAP_OFFSET,
    DEFAULT_CLASS_MAP_SMOOTHING,
    DEFAULT_MAP_SMOOTHING,
    MAP_HALO,
    MAP_KERNEL,
    MAP_KERNELS,
    MAP_OFFSET,
    MapKernel,
)


def check_logit_offset(value: float, name: str) -> float:
    """``value``, a shift of the maps' logits, if finite and in [-50, 50].

    Raises:
        ValueError: otherwise; the message starts with ``name``.
    """
    if not math.isfinite(value) or abs(value) > 50.0:
        raise ValueError(f"{name} must be a logit shift in [-50, 50], got {value}")
    return value


def check_class_guidance(value: float, name: str) -> float:
    """``value``, a class guidance weight (:func:`guide_by_classes`), if in [0, 1].

    Raises:
        ValueError: otherwise (NaN too); the message starts with ``name``.
    """
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


@dataclass(frozen=True)
class MapOptions:
    """How inference draws one kind of map from the model's logits: ``sigmoid(logit +
    offset)``, then :func:`smooth_maps` with ``smoothing``, ``halo`` and ``kernel``.

    ``dataclasses.replace(HEATMAP_OPTIONS, smoothing=0)`` gives the model's raw heatmaps.

    Attributes:
        smoothing: the blur's standard deviation as a fraction of the map's width, in [0, 10)
            (0: no smoothing).
        halo: the halo's height as a fraction of each map's peak, in [0, 1).
        offset: added to the logits before their sigmoid, in [-50, 50] (0: the model's
            calibrated probabilities).
        kernel: the blur, ``"gaussian"`` or ``"box"`` (a uniform filter, the same standard
            deviation).

    Raises:
        ValueError: a value out of its range; the message starts with the field's name.
    """

    smoothing: float
    halo: float
    offset: float = 0.0
    kernel: MapKernel = MAP_KERNEL

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing < 10.0:
            raise ValueError(f"smoothing must be in [0, 10) (map widths), got {self.smoothing}")
        if not 0.0 <= self.halo < 1.0:
            raise ValueError(f"halo must be in [0, 1) (of the peak), got {self.halo}")
        check_logit_offset(self.offset, "offset")
        if self.kernel not in MAP_KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(MAP_KERNELS)}, got {self.kernel!r}")

    def smooth(self, maps: torch.Tensor) -> torch.Tensor:
        """:func:`smooth_maps` with these options."""
        return smooth_maps(maps, self.smoothing, self.halo, self.kernel)


HEATMAP_OPTIONS = MapOptions(DEFAULT_MAP_SMOOTHING, MAP_HALO, MAP_OFFSET, MAP_KERNEL)
CLASS_MAP_OPTIONS = MapOptions(
    DEFAULT_CLASS_MAP_SMOOTHING, CLASS_MAP_HALO, CLASS_MAP_OFFSET, CLASS_MAP_KERNEL
)

MAX_SCALE = 4.0


def check_scales(scales: Sequence[float], name: str = "scales") -> tuple[float, ...]:
    """``scales`` as a sorted tuple of distinct factors in (0, MAX_SCALE], or a clear error."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence):
        raise TypeError(f"{name} must be a sequence of factors such as (1.0, 1.5), got {scales!r}")
    try:
        values = tuple(sorted({float(v) for v in scales}))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers, got {scales!r}") from None
    if not values or not all(0.0 < v <= MAX_SCALE for v in values):
        raise ValueError(f"{name} must be one or more factors in (0, {MAX_SCALE:g}], got {scales}")
    return values


def fuse_scales(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """The per-cell maximum of maps of one batch at several grid sizes, on the finest grid.

    Coarser maps are upsampled bilinearly to the finest map's grid first.

    Shape:
        each (B, h_i, w_i) or (B, K, h_i, w_i) -> the finest shape.
    """
    if not maps:
        raise ValueError("fuse_scales needs at least one map")
    size = max((tuple(m.shape[-2:]) for m in maps), key=lambda hw: hw[0] * hw[1])

    def on_finest_grid(m: torch.Tensor) -> torch.Tensor:
        if tuple(m.shape[-2:]) == size:
            return m.float()
        flat = m.float().flatten(0, -3)[:, None]
        up = F.interpolate(flat, size=size, mode="bilinear", align_corners=False)
        return up[:, 0].view(*m.shape[:-2], *size)

    return torch.stack([on_finest_grid(m) for m in maps]).amax(dim=0)


def smooth_maps(
    maps: torch.Tensor, sigma: float, halo: float = MAP_HALO, kernel: MapKernel = MAP_KERNEL
) -> torch.Tensor:
    """Peak-preserving smoothing: ``max(map, halo)``, the halo a blur of the map rescaled so
    that its top is ``halo`` times the map's peak.

    A Gaussian blur alone spreads a map over its object but can move its peak (towards a wide
    patch of moderate response); taking the maximum with the map keeps every peak where it
    was, with its value. A blur's height follows its peak's mass, so a one-cell peak would get
    a halo fainter than the map's background, which the top-50 % rule then ranks above it;
    rescaling gives every map the same halo relative to its peak, however sharp the peak.

    The blur is a Gaussian, or a box (a uniform filter) of the same standard deviation: a
    half-width of ``sqrt(3) * sigma`` map widths, rounded to whole cells (at least one). Its
    halo's level sets are squares rather than discs. Both pad the map by repeating its edge.

    Args:
        maps: (B, h, w) or (B, K, h, w) non-negative maps; each (h, w) map is smoothed alone.
        sigma: the blur's standard deviation as a fraction of the map's width (0: none).
        halo: the halo's height as a fraction of the map's peak, in [0, 1).
        kernel: ``"gaussian"`` or ``"box"``.

    Raises:
        ValueError: ``sigma`` < 0, ``halo`` outside [0, 1), an unknown ``kernel``, or
        ``maps`` neither (B, h, w) nor (B, K, h, w).
    """
    if sigma < 0:
        raise ValueError(f"map smoothing must be >= 0, got {sigma}")
    if not 0.0 <= halo < 1.0:
        raise ValueError(f"the halo's height must be in [0, 1), got {halo}")
    if kernel not in MAP_KERNELS:
        raise ValueError(
            f"the blur's kernel must be one of {', '.join(MAP_KERNELS)}, got {kernel!r}"
        )
    if maps.dim() not in (3, 4):
        raise ValueError(f"maps must be (B, h, w) or (B, K, h, w), got shape {tuple(maps.shape)}")
    if sigma == 0 or maps.numel() == 0:
        return maps
    if maps.dim() == 4:
        return smooth_maps(maps.flatten(0, 1), sigma, halo, kernel).view(maps.shape)
    import kornia  # a heavy import, only where smoothing is asked for

    maps = maps.float()
    cells = sigma * maps.shape[-1]
    if kernel == "box":  # a uniform filter's variance is ((2r + 1)^2 - 1) / 12 ~ r^2 / 3
        radius = max(1, round(math.sqrt(3.0) * cells))
        size = (2 * radius + 1, 2 * radius + 1)
        blurred = kornia.filters.box_blur(maps[:, None], size, "replicate")[:, 0]
    else:
        radius = max(1, int(3.0 * cells + 0.5))  # scipy.ndimage.gaussian_filter(truncate=3)
        blurred = kornia.filters.gaussian_blur2d(
            maps[:, None], (2 * radius + 1, 2 * radius + 1), (cells, cells), "replicate"
        )[:, 0]
    peak = maps.flatten(1).amax(1)
    scale = halo * peak / blurred.flatten(1).amax(1).clamp_min(1e-12)
    return torch.maximum(maps, blurred * scale[:, None, None])


def guide_by_classes(
    maps: np.ndarray,
    class_maps: np.ndarray,
    presence: np.ndarray,
    weight: float,
    ignore: Sequence[int] = (),
) -> np.ndarray:
    """Heatmaps weighted toward where the classes the sound is heard as are seen.

    The guide is the class maps' mean weighted by each class's presence (the classes in
    ``ignore``, e.g. the ones heard in silence, left out), scaled to a peak of 1; each map
    becomes ``map * (1 - weight + weight * guide)``. The audio-visual map says where the sound
    matches the picture; the class head says which pseudo-classes sound and where each is, a
    second opinion that holds better in drawing styles and timbres never trained on. A frame
    whose guide is all zero (no class heard) keeps its map.

    Shape:
        maps: (N, h, w); class_maps: (N, K, h, w); presence: (N, K) -> (N, h, w).

    Raises:
        ValueError: ``weight`` outside [0, 1].
    """
    check_class_guidance(weight, "the class guidance weight")
    if weight == 0.0 or class_maps.shape[1] == 0:
        return maps
    heard = presence.astype(np.float32, copy=True)
    heard[:, list(ignore)] = 0.0
    guide = np.einsum("nk,nkhw->nhw", heard, class_maps)
    peak = guide.reshape(len(guide), -1).max(axis=1)[:, None, None]
    guide = np.where(peak > 0, guide / np.where(peak > 0, peak, 1.0), 1.0)
    return (maps * (1.0 - weight + weight * guide)).astype(maps.dtype, copy=False)
