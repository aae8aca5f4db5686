"""``avloc localize`` / ``avloc separate`` on bad input: one ``error:`` line naming the file or
folder and the problem, a non-zero status, no traceback, and nothing already done lost."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from avloc.checkpoint import check_device
from avloc.cli import localize as localize_cli
from avloc.cli import main
from tests.media_fixtures import make_clip

MODEL = "avloc-tiny-test"
FAST = ("--model", MODEL, "--quiet", "--precision", "fp32", "--no-separate", "--scales", "1")


def _localize(*argv: str) -> int:
    return main(["localize", *argv, *FAST])


def _clip(path: Path, freq_hz: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, duration_s=1.0, size=(32, 32), freq_hz=freq_hz)


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a refused command (no traceback)."""
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert ": error: " in line, line
    return line


def _rows(out: Path) -> dict[str, tuple[str, str]]:
    """input file name -> (output folder, status) from the run summary."""
    run = json.loads((out / "summary.json").read_text())
    return {Path(r["input"]).name: (r["output"], r["status"]) for r in run["inputs"]}


def _input_of(folder: Path) -> str:
    return Path(json.loads((folder / "summary.json").read_text())["input"]).name


@pytest.mark.parametrize("legacy", [False, True])
def test_new_file_with_a_taken_name_gets_its_own_folder(tmp_path: Path, legacy: bool) -> None:
    videos, out = tmp_path / "dup", tmp_path / "out"
    _clip(videos / "a.mkv")
    assert _localize(str(videos), "-o", str(out)) == 0
    if legacy:  # made before the input marker existed: the summary alone says whose it is
        (out / "a" / localize_cli.INPUT_MARKER).unlink()
    _clip(videos / "a.avi", freq_hz=880)
    assert _localize(str(videos), "-o", str(out)) == 0
    assert _rows(out) == {"a.avi": ("a_1", "ok"), "a.mkv": ("a", "skipped")}
    assert _input_of(out / "a") == "a.mkv" and _input_of(out / "a_1") == "a.avi"
    assert _localize(str(videos), "-o", str(out)) == 0
    assert _rows(out) == {"a.avi": ("a_1", "skipped"), "a.mkv": ("a", "skipped")}


def test_output_folder_inside_the_input_folder_is_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "nest"
    _clip(videos / "v.mp4")
    out = videos / "out"
    assert _localize(str(videos), "-o", str(out)) == 0
    assert _localize(str(videos), "-o", str(out)) == 0
    assert _rows(out) == {"v.mp4": ("v", "skipped")}
    assert not (out / "out").exists()
    project = tmp_path / "project"  # an input folder inside -o is read all the same
    _clip(project / "videos" / "w.mp4")
    assert _localize(str(project / "videos"), "-o", str(project)) == 0
    assert _rows(project) == {"w.mp4": ("w", "ok")}
    capsys.readouterr()
    assert _localize(str(videos), "-o", str(videos)) == 2
    assert "is the input folder" in _error_line(capsys)


def test_nothing_found_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    assert _localize(str(empty), "-o", str(out)) == 2
    line = _error_line(capsys)
    assert f"{empty}: no videos" in line and "'**/*'" in line
    assert not out.exists()  # nothing written, no model loaded
    _clip(empty / "v.mp4")
    assert _localize(str(empty), "-o", str(out), "--glob", "*.mkv") == 2
    assert f"{empty}: no videos" in (line := _error_line(capsys)) and "'*.mkv'" in line


