"""benchmarks/: bench_quality.py skips sets it cannot build and keeps their saved tables;
bench_offscreen.py adds the same sound for every model and counts the share the stems take;
a benchmark's record keeps the rows done when Ctrl-C stops it (record.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests import test_evaluation

solo_root = test_evaluation.solo_root  # its tiny solo set, built once for this module too

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark(monkeypatch, name):
    """``benchmarks/<name>.py`` as a module (the scripts import each other by plain name)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def bench_quality(monkeypatch, tmp_path):
    module = _load_benchmark(monkeypatch, "bench_quality")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "CACHE", tmp_path / "cache")
    return module


def test_a_set_whose_soundfont_is_missing_is_skipped_and_keeps_its_table(
    bench_quality, monkeypatch, tmp_path, capsys
):
    missing = tmp_path / "FluidR3_GM.sf2"
    monkeypatch.setattr(bench_quality, "FLUIDR3", missing)
    monkeypatch.setattr(bench_quality, "CSOUND", tmp_path / "sf_GMbank.sf2")

    def must_not_evaluate(*args, **kwargs):
        raise AssertionError("a set whose soundfont is missing was evaluated")

    monkeypatch.setattr(bench_quality, "_evaluate", must_not_evaluate)
    monkeypatch.setattr(bench_quality, "_ensure", must_not_evaluate)
    results = tmp_path / "results"
    results.mkdir()
    saved = {"method": "default", "num_samples": 150, "ciou50": 0.727, "auc": 0.555,
             "mean_ciou": 0.555, "pointing": 0.86}  # fmt: skip
    (results / "flickr-fluidr3-model.json").write_text(json.dumps(saved))

    assert bench_quality.main(["--only", "flickr-fluidr3,flickr-csound-distractor"]) == 0

    out = capsys.readouterr().out
    assert f"skipping flickr-fluidr3: {missing} is not installed" in out
    assert f"skipping flickr-csound-distractor: {tmp_path / 'sf_GMbank.sf2'} is not" in out
    tables = (results / "tables.md").read_text()
    assert "| flickr-fluidr3 | n | ciou50 | auc | mean_ciou | pointing |" in tables
    assert "| default | 150 | 72.7 | 55.5 | 55.5 | 86.0 |" in tables


def test_model_only_scores_one_row_per_set_into_its_own_results_folder(
    bench_quality, monkeypatch, tmp_path
):
    """A recipe run's bundle is scored without baselines or variant rows, and its results
    never overwrite the README's (``RESULTS``)."""
    calls: list[list[str]] = []

    def fake_avloc(argv):
        calls.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        row = {"method": "run", "num_samples": 250, "ciou50": 0.696, "auc": 0.5,
               "mean_ciou": 0.5, "pointing": 0.892}  # fmt: skip
        out.write_text(json.dumps(row))
        return 0

    monkeypatch.setattr(bench_quality, "avloc", fake_avloc)
    monkeypatch.setattr(bench_quality, "_ensure", lambda dataset: tmp_path / dataset.name)
    own = tmp_path / "run-quality"

    argv = ["--model", "run.safetensors", "--model-only", "--results", str(own)]
    assert bench_quality.main([*argv, "--only", "flickr"]) == 0

    assert len(calls) == 1 and calls[0][:2] == ["evaluate", "flickr"]
    assert calls[0][calls[0].index("--model") + 1] == "run.safetensors"
    assert "--baseline" not in calls[0] and "--map-smoothing" not in calls[0]
    assert (own / "flickr-model.json").is_file()
    assert "| run | 250 | 69.6 | 50.0 | 50.0 | 89.2 |" in (own / "tables.md").read_text()
    assert not (tmp_path / "results").exists()


def test_the_model_row_carries_its_bootstrap_interval(bench_quality, monkeypatch, tmp_path):
    from avloc.evaluation.protocols import get_protocol
    from avloc.evaluation.report import result_json
    from avloc.evaluation.results import ImageScore, LocalizationResult

    scores = tuple(ImageScore(f"{i}", 0.6 if i % 4 else 0.3, i % 5 > 0) for i in range(200))
    preset = get_protocol("flickr")
    record = result_json(LocalizationResult("default", preset, scores, (), ()))  # type: ignore[arg-type]
    results = tmp_path / "results"
    results.mkdir()
    (results / "flickr-model.json").write_text(json.dumps(record))
    monkeypatch.setattr(bench_quality, "_evaluate", lambda *args: None)
    monkeypatch.setattr(bench_quality, "_ensure", lambda dataset: tmp_path / dataset.name)

    assert bench_quality.main(["--only", "flickr", "--model-only"]) == 0

    lines = (results / "tables.md").read_text().splitlines()
    assert lines[2] == "| default | 200 | 75.0 | 50.0 | 52.5 | 80.0 |"
    interval = [cell.strip() for cell in lines[3].split("|")]
    assert interval[1] == "default: 95 % interval" and interval[2] == ""
    low, high = (float(v) for v in interval[3].split("–"))
    assert 68 < low < 75 < high < 82  # AP50 of 200 images: about ±6 points


