"""Bootstrap intervals and paired comparisons of evaluation results (avloc.evaluation.statistics)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from avloc.evaluation import statistics as S
from avloc.evaluation.protocols import (
    ClassAwareProtocol,
    LocalizationProtocol,
    SeparationProtocol,
    get_protocol,
)
from avloc.evaluation.report import result_json
from avloc.evaluation.results import (
    ClassAwareResult,
    FrameScore,
    ImageScore,
    LocalizationResult,
    MixtureScore,
    SeparationResult,
)
from avloc.metrics.separation import SeparationScores


def _flickr(cious, hits, method="model", ids=None) -> dict:
    preset = get_protocol("flickr")
    assert isinstance(preset, LocalizationProtocol)
    ids = ids or [f"{i:04d}" for i in range(len(cious))]
    scores = tuple(
        ImageScore(i, float(c), bool(h)) for i, c, h in zip(ids, cious, hits, strict=True)
    )
    return result_json(LocalizationResult(method, preset, scores, tuple(ids), ()))


def _duet() -> ClassAwareResult:
    preset = get_protocol("music-duet")
    assert isinstance(preset, ClassAwareProtocol)
    rng = np.random.default_rng(3)
    frames = []
    for i in range(40):
        cious = {"violin": float(rng.uniform()), "drum": float(rng.uniform())}
        hits = {"violin": bool(rng.uniform() < 0.7), "drum": True}
        nsa = {} if i % 5 == 0 else {"flute": float(rng.uniform())}  # every fifth: all sound
        frames.append(FrameScore(f"f{i}", cious, hits, nsa))
    vocabulary = ("violin", "drum", "flute")
    return ClassAwareResult("model", preset, vocabulary, tuple(frames), None, 8, 40)


def _separation() -> SeparationResult:
    preset = get_protocol("separation")
    assert isinstance(preset, SeparationProtocol)
    rng = np.random.default_rng(4)
    mixtures = [
        MixtureScore(f"{i}+{i + 1}", ("violin", "drum"), SeparationScores(*rng.normal(10, 3, 5)))
        for i in range(30)
    ]
    mixtures.append(MixtureScore("30+31", ("violin", "drum"), None))  # skipped as silent
    inf_sir = SeparationScores(40.0, math.inf, 41.0, 39.0, 38.0)  # BSS-eval on sparse clicks
    mixtures.append(MixtureScore("32+33", ("maracas", "drum"), inf_sir))
    return SeparationResult("model", preset, tuple(mixtures), 3.0, 0)


def test_item_means_are_the_reported_metrics_for_every_kind():
    """Every set metric is a mean of per-item values: AP50 of successes, AUC of per-item
    trapezoids (the success curve is linear in the items), NSA over frames with a silent class."""
    rng = np.random.default_rng(0)
    flickr = _flickr(rng.uniform(size=60), rng.uniform(size=60) < 0.8)
    duet = _duet()
    separation = _separation()
    for result, record in (
        (None, flickr),
        (duet, result_json(duet)),
        (separation, result_json(separation)),
    ):
        values = S.item_values(record)
        for metric, by_item in values.items():
            expected = record[metric]
            if result is separation and metric == "sir":
                assert float(expected) == math.inf  # the set mean counts the infinite item...
                assert len(by_item) == 30  # ...the intervals leave it and the skipped one out
                continue
            assert np.mean(list(by_item.values())) == pytest.approx(expected, abs=1e-12), metric
    assert len(S.item_values(result_json(duet))["nsa"]) == 32  # 8 frames without a silent class


def test_bootstrap_interval_covers_the_mean_as_the_normal_theory_says():
    data = np.random.default_rng(1).normal(5.0, 2.0, size=400)
    interval = S.bootstrap_interval(data)
    half = 1.96 * data.std() / math.sqrt(data.size)
    assert interval.low == pytest.approx(data.mean() - half, abs=0.2 * half)
    assert interval.high == pytest.approx(data.mean() + half, abs=0.2 * half)
    assert S.bootstrap_interval(data) == interval  # seeded: reproducible
    assert S.bootstrap_interval(data, seed=1) != interval
    wider = S.bootstrap_interval(data, level=0.99)
    assert wider.low < interval.low and wider.high > interval.high
    assert S.bootstrap_interval([0.7] * 9) == S.Interval(0.7, 0.7)
    # Large sets are resampled in chunks; the result is the same kind of interval.
    big = S.bootstrap_interval(np.tile([0.0, 1.0], 5000), resamples=500)
    assert 0.48 < big.low < 0.5 < big.high < 0.52


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([], {}, "non-empty"),
        ([1.0], {"level": 1.0}, "level"),
        ([1.0], {"resamples": 0}, "resamples"),
    ],
)
def test_bootstrap_interval_rejects_bad_arguments(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        S.bootstrap_interval(values, **kwargs)


def test_metric_intervals_hold_each_metric_value():
    record = result_json(_separation())
    intervals = {iv.metric: iv for iv in S.metric_intervals(record)}
    assert set(intervals) == {"sdr", "sir", "sar", "nsdr", "si_sdr"}
    for metric in ("sdr", "nsdr"):
        iv = intervals[metric]
        assert iv.num_items == 31 and iv.interval.low < record[metric] < iv.interval.high
    assert record["intervals"]["sdr"] == [intervals["sdr"].interval.low,
                                          intervals["sdr"].interval.high]  # fmt: skip
    assert record["intervals"]["level"] == 0.95


def test_a_paired_comparison_sees_a_small_consistent_gain_that_the_intervals_overlap_on():
    rng = np.random.default_rng(2)
    cious = rng.uniform(0.2, 0.8, size=200)
    base = _flickr(cious, cious > 0.3, method="base")
    new = _flickr(cious + 0.02, cious > 0.3, method="new")  # every image 2 points better
    comparison = S.compare(base, new)
    by_metric = {m.metric: m for m in comparison.metrics}
    mean_ciou = by_metric["mean_ciou"]
    assert mean_ciou.difference == pytest.approx(0.02)
    assert mean_ciou.better == 200 and mean_ciou.worse == 0 and mean_ciou.p_value < 1e-50
    assert mean_ciou.interval.low == pytest.approx(0.02) == pytest.approx(mean_ciou.interval.high)
    # The unpaired intervals of the two results overlap: only pairing shows the gain.
    (b,) = [iv for iv in S.metric_intervals(base) if iv.metric == "mean_ciou"]
    (n,) = [iv for iv in S.metric_intervals(new) if iv.metric == "mean_ciou"]
    assert n.interval.low < b.interval.high
    pointing = by_metric["pointing"]
    assert pointing.difference == 0 and pointing.same == 200 and pointing.p_value == 1.0
    assert comparison.protocol_differences == () and comparison.only_in_base == ()


def test_comparison_pairs_items_by_id_and_reports_the_rest():
    base = _flickr([0.6, 0.4, 0.9], [True, False, True], ids=["a", "b", "c"])
    new = _flickr([0.4, 0.7, 0.1], [False, True, False], ids=["b", "c", "d"])
    comparison = S.compare(base, new)
    assert comparison.only_in_base == ("a",) and comparison.only_in_new == ("d",)
    ciou50 = next(m for m in comparison.metrics if m.metric == "ciou50")
    assert ciou50.num_items == 2 and (ciou50.base, ciou50.new) == (0.5, 0.5)  # b, c
    assert ciou50.better == 0 and ciou50.worse == 0 and ciou50.same == 2
    text = S.format_comparison(comparison)
    assert "only in base (not compared): 1 items: a" in text and "| ciou50 | 2 |" in text


def test_comparison_names_preset_differences_and_refuses_mismatches():
    base = _flickr([0.6, 0.4], [True, False])
    new = dict(base, protocol=dict(base["protocol"], ap_threshold=0.3))
    assert S.compare(base, new).protocol_differences == ("ap_threshold: 0.5 -> 0.3",)
    with pytest.raises(ValueError, match="cannot compare a localization result with a separation"):
        S.compare(base, result_json(_separation()))
    with pytest.raises(ValueError, match="share no item"):
        S.compare(base, _flickr([0.5], [True], ids=["zzz"]))
    for other in ({"method": "x"}, {"protocol": "flickr"}, [base]):
        with pytest.raises(ValueError, match="not an `avloc evaluate` result"):
            S.compare(base, other)  # type: ignore[arg-type]


def _cli(argv: list[str]) -> int:
    from avloc.cli import main

    return main(argv)


def test_cli_compare_one_two_and_several_result_files(tmp_path, capsys):
    rng = np.random.default_rng(5)
    cious = rng.uniform(size=50)
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    base.write_text(json.dumps(_flickr(cious, cious > 0.2, method="base")))
    new.write_text(json.dumps(_flickr(np.clip(cious + 0.1, 0, 1), cious > 0.1, method="new")))
    assert _cli(["compare", str(base)]) == 0
    out = capsys.readouterr().out
    assert "95% bootstrap interval" in out and "| base |" in out
    report = tmp_path / "cmp" / "cmp.json"
    assert _cli(["compare", str(base), str(new), "--out", str(report)]) == 0
    assert "| mean_ciou | 50 |" in capsys.readouterr().out
    saved = json.loads(report.read_text())
    assert saved["base_method"] == "base" and saved["new_method"] == "new"
    assert {m["metric"] for m in saved["metrics"]} == {"ciou50", "auc", "mean_ciou", "pointing"}
    both = tmp_path / "both.json"  # as `avloc evaluate --baseline all` writes several results
    both.write_text(json.dumps({"results": [json.loads(base.read_text()),
                                            json.loads(new.read_text())]}))  # fmt: skip
    assert _cli(["compare", str(both), str(new)]) == 2
    assert "holds 2 results (['base', 'new']); say which method" in capsys.readouterr().err
    assert _cli(["compare", str(both), str(new), "--base-method", "base"]) == 0
    assert _cli(["compare", str(both), str(new), "--base-method", "nope"]) == 2
    assert "no result for method 'nope'" in capsys.readouterr().err


def test_cli_compare_explains_bad_files(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    assert _cli(["compare", str(missing)]) == 2
    assert f"{missing}: no such result file" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert _cli(["compare", str(broken)]) == 2
    assert f"{broken}: not a JSON file" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"sdr": 3.0}))
    assert _cli(["compare", str(other)]) == 2
    assert "not an `avloc evaluate` result record" in capsys.readouterr().err
    single = tmp_path / "single.json"
    single.write_text(json.dumps(_flickr([0.5], [True])))
    assert _cli(["compare", str(single), "--out", str(tmp_path / "x.json")]) == 2
    assert "--out writes a comparison" in capsys.readouterr().err
