"""``avloc compare``: how sure an evaluation's numbers are, and whether one result beats another.

Given one result file (``avloc evaluate --out``), it prints each metric with its bootstrap
interval; given two scored on the same set, it compares them item by item (paired bootstrap
interval of the difference, sign test). See ``avloc.evaluation.statistics``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="intervals of one evaluation result, or a paired comparison of two",
        description="Given one `avloc evaluate --out` file, print each metric with its "
        "bootstrap interval over the items. Given two scored on the same set (BASE, then NEW), "
        "compare them item by item: the mean difference with a paired bootstrap interval, "
        "how many items got better or worse, and the sign test's p-value.",
    )
    parser.add_argument("base", type=Path, help="result JSON (the baseline when comparing)")
    parser.add_argument("new", type=Path, nargs="?", help="result JSON to compare with BASE")
    parser.add_argument("--base-method", help="which result of BASE, if it holds several")
    parser.add_argument("--new-method", help="which result of NEW, if it holds several")
    parser.add_argument("--level", type=float, default=0.95, help="interval level (0.95)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", type=Path, help="also write the comparison as JSON")
    parser.set_defaults(run=run)


def _check_result_paths(args: argparse.Namespace) -> None:
    """Name a folder given for a result file (``load_record`` would call it missing), and check
    ``--out`` before any bootstrap runs."""
    from avloc.cli.evaluate import check_out_file

    for path in (args.base, args.new):
        if path is not None and path.is_dir():
            raise ValueError(
                f"{path} is a folder; expected a result JSON file written by `avloc evaluate --out`"
            )
    if args.out is not None:
        check_out_file(args.out)


def run(args: argparse.Namespace) -> int:
    from avloc.evaluation import statistics as S

    _check_result_paths(args)
    base = S.load_record(args.base, args.base_method)
    if args.new is None:
        if args.out is not None:
            raise ValueError("--out writes a comparison: give a second result file")
        intervals = S.metric_intervals(base, args.level, args.resamples, args.seed)
        row = (str(base.get("method")), S.record_kind(base), intervals)
        print(S.format_intervals([row], args.level, args.resamples))
        return 0
    new = S.load_record(args.new, args.new_method)
    comparison = S.compare(base, new, args.level, args.resamples, args.seed)
    print(S.format_comparison(comparison))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(comparison.to_json(), indent=1))
        print(f"wrote {args.out}")
    return 0
