"""Mix-and-separate (Sound-of-Pixels, Zhao et al. 2018): build a mixture from S clips.

Each source is scaled by a gain (training draws it uniformly in [0.5, 1.5]), clipped to
[-1, 1] as the released loader does, divided by S and summed (``protocols.md`` §4). The
scaled sources are returned too: they are the separation targets and the metric references.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class MixResult:
    """A batch of mixtures and the sources exactly as they were summed.

    Attributes:
        mixture: (B, T) the sum over S of ``sources``.
        sources: (B, S, T) each input source times ``gain / S`` (after clipping).
    """

    mixture: Tensor
    sources: Tensor


def mix_sources(sources: Tensor, gains: Tensor | None = None, clip: bool = True) -> MixResult:
    """Mix S sources: ``mixture = sum_s clip(gain_s * source_s) / S``.

    Args:
        sources: mono waveforms in [-1, 1].
        gains: per-source gains (see :func:`random_gains`); ``None`` means 1 for all, the
            evaluation setting.
        clip: clip each gained source to [-1, 1] before dividing by S, as the released
            Sound-of-Pixels loader does; this keeps the mixture in [-1, 1].

    Returns:
        The mixture and the scaled sources, ``mixture == sources.sum(1)``.

    Shape:
        sources: (B, S, T), gains: (B, S) -> mixture (B, T), sources (B, S, T).

    Raises:
        TypeError / ValueError: non-tensor or non-floating sources, wrong shapes, or
            negative gains.
    """
    if not isinstance(sources, Tensor) or not sources.is_floating_point():
        raise TypeError("mix_sources: sources must be a floating torch.Tensor of shape (B, S, T)")
    if sources.dim() != 3 or sources.shape[1] < 1:
        raise ValueError(
            f"mix_sources: sources must have shape (B, S, T) with S >= 1, got "
            f"{tuple(sources.shape)}"
        )
    if gains is None:
        gains = torch.ones(sources.shape[:2], dtype=sources.dtype, device=sources.device)
    if gains.shape != sources.shape[:2]:
        raise ValueError(
            f"mix_sources: gains must have shape (B, S) = {tuple(sources.shape[:2])}, got "
            f"{tuple(gains.shape)}"
        )
    if bool((gains < 0).any()):
        raise ValueError("mix_sources: gains must be >= 0")
    gained = sources * gains.to(sources.dtype).unsqueeze(-1)
    if clip:
        gained = gained.clamp(-1.0, 1.0)
    scaled = gained / sources.shape[1]
    return MixResult(mixture=scaled.sum(dim=1), sources=scaled)


def random_gains(
    batch: int,
    num_sources: int,
    low: float = 0.5,
    high: float = 1.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-source gains drawn uniformly in ``[low, high)`` (SoP training: 0.5-1.5).

    Args:
        batch: number of mixtures B.
        num_sources: sources per mixture S.
        low: smallest gain.
        high: largest gain.
        generator: torch random generator, for reproducible draws.

    Returns:
        Gains, float32.

    Shape:
        (B, S).

    Raises:
        ValueError: ``batch`` or ``num_sources`` < 1, or not ``0 <= low <= high``.
    """
    if batch < 1 or num_sources < 1:
        raise ValueError(
            f"random_gains: batch and num_sources must be >= 1, got {batch} and {num_sources}"
        )
    if not 0.0 <= low <= high:
        raise ValueError(f"random_gains: need 0 <= low <= high, got low={low}, high={high}")
    device = generator.device if generator is not None else None
    unit = torch.rand(batch, num_sources, generator=generator, device=device)
    return low + (high - low) * unit


