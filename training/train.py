"""The one training loop: stages in order, resumable, bf16 autocast, DDP through torchrun.

Usage::

    python -m training.train RECIPE [--set optim.lr=3e-4 --set data.num_clips=100]
                                    [--out runs/NAME] [--resume]
    torchrun --nproc_per_node 2 -m training.train tiny --out runs/tiny-ddp
    torchrun --nnodes 2 --node_rank I --master_addr HOST --nproc_per_node 8 \
        -m training.train avloc_resnet18      # on each of two machines, I = 0 or 1

A run directory holds ``config.json`` (the resolved config), ``metrics.csv`` (step, stage,
loss, lr, clips/s and validation metrics) and ``checkpoints/last.pt`` (the training state:
model, optimizer, scheduler, stage, step, RNG states and config). The data order is a pure
function of (seed, stage, epoch), so resuming from a checkpoint replays the same run. Under DDP
rank 0 alone reads and writes the run directory and sends the others the state to resume
from, so on several machines only rank 0's needs to exist.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from training.config import (
    TrainConfig,
    apply_overrides,
    config_from_json,
    config_to_dict,
    config_to_json,
)
from training.objectives import Stage, StepOutput
from training.stopping import StopNow, StopRequests, deferred_signals, ignore_stop_signals

STATE_FORMAT = "avloc-train-state"
STATE_VERSION = 1
CHECKPOINT_NAME = "checkpoints/last.pt"
_STATE_KEYS = {"config", "model", "stage_index", "stage_step", "global_step", "rng"}

ModelBuilder = Callable[[TrainConfig], nn.Module]
StagesBuilder = Callable[[TrainConfig, nn.Module, "Runtime"], list[Stage]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its rank in the job and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or interrupted) run left behind."""

    run_dir: Path
    checkpoint: Path
    global_step: int
    last_metrics: dict[str, float]


@dataclass
class _Position:
    """The resume point: ``stage_step`` steps of stage ``stage_index`` are done."""

    stage_index: int = 0
    stage_step: int = 0
    global_step: int = 0


# --- runtime, RNG ------------------------------------------------------------------------------


