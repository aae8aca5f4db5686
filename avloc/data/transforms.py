"""Pure tensor ops on frame stacks: conversion, normalisation, resizing, train-time augmentation.

No file I/O here: :mod:`avloc.media` decodes, these functions only transform what it returns.
Media frames are uint8 ``(N, H, W, 3)`` RGB; models take float ``(N, 3, H, W)`` normalised by
the mean/std stored in their config.
"""

from __future__ import annotations

import math
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
    brightness: float = 0.2  # colour-jitter strengths: factors in 1 ± value (hue: ± turns)
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02
    jitter_p: float = 0.8  # probability of applying the colour jitter
    # Probability of a grey frame: shape must carry the class, not colour alone (sprite styles
    # differ in palette; Symbola is monochrome).
    grayscale_p: float = 0.0
    # Probability of filtering a clip by a random convolution (RandConv, Xu et al. 2021): new
    # local texture, edges and colour mixing on the same shapes, a proxy for drawing styles
    # never seen; the kernel size is drawn from rand_conv_sizes.
    rand_conv_p: float = 0.0
    rand_conv_sizes: tuple[int, ...] = (1, 3, 5, 7)
    # Audio: a random smooth equaliser of up to ± eq_db at log-spaced bands (other instruments
    # and soundfonts differ in spectral balance); 0 disables it.
    eq_db: float = 0.0
    # Audio: played faster or slower by a random factor within 1 ± speed (log-uniform; pitch,
    # formants and tempo move together: speed perturbation, Ko et al. 2015); 0 disables it.
    speed: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}")
        if not 0.0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < min <= max, got {self.crop_ratio}")
        for name in ("flip_p", "jitter_p", "grayscale_p", "rand_conv_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")
        sizes = self.rand_conv_sizes
        if not sizes or not all(isinstance(k, int) and k > 0 and k % 2 for k in sizes):
            raise ValueError(f"rand_conv_sizes must be odd positive ints, got {sizes}")
        if not 0.0 <= self.eq_db <= 40.0:
            raise ValueError(f"eq_db must be in [0, 40] dB, got {self.eq_db}")
        if not 0.0 <= self.speed <= 0.5:
            raise ValueError(f"speed must be in [0, 0.5], got {self.speed}")


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


