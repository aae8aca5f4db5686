"""Reporting evaluation results: a printed table, the result JSON and PNG plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avloc.evaluation import statistics
from avloc.evaluation.results import (
    ClassAwareResult,
    EvaluationResult,
    LocalizationResult,
    SeparationResult,
)
from avloc.version import __version__

_COLUMNS: dict[type, tuple[str, ...]] = {
    LocalizationResult: statistics.METRICS["localization"],
    ClassAwareResult: statistics.METRICS["class-aware"],
    SeparationResult: statistics.METRICS["separation"],
}


# The libraries whose code computes each kind of result (resizes, BSS-eval), by distribution.
_SCORING_LIBRARIES = {
    SeparationResult: ("mir_eval", "fast_bss_eval", "numpy", "scipy"),
    LocalizationResult: ("opencv-python-headless", "numpy"),
    ClassAwareResult: ("opencv-python-headless", "numpy", "scipy"),
}


def scoring_versions(result: EvaluationResult) -> dict[str, str | None]:
    """The installed versions of the libraries that scored ``result`` (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in _SCORING_LIBRARIES[type(result)]:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def result_json(result: EvaluationResult, model_sha256: str | None = None) -> dict[str, Any]:
    """The full JSON record of one result: metrics, their bootstrap intervals, per-item scores,
    preset, versions (avloc's and the scoring libraries')."""
    record = {
        "avloc_version": __version__,
        "scoring_libraries": scoring_versions(result),
        "model_sha256": model_sha256,
        **result.to_json(),
    }
    record["intervals"] = statistics.intervals_json(statistics.metric_intervals(record))
    return record


def write_results(
    results: Sequence[EvaluationResult],
    path: str | Path,
    model_sha256: str | None = None,
    baselines: Sequence[EvaluationResult] = (),
) -> Path:
    """Write the results as JSON, atomically.

    One result is written as one flat object; several (``--baseline all``) as
    ``{"avloc_version", "partial", "results": [object, ...]}`` with full objects inside.
    ``baselines`` scored beside them on the same items are summarised in each object's
    ``"baselines"`` (method: metrics).
    """
    if not results:
        raise ValueError("write_results needs at least one result")
    records = [result_json(r, model_sha256) for r in results]
    if baselines:
        for record in records:
            record["baselines"] = {b.method: b.metrics() for b in baselines}
    payload: dict[str, Any] = (
        records[0]
        if len(records) == 1
        else {
            "avloc_version": __version__,
            "partial": any(r.partial for r in results),
            "results": records,
        }
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(_finite(payload), indent=1, allow_nan=False))
    os.replace(tmp, path)
    return path


def _finite(value: Any) -> Any:
    """Strict JSON: numpy scalars become Python numbers; inf/nan become "inf"/"-inf"/"nan".

    BSS-eval legitimately returns inf (e.g. SAR of the mixture baseline, which has no
    artefacts), so non-finite numbers are kept as strings rather than dropped.
    """
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _num(value: float | None, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.2f}" if scale != 1.0 else f"{value:.3f}"


def _count(result: EvaluationResult) -> int:
    if isinstance(result, SeparationResult):
        return len(result.scored)
    return len(result.scores)


def format_table(results: Sequence[EvaluationResult]) -> str:
    """A markdown table: method, protocol, n and the protocol's metrics (one row per result).

    Localization metrics are printed as percentages, separation metrics in dB.
    """
    lines: list[str] = []
    for kind, columns in _COLUMNS.items():
        rows = [r for r in results if isinstance(r, kind)]
        if not rows:
            continue
        scale = 1.0 if kind is SeparationResult else 100.0
        lines.append("| method | protocol | n | " + " | ".join(columns) + " |")
        lines.append("|" + " --- |" * (3 + len(columns)))
        for r in rows:
            metrics = r.metrics()
            mark = " (partial)" if r.partial else ""
            cells = [_num(metrics[c], scale) for c in columns]
            lines.append(
                f"| {r.method}{mark} | {r.protocol.name} | {_count(r)} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def format_interval_table(results: Sequence[EvaluationResult]) -> str:
    """Each result's metrics with their bootstrap intervals over its items, as a markdown table."""
    rows = []
    for r in results:
        record = r.to_json()
        rows.append((r.method, statistics.record_kind(record), statistics.metric_intervals(record)))
    return statistics.format_intervals(rows)


def write_plots(results: Sequence[EvaluationResult], out_json: str | Path) -> list[Path]:
    """PNG plots next to ``out_json``: ``<stem>_success.png`` (the success curve behind the
    AUC, one line per method) and ``<stem>_per_class.png`` (class-aware: mean cIoU per class)."""
    import matplotlib

    matplotlib.use("Agg")
    out_json = Path(out_json)
    written = []
    curves = [
        r for r in results if isinstance(r, LocalizationResult | ClassAwareResult) and r.scores
    ]
    if curves:
        written.append(_plot_success(curves, out_json.with_name(f"{out_json.stem}_success.png")))
    per_class = [r for r in results if isinstance(r, ClassAwareResult) and r.scores]
    if per_class:
        written.append(
            _plot_per_class(per_class, out_json.with_name(f"{out_json.stem}_per_class.png"))
        )
    return written


def _plot_success(results: Sequence[LocalizationResult | ClassAwareResult], path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    from avloc.metrics import localization as loc

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for r in results:
        thresholds = (
            r.protocol.thresholds
            if isinstance(r, LocalizationResult)
            else r.protocol.ciou_thresholds
        )
        rates = loc.success_curve(r.cious, thresholds)
        auc = r.metrics()["auc"] or 0.0
        ax.plot(
            np.asarray(thresholds), rates, marker=".", label=f"{r.method} (AUC {auc * 100:.1f})"
        )
    ax.set_xlabel("cIoU threshold")
    ax.set_ylabel("success rate (fraction of images)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{results[0].protocol.name}: success rate vs cIoU threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_per_class(results: Sequence[ClassAwareResult], path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    vocabulary = results[0].vocabulary
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(vocabulary) + 2), 4), dpi=100)
    for i, r in enumerate(results):
        table = r.per_class()
        values = [table.get(c, {}).get("mean_ciou") or 0.0 for c in vocabulary]
        ax.bar(np.arange(len(vocabulary)) + i * width, values, width, label=r.method)
    ax.set_xticks(np.arange(len(vocabulary)) + 0.4 - width / 2, vocabulary, rotation=45, ha="right")
    ax.set_ylabel("mean cIoU where the class sounds")
    ax.set_ylim(0, 1)
    ax.set_title(f"{results[0].protocol.name}: per-class cIoU")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
