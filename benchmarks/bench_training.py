"""Training throughput (clips/s) of each stage of avloc-small, bf16 autocast vs fp32, NCHW vs
channels-last memory, and the cost of making its samples.

Runs the real stage objectives (``training.objectives``) on in-memory batches shaped like the
``avloc_small`` recipe's (each stage's batch size and audio window), forward + backward + AdamW
step. Then times sample making on 32 generated clips decoded into the in-memory cache, as
training reads them: window, augmentation (the recipe's, per stage), normalisation,
collation; batched (``ClipDataset.__getitems__``, what the DataLoader calls) and one clip at a
time. Prints markdown tables.

    python benchmarks/bench_training.py [--threads 2] [--steps 6] [--batch-size N] [--compile]

``--compile`` adds bf16 channels-last rows with the encoders and separator wrapped by
``torch.compile`` (inductor; its compile time is reported apart, not counted in clips/s).

(Run from the repository root: ``training`` is not an installed package.)
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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
from training.train import autocast, make_optimizer, place_model

TRAINED_STAGES = ("correspondence", "class_aware", "separation")


@dataclass
class _Batch:
    frames: torch.Tensor
    audio: torch.Tensor
    clip_index: torch.Tensor
    start_s: torch.Tensor

    def to(self, device: torch.device) -> _Batch:
        return self


def _batch(model: Any, batch_size: int, window_s: float, generator: torch.Generator) -> _Batch:
    size = model.config.visual.input_size
    samples = int(model.config.sample_rate * window_s)
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


def _stage_shape(recipe: Any, name: str, batch_size: int | None) -> tuple[int, float, Any]:
    """(batch size, audio window s, augmentation) the recipe gives stage ``name``."""
    data = recipe.data
    if name == "separation":
        sep = recipe.separation
        window = sep.clip_duration_s or data.clip_duration_s
        return batch_size or sep.batch_size or data.batch_size, window, sep.augment or data.augment
    return batch_size or data.batch_size, data.clip_duration_s, data.augment


def _time_fetch(data: Any, indices: list[int], batched: bool, repeats: int) -> float:
    """ms to make and collate one batch, batched (``__getitems__``) or one clip at a time."""
    from avloc.data.datasets import collate_av

    def fetch() -> Any:
        return collate_av(data.__getitems__(indices) if batched else [data[i] for i in indices])

    fetch()  # warm-up
    start = time.perf_counter()
    for epoch in range(repeats):
        data.set_epoch(epoch)
        fetch()
    return 1000 * (time.perf_counter() - start) / repeats


def _time_samples(model: Any, recipe: Any, batch_size: int | None, repeats: int = 5) -> list[Any]:
    """(stage, batch, ms per batch batched, ms per batch one clip at a time) per trained stage."""
    import tempfile

    from avloc.data.datasets import ClipDataset, SampleConfig
    from avloc.data.manifest import read_manifest
    from avloc.synth import SynthConfig, generate

    mc = model.config
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        generate(SynthConfig(scene="solo", num_clips=32, seed=1000), folder, progress=False)
        clips = read_manifest(folder)
        sample = SampleConfig(
            frame_size=mc.visual.input_size,
            num_frames=recipe.data.num_frames,
            fps=mc.fps,
            sample_rate=mc.sample_rate,
            audio_duration_s=recipe.data.clip_duration_s,
            mean=mc.mean,
            std=mc.std,
        )
        decoded = ClipDataset.from_manifest(clips, sample, train=True, augment=recipe.data.augment)
        decoded.preload()  # once: each stage's view reads the same decoded clips, as in training
        for name in TRAINED_STAGES:
            size, window_s, augment = _stage_shape(recipe, name, batch_size)
            data = decoded.view(window_s, augment)
            indices = [i % len(clips) for i in range(size)]
            timings = [_time_fetch(data, indices, batched, repeats) for batched in (True, False)]
            rows.append((name, size, *timings))
    return rows


def main() -> None:
    from avloc.models import create_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="every stage's batch (default: the recipe's)"
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--model", default="avloc-small")
    parser.add_argument(
        "--compile", action="store_true", help="also time bf16 channels-last under torch.compile"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = get_recipe("avloc_small")
    generator = torch.Generator().manual_seed(0)
    rows = []
    setups = [(*pair, False) for pair in itertools.product(("fp32", "bf16"), (False, True))]
    if args.compile:
        setups.append(("bf16", True, True))
    compile_s: dict[str, float] = {}
    for precision, channels_last, compiled in setups:
        config = dataclasses.replace(
            recipe, precision=precision, channels_last=channels_last, model=args.model
        )
        torch.manual_seed(0)
        model: Any = place_model(create_model(args.model), config, torch.device("cpu"))
        if compiled:
            for module in (model.visual, model.audio, model.separator):
                module.compile(dynamic=False)
        centroids = torch.randn(model.class_head.centroids.shape, generator=generator)
        model.class_head.set_centroids(centroids)
        data = SimpleNamespace(train=None, collate=None, train_view=lambda *_: None)
        for name in TRAINED_STAGES:
            size, window_s, _ = _stage_shape(recipe, name, args.batch_size)
            batch = _batch(model, size, window_s, generator)
            stage = STAGE_BUILDERS[name](config, data)
            if compiled:  # one untimed step pays for compilation
                start = time.perf_counter()
                _time_stage(stage, model, config, batch, 1)
                compile_s[name] = time.perf_counter() - start
            rate, cpu = _time_stage(stage, model, config, batch, args.steps)
            layout = ("channels-last" if channels_last else "NCHW") + (", compiled" * compiled)
            rows.append((name, precision, layout, size, window_s, rate, cpu))
    print(f"\n{args.model}, {args.threads} threads, CPU: model steps\n")
    # CPU s/step exposes contention: on idle cores wall time ~ CPU time / threads.
    print(
        "| stage | batch | audio s | precision | memory | clips/s (wall) | s per 100 steps "
        "| CPU s/step |"
    )
    print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: |")
    for name, precision, layout, size, window_s, rate, cpu in sorted(
        rows, key=lambda r: TRAINED_STAGES.index(r[0])
    ):
        per_100 = 100 * size / rate
        print(
            f"| {name} | {size} | {window_s:g} | {precision} | {layout} | {rate:.1f} "
            f"| {per_100:.0f} | {cpu:.3f} |"
        )
    if compile_s:
        print("\ntorch.compile time, s: " + ", ".join(f"{k} {v:.0f}" for k, v in compile_s.items()))
    print("\nMaking one batch of samples from the decoded clips (the recipe's augmentation)\n")
    print("| stage | batch | batched ms | one clip at a time ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, size, batched, single in _time_samples(model, recipe, args.batch_size):
        print(f"| {name} | {size} | {batched:.1f} | {single:.1f} |")


if __name__ == "__main__":
    main()