def random_speed(audio: np.ndarray, max_change: float, rng: np.random.Generator) -> np.ndarray:
    """Play ``audio`` faster or slower by a random factor in ``[1/(1 + c), 1 + c]``.

    The factor is log-uniform and approximated by a ratio of small integers, resampled by a
    polyphase filter (band-limited, so nothing aliases). The length and the centre are kept:
    a faster window is zero-padded at both ends, a slower one cropped about its centre.

    Shape:
        audio: (T,) -> (T,) float32.
    """
    from fractions import Fraction

    from scipy.signal import resample_poly

    audio = np.asarray(audio, np.float32)
    if max_change <= 0 or audio.size < 2:
        return audio
    bound = math.log1p(max_change)
    ratio = Fraction(math.exp(-rng.uniform(-bound, bound))).limit_denominator(64)
    if ratio == 1:
        return audio
    played = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
    extra = played.size - audio.size
    if extra >= 0:
        return played[extra // 2 : extra // 2 + audio.size]
    return np.pad(played, ((-extra) // 2, -extra - (-extra) // 2))


def augment_audio(
    audio: np.ndarray, sample_rate: int, config: AugmentConfig, seed: int
) -> np.ndarray:
    """The sound's half of ``config``: the random equaliser, then the speed change.

    Each draws from its own stream of the clip's ``seed``, so turning one on leaves the other's
    draws as they were.

    Shape:
        audio: (T,) -> (T,) float32.
    """
    if config.eq_db > 0:
        rng = np.random.default_rng((seed, 1))
        audio = random_equalizer(audio, sample_rate, config.eq_db, rng)
    if config.speed > 0:
        audio = random_speed(audio, config.speed, np.random.default_rng((seed, 2)))
    return audio


@dataclass(frozen=True)
class AugmentDraw:
    """One clip's random augmentation (shared by all its frames); see :meth:`FrameAugment.draw`.

    The crop is in fractions of the frame: left/top corner and width/height.
    """

    crop: tuple[float, float, float, float]  # x0, y0, width, height in [0, 1]
    flip: bool
    # Colour-jitter factors (PIL/torchvision conventions: 1 keeps brightness, contrast and
    # saturation; hue is a fraction of the colour circle); None when no jitter was drawn.
    jitter: tuple[float, float, float, float] | None
    grey: bool
    # Random convolution: (kernel size, seed of its weights, weight of the unfiltered frame in
    # the blend); None when none was drawn.
    conv: tuple[int, int, float] | None = None


# Luma weights of the grey frames and of the saturation blend (Rec. 601, as torchvision and
# kornia's rgb_to_grayscale).
_LUMA = (0.299, 0.587, 0.114)


def _hue_rotation(turns: Tensor) -> Tensor:
    """3×3 RGB matrices rotating hue by ``turns`` of the colour circle about the grey axis
    (SVG/CSS ``hueRotate``: rows sum to 1, so greys stay grey and luminance is kept).

    Shape:
        turns: (M,) -> (M, 3, 3).
    """
    angle = turns * (2 * math.pi)
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    base = torch.tensor([[0.213, 0.715, 0.072]] * 3)
    cos_part = torch.tensor(
        [[0.787, -0.715, -0.072], [-0.213, 0.285, -0.072], [-0.213, -0.715, 0.928]]
    )
    sin_part = torch.tensor(
        [[-0.213, -0.715, 0.928], [0.143, 0.140, -0.283], [-0.787, 0.715, 0.072]]
    )
    return base + cos * cos_part + sin * sin_part


class FrameAugment:
    """Random resized crop, horizontal flip, colour jitter, greying and random convolution,
    applied to a batch of clips at once with one draw per clip (so motion stays consistent).

    Draws come from numpy generators (:meth:`draw`), so a clip's augmentation depends only on
    its seed, never on the batch it is in or on the global torch RNG. Crop and flip are one
    bilinear ``grid_sample``. Brightness, contrast, saturation (torchvision's definitions, in
    that order), hue and greying are all linear in RGB, so they compose into one 3×3 matrix and
    an offset per frame; hue turns about the grey axis (SVG ``hueRotate``) rather than in HSV,
    and only the result is clamped. A random convolution, when drawn, filters the jittered
    frames of its clip. Batched and fused, a 32-clip batch takes a few ms; per-clip
    kornia pipelines took ~2.5 ms a clip, a third of a training step on 2 cores.

    Args:
        size: output ``(height, width)``, or one int for a square.
        config: the augmentation strengths.
    """

    def __init__(self, size: int | Sequence[int], config: AugmentConfig | None = None) -> None:
        self.size = _as_size(size)
        self.config = config or AugmentConfig()

    def draw(self, rng: np.random.Generator, frame_size: tuple[int, int]) -> AugmentDraw:
        """One clip's random parameters for frames of ``frame_size`` = (height, width)."""
        c = self.config
        height, width = frame_size
        area = height * width * rng.uniform(*c.crop_scale)
        ratio = math.exp(rng.uniform(math.log(c.crop_ratio[0]), math.log(c.crop_ratio[1])))
        crop_w = min(math.sqrt(area * ratio) / width, 1.0)
        crop_h = min(math.sqrt(area / ratio) / height, 1.0)
        x0, y0 = rng.uniform(0.0, 1.0 - crop_w), rng.uniform(0.0, 1.0 - crop_h)
        flip = bool(rng.random() < c.flip_p)
        jitter = None
        if rng.random() < c.jitter_p:
            jitter = (
                rng.uniform(1 - c.brightness, 1 + c.brightness),
                rng.uniform(1 - c.contrast, 1 + c.contrast),
                rng.uniform(1 - c.saturation, 1 + c.saturation),
                rng.uniform(-c.hue, c.hue),
            )
        grey = bool(rng.random() < c.grayscale_p)
        conv = None
        # Drawn last, and only when enabled, so the other draws match runs without it.
        if c.rand_conv_p > 0 and rng.random() < c.rand_conv_p:
            size = int(rng.choice(c.rand_conv_sizes))
            conv = (size, int(rng.integers(2**31)), float(rng.uniform(0.0, 1.0)))
        return AugmentDraw((x0, y0, crop_w, crop_h), flip, jitter, grey, conv)

    def _crop(self, x: Tensor, draws: Sequence[AugmentDraw], num_frames: int) -> Tensor:
        """Crop, flip and resize every frame by its clip's draw (one ``grid_sample``)."""
        height, width = self.size
        boxes = torch.tensor([d.crop for d in draws], dtype=torch.float32)
        flips = torch.tensor([d.flip for d in draws])
        # Output pixel centres in [-1, 1]; x_in = centre + half-extent · x_out (axis-aligned).
        out_x = (torch.arange(width) * 2 + 1) / width - 1
        out_y = (torch.arange(height) * 2 + 1) / height - 1
        x0, y0, w, h = boxes.unbind(1)
        grid_x = (2 * x0 + w - 1)[:, None] + torch.where(flips, -w, w)[:, None] * out_x
        grid_y = (2 * y0 + h - 1)[:, None] + h[:, None] * out_y
        grid = torch.stack(
            [
                grid_x[:, None, :].expand(-1, height, -1),
                grid_y[:, :, None].expand(-1, -1, width),
            ],
            dim=-1,
        ).repeat_interleave(num_frames, dim=0)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _colour(self, x: Tensor, draws: Sequence[AugmentDraw], num_frames: int) -> Tensor:
        """Jitter and grey every frame by its clip's draw: ``clamp(A x + k)``."""
        if not any(d.jitter is not None or d.grey for d in draws):
            return x
        luma = torch.tensor(_LUMA)
        to_grey = luma.expand(3, 3)  # every channel becomes the luma
        factors = torch.tensor([d.jitter or (1.0, 1.0, 1.0, 0.0) for d in draws])
        brightness, contrast, saturation, hue = factors.unbind(1)
        eye = torch.eye(3)
        blend = saturation[:, None, None] * eye + (1 - saturation)[:, None, None] * to_grey
        matrix = _hue_rotation(hue) @ blend * (contrast * brightness)[:, None, None]
        grey = torch.tensor([d.grey for d in draws])
        matrix = torch.where(grey[:, None, None], to_grey @ matrix, matrix)
        # Contrast pulls towards each frame's mean grey (after brightness); every later step
        # maps grey to itself, so the pull is a grey offset.
        offset = ((1 - contrast) * brightness).repeat_interleave(num_frames)
        mean_grey = torch.einsum("c,nchw->n", luma, x) / (x.shape[-1] * x.shape[-2])
        matrix = matrix.repeat_interleave(num_frames, dim=0)
        out = torch.einsum("nij,njhw->nihw", matrix, x)
        return out.add_((offset * mean_grey)[:, None, None, None])

    def _random_conv(self, x: Tensor, draws: Sequence[AugmentDraw], num_frames: int) -> Tensor:
        """Filter each drawn clip's frames by its random 3→3-channel kernel (RandConv-mix).

        Weights are N(0, 1/(3 k²)) as in RandConv; the filtered frames are rescaled to the
        clip's own per-channel mean and spread (zero-mean kernels would otherwise leave half
        of them below 0) and blended with the unfiltered ones by the drawn weight.
        """
        out = x
        for clip, draw in enumerate(draws):
            if draw.conv is None:
                continue
            size, seed, keep = draw.conv
            std = 1.0 / math.sqrt(3 * size * size)
            weight = np.random.default_rng(seed).normal(0.0, std, (3, 3, size, size))
            frames = x[clip * num_frames : (clip + 1) * num_frames]
            padded = F.pad(frames, [size // 2] * 4, mode="reflect") if size > 1 else frames
            filtered = F.conv2d(padded, torch.from_numpy(weight).to(frames))
            dims = (0, 2, 3)  # per channel, over the clip's frames and pixels
            mean, spread = frames.mean(dims, keepdim=True), frames.std(dims, keepdim=True)
            filtered = (filtered - filtered.mean(dims, keepdim=True)) / (
                filtered.std(dims, keepdim=True) + 1e-6
            )
            if out is x:
                out = x.clone()
            out[clip * num_frames : (clip + 1) * num_frames] = keep * frames + (1 - keep) * (
                filtered * spread + mean
            )
        return out

    def clips(self, frames: Tensor, draws: Sequence[AugmentDraw]) -> Tensor:
        """Augment a batch of clips, each by its own draw.

        Args:
            frames: float frames in [0, 1] (see :func:`frames_to_float`).
            draws: one per clip (:meth:`draw`).

        Returns:
            Augmented float frames in [0, 1].

        Shape:
            frames: (B, N, 3, H, W) → (B, N, 3, height, width).

        Raises:
            ValueError: ``frames`` is not a float (B, N, 3, H, W) tensor, or the draw count differs.
        """
        if not isinstance(frames, Tensor) or not frames.is_floating_point() or frames.ndim != 5:
            raise ValueError("FrameAugment.clips takes float (B, N, 3, H, W) frames in [0, 1]")
        if frames.shape[2] != 3:
            raise ValueError(f"frames must have 3 channels, got shape {tuple(frames.shape)}")
        if len(draws) != frames.shape[0]:
            raise ValueError(f"{len(draws)} draws for {frames.shape[0]} clips")
        num_clips, num_frames = frames.shape[:2]
        x = frames.reshape(num_clips * num_frames, *frames.shape[2:]).to(torch.float32)
        x = self._colour(self._crop(x, draws, num_frames), draws, num_frames).clamp_(0.0, 1.0)
        x = self._random_conv(x, draws, num_frames).clamp_(0.0, 1.0)
        return x.reshape(num_clips, num_frames, *x.shape[1:])

    def __call__(self, frames: Tensor, seed: int | None = None) -> Tensor:
        """Augment one clip's frames.

        Args:
            frames: float frames in [0, 1] (see :func:`frames_to_float`).
            seed: makes the draw reproducible; ``None`` draws fresh entropy.

        Returns:
            Augmented float frames in [0, 1].

        Shape:
            frames: (N, 3, H, W) → (N, 3, height, width).

        Raises:
            ValueError: ``frames`` is not a float (N, 3, H, W) tensor.
        """
        if not isinstance(frames, Tensor) or not frames.is_floating_point() or frames.ndim != 4:
            raise ValueError("FrameAugment takes float (N, 3, H, W) frames in [0, 1]")
        draw = self.draw(np.random.default_rng(seed), (frames.shape[-2], frames.shape[-1]))
        return self.clips(frames[None], [draw])[0]
