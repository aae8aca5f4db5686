"""How sure a score is: bootstrap intervals over a result's items, and paired comparisons.

Every set-level number ``avloc evaluate`` reports is a mean of one value per item (image, frame
or mixture): AP50 and CIoU@0.3 are means of 0/1 successes, pointing of hits, NSA and the
separation metrics of per-item values, and the AUC is the mean of each item's own trapezoid
(the success curve is a mean of indicators and the trapezoid rule is linear). So:

* a metric's interval is a percentile bootstrap of that mean, resampling the items;
* two results on the same items compare item by item: a bootstrap interval of the mean
  per-item difference (paired, so the items' own difficulty cancels), and a two-sided sign
  test on the items that changed (for 0/1 metrics this is McNemar's exact test).

Everything works on the JSON records ``avloc evaluate --out`` writes, so old result files can
be compared without re-running a model. All metrics here are higher-is-better.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avloc._messages import abridged
from avloc.metrics import localization as loc

LEVEL = 0.95
RESAMPLES = 10_000
SEED = 0

METRICS: dict[str, tuple[str, ...]] = {
    "localization": ("ciou50", "auc", "mean_ciou", "pointing"),
    "class-aware": ("ciou30", "ciou50", "auc", "nsa", "pointing"),
    "separation": ("sdr", "sir", "sar", "nsdr", "si_sdr"),
}
_ITEMS = {"localization": "per_image", "class-aware": "per_frame", "separation": "per_mixture"}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class MetricInterval:
    """A metric's mean over ``num_items`` items and its bootstrap interval."""

    metric: str
    num_items: int
    value: float
    interval: Interval


@dataclass(frozen=True)
class MetricComparison:
    """One metric of two results over the items both scored (``new`` minus ``base``)."""

    metric: str
    num_items: int
    base: float
    new: float
    interval: Interval  # of the mean difference
    better: int  # items where new > base
    worse: int
    same: int
    p_value: float  # two-sided sign test, better against worse

    @property
    def difference(self) -> float:
        return self.new - self.base


@dataclass(frozen=True)
class Comparison:
    kind: str
    base_method: str
    new_method: str
    metrics: tuple[MetricComparison, ...]
    only_in_base: tuple[str, ...]
    only_in_new: tuple[str, ...]
    protocol_differences: tuple[
        str, ...
    ]  # "key: base -> new" for every preset setting that differs
    level: float
    resamples: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base_method": self.base_method,
            "new_method": self.new_method,
            "level": self.level,
            "resamples": self.resamples,
            "seed": self.seed,
            "metrics": [
                {
                    "metric": m.metric,
                    "num_items": m.num_items,
                    "base": m.base,
                    "new": m.new,
                    "difference": m.difference,
                    "interval": [m.interval.low, m.interval.high],
                    "better": m.better,
                    "worse": m.worse,
                    "same": m.same,
                    "p_value": m.p_value,
                }
                for m in self.metrics
            ],
            "only_in_base": list(self.only_in_base),
            "only_in_new": list(self.only_in_new),
            "protocol_differences": list(self.protocol_differences),
        }


def record_kind(record: Mapping[str, Any]) -> str:
    """``localization``, ``class-aware`` or ``separation``: which ``avloc evaluate`` made it."""
    protocol = record.get("protocol") if isinstance(record, Mapping) else None
    kind = protocol.get("kind") if isinstance(protocol, Mapping) else None
    if kind not in METRICS or _ITEMS[kind] not in record:
        raise ValueError(
            "not an `avloc evaluate` result record (no protocol kind or per-item scores)"
        )
    return str(kind)


