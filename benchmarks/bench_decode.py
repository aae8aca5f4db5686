"""Benchmark: decode a 1-minute 1280x720 30-fps H.264 + AAC video the way avloc's models want it.

Measures ``avloc.media.iter_video`` at 8 fps to 224x224 RGB and ``avloc.media.read_audio`` at
11025 Hz (mono), in a fresh subprocess so that its peak RSS is the decoder's alone. The test
video is generated once with PyAV and cached under ``benchmarks/.cache/`` (gitignored).

Usage::

    python benchmarks/bench_decode.py [--repeats 3] [--json benchmarks/results/decode.json]

Prints a markdown table row and writes the numbers as JSON.
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

import av
import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
VIDEO = CACHE / "bench_720p30_60s.mp4"
DURATION_S, FPS_IN, SIZE_IN = 60, 30, (720, 1280)
FPS_OUT, SIZE_OUT, SAMPLE_RATE = 8.0, (224, 224), 11025


def _make_video(path: Path) -> None:
    """A moving gradient with moving noise blocks (not trivially compressible) + a stereo chord."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = SIZE_IN
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    temp = path.with_name(path.name + ".part")
    with av.open(str(temp), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS_IN)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23"}
        audio = out.add_stream("aac", rate=44100, layout="stereo")
        for i in range(DURATION_S * FPS_IN):
            image = (ramp + 3 * i) % 256 * np.ones((height, 1, 3), np.float32)
            image = image.astype(np.uint8)
            image[:, : width // 2] = np.roll(noise, 4 * i, axis=1)[:, : width // 2] // 2 + 64
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS_IN)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(DURATION_S * 44100) / 44100
        chord = 0.2 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 660 * t))
        stereo = np.stack([chord, 0.5 * chord]).astype(np.float32)
        for start in range(0, stereo.shape[1], 44100):
            block = np.ascontiguousarray(stereo[:, start : start + 44100])
            sound = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            sound.sample_rate, sound.pts, sound.time_base = 44100, start, Fraction(1, 44100)
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    os.replace(temp, path)


def _measure(path: Path) -> dict[str, float]:
    """Decode once (video then audio), in this process; returns timings and peak RSS."""
    from avloc import media

    start = time.perf_counter()
    num_frames = 0
    for chunk in media.iter_video(path, FPS_OUT, size=SIZE_OUT):
        num_frames += chunk.frames.shape[0]
    video_s = time.perf_counter() - start
    start = time.perf_counter()
    audio = media.read_audio(path, SAMPLE_RATE)
    audio_s = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "num_frames": num_frames,
        "num_samples": int(audio.size),
        "video_s": video_s,
        "audio_s": audio_s,
        "peak_rss_mib": peak_kib / 1024,
    }


def _measure_in_subprocess(path: Path) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(path)]
    # the checkout's avloc, whether or not it is pip-installed
    python_path = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs; the fastest is reported")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "decode.json")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(_measure(args.measure)))
        return 0
    if not VIDEO.exists():
        print(f"generating {VIDEO} (once) ...", file=sys.stderr)
        _make_video(VIDEO)
    runs = [_measure_in_subprocess(VIDEO) for _ in range(args.repeats)]
    best = min(runs, key=lambda r: r["video_s"] + r["audio_s"])
    total_s = best["video_s"] + best["audio_s"]
    result = {
        "benchmark": "decode 60 s 1280x720 30 fps H.264+AAC -> 8 fps 224x224 RGB + 11025 Hz mono",
        **best,
        "total_s": total_s,
        "frames_per_s": best["num_frames"] / best["video_s"],
        "x_real_time": DURATION_S / total_s,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "pyav": av.__version__,
        "ffmpeg": str(av.ffmpeg_version_info),
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print("| video | wall (s) | frames/s | x real time | video (s) | audio (s) | peak RSS (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| 60 s 720p30 H.264+AAC | {total_s:.2f} | {result['frames_per_s']:.0f} | "
        f"{result['x_real_time']:.1f} | {best['video_s']:.2f} | {best['audio_s']:.2f} | "
        f"{best['peak_rss_mib']:.0f} |"
    )
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
