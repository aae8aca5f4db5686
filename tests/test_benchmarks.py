"""benchmarks/bench_quality.py: sets it cannot build are skipped, and their saved tables kept."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bench_quality(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_quality", ROOT / "benchmarks" / "bench_quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_quality", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "CACHE", tmp_path / "cache")
    return module


def test_a_set_whose_soundfont_is_missing_is_skipped_and_keeps_its_table(
    bench_quality, monkeypatch, tmp_path, capsys
):
    missing = tmp_path / "FluidR3_GM.sf2"
    monkeypatch.setattr(bench_quality, "FLUIDR3", missing)

    def must_not_evaluate(*args, **kwargs):
        raise AssertionError("a set whose soundfont is missing was evaluated")

    monkeypatch.setattr(bench_quality, "_evaluate", must_not_evaluate)
    monkeypatch.setattr(bench_quality, "_ensure", must_not_evaluate)
    results = tmp_path / "results"
    results.mkdir()
    saved = {"method": "default", "num_samples": 150, "ciou50": 0.727, "auc": 0.555,
             "mean_ciou": 0.555, "pointing": 0.86}  # fmt: skip
    (results / "flickr-fluidr3-model.json").write_text(json.dumps(saved))

    assert bench_quality.main(["--only", "flickr-fluidr3"]) == 0

    assert f"skipping flickr-fluidr3: {missing} is not installed" in capsys.readouterr().out
    tables = (results / "tables.md").read_text()
    assert "| flickr-fluidr3 | n | ciou50 | auc | mean_ciou | pointing |" in tables
    assert "| default | 150 | 72.7 | 55.5 | 55.5 | 86.0 |" in tables
