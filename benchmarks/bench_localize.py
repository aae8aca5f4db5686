"""Benchmark: ``avloc localize`` of one 1-minute 1280x720 30-fps video, step by step.

Times what the command does for each video (``avloc.cli.localize.process_video``): the model's
maps (``Pipeline.localize``), ``maps.npz``, the overlay video (at the source's 30 fps,
``avloc.viz.write_overlay_video``), and the separated stems. The video is
``bench_decode.py``'s (generated once and cached under ``benchmarks/.cache/``); the model is
the bundled ``default`` at its default settings, on 2 CPU threads.

Usage::

    python benchmarks/bench_localize.py [--repeats 2] [--json benchmarks/results/localize.json]

Prints a markdown table row and writes the numbers (the fastest run's) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_decode import DURATION_S, VIDEO, _make_video  # noqa: E402


def _run_once(video: Path, out: Path) -> dict[str, float]:
    from avloc.cli.localize import write_maps, write_sources
    from avloc.inference import Pipeline
    from avloc.viz import write_overlay_video

    pipeline = Pipeline.from_pretrained("default")
    times: dict[str, float] = {}

    def timed(name: str, step: Callable[[], T]) -> T:
        start = time.perf_counter()
        result = step()
        times[name] = time.perf_counter() - start
        return result

    loc = timed("maps_s", lambda: pipeline.localize(video))
    timed("maps_file_s", lambda: write_maps(out / "maps.npz", loc))
    timed("overlay_s", lambda: write_overlay_video(out / "overlay.mp4", video, loc))
    separation = timed("separation_s", lambda: pipeline.separate(video, localization=loc))
    timed("stems_s", lambda: write_sources(out / "sources", separation))
    times["total_s"] = sum(times.values())
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs; the fastest is reported")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "localize.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if not VIDEO.exists():
        print(f"generating {VIDEO} (once) ...", file=sys.stderr)
        _make_video(VIDEO)
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as out:
            runs.append(_run_once(VIDEO, Path(out)))
    best = min(runs, key=lambda r: r["total_s"])
    result = {
        "benchmark": "avloc localize, 60 s 1280x720 30 fps H.264+AAC, bundled model, defaults",
        **best,
        "x_real_time": DURATION_S / best["total_s"],
        "repeats": args.repeats,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| video | total (s) | x real time | maps | maps.npz | overlay (30 fps) | separation | stems |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| 60 s 720p30 | {best['total_s']:.1f} | {result['x_real_time']:.1f} | "
        f"{best['maps_s']:.1f} | {best['maps_file_s']:.1f} | {best['overlay_s']:.1f} | "
        f"{best['separation_s']:.1f} | {best['stems_s']:.1f} |"
    )
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
