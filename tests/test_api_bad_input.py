"""The Python API on bad input: a clear exception naming the argument or file, never a silent
wrong result (a stereo mixture separated as 2 samples, NaN maps, int16 PCM read as huge values,
stems of another video's objects)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avloc import media
from avloc.checkpoint import check_device
from avloc.inference import Pipeline
from avloc.sources import Clip
from avloc.viz import overlay_size

SR = 11025


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    from avloc.pretrained import load_model

    torch.manual_seed(0)
    return Pipeline(load_model("avloc-tiny-test"), scales=(1.0,), precision="fp32")


def _frames(n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 48, 64, 3), dtype=np.uint8)


def _audio(seconds: float = 1.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.mark.parametrize(
    ("audio", "error", "message"),
    [
        (np.stack([_audio(), _audio()]), ValueError, r"must be a mono \(T,\) array"),
        (_audio()[:, None].repeat(2, 1), ValueError, r"must be a mono \(T,\) array"),
        ((_audio() * 3e4).astype(np.int16), TypeError, "must hold float samples .* int16 PCM"),
        (np.full(SR, np.nan, np.float32), ValueError, "holds NaN or infinite samples"),
        (np.zeros(0, np.float32), ValueError, r"must be a mono \(T,\) array with samples"),
    ],
)
def test_bad_audio_is_refused_wherever_audio_comes_in(
    pipe: Pipeline, audio: np.ndarray, error: type[Exception], message: str
) -> None:
    vectors = np.ones((1, pipe.model.config.separator.num_feature_channels), np.float32)
    with pytest.raises(error, match=f"mixture {message}"):
        pipe.separate_mixture(audio, vectors)
    with pytest.raises(error, match=f"audio {message}"):
        pipe.analyze_image(_frames(1)[0], audio)
    with pytest.raises(error, match=rf"Clip\.audio {message}"):
        pipe.localize((_frames(), audio, 8.0, SR))


def test_bad_settings_of_in_memory_input_are_refused(pipe: Pipeline) -> None:
    for fps in (float("nan"), float("inf"), 1e-6 * 0, 5000.0):
        with pytest.raises(ValueError, match=r"Clip\.fps must be in"):
            Clip(_frames(), _audio(), fps, SR)
    with pytest.raises(ValueError, match=r"Clip\.sample_rate must be 1000\.\.768000"):
        Clip(_frames(), _audio(), 8.0, 1)
    with pytest.raises(TypeError, match=r"Clip\.sample_rate must be an int"):
        Clip(_frames(), _audio(), 8.0, 16000.7)  # type: ignore[arg-type]
    for audio_s in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="audio_s must be a positive"):
            pipe.analyze_image(_frames(1)[0], _audio(), audio_s=audio_s)
    vectors = np.full((1, pipe.model.config.separator.num_feature_channels), np.nan, np.float32)
    with pytest.raises(ValueError, match="vectors must be"):
        pipe.separate_mixture(_audio(), vectors)


def test_a_localization_of_another_video_is_refused(pipe: Pipeline) -> None:
    long_clip = (_frames(16), _audio(2.0), 8.0, SR)
    other = pipe.localize((_frames(40), _audio(5.0), 8.0, SR))
    with pytest.raises(ValueError, match=r"localization is of a 5\.00-s input.* lasts 2\.00 s"):
        pipe.separate(long_clip, localization=other)
    assert pipe.separate(long_clip, localization=pipe.localize(long_clip)) is not None


def test_models_and_devices_are_checked_up_front(pipe: Pipeline) -> None:
    from avloc.pretrained import load_model

    with pytest.raises(TypeError, match=r"model must be a loaded torch model, got str"):
        Pipeline("default")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="device gpu: not a torch device"):
        load_model("avloc-tiny-test", device="gpu")
    with pytest.raises(ValueError, match="device gpu: not a torch device"):
        Pipeline(pipe.model, device="gpu")
    assert check_device("cpu") == "cpu"


def test_writers_refuse_a_folder_before_encoding_and_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out.wav").mkdir()
    with pytest.raises(IsADirectoryError, match=r"out\.wav: is a folder"):
        media.write_audio(tmp_path / "out.wav", _audio(), SR)
    (tmp_path / "out.mp4").mkdir()
    with pytest.raises(IsADirectoryError, match=r"out\.mp4: is a folder"):
        media.write_video(tmp_path / "out.mp4", _frames(), 8.0)

    import av

    def denied(*args: object, **kwargs: object) -> None:
        raise av.error.PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(av, "open", denied)
    with pytest.raises(PermissionError, match=r"x\.wav: could not write it \(Operation not"):
        media.write_audio(tmp_path / "x.wav", _audio(), SR)
    with pytest.raises(PermissionError, match=r"x\.mp4: could not write it \(Operation not"):
        media.write_video(tmp_path / "x.mp4", _frames(), 8.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "out.wav"]  # no temp file
    with pytest.raises(ValueError, match="max_side must be at least 16"):
        overlay_size(480, 640, max_side=0)


def test_points_metrics_and_map_lookups_refuse_nonsense(pipe: Pipeline) -> None:
    from avloc.metrics.localization import auc, success_at
    from avloc.viz import heatmap_at

    clip = (_frames(), _audio(), 8.0, SR)
    for point in ("0.3,0.6", (0.1, 0.2, 0.3), None):
        with pytest.raises(ValueError, match="point must be"):
            pipe.separate_at(clip, point)  # type: ignore[arg-type]
    for box, message in (
        ((0.1, 0.2, 0.3), r"box must be \(x0, y0, x1, y1\) normalised"),
        ((0.5, 0.2, 1.5, 0.4), "normalised to"),
        ((0.5, 0.2, 0.4, 0.4), "x0 < x1 and y0 < y1"),
        ((0.1, 0.2, 0.1, 0.4), "x0 < x1 and y0 < y1"),
        ("0,0,1,1", "box must be"),
    ):
        with pytest.raises(ValueError, match=message):
            pipe.separate_at(clip, box=box)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one of the two"):
        pipe.separate_at(clip, (0.5, 0.5), box=(0.0, 0.0, 1.0, 1.0))
    for values in ([np.nan, 0.5], [5.0, -3.0]):
        with pytest.raises(ValueError, match=r"cIoU values must be numbers in \[0, 1\]"):
            auc(values)
        with pytest.raises(ValueError, match=r"cIoU values must be numbers in \[0, 1\]"):
            success_at(values)
    maps = np.zeros((5, 8, 8), np.float32)
    with pytest.raises(ValueError, match="one time per map"):
        heatmap_at(np.arange(3.0), maps, 0.5)
    with pytest.raises(ValueError, match="finite t_s"):
        heatmap_at(np.arange(5.0), maps, float("nan"))
    with pytest.raises(media.EmptyMediaError, match="<in-memory clip>: shorter than one"):
        pipe.localize((_frames(1), np.zeros(8, np.float32), 1000.0, SR))


def test_pipeline_arguments_and_images_of_the_wrong_kind_are_explained(pipe: Pipeline) -> None:
    from avloc.maps import HEATMAP_OPTIONS

    model = pipe.model
    with pytest.raises(TypeError, match="batch_size must be an int"):
        Pipeline(model, batch_size="4")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batch_size must be an int"):
        Pipeline(model, batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scales must be a sequence"):
        Pipeline(model, scales=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scales must be a sequence"):
        Pipeline(model, scales="1.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"heatmap_options must be an avloc\.maps\.MapOptions"):
        Pipeline(model, heatmap_options={"smoothing": 0.1})  # type: ignore[arg-type]
    assert Pipeline(model, heatmap_options=HEATMAP_OPTIONS).heatmap_options is HEATMAP_OPTIONS
    with pytest.raises(TypeError, match="image must be uint8 RGB"):
        pipe.analyze_image(_frames(1)[0].astype(np.float64), _audio())
    with pytest.raises(ValueError, match=r"H, W >= 1, got \(1, 0, 0, 3\)"):
        pipe.analyze_image(_frames(1)[0, :0, :0], _audio())
