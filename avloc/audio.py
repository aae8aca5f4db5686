"""Spectral features in plain torch: STFT/iSTFT, mel filterbanks, log-mel, log-frequency warp.

Everything here is a stateless function batched over any leading dimensions (torchaudio is not
used: its wheels are CUDA-linked). The mel scale follows librosa's two conventions (Slaney's
Auditory Toolbox, librosa's default, and HTK); the log-frequency warp is Sound-of-Pixels'
(Zhao et al., ECCV 2018, released ``warpgrid``), see ``protocols.md`` §4.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

_ArrayLike = float | np.ndarray | Tensor

# Slaney mel scale (Auditory Toolbox, librosa default): linear below 1 kHz, log above.
_SLANEY_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # = 15
_SLANEY_LOGSTEP = math.log(6.4) / 27.0  # 27 mels per factor 6.4 in frequency

# Sound-of-Pixels' warp: input position u in [0, 1] = (BASE**v - 1) / (BASE - 1) for output v.
_SOP_WARP_BASE = 21.0


def _check_wave(wave: Tensor, name: str) -> None:
    if not isinstance(wave, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor waveform, got {type(wave).__name__}")
    if wave.dim() < 1 or wave.is_complex() or not wave.is_floating_point():
        raise ValueError(
            f"{name}: expected a real floating waveform of shape (..., T), got dtype "
            f"{wave.dtype} and shape {tuple(wave.shape)}"
        )


def _check_stft_params(n_fft: int, hop_length: int, name: str) -> None:
    if n_fft < 2 or hop_length < 1 or hop_length > n_fft:
        raise ValueError(
            f"{name}: need n_fft >= 2 and 1 <= hop_length <= n_fft, got n_fft={n_fft}, "
            f"hop_length={hop_length}"
        )


def stft(wave: Tensor, n_fft: int, hop_length: int) -> Tensor:
    """Short-time Fourier transform with a periodic Hann window, centred frames.

    Frames are centred (``center=True``, reflect padding), as in librosa and Sound-of-Pixels,
    so frame ``n`` is centred on sample ``n * hop_length``.

    Args:
        wave: real waveform.
        n_fft: FFT size (also the window length).
        hop_length: samples between frames.

    Returns:
        The complex spectrogram.

    Shape:
        wave: (..., T) -> (..., F, N) complex, F = n_fft // 2 + 1, N = 1 + T // hop_length.

    Raises:
        TypeError: ``wave`` is not a tensor.
        ValueError: ``wave`` is not real floating, is shorter than ``n_fft // 2 + 1`` samples
            (reflect padding needs that much), or the parameters are invalid.
    """
    _check_wave(wave, "stft")
    _check_stft_params(n_fft, hop_length, "stft")
    num_samples = wave.shape[-1]
    if num_samples <= n_fft // 2:
        raise ValueError(
            f"stft: the waveform has {num_samples} samples; centred frames need more than "
            f"n_fft // 2 = {n_fft // 2} (pad the audio or use a smaller n_fft)"
        )
    lead = wave.shape[:-1]
    window = torch.hann_window(n_fft, periodic=True, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(
        wave.reshape(-1, num_samples),
        n_fft=n_fft,
        hop_length=hop_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: Tensor, n_fft: int, hop_length: int, length: int) -> Tensor:
    """Inverse of :func:`stft` (least-squares overlap-add with the same Hann window).

    Args:
        spec: complex spectrogram as returned by :func:`stft`.
        n_fft: FFT size used for ``spec``.
        hop_length: hop used for ``spec``.
        length: number of output samples (the original ``T``).

    Returns:
        The waveform.

    Shape:
        spec: (..., F, N) complex -> (..., T) with T = ``length``.

    Raises:
        ValueError: ``spec`` is not complex with F = n_fft // 2 + 1 rows, or bad parameters.
    """
    _check_stft_params(n_fft, hop_length, "istft")
    num_freqs = n_fft // 2 + 1
    if not isinstance(spec, Tensor) or not spec.is_complex() or spec.dim() < 2:
        raise ValueError("istft: expected a complex tensor of shape (..., F, N)")
    if spec.shape[-2] != num_freqs:
        raise ValueError(
            f"istft: spec has {spec.shape[-2]} frequency rows but n_fft={n_fft} needs {num_freqs}"
        )
    if length < 1:
        raise ValueError(f"istft: length must be >= 1, got {length}")
    lead = spec.shape[:-2]
    real_dtype = spec.real.dtype
    window = torch.hann_window(n_fft, periodic=True, dtype=real_dtype, device=spec.device)
    wave = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        n_fft=n_fft,
        hop_length=hop_length,
        window=window,
        center=True,
        length=length,
    )
    return wave.reshape(*lead, length)


def _as_float_tensor(value: float | np.ndarray | Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value if value.is_floating_point() else value.double()
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def _like_input(result: Tensor, value: _ArrayLike) -> _ArrayLike:
    if isinstance(value, Tensor):
        return result
    if isinstance(value, np.ndarray):
        return result.numpy()
    return float(result)


@overload
def hz_to_mel(f: float, htk: bool = False) -> float: ...


@overload
def hz_to_mel(f: np.ndarray, htk: bool = False) -> np.ndarray: ...


@overload
def hz_to_mel(f: Tensor, htk: bool = False) -> Tensor: ...


def hz_to_mel(f: _ArrayLike, htk: bool = False) -> _ArrayLike:
    """Frequency in Hz to mels.

    HTK: ``2595 * log10(1 + f / 700)``. Slaney (librosa's default): ``f / (200/3)`` below
    1 kHz, then ``15 + ln(f / 1000) / (ln(6.4) / 27)``.

    Args:
        f: frequencies in Hz (a float, numpy array or tensor).
        htk: use the HTK formula instead of Slaney's.

    Returns:
        Mels, of the same kind as ``f`` (float, numpy float64 array, or tensor).
    """
    hz = _as_float_tensor(f)
    if htk:
        mel = 2595.0 * torch.log10(1.0 + hz / 700.0)
    else:
        log_part = (
            _SLANEY_MIN_LOG_MEL
            + torch.log(torch.clamp(hz, min=_SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ)
            / _SLANEY_LOGSTEP
        )
        mel = torch.where(hz >= _SLANEY_MIN_LOG_HZ, log_part, hz / _SLANEY_F_SP)
    return _like_input(mel, f)


@overload
def mel_to_hz(m: float, htk: bool = False) -> float: ...


@overload
def mel_to_hz(m: np.ndarray, htk: bool = False) -> np.ndarray: ...


@overload
def mel_to_hz(m: Tensor, htk: bool = False) -> Tensor: ...


def mel_to_hz(m: _ArrayLike, htk: bool = False) -> _ArrayLike:
    """Mels to frequency in Hz; the exact inverse of :func:`hz_to_mel`.

    Args:
        m: mels (a float, numpy array or tensor).
        htk: use the HTK formula instead of Slaney's.

    Returns:
        Hz, of the same kind as ``m``.
    """
    mel = _as_float_tensor(m)
    if htk:
        hz = 700.0 * (torch.pow(10.0, mel / 2595.0) - 1.0)
    else:
        log_part = _SLANEY_MIN_LOG_HZ * torch.exp(
            _SLANEY_LOGSTEP * (torch.clamp(mel, min=_SLANEY_MIN_LOG_MEL) - _SLANEY_MIN_LOG_MEL)
        )
        hz = torch.where(mel >= _SLANEY_MIN_LOG_MEL, log_part, mel * _SLANEY_F_SP)
    return _like_input(hz, m)


def _check_mel_params(
    sample_rate: int, n_fft: int, num_mels: int, f_min: float, f_max: float, norm: str | None
) -> None:
    if sample_rate <= 0 or n_fft < 2 or num_mels < 1:
        raise ValueError(
            f"mel_filterbank: need sample_rate > 0, n_fft >= 2, num_mels >= 1; got "
            f"sample_rate={sample_rate}, n_fft={n_fft}, num_mels={num_mels}"
        )
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"mel_filterbank: need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}; "
            f"got f_min={f_min}, f_max={f_max}"
        )
    if norm not in (None, "slaney"):
        raise ValueError(f"mel_filterbank: norm must be None or 'slaney', got {norm!r}")


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    num_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> Tensor:
    """Triangular mel filterbank, the same construction as ``librosa.filters.mel``.

    ``num_mels + 2`` edge frequencies are spaced evenly on the mel scale between ``f_min`` and
    ``f_max``; filter ``m`` rises linearly (in Hz) from edge ``m`` to 1 at edge ``m + 1`` and
    falls to 0 at edge ``m + 2``, evaluated at the FFT bin frequencies ``k * sample_rate /
    n_fft``. With ``norm="slaney"`` each filter is scaled by ``2 / (f[m+2] - f[m])`` so it has
    unit area in Hz (constant energy per channel).

    Args:
        sample_rate: audio sample rate in Hz.
        n_fft: FFT size of the spectrogram it will be applied to.
        num_mels: number of mel bands M.
        f_min: lowest edge in Hz.
        f_max: highest edge in Hz; ``None`` means ``sample_rate / 2``.
        htk: HTK mel formula instead of Slaney's.
        norm: ``"slaney"`` (unit area) or ``None`` (peak 1).

    Returns:
        Filter weights, float32.

    Shape:
        (M, F), F = n_fft // 2 + 1.

    Raises:
        ValueError: invalid parameters, or so many bands for this ``n_fft`` that some filter
            covers no FFT bin (use fewer mels or a larger ``n_fft``).
    """
    top = float(sample_rate) / 2.0 if f_max is None else float(f_max)
    _check_mel_params(sample_rate, n_fft, num_mels, f_min, top, norm)
    fft_freqs = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=torch.float64)
    mel_edges = torch.linspace(
        hz_to_mel(float(f_min), htk), hz_to_mel(top, htk), num_mels + 2, dtype=torch.float64
    )
    edges = mel_to_hz(mel_edges, htk)
    widths = edges[1:] - edges[:-1]  # (M + 1,)
    ramps = edges[:, None] - fft_freqs[None, :]  # (M + 2, F)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    empty = torch.nonzero(weights.max(dim=1).values <= 0).flatten().tolist()
    if empty:
        raise ValueError(
            f"mel_filterbank: filters {empty} cover no FFT bin (num_mels={num_mels} is too many "
            f"for n_fft={n_fft} at {sample_rate} Hz); use fewer mels or a larger n_fft"
        )
    return weights.float()


def log_mel_spectrogram(
    wave: Tensor,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    num_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    eps: float = 1e-6,
) -> Tensor:
    """Natural log of the mel-filtered power spectrogram: ``ln(mel @ |STFT|^2 + eps)``.

    Uses :func:`stft` (Hann, centred) and a Slaney-scale, Slaney-normalised
    :func:`mel_filterbank`. ``eps`` floors silence at ``ln(eps)`` (-13.8 for 1e-6).

    Args:
        wave: real waveform.
        sample_rate: sample rate of ``wave`` in Hz.
        n_fft: FFT size.
        hop_length: hop in samples.
        num_mels: number of mel bands M.
        f_min: lowest mel edge in Hz.
        f_max: highest mel edge in Hz (``None``: Nyquist).
        eps: added to the mel power before the log.

    Returns:
        Log-mel power.

    Shape:
        wave: (..., T) -> (..., M, N).

    Raises:
        ValueError: see :func:`stft` and :func:`mel_filterbank`; ``eps`` must be > 0.
    """
    if eps <= 0:
        raise ValueError(f"log_mel_spectrogram: eps must be > 0, got {eps}")
    spec = stft(wave, n_fft, hop_length)
    power = spec.real.square() + spec.imag.square()
    weights = mel_filterbank(sample_rate, n_fft, num_mels, f_min, f_max)
    mel = torch.matmul(weights.to(device=power.device, dtype=power.dtype), power)
    return torch.log(mel + eps)


def _check_spec4(spec: Tensor, name: str) -> None:
    if not isinstance(spec, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(spec).__name__}")
    if spec.dim() != 4 or spec.is_complex() or not spec.is_floating_point():
        raise ValueError(
            f"{name}: expected a real floating (B, C, F, N) spectrogram, got dtype {spec.dtype} "
            f"and shape {tuple(spec.shape)}"
        )


def _frequency_grid(spec: Tensor, rows: Tensor) -> Tensor:
    """A grid_sample grid that keeps every time frame and reads frequency at ``rows``.

    ``rows`` are normalised positions in [-1, 1] (align_corners=True convention).
    """
    batch, num_frames = spec.shape[0], spec.shape[-1]
    grid_x = torch.linspace(-1.0, 1.0, num_frames, dtype=spec.dtype, device=spec.device)
    # Clamp away float round-off past the edges, which would blend in zero padding.
    grid_y = rows.clamp(-1.0, 1.0).to(dtype=spec.dtype, device=spec.device)
    grid = torch.stack(torch.meshgrid(grid_y, grid_x, indexing="ij")[::-1], dim=-1)
    return grid.unsqueeze(0).expand(batch, -1, -1, -1)


def log_frequency_warp(spec: Tensor, num_bins: int = 256) -> Tensor:
    """Resample linear-frequency rows onto Sound-of-Pixels' log-frequency axis.

    Output row ``k`` (of K = ``num_bins``) reads the input at normalised position
    ``y = (21 ** v - 11) / 10`` with ``v = k / (K - 1)``, i.e. at linear bin
    ``u = (F - 1) * (21 ** v - 1) / 20``, by bilinear ``grid_sample`` with
    ``align_corners=True`` (the behaviour of the PyTorch 0.4 default the released code ran on).
    Low frequencies are oversampled, high ones undersampled (about 6 bins per row at the top
    for F = 512, K = 256).

    Args:
        spec: non-complex spectrogram (magnitudes or masks) on the linear-frequency axis.
        num_bins: number of log-frequency rows K (SoP: 256).

    Returns:
        The warped spectrogram.

    Shape:
        (B, C, F, N) -> (B, C, K, N).

    Raises:
        TypeError / ValueError: ``spec`` is not a real 4-D tensor, or ``num_bins < 2``.
    """
    _check_spec4(spec, "log_frequency_warp")
    if num_bins < 2:
        raise ValueError(f"log_frequency_warp: num_bins must be >= 2, got {num_bins}")
    v = torch.linspace(0.0, 1.0, num_bins, dtype=torch.float64)
    rows = (torch.pow(_SOP_WARP_BASE, v) - 1.0) / (_SOP_WARP_BASE - 1.0) * 2.0 - 1.0
    grid = _frequency_grid(spec, rows)
    return F.grid_sample(spec, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def log_frequency_unwarp(spec: Tensor, num_freqs: int) -> Tensor:
    """Inverse of :func:`log_frequency_warp`: back to ``num_freqs`` linear-frequency rows.

    Linear row ``j`` (normalised ``y = 2 j / (F - 1) - 1``) reads the warped spectrogram at
    ``log(10 y + 11) / log(21) * 2 - 1``, the inverse of the warp map (SoP's
    ``warpgrid(warp=False)``), bilinearly with ``align_corners=True``.

    Args:
        spec: warped spectrogram (e.g. predicted masks).
        num_freqs: number of linear rows F to produce (``n_fft // 2 + 1``).

    Returns:
        The spectrogram on the linear-frequency axis.

    Shape:
        (B, C, K, N) -> (B, C, F, N).

    Raises:
        TypeError / ValueError: ``spec`` is not a real 4-D tensor, or ``num_freqs < 2``.
    """
    _check_spec4(spec, "log_frequency_unwarp")
    if num_freqs < 2:
        raise ValueError(f"log_frequency_unwarp: num_freqs must be >= 2, got {num_freqs}")
    y = torch.linspace(-1.0, 1.0, num_freqs, dtype=torch.float64)
    rows = torch.log(y * 10.0 + 11.0) / math.log(_SOP_WARP_BASE) * 2.0 - 1.0
    grid = _frequency_grid(spec, rows)
    return F.grid_sample(spec, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
