"""Frame and audio transforms: shapes, values, determinism and input validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from avloc.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    AugmentDraw,
    FrameAugment,
    denormalize_frames,
    frames_to_float,
    normalize_frames,
    random_equalizer,
    random_speed,
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
    with pytest.raises(ValueError, match="rand_conv_p"):
        AugmentConfig(rand_conv_p=2.0)
    with pytest.raises(ValueError, match="rand_conv_sizes"):
        AugmentConfig(rand_conv_sizes=(3, 4))
    with pytest.raises(ValueError, match="speed"):
        AugmentConfig(speed=0.6)
    with pytest.raises(ValueError, match="float"):
        FrameAugment(8)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_augment_grayscale_greys_every_frame() -> None:
    config = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.5, 1.5), flip_p=0.0, jitter_p=0.0)
    x = frames_to_float(_frames(2, 20, 30))
    grey = FrameAugment((20, 30), AugmentConfig(**{**config.__dict__, "grayscale_p": 1.0}))(x, 0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert not torch.allclose(FrameAugment((20, 30), config)(x, 0)[:, 0], grey[:, 0])


def _draw(
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
    flip: bool = False,
    jitter: tuple[float, float, float, float] | None = None,
    grey: bool = False,
    conv: tuple[int, int, float] | None = None,
) -> AugmentDraw:
    return AugmentDraw(crop, flip, jitter, grey, conv)


def test_augment_batch_applies_each_clips_own_draw() -> None:
    augment = FrameAugment((20, 15))
    x = frames_to_float(_frames(2, 20, 30)).reshape(1, 2, 3, 20, 30).repeat(3, 1, 1, 1, 1)
    draws = [_draw((0.5, 0.0, 0.5, 1.0)), _draw((0.0, 0.0, 0.5, 1.0), flip=True), _draw()]
    out = augment.clips(x, draws)
    assert out.shape == (3, 2, 3, 20, 15)
    # Pixel-aligned crops resample nothing: the right half, the mirrored left half.
    assert torch.allclose(out[0], x[0, ..., 15:], atol=1e-5)
    assert torch.allclose(out[1], x[1, ..., :15].flip(-1), atol=1e-5)
    # Each clip alone gives the same frames as in the batch.
    assert torch.allclose(augment.clips(x[2:], draws[2:]), out[2:], atol=1e-6)
    with pytest.raises(ValueError, match="draws"):
        augment.clips(x, draws[:2])
    with pytest.raises(ValueError, match="float"):
        augment.clips(x[0], draws[:1])


def test_augment_draws_follow_the_config() -> None:
    config = AugmentConfig(crop_scale=(0.5, 0.5), crop_ratio=(1.0, 1.0), hue=0.1, jitter_p=1.0)
    augment = FrameAugment(16, config)
    for seed in range(20):
        draw = augment.draw(np.random.default_rng(seed), (40, 40))
        x0, y0, w, h = draw.crop
        assert w * h == pytest.approx(0.5) and w == pytest.approx(h)
        assert 0 <= x0 <= 1 - w and 0 <= y0 <= 1 - h
        assert draw.jitter is not None and abs(draw.jitter[3]) <= 0.1
        assert all(0.8 <= f <= 1.2 for f in draw.jitter[:3])
    assert augment.draw(np.random.default_rng(1), (40, 40)) == augment.draw(
        np.random.default_rng(1), (40, 40)
    )


def test_augment_colour_matches_torchvision_definitions() -> None:
    from kornia import enhance

    augment = FrameAugment((20, 30))
    x = frames_to_float(_frames(1, 20, 30)) * 0.6 + 0.2  # no clamping inside the jitter
    clip = x[None]
    same = augment.clips(clip, [_draw(jitter=(1.0, 1.0, 1.0, 0.0))])[0]
    assert torch.allclose(same, x, atol=1e-5)
    contrast = augment.clips(clip, [_draw(jitter=(1.0, 0.7, 1.0, 0.0))])[0]
    assert torch.allclose(
        contrast, enhance.adjust_contrast_with_mean_subtraction(x, 0.7), atol=1e-5
    )
    saturation = augment.clips(clip, [_draw(jitter=(1.0, 1.0, 0.5, 0.0))])[0]
    assert torch.allclose(
        saturation, enhance.adjust_saturation_with_gray_subtraction(x, 0.5), atol=1e-5
    )
    brighter = augment.clips(clip, [_draw(jitter=(1.2, 1.0, 1.0, 0.0))])[0]
    assert torch.allclose(brighter, (x * 1.2).clamp(0, 1), atol=1e-5)
    half_turns = [_draw(jitter=(1.0, 1.0, 1.0, 0.5)), _draw(jitter=(1.0, 1.0, 1.0, -0.5))]
    full_turn = augment.clips(clip.repeat(2, 1, 1, 1, 1), half_turns)
    assert torch.allclose(full_turn[0], full_turn[1], atol=1e-5)  # +½ and -½ turn meet


def test_augment_hue_turns_colours_and_keeps_greys() -> None:
    augment = FrameAugment((4, 4))
    red = torch.zeros(1, 1, 3, 4, 4)
    red[:, :, 0] = 1.0
    turned = augment.clips(red, [_draw(jitter=(1.0, 1.0, 1.0, 1 / 3))])
    assert turned[0, 0, :, 0, 0].argmax().item() == 1  # red turns a third of the way: green
    grey = torch.full((1, 1, 3, 4, 4), 0.4)
    assert torch.allclose(
        augment.clips(grey, [_draw(jitter=(1.0, 1.0, 1.0, 0.2))]), grey, atol=1e-5
    )


def test_random_conv_draws_leave_the_other_draws_as_they_were() -> None:
    plain, conv = AugmentConfig(), AugmentConfig(rand_conv_p=1.0, rand_conv_sizes=(3, 5))
    for seed in range(10):
        before = FrameAugment(16, plain).draw(np.random.default_rng(seed), (40, 40))
        after = FrameAugment(16, conv).draw(np.random.default_rng(seed), (40, 40))
        assert before.conv is None and after.conv is not None
        assert after.conv[0] in (3, 5) and 0.0 <= after.conv[2] <= 1.0
        assert dataclasses.replace(after, conv=None) == before


def test_random_conv_keeps_each_clips_colour_statistics_and_its_frames_alike() -> None:
    augment = FrameAugment((20, 30))
    frame = frames_to_float(_frames(1, 20, 30)) * 0.2 + 0.4  # nothing to clamp
    clips = frame[None].repeat(3, 2, 1, 1, 1)  # three clips of two identical frames
    draws = [_draw(conv=(3, 11, 0.0)), _draw(conv=(1, 12, 0.0)), _draw()]
    out = augment.clips(clips, draws)
    assert torch.equal(out[0, 0], out[0, 1])  # one kernel for the clip's frames
    assert torch.allclose(out[2], clips[2], atol=1e-6)  # a clip without one is untouched
    for filtered in out[:2]:
        assert not torch.allclose(filtered, clips[0], atol=1e-2)
        # rescaled to the clip's own per-channel mean and spread
        assert torch.allclose(filtered.mean((0, 2, 3)), frame.mean((0, 2, 3)), atol=1e-4)
        assert torch.allclose(filtered.std((0, 2, 3)), frame.std((0, 2, 3)), atol=1e-3)
    # a 1x1 kernel mixes colours pixel by pixel: spatially flat frames stay flat
    flat = augment.clips(torch.full((1, 1, 3, 20, 30), 0.5), [_draw(conv=(1, 12, 0.0))])
    assert torch.allclose(flat, torch.full_like(flat, 0.5), atol=1e-5)
    # the unfiltered frame's weight blends the two
    half = augment.clips(clips[:1], [_draw(conv=(3, 11, 0.5))])[0]
    assert torch.allclose(half, (out[0] + clips[0]) / 2, atol=1e-5)


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


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


def test_random_speed_moves_pitch_within_its_range_and_keeps_length_and_centre() -> None:
    rate = 11025
    tone = np.sin(2 * np.pi * 440.0 * np.arange(rate) / rate).astype(np.float32)
    peaks = []
    for seed in range(12):
        out = random_speed(tone, 0.2, np.random.default_rng(seed))
        assert out.dtype == np.float32 and out.shape == tone.shape
        peaks.append(_peak_hz(out, rate))
    assert all(440 / 1.2 - 2 <= hz <= 440 * 1.2 + 2 for hz in peaks)
    assert min(peaks) < 420 and max(peaks) > 460  # both faster and slower draws
    assert peaks[3] == _peak_hz(random_speed(tone, 0.2, np.random.default_rng(3)), rate)
    np.testing.assert_array_equal(random_speed(tone, 0.0, np.random.default_rng(0)), tone)
    # a click at the centre stays there, whether the draw is faster or slower
    click = np.zeros(rate, np.float32)
    click[rate // 2] = 1.0
    for seed in range(6):
        out = random_speed(click, 0.2, np.random.default_rng(seed))
        assert abs(int(np.argmax(np.abs(out))) - rate // 2) <= 2
