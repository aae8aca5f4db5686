"""Tests for avloc.data.mixing: mix-and-separate mixtures and random gains."""

from __future__ import annotations

import pytest
import torch

from avloc.data.mixing import (
    MixResult,
    add_offscreen_sound,
    mix_sources,
    offscreen_sound,
    random_gains,
)


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


def _spectral_slope(noise: torch.Tensor) -> torch.Tensor:
    """Each row's power spectrum's log-log slope, fitted over 20 Hz - 5 kHz at 11,025 Hz."""
    power = torch.fft.rfft(noise).abs().pow(2)
    freqs = torch.fft.rfftfreq(noise.shape[-1], 1 / 11025)
    band = (freqs > 20) & (freqs < 5000)
    x, y = freqs[band].log(), power[:, band].log()
    x = x - x.mean()
    return ((y - y.mean(-1, keepdim=True)) * x).sum(-1) / (x * x).sum()


def test_offscreen_sound_is_unit_rms_coloured_white_to_brown_and_seeded() -> None:
    noise = offscreen_sound(64, 33075, 11025, generator=torch.Generator().manual_seed(0))
    assert noise.shape == (64, 33075) and noise.dtype == torch.float32
    assert torch.allclose(noise.pow(2).mean(-1), torch.ones(64), atol=1e-4)
    slopes = _spectral_slope(noise)  # -beta, beta uniform in [0, 2]
    assert slopes.min() > -2.3 and slopes.max() < 0.3
    assert slopes.min() < -1.5 and slopes.max() > -0.5  # white and brown both drawn
    again = offscreen_sound(64, 33075, 11025, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noise, again)
    # it swells and fades: quarter-second levels vary more than a steady noise's
    levels = noise[:, : 12 * 2756].reshape(64, 12, 2756).pow(2).mean(-1).sqrt()
    assert (levels.amax(-1) / levels.amin(-1)).max() > 3


def test_offscreen_tones_are_a_few_harmonics_of_80_to_2000_hz() -> None:
    tones = offscreen_sound(32, 11025, 11025, tone_fraction=1.0, generator=torch.Generator())
    power = torch.fft.rfft(tones).abs().pow(2)  # 1-Hz bins
    assert torch.allclose(tones.pow(2).mean(-1), torch.ones(32), atol=1e-4)
    for row in power:
        peak = int(row.argmax())  # the loudest partial is the fundamental (1/k amplitudes)
        assert 75 <= peak <= 2005
        near = torch.zeros_like(row, dtype=torch.bool)
        for k in range(1, 5):  # within 8 Hz of a harmonic: the swell's sidebands are <= 4 Hz
            near[max(0, k * peak - 8) : k * peak + 9] = True
        assert row[near].sum() > 0.95 * row.sum()
    mixed = offscreen_sound(400, 2048, 11025, tone_fraction=0.5, generator=torch.Generator())
    flat = torch.fft.rfft(mixed).abs().pow(2)
    # a tone's fundamental (>= 80 Hz: bin 15 of 5.4 Hz) holds >= 1/4 of its power; brown
    # noise piles its power in the lowest bins, white and pink spread it
    peak_bin, peak_power = flat.argmax(-1), flat.amax(-1)
    tonal = ((peak_bin >= 14) & (peak_power > 0.2 * flat.sum(-1))).sum()
    assert 160 <= tonal <= 240


def test_offscreen_sound_sits_at_the_snr_and_leaves_the_sources_as_targets() -> None:
    torch.manual_seed(0)
    mix = mix_sources(torch.rand(3, 2, 4000) * 0.6 - 0.3)
    noise = offscreen_sound(3, 4000, 11025)
    noisy = add_offscreen_sound(mix, noise, torch.tensor([10.0, 0.0, float("inf")]))
    added = noisy.mixture - noisy.sources.sum(1)
    ratio_db = 10 * torch.log10(noisy.sources.sum(1).pow(2).mean(-1) / added.pow(2).mean(-1))
    assert ratio_db[:2].tolist() == pytest.approx([10.0, 0.0], abs=1e-3)
    assert torch.equal(noisy.mixture[2], mix.mixture[2]) and torch.equal(noisy.sources, mix.sources)
    # a row pushed past 1 is scaled down whole: the noise stays at its SNR, sources still add up
    loud = mix_sources(torch.full((1, 2, 100), 0.9))
    louder = add_offscreen_sound(loud, torch.ones(1, 100), torch.tensor([0.0]))
    assert louder.mixture.abs().max() == pytest.approx(1.0)
    assert torch.allclose(louder.sources.sum(1) * 2, louder.mixture)


def test_offscreen_sound_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="offscreen_sound"):
        offscreen_sound(0, 100, 11025)
    mix = mix_sources(torch.zeros(2, 2, 100))
    with pytest.raises(ValueError, match="add_offscreen_sound"):
        add_offscreen_sound(mix, torch.zeros(2, 99), torch.zeros(2))
