"""Benchmark ``avloc synth``: clips per second at the default data settings.

Writes 200 clips of 3 s (224 px, 8 fps, 11,025 Hz) per scene type with ``--workers 2`` into a
temporary folder and extrapolates to 1,000 clips. Target: 1,000 clips in minutes on 2 cores.

Usage::

    python benchmarks/bench_synth.py [--num-clips 200] [--workers 2] [--scenes solo,duet,grid]

Prints markdown table rows and writes the numbers as JSON (``--json``), row by row: Ctrl-C
keeps the rows done (``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from record import RowRecord

HERE = Path(__file__).resolve().parent


def _time_one(scene: str, num_clips: int, workers: int) -> dict[str, float | int | str]:
    from avloc.synth import SynthConfig, generate

    out = Path(tempfile.mkdtemp(prefix=f"bench_synth_{scene}_"))
    try:
        config = SynthConfig(scene=scene, num_clips=num_clips, workers=workers, seed=0)
        start = time.perf_counter()
        result = generate(config, out, progress=False)
        wall_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "scene": scene,
        "clips": result.num_written,
        "workers": workers,
        "wall_s": round(wall_s, 2),
        "clips_per_s": round(result.num_written / wall_s, 2),
        "minutes_per_1000": round(1000 / (result.num_written / wall_s) / 60, 2),
        "mb_per_clip": round(size_mb / result.num_written, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-clips", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenes", default="solo,duet,grid")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| scene | clips | workers | wall s | clips/s | min per 1,000 | MB/clip |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
    with RowRecord(args.json, lambda rows: {"machine": machine, "rows": rows}) as record:
        for scene in args.scenes.split(","):
            row = _time_one(scene, args.num_clips, args.workers)
            record.add(row)
            print(
                f"| {row['scene']} | {row['clips']} | {row['workers']} | {row['wall_s']} | "
                f"{row['clips_per_s']} | {row['minutes_per_1000']} | {row['mb_per_clip']} |",
                flush=True,
            )
    if args.json is not None:
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