@pytest.fixture()
def bench_offscreen(monkeypatch):
    return _load_benchmark(monkeypatch, "bench_offscreen")


def test_offscreen_sound_is_the_same_for_every_model_and_its_share_is_counted(bench_offscreen):
    import numpy as np

    from avloc.evaluation.predictors import MixtureSeparator
    from avloc.evaluation.samples import SeparationSample

    rng = np.random.default_rng(0)
    references = (rng.standard_normal((2, 4000)) * 0.1).astype(np.float32)
    sample = SeparationSample(
        "m0", references.sum(0), references, (np.zeros((0, 8, 8, 3), np.uint8),) * 2,
        ("a", "b"), ("c0", "c1"), 11025,
    )  # fmt: skip
    heard = bench_offscreen.with_sound(sample, "noise", 10.0)
    again = bench_offscreen.with_sound(sample, "noise", 10.0)
    np.testing.assert_array_equal(heard.mixture, again.mixture)  # seeded by the mixture's id
    added = heard.mixture - sample.mixture
    snr = 10 * np.log10(np.mean(sample.mixture**2) / np.mean(added**2))
    assert snr == pytest.approx(10.0, abs=0.01)

    class Oracle:  # returns the clean sources whatever it hears: no noise in the stems
        name, num_frames = "oracle", 0

        def separate(self, s):  # type: ignore[no-untyped-def]
            return references

    for inner, share in ((Oracle(), 0.0), (MixtureSeparator(), 2.0)):  # mixture: all, twice
        counted = bench_offscreen.WithSound(inner, "tone", 0.0)
        counted.separate(sample)
        assert counted.share_in_stems() == pytest.approx(share, abs=1e-4)


def test_offscreen_reference_is_separated_once_per_model(bench_offscreen):
    import numpy as np

    from avloc.evaluation.predictors import MixtureSeparator
    from avloc.evaluation.samples import SeparationSample

    rng = np.random.default_rng(1)
    references = (rng.standard_normal((2, 4000)) * 0.1).astype(np.float32)
    sample = SeparationSample(
        "m1", references.sum(0), references, (np.zeros((0, 8, 8, 3), np.uint8),) * 2,
        ("a", "b"), ("c0", "c1"), 11025,
    )  # fmt: skip
    heard: list[np.ndarray] = []

    class Counting(MixtureSeparator):  # the mixture baseline, recording what it is given
        def separate(self, s):  # type: ignore[no-untyped-def]
            heard.append(s.mixture)
            return super().separate(s)

    model = Counting()
    clean = bench_offscreen.Remembered(model)
    clean.separate(sample)  # the clean row
    for kind in bench_offscreen.KINDS:
        counted = bench_offscreen.WithSound(model, kind, 0.0, clean)
        counted.separate(sample)
        assert counted.share_in_stems() == pytest.approx(2.0, abs=1e-4)  # as without the memo
    assert len(heard) == 3  # the clean mixture once, then each kind's mixture
    np.testing.assert_array_equal(heard[0], sample.mixture)
    assert not np.array_equal(heard[1], sample.mixture)


def test_offscreen_scores_another_solo_set_when_given_one(
    bench_offscreen, solo_root, tmp_path, monkeypatch
):
    """``--root`` scores a set other than the evaluation set (tuning mixtures), which is then
    never made or read."""

    def no_evaluation_set():
        raise AssertionError("the evaluation set was asked for")

    monkeypatch.setattr(bench_offscreen, "separation_set", no_evaluation_set)
    out = tmp_path / "offscreen.json"
    argv = ["--model", "default", "--root", str(solo_root), "--limit", "1", "--json", str(out)]
    assert bench_offscreen.main(argv) == 0
    record = json.loads(out.read_text())
    assert record["root"] == str(solo_root.resolve())  # outside the repository: in full
    names = [row["separator"] for row in record["rows"]]
    assert len(names) == 5 and names[2] == "default"  # two baselines, then the model's rows
    assert all(row["mixtures"] == 1 for row in record["rows"])
    assert all(0.0 <= row["share_in_stems"] <= 2.0 for row in record["rows"][3:])


