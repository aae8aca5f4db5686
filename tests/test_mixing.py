"""Tests for avloc.data.mixing: mix-and-separate mixtures and random gains."""

from __future__ import annotations

import pytest
import torch

from avloc.data.mixing import MixResult, mix_sources, random_gains


def test_mix_without_gains_divides_by_num_sources() -> None:
    sources = torch.tensor([[[0.2, -0.4, 0.6], [0.3, 0.3, -0.9]]])
    result = mix_sources(sources)
    assert isinstance(result, MixResult)
    assert torch.allclose(result.sources, sources / 2)
    assert torch.allclose(result.mixture, torch.tensor([[0.25, -0.05, -0.15]]))


def test_mix_with_gains_scales_clips_and_sums() -> None:
    sources = torch.tensor([[[0.9, -0.2], [0.5, 0.5], [0.1, -0.8]]])
    gains = torch.tensor([[1.5, 0.5, 1.0]])
    result = mix_sources(sources, gains)
    # 1.5 * 0.9 = 1.35 is clipped to 1 before dividing by S = 3.
    expected = torch.tensor([[[1.0, -0.3], [0.25, 0.25], [0.1, -0.8]]]) / 3
    assert torch.allclose(result.sources, expected)
    assert torch.allclose(result.mixture, expected.sum(1))
    unclipped = mix_sources(sources, gains, clip=False)
    assert unclipped.sources[0, 0, 0] == pytest.approx(1.35 / 3)


def test_mixture_stays_in_range_with_training_gains() -> None:
    gen = torch.Generator().manual_seed(0)
    sources = torch.rand(4, 2, 1000, generator=gen) * 2 - 1
    result = mix_sources(sources, random_gains(4, 2, generator=gen))
    assert result.mixture.abs().max() <= 1.0
    assert torch.allclose(result.sources.sum(1), result.mixture)


def test_random_gains_range_shape_and_seed() -> None:
    gains = random_gains(64, 3, generator=torch.Generator().manual_seed(3))
    assert gains.shape == (64, 3)
    assert gains.min() >= 0.5 and gains.max() < 1.5
    assert gains.std() > 0.1  # actually random, not constant
    again = random_gains(64, 3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(gains, again)
    fixed = random_gains(2, 2, low=1.0, high=1.0)
    assert torch.equal(fixed, torch.ones(2, 2))


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match=r"\(B, S, T\)"):
        mix_sources(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="gains must have shape"):
        mix_sources(torch.zeros(2, 2, 100), torch.ones(2, 3))
    with pytest.raises(ValueError, match=">= 0"):
        mix_sources(torch.zeros(1, 2, 100), torch.tensor([[1.0, -1.0]]))
    with pytest.raises(TypeError, match="floating"):
        mix_sources(torch.zeros(1, 2, 100, dtype=torch.int16))
    with pytest.raises(ValueError, match="low <= high"):
        random_gains(2, 2, low=1.5, high=0.5)
    with pytest.raises(ValueError, match=">= 1"):
        random_gains(0, 2)
