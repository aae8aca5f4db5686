"""Benchmark: localisation frames/s, separation real-time factor and peak RSS of ``Pipeline``.

Runs the model at the pipeline's default scales (1 and 1.5 times its input size) and at its
own size alone (``--scales 1``) on (by default) 2 CPU threads over a long synthetic video
(10 minutes by default: a moving square over noise + a two-tone soundtrack, generated once with
PyAV and cached in ``benchmarks/.cache/``). Each measurement runs in a fresh subprocess so that
its peak RSS is its own. Uses the pretrained ``default`` model, or falls back to untrained
``avloc-small`` weights when that bundle is not in the checkout yet (speed and memory do not
depend on the weights); the script prints which.

Usage::

    python benchmarks/bench_inference.py [--model default] [--duration-s 600] [--threads 2]
        [--decode-ahead 0 1 2] [--scales 1,1.5 1] [--json benchmarks/results/inference.json]

Prints markdown table rows; ``--json`` is rewritten row by row, so Ctrl-C keeps the rows done
(``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

from record import RowRecord

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
SOURCE_FPS, SOURCE_SIZE, SOURCE_RATE = 16, (240, 320), 22050


def make_video(path: Path, duration_s: float) -> Path:
    """A cached test video: moving bright square on noise, and a two-tone soundtrack."""
    if path.is_file():
        return path
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 80, (64, *SOURCE_SIZE, 3), dtype=np.uint8)
    with av.open(str(tmp), "w") as out:
        video = out.add_stream("libx264", rate=SOURCE_FPS)
        video.width, video.height, video.pix_fmt = SOURCE_SIZE[1], SOURCE_SIZE[0], "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=SOURCE_RATE, layout="mono")
        num_frames = int(duration_s * SOURCE_FPS)
        per_frame = SOURCE_RATE // SOURCE_FPS
        for i in range(num_frames):
            frame = noise[i % len(noise)].copy()
            x = int((i * 3) % (SOURCE_SIZE[1] - 48))
            frame[80:128, x : x + 48] = 240
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, SOURCE_FPS)
            out.mux(video.encode(vf))
            t = (np.arange(per_frame) + i * per_frame) / SOURCE_RATE
            wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t) * (
                i // 40 % 2
            )
            af = av.AudioFrame.from_ndarray(
                wave.astype(np.float32)[None], format="fltp", layout="mono"
            )
            af.sample_rate, af.pts, af.time_base = (
                SOURCE_RATE,
                i * per_frame,
                Fraction(1, SOURCE_RATE),
            )
            out.mux(audio.encode(af))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    tmp.replace(path)
    return path


def load(model_name: str, threads: int, decode_ahead: int, scales: str):  # type: ignore[no-untyped-def]
    """The pipeline, and a description of which weights it uses."""
    import torch

    from avloc.cli.localize import parse_scales
    from avloc.inference import Pipeline
    from avloc.pretrained import load_model

    torch.set_num_threads(threads)
    try:
        model, which = load_model(model_name), model_name
    except (FileNotFoundError, ValueError) as error:
        from avloc.models import create_model

        print(
            f"# {model_name!r} unavailable ({error}); using untrained avloc-small", file=sys.stderr
        )
        model, which = create_model("avloc-small").eval(), "avloc-small (untrained)"
    return Pipeline(model, decode_ahead=decode_ahead, scales=parse_scales(scales)), which


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    pipe, which = load(args.model, args.threads, args.decode_ahead[0], args.scales[0])
    start = time.perf_counter()
    loc = pipe.localize(args.video)
    loc_s = time.perf_counter() - start
    result = {
        "model": which,
        "frame_size": list(pipe.frame_size),
        "scales": list(pipe.scales),
        "num_frames": loc.num_frames,
        "duration_s": loc.duration_s,
        "localize_s": loc_s,
        "frames_per_s": loc.num_frames / loc_s,
    }
    if args.separate:
        start = time.perf_counter()
        sep = pipe.separate(args.video, localization=loc)
        sep_s = time.perf_counter() - start
        result |= {
            "num_sources": len(sep.labels),
            "separate_s": sep_s,
            "rtf": sep_s / loc.duration_s,
        }
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(
    video: Path, model: str, threads: int, decode_ahead: int, separate: bool, scales: str
) -> dict:
    cmd = [sys.executable, __file__, "--child", "--video", str(video), "--model", model]
    cmd += ["--threads", str(threads), "--decode-ahead", str(decode_ahead), "--scales", scales]
    if separate:
        cmd.append("--separate")
    # The checkout's avloc, also when it is not pip-installed.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    sys.stderr.write(out.stderr)
    out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--duration-s", type=float, default=600.0, help="length of the long video")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decode-ahead", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--short-s", type=float, default=60.0, help="clip for the decode-ahead sweep"
    )
    parser.add_argument("--scales", nargs="+", default=["1,1.5", "1"], help="one run per list")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--separate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    short = make_video(CACHE / f"bench_inference_{int(args.short_s)}s.mp4", args.short_s)
    long = make_video(CACHE / f"bench_inference_{int(args.duration_s)}s.mp4", args.duration_s)
    print(
        "| model | input | scales | video | decode ahead | loc frames/s | sep x real time | "
        "peak RSS (MiB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with RowRecord(args.json) as record:
        for scales in args.scales:
            sweep = []
            for ahead in args.decode_ahead:
                sweep.append(
                    measure(short, args.model, args.threads, ahead, False, scales)
                    | {"decode_ahead": ahead}
                )
                record.add(sweep[-1])
                _print_row(sweep[-1])
            best = max(sweep, key=lambda r: r["frames_per_s"])["decode_ahead"]
            record.add(
                measure(long, args.model, args.threads, best, True, scales) | {"decode_ahead": best}
            )
            _print_row(record.rows[-1])
    print(
        f"# {platform.machine()}, {args.threads} torch threads, python {platform.python_version()}"
    )


def _print_row(row: dict) -> None:
    speed = f"{1 / row['rtf']:.1f}" if "rtf" in row else "-"
    size = "x".join(str(v) for v in row["frame_size"])
    print(
        f"| {row['model']} | {size} | {','.join(f'{v:g}' for v in row['scales'])} | "
        f"{row['duration_s']:.0f} s | {row['decode_ahead']} | "
        f"{row['frames_per_s']:.1f} | {speed} | {row['peak_rss_mib']:.0f} |"
    )


if __name__ == "__main__":
    main()
