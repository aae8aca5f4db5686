"""Pure tensor ops on frame stacks: conversion, normalisation, resizing, train-time augmentation.

No file I/O here: :mod:`avloc.media` decodes, these functions only transform what it returns.
Media frames are uint8 ``(N, H, W, 3)`` RGB; models take float ``(N, 3, H, W)`` normalised by
the mean/std stored in their config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _as_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return (int(size[0]), int(size[1]))


def frames_to_float(frames: np.ndarray | Tensor) -> Tensor:
    """uint8 frames → float32 channels-first in [0, 1].

    Args:
        frames: uint8 RGB frames, numpy or torch.

    Returns:
        float32 frames in [0, 1].

    Shape:
        frames: (N, H, W, 3) → (N, 3, H, W).

    Raises:
        TypeError: ``frames`` is not a uint8 array/tensor.
        ValueError: ``frames`` is not (N, H, W, 3).
    """
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, Tensor) or frames.dtype != torch.uint8:
        got = getattr(frames, "dtype", type(frames).__name__)
        raise TypeError(f"frames must be uint8 (N, H, W, 3) RGB as media decodes them, got {got}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (N, H, W, 3), got {tuple(frames.shape)}")
    return frames.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)


def _stats(values: Sequence[float], name: str, like: Tensor) -> Tensor:
    if len(values) != 3:
        raise ValueError(f"{name} must have one value per RGB channel, got {values!r}")
    if name == "std" and any(v <= 0 for v in values):
        raise ValueError(f"std must be positive, got {values!r}")
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


def normalize_frames(
    frames: np.ndarray | Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """Standardise frames per channel: ``(x - mean) / std`` with x in [0, 1].

    Args:
        frames: uint8 ``(N, H, W, 3)`` (numpy or torch), or float ``(N, 3, H, W)`` already in
            [0, 1] (e.g. after :class:`FrameAugment`).
        mean: per-channel mean of [0, 1] pixels.
        std: per-channel standard deviation.

    Returns:
        float32 normalised frames.

    Shape:
        frames: (N, H, W, 3) uint8 or (N, 3, H, W) float → (N, 3, H, W).

    Raises:
        TypeError / ValueError: unsupported dtype or shape, or bad mean/std.
    """
    if isinstance(frames, Tensor) and frames.is_floating_point():
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(
                f"float frames must have shape (N, 3, H, W), got {tuple(frames.shape)}"
            )
        x = frames.to(torch.float32)
    else:
        x = frames_to_float(frames)
    return (x - _stats(mean, "mean", x)) / _stats(std, "std", x)


def denormalize_frames(
    frames: Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """Undo :func:`normalize_frames`: back to float [0, 1] (clamped).

    Shape:
        frames: (N, 3, H, W) → (N, 3, H, W).
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must have shape (N, 3, H, W), got {tuple(frames.shape)}")
    x = frames * _stats(std, "std", frames) + _stats(mean, "mean", frames)
    return x.clamp_(0.0, 1.0)


def resize_frames(
    frames: Tensor, size: int | Sequence[int], mode: str = "bilinear", antialias: bool = True
) -> Tensor:
    """Resize a float frame stack to ``size`` (the frame is resized, not cropped).

    Args:
        frames: float frames.
        size: ``(height, width)``, or one int for a square.
        mode: ``"bilinear"``, ``"bicubic"``, ``"area"`` or ``"nearest"``.
        antialias: low-pass when shrinking (bilinear/bicubic only).

    Shape:
        frames: (N, C, H, W) → (N, C, height, width).

    Raises:
        TypeError: ``frames`` is not a float tensor.
        ValueError: bad shape, size or mode.
    """
    height, width = _as_size(size)
    if not isinstance(frames, Tensor) or not frames.is_floating_point():
        raise TypeError(
            "resize_frames takes float (N, C, H, W) frames; convert with frames_to_float"
        )
    if frames.ndim != 4:
        raise ValueError(f"frames must have shape (N, C, H, W), got {tuple(frames.shape)}")
    if mode not in ("bilinear", "bicubic", "area", "nearest"):
        raise ValueError(f"mode must be bilinear, bicubic, area or nearest, got {mode!r}")
    if frames.shape[-2:] == (height, width):
        return frames
    smooth = mode in ("bilinear", "bicubic")
    return F.interpolate(
        frames,
        size=(height, width),
        mode=mode,
        align_corners=False if smooth else None,
        antialias=antialias and smooth,
    )