def test_offscreen_names_a_root_without_a_scene_set(bench_offscreen, tmp_path, capsys):
    missing = tmp_path / "nope"
    with pytest.raises(SystemExit) as exit_info:
        bench_offscreen.main(["--root", str(missing)])
    assert exit_info.value.code == 2
    assert f"--root: no scene manifest at {missing}" in capsys.readouterr().err


@pytest.fixture()
def row_record(monkeypatch):
    return _load_benchmark(monkeypatch, "record").RowRecord


def test_a_record_keeps_its_rows_as_they_come_and_moves_into_place_at_the_end(row_record, tmp_path):
    path = tmp_path / "out" / "rows.json"
    with row_record(path, lambda rows: {"rows": rows}) as record:
        record.add({"a": 1})
        partial = tmp_path / "out" / "rows.partial.json"
        assert json.loads(partial.read_text()) == {"rows": [{"a": 1}]}
        assert not path.exists()  # the whole record only when the run ends
        record.add({"a": 2})
    assert json.loads(path.read_text()) == {"rows": [{"a": 1}, {"a": 2}]}
    assert not partial.exists()
    with row_record(None) as record:  # a quick look: nothing written
        record.add({"a": 3})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rows.json"]


def test_ctrl_c_keeps_the_rows_done_and_leaves_the_last_whole_record(row_record, tmp_path, capsys):
    path = tmp_path / "rows.json"
    path.write_text('["the last whole run"]\n')
    with pytest.raises(SystemExit) as exit_info, row_record(path) as record:
        record.add({"a": 1})
        raise KeyboardInterrupt
    assert exit_info.value.code == 130
    assert json.loads(path.read_text()) == ["the last whole run"]
    assert json.loads((tmp_path / "rows.partial.json").read_text()) == [{"a": 1}]
    err = capsys.readouterr().err
    assert f"1 row finished, kept in {tmp_path / 'rows.partial.json'}; {path} left as it" in err
    with pytest.raises(ValueError), row_record(path) as record:  # other errors pass through
        record.add({"a": 2})
        raise ValueError("boom")
    assert json.loads((tmp_path / "rows.partial.json").read_text()) == [{"a": 2}]


def test_a_record_that_cannot_be_written_stops_the_run_before_its_work(
    row_record, tmp_path, capsys
):
    (tmp_path / "afile").write_text("x")
    for path, reason in [
        (tmp_path / "afile" / "sub" / "rows.json", f"{tmp_path / 'afile'} is a file, not a folder"),
        (tmp_path, "it is a folder"),
    ]:
        with pytest.raises(SystemExit) as exit_info, row_record(path):
            pytest.fail("the run's work started")
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"cannot write the record {path}: " in err and reason in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing left behind


def test_offscreen_interrupted_keeps_the_rows_it_finished(
    bench_offscreen, solo_root, tmp_path, monkeypatch, capsys
):
    """Ctrl-C in the third separator's evaluation: its first two rows are on disk."""
    evaluate = bench_offscreen.evaluate_separation
    calls = []

    def interrupted_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(bench_offscreen, "evaluate_separation", interrupted_on_the_third)
    out = tmp_path / "offscreen.json"
    argv = ["--model", "default", "--root", str(solo_root), "--limit", "1", "--json", str(out)]
    with pytest.raises(SystemExit) as exit_info:
        bench_offscreen.main(argv)
    assert exit_info.value.code == 130
    assert not out.exists()
    kept = json.loads((tmp_path / "offscreen.partial.json").read_text())
    assert [row["separator"] for row in kept["rows"]] == [
        "mixture, noise 10 dB below",
        "mixture, tone 10 dB below",
    ]
    assert "interrupted: 2 rows finished" in capsys.readouterr().err


