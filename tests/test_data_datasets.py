"""Training datasets: windows, frame timing, cache equivalence, determinism, DataLoader workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avloc import media
from avloc.data.datasets import (
    AVBatch,
    AVSample,
    ClipDataset,
    ImageAudioDataset,
    SampleConfig,
    collate_av,
)
from avloc.data.flickr import read_flickr
from avloc.data.manifest import SceneClip
from avloc.data.transforms import denormalize_frames

FPS = 8
RATE = 11025
SIZE = 16
FLICKR = Path(__file__).parent / "fixtures" / "data" / "flickr"


def _level(k: int) -> int:
    """Grey level of frame ``k`` of a test clip: frame times are readable from pixels."""
    return 10 + 8 * k


def _write_clip(path: Path, duration_s: float, freq_hz: float) -> Path:
    num_frames = round(duration_s * FPS)
    frames = np.stack([np.full((32, 32, 3), _level(k), np.uint8) for k in range(num_frames)])
    t = np.arange(round(duration_s * RATE)) / RATE
    audio = (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return media.write_video(path, frames, FPS, audio=audio, sample_rate=RATE)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("clips")
    return [
        _write_clip(root / "a.mp4", 3.0, 440.0),
        _write_clip(root / "b.mp4", 3.0, 660.0),
        _write_clip(root / "short.mp4", 0.5, 550.0),
    ]


def _levels(sample: AVSample) -> list[float]:
    """Mean grey level (0-255) of each frame of a sample."""
    return [float(f.mean()) * 255 for f in denormalize_frames(sample.frames)]


CONFIG = SampleConfig(frame_size=SIZE, num_frames=3, audio_duration_s=1.0)


def test_eval_item_is_centred_with_frames_around_the_centre(clips: list[Path]) -> None:
    sample = ClipDataset(clips, CONFIG)[0]
    assert sample.frames.shape == (3, 3, SIZE, SIZE) and sample.frames.dtype == torch.float32
    assert sample.audio.shape == (RATE,) and sample.audio.dtype == torch.float32
    assert sample.clip_index == 0 and sample.start_s == pytest.approx(1.0)
    # Centre 1.5 s -> frames at 1.375, 1.5, 1.625 s = source frames 11, 12, 13.
    assert _levels(sample) == pytest.approx([_level(11), _level(12), _level(13)], abs=3)
    assert 0.3 < float(sample.audio.abs().max()) <= 1.0


def test_short_clip_pads_audio_and_keeps_frames_inside(clips: list[Path]) -> None:
    sample = ClipDataset(clips, CONFIG)[2]
    assert sample.start_s == 0.0
    assert sample.audio.shape == (RATE,)
    assert float(sample.audio[-RATE // 4 :].abs().max()) == 0.0  # beyond the 0.5-s clip
    # Centred on the 0.5-s clip's middle: 0.125, 0.25, 0.375 s = source frames 1, 2, 3.
    assert _levels(sample) == pytest.approx([_level(1), _level(2), _level(3)], abs=3)


@pytest.mark.parametrize("train", [False, True])
def test_cache_matches_decoding_each_time(clips: list[Path], train: bool) -> None:
    plain = ClipDataset(clips, CONFIG, train=train, seed=2)
    cached = ClipDataset(clips, CONFIG, train=train, seed=2, cache=True)
    for index in range(len(clips)):
        a, b = plain[index], cached[index]
        assert torch.equal(a.frames, b.frames)
        assert torch.allclose(a.audio, b.audio, atol=1e-3)
    assert len(cached._cache) == len(clips)


def test_train_items_are_deterministic_per_seed_epoch_index(clips: list[Path]) -> None:
    data = ClipDataset(clips, CONFIG, train=True, seed=5)
    first = data[1]
    assert 0.0 <= first.start_s <= 2.0
    again = data[1]
    assert torch.equal(first.frames, again.frames) and torch.equal(first.audio, again.audio)
    data.set_epoch(1)
    other = data[1]
    assert other.start_s != first.start_s
    assert ClipDataset(clips, CONFIG, train=True, seed=6)[1].start_s != first.start_s


def test_dataloader_with_two_workers_matches_in_process(clips: list[Path]) -> None:
    data = ClipDataset(clips, CONFIG, train=True, seed=3)
    data.set_epoch(2)
    loader = DataLoader(data, batch_size=3, num_workers=2, collate_fn=collate_av)
    (batch,) = list(loader)
    assert isinstance(batch, AVBatch)
    assert batch.frames.shape == (3, 3, 3, SIZE, SIZE)
    assert batch.audio.shape == (3, RATE)
    assert batch.clip_index.tolist() == [0, 1, 2]
    # The loader fetches batched (``__getitems__``: one augmentation pass for the batch); each
    # item is the same as fetched alone.
    expected = collate_av([data[i] for i in range(3)])
    assert torch.equal(batch.frames, expected.frames)
    assert torch.equal(batch.audio, expected.audio)
    assert torch.equal(batch.start_s, expected.start_s)
    moved = batch.to("cpu")
    assert moved.batch_size == 3 and torch.equal(moved.frames, batch.frames)


def test_preload_and_from_manifest(clips: list[Path]) -> None:
    scene = [
        SceneClip(clip=p, duration_s=3.0, fps=FPS, sample_rate=RATE, objects=()) for p in clips[:2]
    ]
    data = ClipDataset.from_manifest(scene, SampleConfig(frame_size=SIZE))
    data.preload()
    assert set(data._cache) == {0, 1}
    assert data.duration_s(1) == 3.0
    assert data[1].frames.shape == (1, 3, SIZE, SIZE)
    # a clip cut short that still decodes (to less sound than its manifest line promises)
    cut = [SceneClip(clip=clips[2], duration_s=3.0, fps=FPS, sample_rate=RATE, objects=())]
    with pytest.raises(media.MediaError, match=r"short\.mp4: decodes to 0\.\d+ s of sound"):
        ClipDataset.from_manifest(cut, SampleConfig(frame_size=SIZE)).preload()


def test_view_changes_window_and_augmentation_and_shares_the_cache(clips: list[Path]) -> None:
    from avloc.data.transforms import AugmentConfig

    data = ClipDataset(clips[:2], CONFIG, train=True, seed=3, cache=True)
    data.preload()
    longer = data.view(audio_duration_s=2.0)
    assert longer._cache is data._cache and data.config.audio_duration_s == 1.0
    assert longer[0].audio.shape == (2 * RATE,) and data[0].audio.shape == (RATE,)
    grey = data.view(augment=AugmentConfig(grayscale_p=1.0))
    assert grey._augment is not None and data._augment is not None
    assert grey._augment.config.grayscale_p == 1.0 and data._augment.config.grayscale_p == 0.0
    assert torch.equal(data.view()[1].frames, data[1].frames)  # no change: same samples
    evaluation = ClipDataset(clips[:1], CONFIG, train=False)
    assert evaluation.view(augment=AugmentConfig(grayscale_p=1.0))._augment is None
    # speed perturbation changes a training item's sound, the same way each time
    faster = data.view(augment=AugmentConfig(speed=0.3))
    assert not torch.equal(faster[1].audio, data[1].audio)
    assert torch.equal(faster[1].audio, faster[1].audio)
    assert torch.equal(faster[1].frames, data[1].frames)  # the pictures' draws are unchanged


def test_image_audio_dataset_from_flickr() -> None:
    config = SampleConfig(frame_size=SIZE, num_frames=2, audio_duration_s=0.5)
    data = ImageAudioDataset.from_flickr(read_flickr(FLICKR, FLICKR / "test_list.txt"), config)
    assert len(data) == 2
    sample = data[1]
    assert sample.frames.shape == (2, 3, SIZE, SIZE)
    assert torch.equal(sample.frames[0], sample.frames[1])
    assert sample.audio.shape == (config.num_samples,)
    # The 0.25-s wav fills the first half of the 0.5-s window; the rest is silence.
    assert float(sample.audio[: config.num_samples // 2 - 50].abs().max()) > 0.3
    assert float(sample.audio[config.num_samples // 2 + 50 :].abs().max()) == 0.0
    train = ImageAudioDataset.from_flickr(
        read_flickr(FLICKR, FLICKR / "test_list.txt"), config, train=True, seed=1
    )
    assert torch.equal(train[0].frames, train[0].frames)
    assert not torch.equal(train[0].frames, data[0].frames)  # augmented


def test_bad_inputs_raise_clear_errors(tmp_path: Path, clips: list[Path]) -> None:
    with pytest.raises(ValueError, match="at least one"):
        ClipDataset([])
    with pytest.raises(ValueError, match="durations_s"):
        ClipDataset(clips, durations_s=[3.0])
    with pytest.raises(ValueError, match="frame_size"):
        SampleConfig(frame_size=0)
    with pytest.raises(ValueError, match="audio_duration_s"):
        SampleConfig(audio_duration_s=-1.0)
    with pytest.raises(TypeError, match="SampleConfig"):
        ClipDataset(clips, config={"frame_size": 8})  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r"absent\.mp4"):
        ClipDataset([tmp_path / "absent.mp4"])[0]
    with pytest.raises(IndexError):
        ClipDataset(clips)[3]
    with pytest.raises(ValueError, match="image_path, audio_path"):
        ImageAudioDataset([(tmp_path / "x.jpg",)])  # type: ignore[list-item]
    a = ClipDataset(clips, SampleConfig(frame_size=SIZE))[0]
    b = ClipDataset(clips, SampleConfig(frame_size=SIZE + 2))[0]
    with pytest.raises(ValueError, match="differ in shape"):
        collate_av([a, b])
