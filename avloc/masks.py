"""Sound-of-Pixels spectrogram-mask targets and mask-based reconstruction.

Zhao et al., "The Sound of Pixels", ECCV 2018 (``protocols.md`` §4): a network predicts one
mask per source on the mixture's magnitude; the waveform is rebuilt by iSTFT of
``mask * |mix|`` with the mixture's phase. Targets are either binary (which source dominates a
time-frequency bin) or ratio (``|source| / |mix|`` clamped to [0, 5]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor

from avloc.audio import istft, log_frequency_unwarp, log_frequency_warp, stft
from avloc.defaults import MASK_RULES, MaskRule

# Added to |mix| before dividing, as in the released code (``mag_mix = mag_mix + 1e-10``).
_MIX_FLOOR = 1e-10


def _check_mags(source_mags: Tensor, mix_mag: Tensor, name: str) -> None:
    for label, value in (("source_mags", source_mags), ("mix_mag", mix_mag)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}: {label} must be a torch.Tensor, got {type(value).__name__}")
        if value.is_complex():
            raise ValueError(f"{name}: {label} must be real magnitudes; take .abs() of the STFT")
    if source_mags.dim() != 4 or mix_mag.dim() != 3:
        raise ValueError(
            f"{name}: expected source_mags (B, S, F, N) and mix_mag (B, F, N), got "
            f"{tuple(source_mags.shape)} and {tuple(mix_mag.shape)}"
        )
    if source_mags.shape[0] != mix_mag.shape[0] or source_mags.shape[2:] != mix_mag.shape[1:]:
        raise ValueError(
            f"{name}: source_mags {tuple(source_mags.shape)} and mix_mag "
            f"{tuple(mix_mag.shape)} disagree on B, F or N"
        )


def binary_mask_targets(source_mags: Tensor, mix_mag: Tensor) -> Tensor:
    """Binary mask targets: which source dominates each time-frequency bin.

    For two sources this is exactly the released Sound-of-Pixels rule
    ``mag_n > 0.5 * mag_mix`` (Zhao et al. 2018; ``protocols.md`` §4), where ``mag_mix`` is
    the magnitude of the *mixed waveform's* STFT. That rule does not generalise: with three or
    more comparable sources no source may exceed half the mixture. For S != 2 we therefore use
    the winner-take-all ideal binary mask, 1 for the source with the largest magnitude
    (``argmax`` over S, ties to the lowest index), which is what the two-source rule computes
    whenever the sources add in phase (``|mix| = mag_1 + mag_2``).

    Args:
        source_mags: magnitudes of each (gain-scaled) source's STFT.
        mix_mag: magnitude of the mixture's STFT.

    Returns:
        Targets in {0, 1}, the dtype of ``source_mags``.

    Shape:
        source_mags: (B, S, F, N), mix_mag: (B, F, N) -> (B, S, F, N).

    Raises:
        TypeError / ValueError: non-tensors, complex inputs, or mismatched shapes.
    """
    _check_mags(source_mags, mix_mag, "binary_mask_targets")
    if source_mags.shape[1] == 2:
        return (source_mags > 0.5 * mix_mag.unsqueeze(1)).to(source_mags.dtype)
    winner = source_mags.argmax(dim=1, keepdim=True)
    targets = torch.zeros_like(source_mags)
    return targets.scatter_(1, winner, 1.0)


def ratio_mask_targets(source_mags: Tensor, mix_mag: Tensor, max_ratio: float = 5.0) -> Tensor:
    """Ratio mask targets ``clamp(mag_n / (mag_mix + 1e-10), 0, max_ratio)`` (Sound-of-Pixels).

    Ratios above 1 occur where sources cancel in the mixture; SoP clamps them at 5.

    Args:
        source_mags: magnitudes of each source's STFT.
        mix_mag: magnitude of the mixture's STFT.
        max_ratio: upper clamp.

    Returns:
        Targets in [0, ``max_ratio``].

    Shape:
        source_mags: (B, S, F, N), mix_mag: (B, F, N) -> (B, S, F, N).

    Raises:
        TypeError / ValueError: bad inputs (see :func:`binary_mask_targets`) or
            ``max_ratio <= 0``.
    """
    _check_mags(source_mags, mix_mag, "ratio_mask_targets")
    if max_ratio <= 0:
        raise ValueError(f"ratio_mask_targets: max_ratio must be > 0, got {max_ratio}")
    ratio = source_mags / (mix_mag.unsqueeze(1) + _MIX_FLOOR)
    return ratio.clamp(0.0, max_ratio)


def check_mask_rule(rule: str, name: str = "mask rule") -> MaskRule:
    """``rule`` as a :data:`MaskRule`.

    Raises:
        ValueError: not one of :data:`MASK_RULES` (the message starts with ``name``).
    """
    if rule not in MASK_RULES:
        raise ValueError(f"{name} must be one of {MASK_RULES}, got {rule!r}")
    return cast(MaskRule, rule)


def combine_masks(masks: Tensor, rule: MaskRule) -> Tensor:
    """Let the objects of one mixture compete for its time-frequency bins.

    Each object's mask is predicted on its own, so two objects may both claim a bin (or
    neither). ``"independent"`` keeps the masks as they are (Sound-of-Pixels; whatever no
    object claims stays in the residual). ``"share"`` divides each bin among the objects in
    proportion to their masks, so the sources sum to the mixture: right when the objects
    account for all the sound, as in mix-and-separate. ``"winner"`` gives each bin wholly to
    the object with the highest mask: a binary-mask decoding (the rule the binary targets
    encode: which source dominates the bin), with more artefacts than soft masks.

    Shape:
        masks: (B, S, F, N) non-negative -> (B, S, F, N).

    Raises:
        ValueError: unknown ``rule`` or masks not (B, S, F, N).
    """
    check_mask_rule(rule)
    if masks.dim() != 4:
        raise ValueError(f"combine_masks: masks must be (B, S, F, N), got {tuple(masks.shape)}")
    if rule == "share":
        total = masks.sum(dim=1, keepdim=True)
        return torch.where(total > 0, masks / total.clamp(min=1e-12), masks)
    if rule == "winner":
        winner = masks.argmax(dim=1, keepdim=True)
        return torch.zeros_like(masks).scatter_(1, winner, 1.0) * (masks.amax(1, True) > 0)
    return masks


def apply_masks(
    masks: Tensor, mix_spec: Tensor, n_fft: int, hop_length: int, length: int
) -> Tensor:
    """Rebuild each source's waveform from its mask and the mixture's STFT.

    ``iSTFT(mask * |mix| * exp(i * phase(mix)))``, i.e. ``iSTFT(mask * mix_spec)``: the
    masked magnitude with the mixture's phase, as Sound-of-Pixels does.

    Args:
        masks: real masks on the linear-frequency axis (unwarp warped predictions first).
        mix_spec: the mixture's complex STFT from :func:`avloc.audio.stft`.
        n_fft: FFT size of ``mix_spec``.
        hop_length: hop of ``mix_spec``.
        length: number of output samples T.

    Returns:
        The separated waveforms.

    Shape:
        masks: (B, S, F, N), mix_spec: (B, F, N) complex -> (B, S, T).

    Raises:
        TypeError / ValueError: complex masks, real ``mix_spec``, or mismatched shapes.
    """
    if not isinstance(masks, Tensor) or not isinstance(mix_spec, Tensor):
        raise TypeError("apply_masks: masks and mix_spec must be torch.Tensors")
    if masks.is_complex() or not mix_spec.is_complex():
        raise ValueError("apply_masks: masks must be real and mix_spec complex (the mixture STFT)")
    if masks.dim() != 4 or mix_spec.dim() != 3 or masks.shape[0] != mix_spec.shape[0]:
        raise ValueError(
            f"apply_masks: expected masks (B, S, F, N) and mix_spec (B, F, N), got "
            f"{tuple(masks.shape)} and {tuple(mix_spec.shape)}"
        )
    if masks.shape[2:] != mix_spec.shape[1:]:
        raise ValueError(
            f"apply_masks: masks have (F, N) = {tuple(masks.shape[2:])} but mix_spec has "
            f"{tuple(mix_spec.shape[1:])}; unwarp log-frequency masks to the linear axis first"
        )
    return istft(masks * mix_spec.unsqueeze(1), n_fft, hop_length, length)


_ORACLE_TARGETS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "ibm": binary_mask_targets,
    "irm": ratio_mask_targets,
}


def oracle_separation(
    sources: Tensor,
    mixture: Tensor,
    n_fft: int,
    hop_length: int,
    kind: str,
    num_log_freqs: int | None = None,
) -> Tensor:
    """Separate with ideal masks computed from the true sources: the ceiling of a mask model.

    ``"ibm"`` uses :func:`binary_mask_targets`, ``"irm"`` :func:`ratio_mask_targets`, both
    from the true source and mixture magnitudes, then :func:`apply_masks`. With
    ``num_log_freqs`` the masks first pass through a log-frequency mask model's grid (warped
    to that many rows and back; binary ones binarised again at 0.5): the ceiling of a model
    that predicts that many rows, such as the separator's U-Net.

    Args:
        sources: the sources exactly as mixed (e.g. ``MixResult.sources``).
        mixture: their mixture.
        n_fft: FFT size.
        hop_length: hop in samples.
        kind: ``"ibm"`` (ideal binary mask) or ``"irm"`` (ideal ratio mask, clamped at 5).
        num_log_freqs: the log-frequency rows the masks are limited to; ``None``: every STFT
            bin.

    Returns:
        Oracle estimates of the sources.

    Shape:
        sources: (B, S, T), mixture: (B, T) -> (B, S, T).

    Raises:
        ValueError: unknown ``kind``, mismatched shapes, or ``num_log_freqs < 2``.
    """
    if kind not in _ORACLE_TARGETS:
        raise ValueError(
            f"oracle_separation: kind must be one of {sorted(_ORACLE_TARGETS)}, got {kind!r}"
        )
    if sources.dim() != 3 or mixture.dim() != 2 or sources.shape[::2] != mixture.shape:
        raise ValueError(
            f"oracle_separation: expected sources (B, S, T) and mixture (B, T), got "
            f"{tuple(sources.shape)} and {tuple(mixture.shape)}"
        )
    mix_spec = stft(mixture, n_fft, hop_length)
    masks = _ORACLE_TARGETS[kind](stft(sources, n_fft, hop_length).abs(), mix_spec.abs())
    if num_log_freqs is not None:
        warped = log_frequency_warp(masks.float(), num_log_freqs)
        masks = log_frequency_unwarp(warped, masks.shape[2])
        if kind == "ibm":
            masks = (masks > 0.5).float()
    return apply_masks(masks, mix_spec, n_fft, hop_length, mixture.shape[-1])
