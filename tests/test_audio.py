"""Tests for avloc.audio: STFT round trip, mel scale and filterbank, log-frequency warp."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avloc.audio import (
    hz_to_mel,
    istft,
    log_frequency_unwarp,
    log_frequency_warp,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    stft,
)

SR = 11025


def _sine(freq: float, num_samples: int, sample_rate: int = SR) -> torch.Tensor:
    t = torch.arange(num_samples, dtype=torch.float64) / sample_rate
    return torch.sin(2 * math.pi * freq * t).float()


# ---------------------------------------------------------------- STFT


@pytest.mark.parametrize(("n_fft", "hop"), [(512, 128), (1022, 256)])
def test_stft_istft_round_trip(n_fft: int, hop: int) -> None:
    wave = torch.rand(2, 3, 4000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    spec = stft(wave, n_fft, hop)
    assert spec.shape == (2, 3, n_fft // 2 + 1, 1 + 4000 // hop)
    assert spec.is_complex()
    back = istft(spec, n_fft, hop, length=4000)
    assert back.shape == wave.shape
    assert torch.allclose(back, wave, atol=1e-5)


def test_sine_peaks_at_its_bin() -> None:
    n_fft, k = 1022, 100
    freq = k * SR / n_fft  # exactly on bin k
    mag = stft(_sine(freq, 8192), n_fft, 256).abs()
    middle = mag[:, 5:-5]  # away from the reflect-padded edges
    assert torch.all(middle.argmax(dim=0) == k)


def test_stft_matches_numpy_dft_of_one_frame() -> None:
    n_fft, hop = 64, 16
    wave = torch.randn(300, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    spec = stft(wave, n_fft, hop)
    frame = 5  # centred on sample 80, fully inside the signal
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    segment = wave.numpy()[frame * hop - n_fft // 2 : frame * hop + n_fft // 2]
    expected = np.fft.rfft(segment * window)
    np.testing.assert_allclose(spec[:, frame].numpy(), expected, atol=1e-10)


def test_stft_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="samples"):
        stft(torch.zeros(100), 1022, 256)
    with pytest.raises(ValueError, match="real floating"):
        stft(torch.zeros(1000, dtype=torch.int64), 256, 64)
    with pytest.raises(ValueError, match="hop_length"):
        stft(torch.zeros(1000), 256, 512)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        stft(np.zeros(1000), 256, 64)  # type: ignore[arg-type]
    spec = stft(torch.zeros(1000), 256, 64)
    with pytest.raises(ValueError, match="frequency rows"):
        istft(spec, 512, 64, 1000)
    with pytest.raises(ValueError, match="complex"):
        istft(spec.abs(), 256, 64, 1000)


# ---------------------------------------------------------------- mel scale


def test_mel_scale_hand_values() -> None:
    # Slaney: 200/3 Hz per mel below 1 kHz, 27 mels per factor 6.4 above.
    assert hz_to_mel(500.0) == pytest.approx(7.5)
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(6400.0) == pytest.approx(42.0)
    assert mel_to_hz(42.0) == pytest.approx(6400.0)
    # HTK: 2595 log10(1 + f / 700).
    assert hz_to_mel(700.0, htk=True) == pytest.approx(2595 * math.log10(2))
    assert mel_to_hz(2595.0, htk=True) == pytest.approx(6300.0)


def test_mel_scale_round_trip_and_types() -> None:
    freqs = np.array([0.0, 50.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    for htk in (False, True):
        back = mel_to_hz(hz_to_mel(freqs, htk=htk), htk=htk)
        assert isinstance(back, np.ndarray)
        np.testing.assert_allclose(back, freqs, rtol=1e-12, atol=1e-9)
    tensor = hz_to_mel(torch.tensor([100.0, 2000.0]))
    assert isinstance(tensor, torch.Tensor)
    assert isinstance(hz_to_mel(440.0), float)


def _numpy_filterbank(
    sample_rate: int, n_fft: int, edges_hz: np.ndarray, slaney_norm: bool
) -> np.ndarray:
    """Independent per-entry triangle formula from explicit Hz edges."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    weights = np.zeros((len(edges_hz) - 2, len(freqs)))
    for m in range(len(edges_hz) - 2):
        lo, mid, hi = edges_hz[m], edges_hz[m + 1], edges_hz[m + 2]
        for k, f in enumerate(freqs):
            if lo <= f <= mid:
                weights[m, k] = (f - lo) / (mid - lo)
            elif mid < f <= hi:
                weights[m, k] = (hi - f) / (hi - mid)
        if slaney_norm:
            weights[m] *= 2.0 / (hi - lo)
    return weights