def test_quality_interrupted_keeps_the_saved_result_of_the_run_in_progress(
    bench_quality, monkeypatch, tmp_path, capsys
):
    """Ctrl-C in the second run: the first run's new result is in place, the second's saved
    result is as it was, and its part scored is kept beside it."""
    results = tmp_path / "results"
    results.mkdir()
    saved = results / "flickr-model-raw.json"
    saved.write_text('{"method": "the last whole run"}')

    def fake_avloc(argv):
        out = Path(argv[argv.index("--out") + 1])
        interrupted = "--map-smoothing" in argv  # the second run, model-raw
        out.write_text(json.dumps({"method": "new", "partial": interrupted}))
        out.with_name(f"{out.stem}_success.png").write_bytes(b"plot")  # as write_plots names it
        return 130 if interrupted else 0

    monkeypatch.setattr(bench_quality, "avloc", fake_avloc)
    monkeypatch.setattr(bench_quality, "_ensure", lambda dataset: tmp_path / dataset.name)
    with pytest.raises(SystemExit) as exit_info:
        bench_quality.main(["--only", "flickr"])
    assert exit_info.value.code == 130
    assert json.loads((results / "flickr-model.json").read_text()) == {
        "method": "new",
        "partial": False,
    }
    assert (results / "flickr-model_success.png").read_bytes() == b"plot"  # moved with it
    assert json.loads(saved.read_text()) == {"method": "the last whole run"}
    assert not (results / "flickr-model-raw_success.png").exists()
    partial = results / "flickr-model-raw.partial.json"
    assert json.loads(partial.read_text())["partial"] is True
    assert f"interrupted: {partial} holds the part scored; {saved} left as it was" in (
        capsys.readouterr().err
    )


def test_class_map_tuning_of_another_model_or_grid_leaves_the_published_record(
    monkeypatch, tmp_path, capsys
):
    """Only the default model on the default grid writes benchmarks/quality's record; another
    model or grid writes where ``--out`` says, or nothing."""
    tune = _load_benchmark(monkeypatch, "tune_class_maps")
    published = tmp_path / "tuning-class-maps.json"
    monkeypatch.setattr(tune, "PUBLISHED", published)
    made: list[tuple] = []

    def scenes(scene, num_clips, seed, extra=(), name=None):  # type: ignore[no-untyped-def]
        made.append((scene, seed, tuple(extra)))
        return tmp_path / (name or scene)

    monkeypatch.setattr(tune, "_scenes", scenes)
    monkeypatch.setattr(tune, "load_model", lambda name: name)
    monkeypatch.setattr(tune, "resolve", lambda name: name)
    monkeypatch.setattr(tune, "bundle_sha256", lambda path: f"sha of {path}")
    monkeypatch.setattr(tune, "Pipeline", lambda model, class_map_options: class_map_options)

    class Scored:
        def metrics(self):  # type: ignore[no-untyped-def]
            return {"ciou30": 0.5, "auc": 0.4}

    monkeypatch.setattr(tune, "evaluate_class_aware", lambda *args, **kwargs: Scored())

    assert tune.main(["--model", "runs/x.safetensors"]) == 0
    assert tune.main(["--grid", "0.9:0.08:-2"]) == 0
    assert not published.exists()
    assert f"(another model or grid: {published} left as it was)" in capsys.readouterr().out
    own = tmp_path / "own.json"
    assert (
        tune.main(["--model", "runs/x.safetensors", "--grid", "0.9:0.08:-2", "--out", str(own)])
        == 0
    )
    record = json.loads(own.read_text())
    assert record["model"] == "runs/x.safetensors" and len(record["rows"]) == 1
    assert tune.main([]) == 0
    assert len(json.loads(published.read_text())["rows"]) == len(tune.GRID)
    assert all(extra == () for _, _, extra in made)
    # --held-out adds the EmojiOne duets, scored and recorded, and never writes the published
    # record (its sets are the trained style's alone).
    published.unlink()
    assert tune.main(["--held-out"]) == 0
    assert not published.exists()
    assert ("duet", 34, ("--sprites", "emojione")) in made
    held = tmp_path / "held.json"
    assert tune.main(["--grid", "0.9:0.08:-2", "--held-out", "--out", str(held)]) == 0
    record = json.loads(held.read_text())
    assert record["sets"]["duet-emojione"] == ["duet", 34, 35, ["--sprites", "emojione"]]
    assert set(record["rows"][0]) >= {"solo", "duet", "grid", "duet-emojione"}