def item_values(record: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """For each metric of the record's kind, ``{item id: the item's value}``.

    An item a metric does not score is absent from that metric's dict: a frame where every
    class sounds (no NSA), a mixture the silence rule skipped, a non-finite BSS-eval value,
    a per-frame pointing hit in a file written before frames recorded it.
    """
    kind = record_kind(record)
    protocol = record["protocol"]
    items = record[_ITEMS[kind]]
    values: dict[str, dict[str, float]] = {m: {} for m in METRICS[kind]}

    def put(metric: str, item_id: str, value: Any) -> None:
        number = _number(value)
        if number is not None:
            values[metric][item_id] = number

    if kind == "localization":
        thresholds = protocol["thresholds"]
        for item in items:
            ciou = [item["ciou"]]
            put("ciou50", item["id"], loc.success_at(ciou, protocol["ap_threshold"]))
            put("auc", item["id"], loc.auc(ciou, thresholds))
            put("mean_ciou", item["id"], item["ciou"])
            put("pointing", item["id"], float(item["pointing"]))
    elif kind == "class-aware":
        thresholds = protocol["ciou_thresholds"]
        for item in items:
            ciou = [item["ciou"]]
            put("ciou30", item["id"], loc.success_at(ciou, thresholds[protocol["ciou30_index"]]))
            put("ciou50", item["id"], loc.success_at(ciou, thresholds[protocol["ciou50_index"]]))
            put("auc", item["id"], loc.auc(ciou, thresholds))
            put("nsa", item["id"], item.get("nsa"))
            put("pointing", item["id"], item.get("pointing"))
    else:
        for item in items:
            if not item.get("skipped"):
                for metric in METRICS[kind]:
                    put(metric, item["id"], item.get(metric))
    return values


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, or "inf"/"nan" as the JSON writer stores them)."""
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """The percentile bootstrap interval of the mean of ``values``.

    Written out rather than taken from ``scipy.stats.bootstrap``, whose keyword for the random
    generator changed within the scipy versions avloc supports; this is the same percentile
    method, with a fixed seed so that a printed interval can be reproduced.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("bootstrap_interval needs a non-empty 1-D array of values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    rows = max(1, 2_000_000 // data.size)  # bounded memory for large sets (VGG-SS: 5,000 items)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        means[start:stop] = data[rng.integers(0, data.size, (stop - start, data.size))].mean(1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(low), float(high))


def metric_intervals(
    record: Mapping[str, Any],
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[MetricInterval, ...]:
    """Every metric of one result with its bootstrap interval (metrics no item scores are left out)."""
    out = []
    for metric, by_item in item_values(record).items():
        if by_item:
            data = np.fromiter(by_item.values(), dtype=np.float64)
            interval = bootstrap_interval(data, level, resamples, seed)
            out.append(MetricInterval(metric, data.size, float(data.mean()), interval))
    return tuple(out)


def compare(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Comparison:
    """Compare two results item by item, over the items both scored.

    Raises:
        ValueError: the records are of different kinds, or share no item.
    """
    from scipy.stats import binomtest

    kind, new_kind = record_kind(base), record_kind(new)
    if kind != new_kind:
        raise ValueError(f"cannot compare a {kind} result with a {new_kind} result")
    base_values, new_values = item_values(base), item_values(new)
    base_ids = {item["id"] for item in base[_ITEMS[kind]]}
    new_ids = {item["id"] for item in new[_ITEMS[kind]]}
    if not base_ids & new_ids:
        raise ValueError("the two results share no item id: were they scored on the same set?")
    metrics = []
    for metric in METRICS[kind]:
        ids = sorted(base_values[metric].keys() & new_values[metric].keys())
        if not ids:
            continue
        a = np.array([base_values[metric][i] for i in ids])
        b = np.array([new_values[metric][i] for i in ids])
        better, worse = int(np.sum(b > a)), int(np.sum(b < a))
        p_value = 1.0 if better + worse == 0 else binomtest(better, better + worse).pvalue
        metrics.append(
            MetricComparison(
                metric=metric,
                num_items=len(ids),
                base=float(a.mean()),
                new=float(b.mean()),
                interval=bootstrap_interval(b - a, level, resamples, seed),
                better=better,
                worse=worse,
                same=len(ids) - better - worse,
                p_value=float(p_value),
            )
        )
    return Comparison(
        kind=kind,
        base_method=str(base.get("method", "base")),
        new_method=str(new.get("method", "new")),
        metrics=tuple(metrics),
        only_in_base=tuple(sorted(base_ids - new_ids)),
        only_in_new=tuple(sorted(new_ids - base_ids)),
        protocol_differences=_differences(base["protocol"], new["protocol"]),
        level=level,
        resamples=resamples,
        seed=seed,
    )


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> tuple[str, ...]:
    out: list[str] = []
    for key in sorted(a.keys() | b.keys()):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out.extend(_differences(va, vb, f"{prefix}{key}."))
        elif va != vb:
            out.append(f"{prefix}{key}: {va} -> {vb}")
    return tuple(out)


def load_record(path: str | Path, method: str | None = None) -> dict[str, Any]:
    """One result record from an ``avloc evaluate --out`` file.

    A file of several results (``--baseline all``) needs ``method`` to say which one.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a result file, or ``method`` is needed, or names no result in it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such result file")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    records = payload.get("results", [payload]) if isinstance(payload, dict) else []
    methods = [r.get("method") for r in records if isinstance(r, dict)]
    if method is not None:
        records = [r for r in records if isinstance(r, dict) and r.get("method") == method]
        if not records:
            raise ValueError(f"{path}: no result for method {method!r} (it has {methods})")
    elif len(records) > 1:
        raise ValueError(f"{path} holds {len(records)} results ({methods}); say which method")
    if not records or not isinstance(records[0], dict):
        raise ValueError(f"{path}: not an `avloc evaluate` result file")
    try:
        record_kind(records[0])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return records[0]


def _scale(kind: str) -> float:
    return 1.0 if kind == "separation" else 100.0  # localization metrics print as percentages


def _value_and_interval(iv: MetricInterval, scale: float) -> str:
    return f"{iv.value * scale:.1f} [{iv.interval.low * scale:.1f}, {iv.interval.high * scale:.1f}]"


def intervals_json(
    intervals: Sequence[MetricInterval],
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """The intervals as a result record stores them (``{"level", ..., metric: [low, high]}``)."""
    return {
        "level": level,
        "resamples": resamples,
        "seed": seed,
        **{iv.metric: [iv.interval.low, iv.interval.high] for iv in intervals},
    }


def format_intervals(
    rows: Sequence[tuple[str, str, tuple[MetricInterval, ...]]],
    level: float = LEVEL,
    resamples: int = RESAMPLES,
) -> str:
    """A markdown table of intervals, one row per ``(method, kind, intervals)``."""
    lines: list[str] = []
    for kind, names in METRICS.items():
        of_kind = [(method, ivs) for method, k, ivs in rows if k == kind]
        if not of_kind:
            continue
        scale = _scale(kind)
        lines.append(
            f"each metric with its {level:.0%} bootstrap interval ({resamples:,} resamples of the "
            "items):"
        )
        lines.append("| method | " + " | ".join(names) + " |")
        lines.append("|" + " --- |" * (1 + len(names)))
        for method, ivs in of_kind:
            by_metric = {iv.metric: iv for iv in ivs}
            cells = [_value_and_interval(by_metric[n], scale) if n in by_metric else "-"
                     for n in names]  # fmt: skip
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_comparison(comparison: Comparison) -> str:
    """The comparison as a markdown table, with what was unpaired or set differently below it."""
    level = comparison.level
    scale = _scale(comparison.kind)
    unit = " (dB)" if comparison.kind == "separation" else " (%)"
    lines = [
        f"base: {comparison.base_method}    new: {comparison.new_method}",
        f"| metric{unit} | n | base | new | new − base | {level:.0%} interval "
        "| better / worse / same | sign test p |",
        "|" + " --- |" * 8,
    ]

    def fmt(value: float) -> str:
        return f"{value * scale:.2f}"

    for m in comparison.metrics:
        lines.append(
            f"| {m.metric} | {m.num_items} | {fmt(m.base)} | {fmt(m.new)} | "
            f"{m.difference * scale:+.2f} | {fmt(m.interval.low)} to {fmt(m.interval.high)} | "
            f"{m.better} / {m.worse} / {m.same} | {m.p_value:.3g} |"
        )
    for label, ids in (("only in base", comparison.only_in_base),
                       ("only in new", comparison.only_in_new)):  # fmt: skip
        if ids:
            shown = abridged(ids, limit=5)
            lines.append(f"{label} (not compared): {len(ids)} items: {shown}")
    if comparison.protocol_differences:
        lines.append("preset settings that differ: " + "; ".join(comparison.protocol_differences))
    return "\n".join(lines)
