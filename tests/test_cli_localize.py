"""``avloc localize`` / ``avloc separate`` on a folder with good and bad files, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avloc.cli import localize as localize_cli
from avloc.cli import main
from tests.media_fixtures import make_clip

MODEL = "avloc-tiny-test"


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure both subcommands are dispatched (the lead lists them in avloc.cli)."""
    import avloc.cli as cli

    modules = cli._COMMAND_MODULES
    for name in ("avloc.cli.localize", "avloc.cli.separate"):
        if name not in modules:
            modules = (*modules, name)
    monkeypatch.setattr(cli, "_COMMAND_MODULES", modules)


def _run(*argv: str) -> int:
    return main(["localize", *argv, "--model", MODEL, "--quiet", "--precision", "fp32"])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    make_clip(root / "good.mp4", duration_s=1.5, size=(48, 64))
    make_clip(root / "sub" / "second.mp4", duration_s=1.0, size=(48, 64), freq_hz=880)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    make_clip(root / "silent.mp4", duration_s=1.0, size=(48, 64), audio_codec=None)
    return root


def test_folder_with_bad_files(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _run(str(folder), "-o", str(out)) == 1
    err = capsys.readouterr().err
    for name in ("corrupt.mp4", "silent.mp4"):  # each failure names its file, once
        (line,) = [line for line in err.splitlines() if name in line]
        assert line.count(name) == 1, line
    good = out / "good"
    for name in ("overlay.mp4", "maps.npz", "summary.json", "sources/residual.wav"):
        assert (good / name).is_file(), name
    assert (out / "sub" / "second" / "summary.json").is_file()
    assert not (out / "corrupt" / "summary.json").exists()
    run = json.loads((out / "summary.json").read_text())
    status = {Path(row["input"]).name: row["status"] for row in run["inputs"]}
    assert status == {
        "good.mp4": "ok",
        "second.mp4": "ok",
        "corrupt.mp4": "failed",
        "silent.mp4": "failed",
    }
    assert run["counts"] == {"ok": 2, "failed": 2, "skipped": 0}
    assert "audio" in next(r["error"] for r in run["inputs"] if r["input"].endswith("silent.mp4"))
    assert (out / "summary.csv").read_text().count("\n") == 5
    maps = np.load(good / "maps.npz")
    assert maps["heatmaps"].dtype == np.float16 and maps["heatmaps"].shape[0] == 12
    summary = json.loads((good / "summary.json").read_text())
    assert summary["num_frames"] == 12 and "objects" in summary
    silence = summary["silence_classes"]
    assert isinstance(silence, list)
    assert not {o["class_index"] for o in summary["objects"]} & set(silence)
    from avloc import media

    info = media.probe(good / "overlay.mp4")
    assert info.has_audio and info.video_codec == "h264"
    # the overlay's sound is the input's, to the sample (no AAC padding added at its end)
    sound = media.read_audio(folder / "good.mp4", 11025)
    assert media.read_audio(good / "overlay.mp4", 11025).size == sound.size == round(1.5 * 11025)


def test_resume_after_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "v"
    root.mkdir()
    make_clip(root / "a.mp4", duration_s=1.0, size=(32, 32))
    make_clip(root / "b.mp4", duration_s=1.0, size=(32, 32))
    out = tmp_path / "out"
    real = localize_cli.write_sources
    calls = []

    def interrupt_second(folder: Path, separation):  # type: ignore[no-untyped-def]
        calls.append(folder)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(folder, separation)

    monkeypatch.setattr(localize_cli, "write_sources", interrupt_second)
    assert _run(str(root), "-o", str(out)) == 130
    assert (out / "a" / "summary.json").is_file()
    assert not (out / "b" / "summary.json").exists()
    assert not list((out / "b").glob(".*.tmp"))
    monkeypatch.setattr(localize_cli, "write_sources", real)
    assert _run(str(root), "-o", str(out)) == 0
    run = json.loads((out / "summary.json").read_text())
    assert [r["status"] for r in run["inputs"]] == ["skipped", "ok"]
    assert (out / "b" / "summary.json").is_file()


def test_the_progress_bar_ends_at_the_frames_there_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar's total comes from the container's duration, which can outlast the pictures
    (e.g. a longer sound track): it still ends full, at the frames analysed."""
    import dataclasses

    import tqdm

    from avloc import media
    from avloc.inference import Pipeline

    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.0, size=(32, 32))
    real_probe = media.probe
    monkeypatch.setattr(
        media, "probe", lambda p: dataclasses.replace(real_probe(p), duration_s=2.0)
    )
    ended: list[tuple[int, int]] = []

    class Recorded(tqdm.tqdm):  # type: ignore[type-arg]
        def close(self) -> None:
            ended.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm, "tqdm", Recorded)
    pipeline = Pipeline.from_pretrained(MODEL, precision="fp32")
    options = localize_cli.RenderOptions(separate=False)
    localize_cli.process_video(pipeline, clip, tmp_path / "out", options, quiet=False)
    frames = len(np.load(tmp_path / "out" / "maps.npz")["times_s"])
    assert ended[0] == (frames, frames) and frames < 2.0 * pipeline.fps


def test_missing_input_is_reported(tmp_path: Path) -> None:
    make_clip(tmp_path / "ok.mp4", duration_s=1.0, size=(32, 32))
    out = tmp_path / "out"
    assert (
        _run(str(tmp_path / "ok.mp4"), str(tmp_path / "nope.mp4"), "-o", str(out), "--no-separate")
        == 1
    )
    run = json.loads((out / "summary.json").read_text())
    assert run["counts"] == {"ok": 1, "failed": 1, "skipped": 0}
    assert not (out / "ok" / "sources").exists()


def test_bad_options_exit_2(tmp_path: Path) -> None:
    assert _run(str(tmp_path), "-o", str(tmp_path / "o"), "--colormap", "nope") == 2


def test_separate_command(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration_s=1.5, size=(32, 32))
    out = tmp_path / "stems"
    argv = ["separate", str(clip), "-o", str(out), "--model", MODEL, "--precision", "fp32"]
    assert main(argv) == 0
    assert (out / "residual.wav").is_file()
    assert main([*argv, "--point", "0.5,0.25"]) == 0
    assert (out / "point_0.50_0.25.wav").is_file()
    assert main([*argv, "--point", "2,0"]) == 2
    assert main([*argv, "--box", "0.1,0.2,0.5,0.9"]) == 0
    assert (out / "box_0.10_0.20_0.50_0.90.wav").is_file()
    for bad in (
        ["--box", "0.5,0.2,0.1,0.9"],
        ["--box", "0,0,1"],
        ["--box", "0,0,1,1", "--point", "0.5,0.5"],
    ):
        assert main([*argv, *bad]) == 2
    shared = tmp_path / "shared"
    argv[3] = str(shared)
    assert main([*argv, "--mask-rule", "share"]) == 0 and (shared / "residual.wav").is_file()


def test_model_flags_reach_the_pipeline() -> None:
    from avloc.cli import build_parser
    from avloc.defaults import (
        CLASS_GUIDANCE,
        CLASS_MAP_OFFSET,
        REFINE_SOURCES,
        SOURCE_MAP_OFFSET,
    )

    for command in ("localize", "separate"):
        base = [command, "x.mp4", "-o", "out", "--model", MODEL]
        args = build_parser().parse_args(base)
        pipeline = localize_cli.load_pipeline(args)
        assert pipeline.source_map_offset == SOURCE_MAP_OFFSET
        assert pipeline.refine_sources is REFINE_SOURCES is True
        assert not pipeline.flip
        assert pipeline.class_map_options.offset == CLASS_MAP_OFFSET
        assert pipeline.class_guidance == CLASS_GUIDANCE
        argv = [*base, "--source-map-offset", "-1.5", "--class-map-offset", "-3"]
        argv += ["--mask-rule", "winner", "--no-refine-sources", "--flip"]
        argv += ["--class-guidance", "0.25"]
        pipeline = localize_cli.load_pipeline(build_parser().parse_args(argv))
        assert not pipeline.refine_sources and pipeline.flip
        assert pipeline.class_guidance == 0.25
        assert pipeline.source_map_offset == -1.5
        assert pipeline.class_map_options.offset == -3.0
        assert pipeline.mask_rule == "winner"