def test_glob_must_be_relative(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _localize(str(tmp_path), "-o", str(tmp_path / "out"), "--glob", "/abs/*") == 2
    assert "--glob '/abs/*': must be a pattern relative" in _error_line(capsys)


@pytest.fixture
def make_unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a folder unlistable: chmod when that bites, else (as root) a failing os.scandir."""
    locked: list[Path] = []
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if any(Path(path) == folder for folder in locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    def lock(folder: Path) -> None:
        locked.append(folder)
        if os.geteuid() == 0:
            monkeypatch.setattr(os, "scandir", scandir)
        else:
            folder.chmod(0)

    yield lock
    for folder in locked:
        folder.chmod(0o755)


def test_unreadable_folders(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_unreadable: Callable[[Path], None],
) -> None:
    videos, out = tmp_path / "videos", tmp_path / "out"
    _clip(videos / "sub" / "ok.mp4")
    _clip(videos / "locked" / "hidden.mp4")
    make_unreadable(videos / "locked")
    assert _localize(str(videos), "-o", str(out)) == 0
    err = capsys.readouterr().err
    (warning,) = [line for line in err.splitlines() if "warning" in line]
    assert f"{videos / 'locked'}: cannot read this folder" in warning
    assert _rows(out)["ok.mp4"] == ("sub/ok", "ok")
    make_unreadable(videos)
    assert _localize(str(videos), "-o", str(tmp_path / "out2")) == 2
    assert f"{videos}: cannot read this folder" in _error_line(capsys)


@pytest.mark.parametrize(
    ("device", "problem"),
    [
        ("nosuch", "--device nosuch: not a torch device"),
        ("cuda", "--device cuda: this torch has no CUDA"),
        ("mps", "--device mps: this torch has no MPS"),
    ],
)
def test_unusable_device_is_refused_up_front(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    problem: str,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    clip = _clip(tmp_path / "v.mp4")
    out = tmp_path / "out"
    assert _localize(str(clip), "-o", str(out), "--device", device) == 2
    assert problem in _error_line(capsys)
    argv = ["separate", str(clip), "-o", str(out), "--model", MODEL, "--device", device]
    assert main(argv) == 2
    assert problem in _error_line(capsys)
    assert not out.exists()
    argv = ["evaluate", "separation", "--root", str(tmp_path), "--model", MODEL]
    assert main([*argv, "--device", device]) == 2
    assert problem in _error_line(capsys)


def test_check_device_accepts_cpu() -> None:
    assert check_device(None) is None
    assert check_device("cpu", "--device") == "cpu"


def test_output_that_cannot_take_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = _clip(tmp_path / "v.mp4")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert _localize(str(clip), "-o", str(afile)) == 2
    assert f"-o {afile}: is a file, not a folder" in _error_line(capsys)
    assert main(["separate", str(clip), "-o", str(afile), "--model", MODEL]) == 2
    assert f"-o {afile}: is a file, not a folder" in _error_line(capsys)
    assert afile.read_text() == "keep me"

    locked = tmp_path / "noperm_out"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    assert _localize(str(clip), "-o", str(locked)) == 2
    assert f"-o {locked}: the folder is not writable" in _error_line(capsys)
    assert _localize(str(clip), "-o", str(locked / "new")) == 2
    assert f"{locked} is not writable" in _error_line(capsys)
    assert not list(locked.iterdir())


def test_a_model_giving_nan_maps_stops_the_batch_and_blames_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from avloc.checkpoint import save_bundle
    from avloc.pretrained import load_model

    # finite weights that still give NaN, as a flipped exponent bit can make: they overflow
    model = load_model(MODEL)
    with torch.no_grad():
        for param in model.visual.parameters():
            param.fill_(3e38)
    broken = save_bundle(model, tmp_path / "broken.safetensors")
    videos = tmp_path / "videos"
    for name in ("a", "b"):
        _clip(videos / f"{name}.mp4")
    out = tmp_path / "out"
    argv = ["localize", str(videos), "-o", str(out), *FAST]
    argv[argv.index(MODEL)] = str(broken)
    assert main(argv) == 2
    assert "the model gave NaN or infinite maps" in _error_line(capsys)
    assert not list(out.glob("*/summary.json"))  # nothing counts as done, or marked as done
    assert not list(out.glob("*/maps.npz"))
