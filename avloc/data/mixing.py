"""Mix-and-separate (Sound-of-Pixels, Zhao et al. 2018): build a mixture from S clips.

Each source is scaled by a gain (training draws it uniformly in [0.5, 1.5]), clipped to
[-1, 1] as the released loader does, divided by S and summed (``protocols.md`` §4). The
scaled sources are returned too: they are the separation targets and the metric references.
"""

from __future__ import annotations

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