def offscreen_sound(
    batch: int,
    length: int,
    sample_rate: int,
    tone_fraction: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sound that no object on screen makes, unit RMS per row.

    A row is noise (wind, traffic, a room, a crowd): Gaussian noise coloured to a power
    spectrum of ``1 / f^beta``, ``beta`` uniform in [0, 2] (white to brown); or, with
    probability ``tone_fraction``, a steady tone (a hum, a beep, a whistle): 1-4 harmonics of
    a fundamental log-uniform in 80-2,000 Hz, at 1/k. Either swells and fades with a sine of
    a random rate (0.2-4 Hz) and depth (0-1).

    Args:
        batch: number of rows B.
        length: samples per row T (>= 2).
        sample_rate: rate in Hz.
        tone_fraction: probability that a row is a tone, in [0, 1].
        generator: torch random generator, for reproducible draws.

    Returns:
        Float32 sound, each row's RMS 1.

    Shape:
        (B, T).

    Raises:
        ValueError: ``batch`` < 1, ``length`` < 2, ``sample_rate`` < 1 or ``tone_fraction``
            outside [0, 1].
    """
    if batch < 1 or length < 2 or sample_rate < 1 or not 0.0 <= tone_fraction <= 1.0:
        raise ValueError(
            f"offscreen_sound: need batch >= 1, length >= 2, sample_rate >= 1 and "
            f"tone_fraction in [0, 1], got {batch}, {length}, {sample_rate} and {tone_fraction}"
        )
    device = generator.device if generator is not None else None

    def uniform(low: float, high: float, columns: int = 1) -> Tensor:
        unit = torch.rand(batch, columns, generator=generator, device=device)
        return low + (high - low) * unit

    white = torch.randn(batch, length, generator=generator, device=device)
    bins = torch.arange(length // 2 + 1, device=device, dtype=torch.float32).clamp(min=1)
    beta = uniform(0.0, 2.0)
    sound = torch.fft.irfft(torch.fft.rfft(white) * bins ** (-beta / 2), n=length)
    times = torch.arange(length, device=device, dtype=torch.float32) / sample_rate
    rate, phase, depth = uniform(0.2, 4.0), uniform(0.0, 2 * torch.pi), uniform(0.0, 1.0)
    if tone_fraction > 0:  # drawn after the noise's numbers, which stay those of no tones
        tonal = uniform(0.0, 1.0) < tone_fraction
        f0 = uniform(math.log(80.0), math.log(2000.0)).exp()
        k = torch.arange(1, 5, device=device, dtype=torch.float32)
        num_harmonics = torch.randint(1, 5, (batch, 1), generator=generator, device=device)
        below_nyquist = k * f0 < sample_rate / 2
        amplitudes = (k <= num_harmonics) * below_nyquist / k
        partials = torch.sin(
            2 * torch.pi * (k * f0)[..., None] * times + uniform(0.0, 2 * math.pi, 4)[..., None]
        )
        tone = (amplitudes[..., None] * partials).sum(1)
        sound = torch.where(tonal, tone / tone.pow(2).mean(-1, keepdim=True).sqrt(), sound)
    sound = sound * (1 - depth * (0.5 + 0.5 * torch.sin(2 * torch.pi * rate * times + phase)))
    return sound / sound.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-12)


def add_offscreen_sound(
    mix: MixResult,
    sound: Tensor,
    snr_db: Tensor,
) -> MixResult:
    """``mix`` with ``sound`` from off screen added to its mixture at ``snr_db`` below it.

    The sound is nobody's on screen, so it is no source: the sources stay the targets. A row
    whose sum passes 1 in magnitude is scaled down as a whole (mixture and sources alike).

    Args:
        mix: mixtures and their sources (:func:`mix_sources`).
        sound: one sound per mixture (:func:`offscreen_sound`), any level (scaled here).
        snr_db: the mixture's level over the sound's, dB; ``inf`` adds none.

    Returns:
        The mixtures with the sound and the sources, ``mixture == sources.sum(1) + sound``.

    Shape:
        mix.mixture (B, T), sound (B, T), snr_db (B,).

    Raises:
        ValueError: mismatched shapes.
    """
    if sound.shape != mix.mixture.shape or snr_db.shape != mix.mixture.shape[:1]:
        raise ValueError(
            f"add_offscreen_sound: sound must be (B, T) = {tuple(mix.mixture.shape)} and "
            f"snr_db (B,), got {tuple(sound.shape)} and {tuple(snr_db.shape)}"
        )

    def rms(x: Tensor) -> Tensor:
        return x.pow(2).mean(-1, keepdim=True).sqrt()

    level = rms(mix.mixture) / rms(sound).clamp(min=1e-12) * 10 ** (-snr_db[:, None] / 20)
    mixture = mix.mixture + sound * level.to(sound.dtype)
    scale = 1 / mixture.abs().amax(-1, keepdim=True).clamp(min=1.0)
    return MixResult(mixture=mixture * scale, sources=mix.sources * scale[:, :, None])