def test_separation_gap_of_another_model_or_a_quick_look_leaves_the_published_record(
    monkeypatch, solo_root, tmp_path, capsys
):
    gap = _load_benchmark(monkeypatch, "bench_separation_gap")
    published = tmp_path / "separation_gap.json"
    monkeypatch.setattr(gap, "PUBLISHED", published)
    monkeypatch.setattr(gap, "separation_set", lambda: solo_root)
    bundle = str(ROOT / "assets" / "models" / "avloc-small.safetensors")  # the default, by path

    assert gap.main(["--limit", "1"]) == 0
    assert gap.main(["--model", bundle, "--limit", "1"]) == 0
    assert not published.exists()
    assert f"(another model or --limit: {published} left as it was)" in capsys.readouterr().out
    own = tmp_path / "own.json"
    assert gap.main(["--model", bundle, "--limit", "1", "--out", str(own)]) == 0
    assert [row["mixtures"] for row in json.loads(own.read_text())] == [1, 1, 1, 1]
    assert gap.main([]) == 0
    rows = json.loads(published.read_text())
    assert rows[0]["separator"] == "default" and len(rows) == 4


def test_separation_gap_splits_each_row_by_a_class(monkeypatch, solo_root, tmp_path):
    """``--split-class`` scores each row on the mixtures with that class and on the rest."""
    from avloc.evaluation.results import MixtureScore
    from avloc.metrics.separation import SeparationScores

    gap = _load_benchmark(monkeypatch, "bench_separation_gap")
    scores = [SeparationScores(sdr, 0.0, 0.0, 0.0, 0.0) for sdr in (2.0, 4.0, 9.0)]
    mixtures = [
        MixtureScore("a", ("saxophone", "drum"), scores[0]),
        MixtureScore("b", ("violin", "saxophone"), scores[1]),
        MixtureScore("c", ("violin", "drum"), scores[2]),
        MixtureScore("d", ("saxophone", "piano"), None),  # skipped by the silence rule
    ]
    split = gap._split_sdr(mixtures, "saxophone")
    assert split == {
        "split_class": "saxophone",
        "mixtures_with": 2,
        "sdr_with": 3.0,
        "sdr_without": 9.0,
    }

    monkeypatch.setattr(gap, "separation_set", lambda: solo_root)
    out = tmp_path / "split.json"
    argv = ["--limit", "1", "--out", str(out), "--split-class", "no-such-class"]
    assert gap.main(argv) == 0
    for row in json.loads(out.read_text()):
        assert row["mixtures_with"] == 0 and row["sdr_without"] == row["sdr"]


def test_per_class_counts_a_record_by_the_class_each_annotation_names(
    monkeypatch, tmp_path, capsys
):
    per_class = _load_benchmark(monkeypatch, "per_class")
    annotations = tmp_path / "set" / "Annotations"
    annotations.mkdir(parents=True)
    for image_id, name in (("1", "saxophone"), ("2", "saxophone"), ("3", "violin")):
        (annotations / f"{image_id}.xml").write_text(
            f"<annotation><object><bbox><name>{name}</name><xmin>0</xmin><ymin>0</ymin>"
            "<xmax>9</xmax><ymax>9</ymax></bbox></object></annotation>"
        )
    (annotations / "4.xml").write_text("<annotation><object><bbox/></object></annotation>")

    def record(path, scores):
        per_image = [{"id": i, "ciou": c, "pointing": p} for i, (c, p) in scores.items()]
        path.write_text(
            json.dumps({"test_list": str(tmp_path / "set" / "x.csv"), "per_image": per_image})
        )
        return path

    new = record(tmp_path / "new.json", {"1": (0.6, True), "2": (0.2, False), "3": (0.7, True)})
    old = record(tmp_path / "old.json", {"1": (0.6, True), "2": (0.5, True), "3": (0.1, False)})
    assert per_class.main([str(new), "--base", str(old)]) == 0
    out = capsys.readouterr().out
    assert "| saxophone | 2 | 2 → 1 | 2 → 1 |" in out
    assert "| violin | 1 | 0 → 1 | 0 → 1 |" in out

    unnamed = record(tmp_path / "bad.json", {"4": (0.6, True)})
    with pytest.raises(ValueError, match=r"4\.xml: no object/bbox/name"):
        per_class.main([str(unnamed)])
    with pytest.raises(SystemExit, match="no Annotations folder"):
        per_class.main([str(new), "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"missing\.json: no such record"):
        per_class.main([str(new), "--base", str(tmp_path / "missing.json")])
    separation = tmp_path / "separation.json"
    separation.write_text(json.dumps({"per_mixture": []}))
    with pytest.raises(SystemExit, match="not a Flickr-layout record"):
        per_class.main([str(separation)])
