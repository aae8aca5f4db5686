"""Time Sound-of-Pixels separation scoring (protocols.md §4) with each BSS-eval backend.

Builds seeded mix-2 mixtures of 65,535 samples at 11,025 Hz (SoP's ~6 s clips), separates them
with oracle ratio masks (not timed: model time is excluded), then times ``score_mixture`` (BSS-eval
of the estimates plus of the mixture baseline, and SI-SDR) over all mixtures per backend.

    python -m benchmarks.bench_separation_metrics              # 256 mixtures, both backends
    python -m benchmarks.bench_separation_metrics --num-mixtures 16 --backends fast

Prints one markdown table row per backend.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from avloc.data.mixing import mix_sources
from avloc.masks import oracle_separation
from avloc.metrics.separation import score_mixture

SAMPLE_RATE = 11025
N_FFT, HOP = 1022, 256


def _random_source(gen: torch.Generator, num_samples: int) -> torch.Tensor:
    """A harmonic note with vibrato and a decaying envelope, or band-limited noise bursts."""
    t = torch.arange(num_samples, dtype=torch.float64) / SAMPLE_RATE
    u = torch.rand(4, generator=gen, dtype=torch.float64)
    if u[0] < 0.5:
        pitch = 110.0 * 2 ** (3 * u[1])
        phase = 2 * math.pi * pitch * t + 2 * torch.sin(2 * math.pi * (3 + 4 * u[2]) * t)
        wave = sum(torch.sin(h * phase) / h for h in range(1, 8))
        envelope = torch.exp(-((t * (1 + 2 * u[3])) % 1.0) * 3)
    else:
        noise = torch.randn(num_samples, generator=gen, dtype=torch.float64)
        kernel = torch.hann_window(int(8 + 56 * u[1]) | 1, dtype=torch.float64)
        wave = torch.nn.functional.conv1d(noise[None, None], kernel[None, None], padding="same")[
            0, 0
        ]
        envelope = (torch.sin(2 * math.pi * (0.5 + 2 * u[2]) * t) > 0).double()
    wave = wave * envelope
    return (0.8 * wave / wave.abs().max().clamp_min(1e-9)).float()


def make_mixtures(
    num_mixtures: int, num_samples: int, seed: int = 0, chunk: int = 16
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded references (M, 2, T), oracle-IRM estimates (M, 2, T) and mixtures (M, T)."""
    gen = torch.Generator().manual_seed(seed)
    refs, ests, mixes = [], [], []
    for start in range(0, num_mixtures, chunk):
        count = min(chunk, num_mixtures - start)
        sources = torch.stack(
            [
                torch.stack([_random_source(gen, num_samples) for _ in range(2)])
                for _ in range(count)
            ]
        )
        mixed = mix_sources(sources)
        estimates = oracle_separation(mixed.sources, mixed.mixture, N_FFT, HOP, "irm")
        refs.append(mixed.sources.numpy())
        ests.append(estimates.numpy())
        mixes.append(mixed.mixture.numpy())
    return np.concatenate(refs), np.concatenate(ests), np.concatenate(mixes)


def time_backend(
    backend: str, refs: np.ndarray, ests: np.ndarray, mixes: np.ndarray
) -> tuple[float, int, float, float]:
    """Seconds, number scored, mean SDR and mean NSDR over all mixtures."""
    start = time.perf_counter()
    scores = [score_mixture(r, e, m, backend) for r, e, m in zip(refs, ests, mixes, strict=True)]
    seconds = time.perf_counter() - start
    valid = [s for s in scores if s is not None]
    sdr = float(np.mean([s.sdr for s in valid])) if valid else float("nan")
    nsdr = float(np.mean([s.nsdr for s in valid])) if valid else float("nan")
    return seconds, len(valid), sdr, nsdr


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-mixtures", type=int, default=256)
    parser.add_argument("--num-samples", type=int, default=65535)
    parser.add_argument("--backends", nargs="+", default=["mir_eval", "fast"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    refs, ests, mixes = make_mixtures(args.num_mixtures, args.num_samples, args.seed)
    print(f"torch threads: {torch.get_num_threads()}")
    print(
        "| backend | mixtures | samples | scored | seconds | ms / mixture | mean SDR | mean NSDR |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for backend in args.backends:
        seconds, scored, sdr, nsdr = time_backend(backend, refs, ests, mixes)
        per_mix = 1000 * seconds / len(refs)
        print(
            f"| {backend} | {len(refs)} | {args.num_samples} | {scored} | {seconds:.1f} | "
            f"{per_mix:.0f} | {sdr:.2f} | {nsdr:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
