"""Benchmark ``avloc evaluate``: Flickr-protocol scoring and Sound-of-Pixels separation scoring.

1. 250 Flickr-layout images (made once with ``avloc synth --layout flickr``, 224 px, 3-s audio)
   scored with the ``flickr`` preset: the centre-prior baseline (also writing ``--save-maps``),
   then the saved maps through ``--maps``. Target: under 30 s each on 2 cores.
2. 256 mix-2 mixtures of 6-s windows (the SoP length) drawn from 32 solo clips made once with
   ``avloc synth``, scored with the mixture baseline, once per BSS-eval backend. Target: under
   2 minutes.

The synthetic sets are cached under ``benchmarks/.cache/`` (gitignored).

Usage::

    python benchmarks/bench_evaluate.py [--skip-separation] [--json benchmarks/results/evaluate.json]

Prints markdown table rows and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FLICKR = CACHE / "eval_flickr_250"
SOLO = CACHE / "eval_solo_32x6s"


def _synth(out: Path, argv: list[str]) -> None:
    """Run ``avloc synth`` once; the folder is reused by later runs."""
    import avloc.cli as cli

    marker = out / ".complete"
    if marker.is_file():
        return
    shutil.rmtree(out, ignore_errors=True)
    if "avloc.cli.synth" not in cli._COMMAND_MODULES:
        cli._COMMAND_MODULES = (*cli._COMMAND_MODULES, "avloc.cli.synth")
    status = cli.main(["synth", str(out), *argv, "--workers", "2"])
    if status != 0:
        raise SystemExit(f"avloc synth failed with status {status}")
    marker.write_text("ok\n")


def _timed(label: str, items: int, target_s: float, run) -> dict:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = run()
    wall = time.perf_counter() - start
    row = {
        "task": label,
        "items": items,
        "wall_s": round(wall, 2),
        "items_per_s": round(items / wall, 1),
        "target_s": target_s,
        "met": wall < target_s,
        "metrics": {k: v for k, v in result.metrics().items()},
    }
    print(
        f"| {label} | {items} | {wall:.1f} | {items / wall:.1f} | < {target_s:.0f} | "
        f"{'yes' if row['met'] else 'no'} |",
        flush=True,
    )
    return row


def bench_flickr(maps_dir: Path) -> list[dict]:
    from avloc.evaluation import predictors as P
    from avloc.evaluation import runner

    _synth(FLICKR, ["--scene", "solo", "--num-clips", "250", "--size", "224", "--layout", "flickr"])
    shutil.rmtree(maps_dir, ignore_errors=True)
    test_list = FLICKR / "flickr_test.csv"
    centre = _timed(
        "flickr, centre prior (+ --save-maps)",
        250,
        30,
        lambda: runner.evaluate_flickr(
            FLICKR, P.CentrePrior(), test_list=test_list, save_maps=maps_dir, progress=False
        ),
    )
    saved = _timed(
        "flickr, --maps (saved maps)",
        250,
        30,
        lambda: runner.evaluate_flickr(
            FLICKR, P.SavedMaps(maps_dir), test_list=test_list, progress=False
        ),
    )
    return [centre, saved]


def bench_separation() -> list[dict]:
    from avloc.evaluation import predictors as P
    from avloc.evaluation import runner
    from avloc.evaluation.protocols import PROTOCOLS, SeparationProtocol

    _synth(SOLO, ["--scene", "solo", "--num-clips", "32", "--duration-s", "6", "--size", "64"])
    preset = PROTOCOLS["separation"]
    assert isinstance(preset, SeparationProtocol)
    rows = []
    for backend in ("fast", "mir_eval"):
        protocol = dataclasses.replace(preset, backend=backend)
        rows.append(
            _timed(
                f"separation, mixture baseline, {backend}",
                protocol.num_mixtures,
                120,
                lambda p=protocol: runner.evaluate_separation(
                    SOLO, P.MixtureSeparator(), p, progress=False
                ),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-separation", action="store_true")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "evaluate.json")
    args = parser.parse_args()
    import torch

    # fast_bss_eval (torch backend) hits an MKL DLASWP error in torch.linalg.solve with more
    # than one torch thread on this build; one thread also keeps the numbers comparable.
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| task | items | wall s | items/s | target s | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = bench_flickr(CACHE / "eval_flickr_maps")
    if not args.skip_separation:
        rows += bench_separation()
    record = {
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_after": os.getloadavg()[0],
        "rows": rows,
    }
    args.json.write_text(json.dumps(record, indent=1, default=str))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