@dataclass(frozen=True)
class AugmentConfig:
    """Train-time augmentation; one draw is shared by all frames of a clip."""

    crop_scale: tuple[float, float] = (0.7, 1.0)  # area fraction kept by the random resized crop
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect-ratio range of the crop
    flip_p: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.2  # colour-jitter strengths (kornia.augmentation.ColorJitter)
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02
    jitter_p: float = 0.8  # probability of applying the colour jitter
    # Probability of a grey frame: shape must carry the class, not colour alone (sprite styles
    # differ in palette; Symbola is monochrome).
    grayscale_p: float = 0.0
    # Audio: a random smooth equaliser of up to ± eq_db at log-spaced bands (other instruments
    # and soundfonts differ in spectral balance); 0 disables it.
    eq_db: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}")
        if not 0.0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < min <= max, got {self.crop_ratio}")
        for name in ("flip_p", "jitter_p", "grayscale_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")
        if not 0.0 <= self.eq_db <= 40.0:
            raise ValueError(f"eq_db must be in [0, 40] dB, got {self.eq_db}")


# Band centres of the random equaliser (Hz); gains are interpolated in log-frequency between them.
_EQ_BANDS_HZ = (60.0, 150.0, 400.0, 1000.0, 2500.0, 6000.0)


def random_equalizer(
    audio: np.ndarray, sample_rate: int, max_db: float, rng: np.random.Generator
) -> np.ndarray:
    """Filter ``audio`` by a random smooth gain curve (a timbre augmentation).

    Each band of ``_EQ_BANDS_HZ`` gets a gain drawn uniformly in ``± max_db``; the curve is
    linear in dB over log-frequency between bands and flat beyond them. Zero-phase (applied to
    the spectrum's magnitude), so timing and onsets do not move.

    Shape:
        audio: (T,) -> (T,) float32.
    """
    audio = np.asarray(audio, np.float32)
    if max_db <= 0 or audio.size < 2:
        return audio
    gains_db = rng.uniform(-max_db, max_db, len(_EQ_BANDS_HZ))
    freqs = np.fft.rfftfreq(audio.size, 1.0 / sample_rate)
    log_f = np.log(np.maximum(freqs, 1.0))
    curve_db = np.interp(log_f, np.log(_EQ_BANDS_HZ), gains_db)
    spectrum = np.fft.rfft(audio) * (10.0 ** (curve_db / 20.0))
    return np.fft.irfft(spectrum, n=audio.size).astype(np.float32)


class FrameAugment:
    """Random resized crop, horizontal flip, colour jitter and greying (kornia.augmentation).

    The same random draw applies to every frame of one clip, so motion stays consistent.
    With a ``seed`` the result is deterministic and the global torch RNG is left untouched.

    Args:
        size: output ``(height, width)``, or one int for a square.
        config: the augmentation strengths.
    """

    def __init__(self, size: int | Sequence[int], config: AugmentConfig | None = None) -> None:
        import kornia.augmentation as K

        self.size = _as_size(size)
        self.config = config or AugmentConfig()
        c = self.config
        self._pipeline = K.ImageSequential(
            K.RandomResizedCrop(
                self.size, scale=c.crop_scale, ratio=c.crop_ratio, same_on_batch=True
            ),
            K.RandomHorizontalFlip(p=c.flip_p, same_on_batch=True),
            K.ColorJitter(
                c.brightness, c.contrast, c.saturation, c.hue, p=c.jitter_p, same_on_batch=True
            ),
            K.RandomGrayscale(p=c.grayscale_p, same_on_batch=True),
        )

    def __call__(self, frames: Tensor, seed: int | None = None) -> Tensor:
        """Augment one clip's frames.

        Args:
            frames: float frames in [0, 1] (see :func:`frames_to_float`).
            seed: makes the draw reproducible; ``None`` draws from the global torch RNG.

        Returns:
            Augmented float frames in [0, 1].

        Shape:
            frames: (N, 3, H, W) → (N, 3, height, width).

        Raises:
            ValueError: ``frames`` is not a float (N, 3, H, W) tensor.
        """
        if not isinstance(frames, Tensor) or not frames.is_floating_point() or frames.ndim != 4:
            raise ValueError("FrameAugment takes float (N, 3, H, W) frames in [0, 1]")
        if frames.shape[1] != 3:
            raise ValueError(f"frames must have 3 channels, got shape {tuple(frames.shape)}")
        if seed is None:
            return self._pipeline(frames).clamp_(0.0, 1.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._pipeline(frames).clamp_(0.0, 1.0)
