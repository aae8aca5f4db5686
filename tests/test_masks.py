"""Tests for avloc.masks: SoP mask targets, mask reconstruction and oracle separation."""

from __future__ import annotations

import math

import pytest
import torch

from avloc.audio import stft
from avloc.data.mixing import mix_sources
from avloc.masks import (
    apply_masks,
    binary_mask_targets,
    combine_masks,
    oracle_separation,
    ratio_mask_targets,
)
from avloc.metrics.separation import si_sdr

SR, N_FFT, HOP = 11025, 510, 128


def _two_tones(num_samples: int = 8192) -> torch.Tensor:
    t = torch.arange(num_samples, dtype=torch.float32) / SR
    low = 0.8 * torch.sin(2 * math.pi * 330.0 * t)
    high = 0.6 * torch.sin(2 * math.pi * 2500.0 * t) * (0.6 + 0.4 * torch.sin(2 * math.pi * t))
    return torch.stack([low, high])[None]  # (1, 2, T)


def test_binary_targets_two_sources_follow_sop_rule_exactly() -> None:
    # Bins: source 0 louder; source 1 louder; in-phase tie; destructive (both > mix / 2).
    sources = torch.tensor([[3.0, 1.0, 2.0, 2.0], [1.0, 3.0, 2.0, 2.0]])[None, :, None, :]
    mix = torch.tensor([4.0, 4.0, 4.0, 1.0])[None, None, :]
    targets = binary_mask_targets(sources, mix)
    assert targets.shape == (1, 2, 1, 4)
    expected = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    assert torch.equal(targets[0, :, 0], expected)


def test_binary_targets_more_sources_are_one_hot_argmax() -> None:
    sources = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    targets = binary_mask_targets(sources, sources.sum(1))
    assert torch.equal(targets.sum(1), torch.ones(2, 5, 6))
    assert torch.equal(targets.argmax(1), sources.argmax(1))


def test_ratio_targets_clamp() -> None:
    sources = torch.tensor([1.0, 10.0, 0.0, 3.0])[None, None, None, :]
    mix = torch.tensor([2.0, 1.0, 0.0, 3.0])[None, None, :]
    targets = ratio_mask_targets(sources, mix)
    assert torch.allclose(targets[0, 0, 0], torch.tensor([0.5, 5.0, 0.0, 1.0]))
    assert ratio_mask_targets(sources, mix, max_ratio=2.0).max() == 2.0


def test_targets_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, S, F, N\)"):
        binary_mask_targets(torch.zeros(2, 5, 6), torch.zeros(2, 5, 6))
    with pytest.raises(ValueError, match="disagree"):
        ratio_mask_targets(torch.zeros(2, 2, 5, 6), torch.zeros(2, 5, 7))
    with pytest.raises(ValueError, match="abs"):
        binary_mask_targets(torch.zeros(1, 2, 5, 6, dtype=torch.complex64), torch.zeros(1, 5, 6))
    with pytest.raises(ValueError, match="max_ratio"):
        ratio_mask_targets(torch.zeros(1, 2, 5, 6), torch.zeros(1, 5, 6), max_ratio=0.0)


def test_apply_masks_unit_and_complementary() -> None:
    mix = mix_sources(_two_tones()).mixture
    spec = stft(mix, N_FFT, HOP)
    ones = torch.ones(1, 2, *spec.shape[-2:])
    out = apply_masks(ones, spec, N_FFT, HOP, mix.shape[-1])
    assert out.shape == (1, 2, mix.shape[-1])
    assert torch.allclose(out[0, 0], mix[0], atol=1e-5)
    half = torch.rand(1, 1, *spec.shape[-2:], generator=torch.Generator().manual_seed(1))
    parts = apply_masks(torch.cat([half, 1 - half], dim=1), spec, N_FFT, HOP, mix.shape[-1])
    assert torch.allclose(parts.sum(1), mix, atol=1e-5)


def test_apply_masks_rejects_bad_input() -> None:
    spec = stft(torch.zeros(1, 2048), N_FFT, HOP)
    with pytest.raises(ValueError, match="unwarp"):
        apply_masks(torch.ones(1, 2, 128, spec.shape[-1]), spec, N_FFT, HOP, 2048)
    with pytest.raises(ValueError, match="complex"):
        apply_masks(torch.ones(1, 2, *spec.shape[-2:]), spec.abs(), N_FFT, HOP, 2048)


@pytest.mark.parametrize("kind", ["ibm", "irm"])
def test_oracle_separation_recovers_separated_tones(kind: str) -> None:
    mixed = mix_sources(_two_tones())
    estimates = oracle_separation(mixed.sources, mixed.mixture, N_FFT, HOP, kind)
    assert estimates.shape == mixed.sources.shape
    scores = si_sdr(estimates[..., 1024:-1024], mixed.sources[..., 1024:-1024])
    assert bool((scores > 15.0).all()), scores
    # The unprocessed mixture is far worse: the oracle really separates.
    baseline = si_sdr(mixed.mixture.expand_as(mixed.sources), mixed.sources)
    assert bool((scores > baseline + 10.0).all()), (scores, baseline)


def test_oracle_separation_rejects_unknown_kind() -> None:
    mixed = mix_sources(_two_tones())
    with pytest.raises(ValueError, match="ibm"):
        oracle_separation(mixed.sources, mixed.mixture, N_FFT, HOP, "wiener")
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        oracle_separation(mixed.sources, mixed.mixture[0], N_FFT, HOP, "ibm")


def test_combine_masks_rules() -> None:
    masks = torch.tensor([[0.6, 0.1, 0.0, 0.9], [0.2, 0.3, 0.0, 0.9]])[
        None, :, None, :
    ]  # (1, 2, 1, 4)
    assert torch.equal(combine_masks(masks, "independent"), masks)
    shared = combine_masks(masks, "share")
    torch.testing.assert_close(shared[0, :, 0], torch.tensor([[0.75, 0.25, 0.0, 0.5],
                                                             [0.25, 0.75, 0.0, 0.5]]))  # fmt: skip
    winner = combine_masks(masks, "winner")
    # Each bin to the highest mask (ties: the first); a bin no object claims stays empty.
    assert torch.equal(winner[0, :, 0], torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="mask rule"):
        combine_masks(masks, "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, S, F, N\)"):
        combine_masks(masks[0], "share")


def test_oracle_separation_limited_to_log_frequency_rows() -> None:
    mixed = mix_sources(_two_tones())

    def score(num_log_freqs: int | None) -> float:
        estimates = oracle_separation(
            mixed.sources, mixed.mixture, N_FFT, HOP, "ibm", num_log_freqs
        )
        assert estimates.shape == mixed.sources.shape
        return float(si_sdr(estimates[..., 1024:-1024], mixed.sources[..., 1024:-1024]).mean())

    full, fine, coarse = score(None), score(128), score(3)
    # 128 rows still resolve tones 330 and 2500 Hz apart; three rows cannot.
    assert fine > 15.0, fine
    assert coarse < fine - 5.0, (coarse, fine)
    assert full >= fine - 1.0, (full, fine)
    with pytest.raises(ValueError, match="num_bins"):
        oracle_separation(mixed.sources, mixed.mixture, N_FFT, HOP, "ibm", num_log_freqs=1)
