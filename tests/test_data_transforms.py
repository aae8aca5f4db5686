"""Frame and audio transforms: shapes, values, determinism and input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avloc.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    FrameAugment,
    denormalize_frames,
    frames_to_float,
    normalize_frames,
    random_equalizer,
    resize_frames,
)


def _frames(n: int = 2, h: int = 20, w: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_normalize_numpy_and_tensor_agree_and_match_formula() -> None:
    frames = _frames()
    out = normalize_frames(frames)
    assert out.shape == (2, 3, 20, 30) and out.dtype == torch.float32
    assert torch.equal(out, normalize_frames(torch.from_numpy(frames)))
    expected = (frames[1, 5, 7, 2] / 255.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]
    assert out[1, 2, 5, 7].item() == pytest.approx(expected, abs=1e-6)
    back = denormalize_frames(out)
    assert torch.allclose(back, frames_to_float(frames), atol=1e-6)


def test_normalize_accepts_float_chw_and_custom_stats() -> None:
    x = frames_to_float(_frames())
    out = normalize_frames(x, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert torch.allclose(out, x * 2 - 1)


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        (np.zeros((2, 8, 8, 3), np.float64), TypeError),  # float numpy: not what media returns
        (np.zeros((8, 8, 3), np.uint8), ValueError),  # a single frame without N
        (np.zeros((2, 8, 8, 4), np.uint8), ValueError),  # RGBA
        (torch.zeros(2, 8, 8, 3), ValueError),  # float channels-last
    ],
)
def test_normalize_rejects_bad_input(frames: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="frames"):
        normalize_frames(frames)  # type: ignore[arg-type]


def test_normalize_rejects_bad_stats() -> None:
    with pytest.raises(ValueError, match="std must be positive"):
        normalize_frames(_frames(), std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="mean"):
        normalize_frames(_frames(), mean=(0.5, 0.5))


def test_resize_frames_shapes_and_identity() -> None:
    x = frames_to_float(_frames())
    assert resize_frames(x, 16).shape == (2, 3, 16, 16)
    assert resize_frames(x, (10, 12), mode="area").shape == (2, 3, 10, 12)
    assert resize_frames(x, (20, 30)) is x
    constant = torch.full((1, 3, 20, 30), 0.25)
    assert torch.allclose(resize_frames(constant, (7, 9)), torch.full((1, 3, 7, 9), 0.25))
    with pytest.raises(TypeError, match="float"):
        resize_frames(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), 2)
    with pytest.raises(ValueError, match="size"):
        resize_frames(x, (0, 4))
    with pytest.raises(ValueError, match="mode"):
        resize_frames(x, 4, mode="lanczos")


def test_augment_is_deterministic_given_seed_and_shared_across_frames() -> None:
    augment = FrameAugment(16)
    same = frames_to_float(np.repeat(_frames(1), 3, axis=0))  # three identical frames
    a = augment(same, seed=7)
    assert a.shape == (3, 3, 16, 16)
    assert torch.equal(a, augment(same, seed=7))
    assert not torch.equal(a, augment(same, seed=8))
    # One draw per clip: identical input frames stay identical.
    assert torch.equal(a[0], a[1]) and torch.equal(a[1], a[2])
    assert a.min().item() >= 0.0 and a.max().item() <= 1.0


def test_augment_seed_leaves_global_rng_alone() -> None:
    augment = FrameAugment((12, 16))
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    augment(frames_to_float(_frames()), seed=1)
    assert torch.equal(torch.rand(1), expected)


def test_augment_flip_only_mirrors() -> None:
    config = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.5, 1.5), flip_p=1.0, jitter_p=0.0)
    x = frames_to_float(_frames(1, 20, 30))
    out = FrameAugment((20, 30), config)(x, seed=0)
    assert torch.allclose(out, x.flip(-1), atol=1e-5)


def test_augment_config_validation() -> None:
    with pytest.raises(ValueError, match="crop_scale"):
        AugmentConfig(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="flip_p"):
        AugmentConfig(flip_p=1.5)
    with pytest.raises(ValueError, match="grayscale_p"):
        AugmentConfig(grayscale_p=-0.1)
    with pytest.raises(ValueError, match="eq_db"):
        AugmentConfig(eq_db=-1.0)
    with pytest.raises(ValueError, match="float"):
        FrameAugment(8)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_augment_grayscale_greys_every_frame() -> None:
    config = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.5, 1.5), flip_p=0.0, jitter_p=0.0)
    x = frames_to_float(_frames(2, 20, 30))
    grey = FrameAugment((20, 30), AugmentConfig(**{**config.__dict__, "grayscale_p": 1.0}))(x, 0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert not torch.allclose(FrameAugment((20, 30), config)(x, 0)[:, 0], grey[:, 0])


def _tone_level(audio: np.ndarray, rate: int, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(spectrum[round(hz * len(audio) / rate)])


def test_random_equalizer_applies_its_band_gains_and_keeps_phase() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    audio = (np.sin(2 * np.pi * 1000.0 * t) + np.sin(2 * np.pi * 150.0 * t)).astype(np.float32)
    out = random_equalizer(audio, rate, 12.0, np.random.default_rng(3))
    # The same draw again: 1000 Hz and 150 Hz are band centres, so their gains are exact.
    gains = np.random.default_rng(3).uniform(-12.0, 12.0, 6)
    for hz, gain_db in ((150.0, gains[1]), (1000.0, gains[3])):
        ratio = _tone_level(out, rate, hz) / _tone_level(audio, rate, hz)
        assert abs(20 * np.log10(ratio) - gain_db) < 0.01
    # Zero-phase: the 1 kHz component keeps its phase.
    bin_1k = 1000
    assert abs(np.angle(np.fft.rfft(out)[bin_1k]) - np.angle(np.fft.rfft(audio)[bin_1k])) < 1e-3
    assert out.dtype == np.float32 and out.shape == audio.shape
    np.testing.assert_array_equal(
        random_equalizer(audio, rate, 0.0, np.random.default_rng(0)), audio
    )
