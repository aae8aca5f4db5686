"""Training throughput (clips/s) of each stage of avloc-small, bf16 autocast vs fp32.

Runs the real stage objectives (``training.objectives``) on in-memory batches shaped like the
``avloc_small`` recipe's (decoding is excluded: the datasets cache decoded clips in memory),
forward + backward + AdamW step, and prints a markdown table.

    python benchmarks/bench_training.py [--threads 2] [--batch-size 16] [--steps 6]

(Run from the repository root: ``training`` is not an installed package.)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's training/

from training.objectives import STAGE_BUILDERS, Stage
from training.recipes import get_recipe
from training.train import autocast, make_optimizer

TRAINED_STAGES = ("correspondence", "class_aware", "separation")


@dataclass
class _Batch:
    frames: torch.Tensor
    audio: torch.Tensor
    clip_index: torch.Tensor
    start_s: torch.Tensor

    def to(self, device: torch.device) -> _Batch:
        return self


def _batch(model: Any, batch_size: int, generator: torch.Generator) -> _Batch:
    size = model.config.visual.input_size
    samples = int(model.config.sample_rate * model.config.audio_window_s)
    frames = torch.randn(batch_size, 1, 3, size, size, generator=generator)
    audio = 0.3 * torch.randn(batch_size, samples, generator=generator)
    return _Batch(frames, audio, torch.arange(batch_size), torch.zeros(batch_size))


def _time_stage(
    stage: Stage, model: Any, config: Any, batch: _Batch, steps: int
) -> tuple[float, float]:
    """(wall-clock clips/s, CPU seconds per step summed over threads)."""
    params = stage.trainable(model)
    for param in model.parameters():
        param.requires_grad_(False)
    for param in params:
        param.requires_grad_(True)
    optimizer, _ = make_optimizer(config, params, steps + 1, 1.0)
    stage.train_mode(model)
    elapsed = cpu = 0.0
    for step in range(steps + 1):  # the first step warms up allocators and kernels
        start, start_cpu = time.perf_counter(), time.process_time()
        with autocast(config, torch.device("cpu")):
            loss = stage.loss(model, batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step > 0:
            elapsed += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return steps * len(batch.audio) / elapsed, cpu / steps


def main() -> None:
    from avloc.models import create_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--model", default="avloc-small")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = get_recipe("avloc_small")
    generator = torch.Generator().manual_seed(0)
    rows = []
    for precision in ("fp32", "bf16"):
        config = type(recipe)(**{**recipe.__dict__, "precision": precision, "model": args.model})
        torch.manual_seed(0)
        model: Any = create_model(args.model)
        centroids = torch.randn(model.class_head.centroids.shape, generator=generator)
        model.class_head.set_centroids(centroids)
        batch = _batch(model, args.batch_size, generator)
        data = SimpleNamespace(train=None, collate=None)
        for name in TRAINED_STAGES:
            stage = STAGE_BUILDERS[name](config, data)
            rate, cpu = _time_stage(stage, model, config, batch, args.steps)
            rows.append((name, precision, rate, cpu))
    print(f"\n{args.model}, batch {args.batch_size}, {args.threads} threads, CPU\n")
    # CPU s/step exposes contention: on idle cores wall time ~ CPU time / threads.
    print("| stage | precision | clips/s (wall) | s per 100 steps | CPU s per step |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, precision, rate, cpu in rows:
        per_100 = 100 * args.batch_size / rate
        print(f"| {name} | {precision} | {rate:.1f} | {per_100:.0f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