def setup_runtime(config: TrainConfig) -> Runtime:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and join the process group.

    Raises:
        ValueError: ``device="cuda"`` was asked for on a machine without CUDA.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was requested but torch.cuda.is_available() is False")
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Runtime(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def rng_state() -> dict[str, Any]:
    """Snapshot of the torch (CPU and CUDA), numpy and python RNGs, safe for weights_only load."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore an ``rng_state`` snapshot."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (validation, stage building) without moving the training RNG streams."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- optimisation ------------------------------------------------------------------------------


def make_optimizer(
    config: TrainConfig, params: list[nn.Parameter], num_steps: int, lr_scale: float
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW plus linear warm-up and cosine (or constant) schedule over ``num_steps``."""
    optim = config.optim
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]  # biases and norms are not decayed
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=optim.lr * lr_scale,
        betas=optim.betas,
    )
    warmup = min(optim.warmup_steps, max(num_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if optim.schedule == "constant" or num_steps <= warmup:
            return 1.0
        progress = min((step - warmup) / max(num_steps - warmup, 1), 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return optim.min_lr_ratio + (1.0 - optim.min_lr_ratio) * cosine

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def place_model(model: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """``model`` on ``device``, its conv weights channels-last when ``config.channels_last``
    (the activations follow the weights' layout from the first convolution on)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if config.channels_last else model


def autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CPU or CUDA when ``precision == "bf16"``; weights stay fp32."""
    return torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"
    )


class _LossModule(nn.Module):
    """Wraps model + stage so DDP sees one ``forward`` (DDP only syncs through ``forward``)."""

    def __init__(self, model: nn.Module, stage: Stage) -> None:
        super().__init__()
        self.model = model
        self.stage = stage
        self.last_output: StepOutput | None = None

    def forward(self, batch: Any) -> Tensor:
        self.last_output = self.stage.loss(self.model, batch)
        return self.last_output.loss


# --- data order --------------------------------------------------------------------------------


def _epoch_batches(
    stage: Stage, runtime: Runtime, batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    assert stage.dataset is not None
    sampler: DistributedSampler[Any] = DistributedSampler(
        stage.dataset,
        num_replicas=runtime.world_size,
        rank=runtime.rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )
    sampler.set_epoch(epoch)
    indices = list(sampler)
    return [
        indices[i : i + batch_size] for i in range(0, len(indices) - batch_size + 1, batch_size)
    ]


def stage_batch_size(stage: Stage, config: TrainConfig) -> int:
    """Samples per step and process: the stage's own, else ``data.batch_size``."""
    return stage.batch_size if stage.batch_size is not None else config.data.batch_size


def batch_stream(
    stage: Stage, config: TrainConfig, runtime: Runtime, stage_index: int, start_step: int
) -> Iterator[Any]:
    """Batches for steps ``start_step, start_step+1, ...`` of a stage; a pure function of
    (seed, stage, epoch), so a resumed run sees exactly the batches the straight run saw.

    Raises:
        ValueError: the dataset has fewer clips per process than one batch.
    """
    seed = config.seed * 1000 + stage_index
    batch_size = stage_batch_size(stage, config)
    num_batches = len(_epoch_batches(stage, runtime, batch_size, seed, 0))
    if num_batches == 0:
        raise ValueError(
            f"stage {stage.name!r}: {len(stage.dataset or [])} clips make no batch of "  # type: ignore[arg-type]
            f"{batch_size} on {runtime.world_size} process(es); "
            "lower data.batch_size (or the stage's batch_size) or raise data.num_clips"
        )
    epoch, offset = divmod(start_step, num_batches)
    while True:
        set_epoch = getattr(stage.dataset, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
        batches = _epoch_batches(stage, runtime, batch_size, seed, epoch)[offset:]
        loader = DataLoader(
            stage.dataset,  # type: ignore[arg-type]
            batch_sampler=batches,
            collate_fn=stage.collate,
            num_workers=config.data.num_workers,
            generator=torch.Generator().manual_seed(seed * 100_003 + epoch),
            pin_memory=runtime.device.type == "cuda",
            worker_init_fn=ignore_stop_signals if config.data.num_workers else None,
        )
        yield from loader
        epoch, offset = epoch + 1, 0


# --- checkpoint and log ------------------------------------------------------------------------


def save_state(
    path: Path,
    config: TrainConfig,
    model: nn.Module,
    position: _Position,
    rng: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """Write the training state atomically (the model is the unwrapped one: no prefixes)."""
    state = {
        "format": STATE_FORMAT,
        "format_version": STATE_VERSION,
        "config": config_to_json(config),
        "stage_index": position.stage_index,
        "stage_step": position.stage_step,
        "global_step": position.global_step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, "the training checkpoint", lambda tmp: torch.save(state, tmp))


def _write_atomically(path: Path, what: str, write: Callable[[Path], None]) -> None:
    """``write`` a ``.partial`` sibling of ``path``, then rename it over ``path``; a Ctrl-C
    waits until the file is whole. A failure removes the partial file, keeps the previous
    ``path`` and names it, with the cause and the free space."""
    tmp = path.with_suffix(".partial")
    with deferred_signals():
        try:
            write(tmp)
            tmp.replace(path)
        except (OSError, RuntimeError) as error:  # torch reports a full disk as RuntimeError
            with contextlib.suppress(OSError):  # a read-only folder refuses this too
                tmp.unlink(missing_ok=True)
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            with contextlib.suppress(OSError):
                reason += f"; {shutil.disk_usage(path.parent).free / 1e6:.0f} MB free there"
            raise OSError(
                f"{path}: could not write {what} ({reason}); the previous one is kept"
            ) from error


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a training state written by ``save_state`` (tensors and plain values only).

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        ValueError: the file is not an avloc training state or has an unknown version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        # torch's own text may suggest weights_only=False, unsafe for a file of unknown origin
        raise ValueError(
            f"{path}: not a readable training checkpoint: damaged, truncated or not written by "
            f"training.train ({type(error).__name__})"
        ) from error
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not an avloc training state (format {STATE_FORMAT!r})")
    if state.get("format_version") != STATE_VERSION:
        raise ValueError(
            f"{path}: training state version {state.get('format_version')} is not supported "
            f"(this avloc reads version {STATE_VERSION})"
        )
    if missing := sorted(_STATE_KEYS - set(state)):
        raise ValueError(f"{path}: an incomplete training state (no {', '.join(missing)})")
    return state


class MetricsLog:
    """``metrics.csv``: one row per log/validation event; new columns widen the header."""

    def __init__(self, path: Path, keep_until_step: int | None, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        self.rows: list[dict[str, Any]] = []
        if enabled and keep_until_step is not None and path.is_file():
            try:
                with path.open(newline="") as handle:
                    self.rows = [
                        r for r in csv.DictReader(handle) if int(r["step"]) <= keep_until_step
                    ]
            except (UnicodeDecodeError, KeyError, ValueError, TypeError, csv.Error) as error:
                raise ValueError(
                    f"{path}: not the run's metrics log ({type(error).__name__}: {error}); "
                    "move it aside to resume without the earlier rows"
                ) from None

    def append(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        columns: list[str] = []
        for item in self.rows:
            columns.extend(key for key in item if key not in columns)

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(self.rows)

        _write_atomically(self.path, "the metrics log", write)


# --- the loop ----------------------------------------------------------------------------------


class _Window:
    """Sums over one log interval: loss, stage metrics, steps and wall time."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.metrics: dict[str, float] = {}
        self.steps = 0
        self.started = time.perf_counter()

    def add(self, loss: float, metrics: dict[str, float]) -> None:
        self.loss += loss
        for key, value in metrics.items():
            self.metrics[key] = self.metrics.get(key, 0.0) + float(value)
        self.steps += 1


@dataclass
class _Loop:
    """Mutable state of one run, shared by the stage runner and the interrupt handler."""

    config: TrainConfig
    runtime: Runtime
    model: nn.Module
    stages: list[Stage]
    run_dir: Path
    log: MetricsLog
    position: _Position
    step_rng: dict[str, Any]
    progress: bool
    resume_state: dict[str, Any] | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    stop: StopRequests = field(default_factory=lambda: StopRequests(enabled=False))
    saved_step: int | None = None  # the global step of the newest checkpoint this run wrote

    def stop_if_asked(self) -> None:
        """At a step boundary: turn a Ctrl-C or SIGTERM received during the step into the
        interrupt that saves this (whole) state."""
        if self.stop.requested:
            raise KeyboardInterrupt

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    def save(self) -> None:
        if self.runtime.is_main:
            save_state(
                self.checkpoint,
                self.config,
                self.model,
                self.position,
                self.step_rng,
                self.optimizer,
                self.scheduler,
            )
        self.saved_step = self.position.global_step

    def record(self, stage: Stage, values: dict[str, Any]) -> None:
        row = {"step": self.position.global_step, "stage": stage.name, **values}
        self.last_metrics = {k: float(v) for k, v in values.items()}
        self.log.append(row)

    def validate(self, stage: Stage) -> None:
        if not self.runtime.is_main:
            return
        with preserved_rng(), torch.no_grad(), autocast(self.config, self.runtime.device):
            self.model.eval()
            try:
                metrics = stage.validate(self.model, self.runtime.device)
            finally:
                stage.train_mode(self.model)
        if metrics:
            self.record(stage, {f"val_{k}": v for k, v in metrics.items()})


def _activate(model: nn.Module, stage: Stage) -> list[nn.Parameter]:
    """Freeze everything but the stage's parameters (DDP then ignores the frozen ones)."""
    params = stage.trainable(model)
    if not params:
        raise ValueError(f"stage {stage.name!r} has no trainable parameters")
    chosen = {id(p) for p in params}
    for param in model.parameters():
        param.requires_grad_(id(param) in chosen)
    return params


def _wrap(loop: _Loop, stage: Stage) -> nn.Module:
    wrapped: nn.Module = _LossModule(loop.model, stage)
    if loop.runtime.distributed:
        device_ids = [loop.runtime.local_rank] if loop.runtime.device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(
            wrapped, device_ids=device_ids, find_unused_parameters=True
        )
    return wrapped


def _train_step(loop: _Loop, wrapped: nn.Module, stage: Stage, batch: Any) -> StepOutput:
    assert loop.optimizer is not None and loop.scheduler is not None
    with autocast(loop.config, loop.runtime.device):
        wrapped(batch)
    inner = wrapped.module if isinstance(wrapped, nn.parallel.DistributedDataParallel) else wrapped
    assert isinstance(inner, _LossModule) and inner.last_output is not None
    output = inner.last_output
    if not torch.isfinite(output.loss.detach()):
        raise FloatingPointError(
            f"stage {stage.name!r} step {loop.position.stage_step}: the loss is "
            f"{output.loss.item()}; lower optim.lr or use precision=fp32"
        )
    loop.optimizer.zero_grad(set_to_none=True)
    output.loss.backward()
    if loop.config.optim.grad_clip_norm > 0:
        params = [p for group in loop.optimizer.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, loop.config.optim.grad_clip_norm)
    loop.optimizer.step()
    loop.lr = float(loop.scheduler.get_last_lr()[0])  # the lr this step used
    loop.scheduler.step()
    return output


def _log_window(loop: _Loop, stage: Stage, window: _Window, bar: Any) -> _Window:
    # On the process's device: NCCL reduces CUDA tensors only (gloo takes CPU ones).
    values = torch.tensor(
        [window.loss, *window.metrics.values()], dtype=torch.float64, device=loop.runtime.device
    )
    if loop.runtime.distributed:
        dist.all_reduce(values)
        values /= loop.runtime.world_size
    values /= max(window.steps, 1)
    elapsed = max(time.perf_counter() - window.started, 1e-9)
    clips = window.steps * stage_batch_size(stage, loop.config) * loop.runtime.world_size
    row: dict[str, Any] = {
        "loss": round(values[0].item(), 6),
        "lr": loop.lr,
        "clips_per_s": round(clips / elapsed, 3),
    }
    row.update({k: round(v.item(), 6) for k, v in zip(window.metrics, values[1:], strict=True)})
    loop.record(stage, row)
    bar.set_postfix(loss=f"{row['loss']:.4f}", clips_s=f"{row['clips_per_s']:.1f}")
    return _Window()


def _run_stage(loop: _Loop, index: int) -> None:
    from tqdm import tqdm

    config, stage, position = loop.config, loop.stages[index], loop.position
    params = _activate(loop.model, stage)
    loop.optimizer, loop.scheduler = make_optimizer(config, params, stage.num_steps, stage.lr_scale)
    state = loop.resume_state
    if state is not None and state["stage_index"] == index and position.stage_step > 0:
        loop.optimizer.load_state_dict(state["optimizer"])
        loop.scheduler.load_state_dict(state["scheduler"])
    wrapped = _wrap(loop, stage)
    stage.train_mode(loop.model)
    stream = batch_stream(stage, config, loop.runtime, index, position.stage_step)
    bar = tqdm(
        total=stage.num_steps,
        initial=position.stage_step,
        desc=stage.name,
        disable=not (loop.progress and loop.runtime.is_main),
        dynamic_ncols=True,
    )
    window = _Window()
    while position.stage_step < stage.num_steps:
        batch = stage.to_device(next(stream), loop.runtime.device)
        output = _train_step(loop, wrapped, stage, batch)
        position.stage_step += 1
        position.global_step += 1
        loop.step_rng = rng_state()
        window.add(output.loss.item(), dict(output.metrics))
        bar.update(1)
        step, last = position.stage_step, position.stage_step == stage.num_steps
        if step % config.log_every == 0 or last:
            window = _log_window(loop, stage, window, bar)
        if (config.val_every and step % config.val_every == 0) or last:
            loop.validate(stage)
        if step % config.checkpoint_every == 0 and not last:
            loop.save()
        loop.stop_if_asked()
    bar.close()


def _run_offline(loop: _Loop, index: int) -> None:
    stage = loop.stages[index]
    with torch.no_grad():
        metrics = stage.run_offline(loop.model, loop.runtime.device)
    loop.step_rng = rng_state()
    loop.record(stage, metrics)


def _run_all(loop: _Loop) -> None:
    for index in range(loop.position.stage_index, len(loop.stages)):
        if loop.stages[index].num_steps == 0:
            _run_offline(loop, index)
        else:
            _run_stage(loop, index)
        loop.position = _Position(index + 1, 0, loop.position.global_step)
        loop.optimizer = loop.scheduler = None
        loop.save()
        loop.stop_if_asked()


def _default_model(config: TrainConfig) -> nn.Module:
    """The recipe's model, starting from ``config.init_from``'s weights when given, except the
    modules ``config.init_skip`` names, which keep their seeded initialisation or load from
    ``config.init_skipped_from``; then the visual encoder from ``config.visual_weights``.

    Raises:
        FileNotFoundError: ``init_from``, ``init_skipped_from`` or ``visual_weights`` does not
        exist. ValueError: either bundle is not a bundle or its weights do not fit the recipe's
        architecture (strict loading), an ``init_skip`` prefix names no weight of one of them,
        or ``visual_weights`` do not fit the visual encoder.
    """
    from avloc.models import create_model, load_external_weights

    model = create_model(config.model, **dict(config.model_overrides))
    if config.init_from is not None:

        def is_skipped(name: str) -> bool:
            return any(_under(name, prefix) for prefix in config.init_skip)

        sources = [("init_from", config.init_from, lambda name: not is_skipped(name))]
        if config.init_skipped_from is not None:
            sources.append(("init_skipped_from", config.init_skipped_from, is_skipped))
        for setting, file, wanted in sources:
            _load_part(model, config, setting, Path(file), wanted)
    if config.visual_weights is not None:
        try:
            load_external_weights(model.visual, config.visual_weights)
        except (FileNotFoundError, ValueError) as error:  # the same error, naming the setting
            raise type(error)(f"visual_weights: {error}") from None
    return model


def _load_part(
    model: nn.Module, config: TrainConfig, setting: str, path: Path, wanted: Callable[[str], bool]
) -> None:
    """Load the weights of bundle ``path`` whose names ``wanted`` accepts, strictly within them."""
    from avloc.checkpoint import read_bundle_weights

    try:
        weights = read_bundle_weights(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{setting}: no bundle at {path}") from None
    except ValueError as error:  # not a bundle, a newer format, or damaged weights
        raise ValueError(f"{setting}: {error}") from None
    for prefix in config.init_skip:
        if not any(_under(k, prefix) for k in weights):
            raise ValueError(f"init_skip: {path} has no weights under {prefix!r}")
    # Strict in all but the names left to another source: a missing or extra weight is an error.
    try:
        missing, unexpected = model.load_state_dict(
            {k: v for k, v in weights.items() if wanted(k)}, strict=False
        )
    except RuntimeError as error:  # a weight of another shape: name the first few
        shapes = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        raise ValueError(
            f"{setting}: {path} does not fit {config.model} ({len(shapes)} weights of "
            f"another shape, e.g. {'; '.join(shapes[:2])})"
        ) from None
    # A module left to another source may differ in architecture: its weights the file lacks
    # are not missing. (Every unexpected name was wanted: only those were offered.)
    wrong = sorted(k for k in missing if wanted(k)) + sorted(unexpected)
    if wrong:
        raise ValueError(
            f"{setting}: {path} does not fit {config.model} ({len(wrong)} weights missing "
            f"or unexpected, e.g. {wrong[:3]})"
        )


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _default_stages(
    config: TrainConfig, model: nn.Module, runtime: Runtime, progress: bool = True
) -> list[Stage]:
    from training.data import load_data
    from training.objectives import build_stages

    return build_stages(config, model, load_data(config, model, runtime, progress))


def _from_main(runtime: Runtime, make: Callable[[], _T]) -> _T:
    """``make()`` on rank 0 alone, its result (or the error it raised) shared with every rank.

    The processes of a job on several machines need not see the same files: rank 0's run
    folder may be on its own disk, so it alone reads it and the others are sent what it read.
    Every rank raises rank 0's error, so none is left waiting for the others.
    """
    if not runtime.distributed:
        return make()
    outcome: list[Any] = [None]
    if runtime.is_main:
        try:
            outcome[0] = (make(), None)
        except Exception as error:  # sent to every rank, and raised there
            outcome[0] = (None, error)
    dist.broadcast_object_list(outcome, src=0)
    result, error = outcome[0]
    if error is not None:
        raise error
    return result


def _prepare_run_dir(config: TrainConfig, run_dir: Path, resume: bool) -> dict[str, Any] | None:
    """Check (and make) the run folder: the state to resume from, or None for a new run."""
    checkpoint = run_dir / CHECKPOINT_NAME
    config_path = run_dir / "config.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} is a file; the run needs a folder")
    if checkpoint.exists() and not checkpoint.is_file():
        raise ValueError(f"{checkpoint} is not a file; move it aside")
    if resume and not checkpoint.is_file() and not config_path.is_file():
        raise ValueError(
            f"--resume: {run_dir} holds no run (no {CHECKPOINT_NAME}, no config.json); check "
            "--out, or leave out --resume to start one"
        )
    if resume and checkpoint.is_file():
        state = load_state(checkpoint)
        stored = config_from_json(state["config"], f"{checkpoint} (config)")
        if stored != config:
            before, after = config_to_dict(stored), config_to_dict(config)
            changed = sorted(k for k in before if before[k] != after.get(k))
            raise ValueError(
                f"{run_dir}: --resume with a config that differs from the run's "
                f"(sections {', '.join(changed)}); resume with the same recipe and --set values"
            )
        return state
    if checkpoint.is_file() and not resume:
        raise ValueError(
            f"{run_dir} already holds a training run ({checkpoint}); pass --resume to continue "
            "it or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config_to_json(config) + "\n")
    return None


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by a signal; the message says what the run folder now holds."""


def _global_step(state: dict[str, Any] | None) -> int | None:
    return None if state is None else int(state["global_step"])


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    build_model: ModelBuilder | None = None,
    build_stages: StagesBuilder | None = None,
    progress: bool = True,
) -> TrainResult:
    """Run (or resume) every stage of ``config`` and leave the state in ``run_dir``.

    Args:
        config: the resolved recipe.
        run_dir: the run directory (created); holds config.json, metrics.csv, checkpoints/.
        resume: continue from ``run_dir/checkpoints/last.pt`` if it exists.
        build_model: ``config -> nn.Module``; default ``avloc.models.create_model``.
        build_stages: ``(config, model, runtime) -> [Stage]``; default: the avloc stages
            (``training.objectives.build_stages``) over ``training.data.load_data``.
        progress: show a tqdm bar on the main process.

    Returns:
        Where the final checkpoint is, the global step and the last logged numbers.

    Raises:
        ValueError: the run dir holds another run (without ``resume``), the resumed config
            differs from the stored one, or the data cannot fill one batch.
        TrainingInterrupted: Ctrl-C or SIGTERM during training. The first stops at the end
            of the step and saves the state; a second stops at once, saving nothing. (DDP
            runs save the state as of the interrupt.) Before training starts, while the data
            is made, a plain KeyboardInterrupt.
    """
    runtime = setup_runtime(config)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    run_dir = Path(run_dir)
    seed_everything(config.seed)
    # the model first: a bad init_from is refused before the run folder is made
    model = place_model((build_model or _default_model)(config), config, runtime.device)
    # rank 0 alone reads and writes the run folder; the others are sent the state to resume
    state = _from_main(runtime, lambda: _prepare_run_dir(config, run_dir, resume))
    with preserved_rng():
        if build_stages is None:
            stages = _default_stages(config, model, runtime, progress)
        else:
            stages = build_stages(config, model, runtime)
    position = _Position()
    if state is not None:
        model.load_state_dict(state["model"])
        position = _Position(state["stage_index"], state["stage_step"], state["global_step"])
        set_rng_state(state["rng"])
    log = MetricsLog(
        run_dir / "metrics.csv",
        keep_until_step=position.global_step if state is not None else None,
        enabled=runtime.is_main,
    )
    loop = _Loop(
        config, runtime, model, stages, run_dir, log, position, rng_state(), progress, state
    )
    model.train()
    with StopRequests(enabled=not runtime.distributed) as loop.stop:
        try:
            _run_all(loop)
        except StopNow:  # mid-step: the weights may be a step ahead of the position
            kept = loop.saved_step if loop.saved_step is not None else _global_step(state)
            raise TrainingInterrupted(
                f"stopped at once; --resume continues from step {kept}"
                if kept is not None
                else "stopped at once, before the first checkpoint; the run starts over"
            ) from None
        except KeyboardInterrupt:
            with deferred_signals(deliver=False):  # a press during this save changes nothing
                loop.save()  # the state after the last completed step: resuming replays the rest
            raise TrainingInterrupted(
                f"saved the state after step {loop.position.global_step} in {loop.checkpoint}; "
                "--resume continues the run"
            ) from None
    return TrainResult(run_dir, loop.checkpoint, loop.position.global_step, loop.last_metrics)


# --- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.train", description="Train an avloc model from a recipe."
    )
    from training.recipes import RECIPES

    parser.add_argument("recipe", help=f"recipe name: {', '.join(RECIPES)} (training/recipes/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    parser.add_argument("--out", default=None, help="run directory (default runs/RECIPE)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m training.train``; returns the exit status."""
    from training.recipes import get_recipe

    args = build_parser().parse_args(argv)
    try:
        config = apply_overrides(get_recipe(args.recipe), args.overrides)
        result = train(
            config,
            args.out or f"runs/{args.recipe}",
            resume=args.resume,
            progress=not args.no_progress,
        )
        if dist.is_initialized():
            dist.barrier()  # no process tears its process group down while another still uses it
    except TrainingInterrupted as stop:
        print(f"training: interrupted; {stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(
            "training: interrupted before the first step (while the data and model were "
            "prepared); no checkpoint was written or changed",
            file=sys.stderr,
        )
        return 130
    except (ValueError, OSError, FloatingPointError) as error:
        print(f"training: error: {error}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"training: done at step {result.global_step}; state in {result.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