def test_slaney_filterbank_against_hand_edges() -> None:
    # f_max = 6400 Hz is 42 Slaney mels: 5 bands put edges every 7 mels.
    sr, n_fft = 12800, 2560
    mels = np.arange(7) * 7.0
    edges = np.where(mels < 15, mels * 200 / 3, 1000 * 6.4 ** ((mels - 15) / 27))
    assert edges[3] == pytest.approx(1000 * 6.4 ** (6 / 27))  # 1510.6 Hz, by hand
    bank = mel_filterbank(sr, n_fft, 5, f_max=6400.0).double().numpy()
    expected = _numpy_filterbank(sr, n_fft, edges, slaney_norm=True)
    assert bank.shape == (5, n_fft // 2 + 1)
    np.testing.assert_allclose(bank, expected, rtol=1e-5, atol=1e-9)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    for m in range(5):  # support is exactly the open interval between the outer edges
        support = freqs[bank[m] > 0]
        assert support.min() > edges[m] and support.max() < edges[m + 2]
        assert support.min() - 5.0 <= edges[m] and support.max() + 5.0 >= edges[m + 2]


def test_htk_filterbank_against_hand_edges() -> None:
    # 2595 HTK mels is 6300 Hz; 4 bands give edges 700 (10^(k/5) - 1) Hz.
    sr, n_fft = 12600, 1260
    edges = 700 * (10 ** (np.arange(6) / 5) - 1)
    assert edges[1] == pytest.approx(409.42, abs=0.01)
    bank = mel_filterbank(sr, n_fft, 4, f_max=6300.0, htk=True, norm=None).double().numpy()
    np.testing.assert_allclose(
        bank, _numpy_filterbank(sr, n_fft, edges, slaney_norm=False), rtol=1e-5, atol=1e-9
    )
    # Peak 1 near the centre edge: bin 2087 Hz / 10 Hz ~ 209.
    assert bank[2].argmax() == round(edges[3] / 10)


def test_slaney_norm_gives_unit_area() -> None:
    sr, n_fft = 16000, 8192
    bank = mel_filterbank(sr, n_fft, 40, f_min=20.0).double()
    bin_hz = sr / n_fft
    area = bank.sum(dim=1) * bin_hz
    assert torch.allclose(area, torch.ones(40, dtype=torch.float64), atol=0.02)


def test_filterbank_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(16000, 512, 40, f_max=9000.0)
    with pytest.raises(ValueError, match="norm"):
        mel_filterbank(16000, 512, 40, norm="area")
    with pytest.raises(ValueError, match="cover no FFT bin"):
        mel_filterbank(16000, 64, 128)


def test_log_mel_spectrogram() -> None:
    wave = torch.stack([_sine(440.0, 4096), torch.zeros(4096)])
    out = log_mel_spectrogram(wave[None], SR, 1022, 256, 64)
    assert out.shape == (1, 2, 64, 1 + 4096 // 256)
    spec = stft(wave, 1022, 256)
    power = spec.abs() ** 2
    expected = torch.log(mel_filterbank(SR, 1022, 64) @ power + 1e-6)
    assert torch.allclose(out[0], expected, atol=1e-4)
    assert torch.allclose(out[0, 1], torch.full_like(out[0, 1], math.log(1e-6)))
    peak_band = out[0, 0, :, 8].argmax()
    edges = mel_to_hz(np.linspace(0, hz_to_mel(SR / 2), 66))
    assert edges[peak_band] < 440.0 < edges[peak_band + 2]


# ---------------------------------------------------------------- log-frequency warp


def _warp_positions(num_freqs: int, num_bins: int) -> np.ndarray:
    """Linear-bin positions read by each warped row (SoP: 21**v spacing)."""
    v = np.linspace(0, 1, num_bins)
    return (num_freqs - 1) * (np.power(21.0, v) - 1) / 20


def test_warp_matches_linear_interpolation() -> None:
    spec = torch.rand(2, 3, 512, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    warped = log_frequency_warp(spec, 256)
    assert warped.shape == (2, 3, 256, 7)
    positions = _warp_positions(512, 256)
    expected = np.interp(positions, np.arange(512), spec[1, 2, :, 4].numpy())
    np.testing.assert_allclose(warped[1, 2, :, 4].numpy(), expected, atol=1e-9)


def test_sine_peak_after_warp_lands_where_the_formula_says() -> None:
    n_fft, k = 1022, 60
    mag = stft(_sine(k * SR / n_fft, 8192), n_fft, 256).abs()[None, None]
    warped = log_frequency_warp(mag, 256)
    row = int(warped[0, 0, :, 10].argmax())
    expected = 255 * math.log(1 + 20 * k / 511) / math.log(21)  # inverse of the warp map
    assert abs(row - expected) <= 1.0


def test_warp_then_unwarp_is_identity_on_smooth_spectra() -> None:
    j = torch.arange(512, dtype=torch.float64)
    flat = torch.full((1, 2, 512, 4), 0.7, dtype=torch.float64)
    assert torch.allclose(log_frequency_unwarp(log_frequency_warp(flat), 512), flat, atol=1e-9)
    ramp = (0.5 + j / 511).expand(1, 2, 4, 512).transpose(-1, -2)
    assert torch.allclose(log_frequency_unwarp(log_frequency_warp(ramp), 512), ramp, atol=1e-3)
    smooth = (1.0 + 0.5 * torch.cos(2 * math.pi * 2 * j / 511))[None, None, :, None]
    back = log_frequency_unwarp(log_frequency_warp(smooth.expand(1, 1, 512, 3)), 512)
    assert back.shape == (1, 1, 512, 3)
    assert (back - smooth).abs().max() < 0.01


def test_warp_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, F, N\)"):
        log_frequency_warp(torch.zeros(512, 10))
    with pytest.raises(ValueError, match="real floating"):
        log_frequency_warp(torch.zeros(1, 1, 512, 10, dtype=torch.complex64))
    with pytest.raises(ValueError, match="num_freqs"):
        log_frequency_unwarp(torch.zeros(1, 1, 256, 10), 1)
