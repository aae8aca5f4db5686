"""Tests of the training package: config overrides, the loop, resume, DDP, export."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from avloc.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from avloc.models import create_model
from training.config import (
    CorrespondenceConfig,
    DataConfig,
    OptimConfig,
    TrainConfig,
    apply_overrides,
    config_from_json,
    config_to_json,
)
from training.data import SYNTH_FORMAT
from training.objectives import Stage, StepOutput, active_stages
from training.recipes import RECIPES, get_recipe
from training.train import Runtime, TrainingInterrupted, load_state, main, train

# --- overrides ---------------------------------------------------------------------------------


def test_overrides_parse_against_field_types() -> None:
    config = apply_overrides(
        TrainConfig(),
        [
            "optim.lr=3e-4",
            "data.num_clips=100",
            "pseudo_classes.init_heads=false",
            "separation.gain_range=0.7,1.3",
            "data.manifest=some/dir",
            "data.val_manifest=none",
            "stages=correspondence,separation",
            "correspondence.objective=avts",
            "model_overrides.embed_dim=32",
        ],
    )
    assert config.optim.lr == pytest.approx(3e-4) and isinstance(config.optim.lr, float)
    assert config.data.num_clips == 100 and isinstance(config.data.num_clips, int)
    assert config.pseudo_classes.init_heads is False
    assert config.separation.gain_range == (0.7, 1.3)
    assert config.data.manifest == "some/dir" and config.data.val_manifest is None
    assert config.stages == ("correspondence", "separation")
    assert config.correspondence.objective == "avts"
    assert dict(config.model_overrides) == {"embed_dim": 32}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'; valid keys: model, "),
        ("nosuch=1", "optim.lr"),
        ("optim=1", "unknown config key"),
        ("data.num_clips=ten", "data.num_clips=ten"),
        ("pseudo_classes.init_heads=maybe", "boolean"),
        ("correspondence.objective=triplet", "infonce, avc, avts, rxid, lvs"),
        ("correspondence.pooling=mean", "max, topk"),
        ("class_aware.pooling_fraction=0", "pooling_fraction"),
        ("separation.gain_range=1", "2 comma-separated"),
        ("data.seed=5", "reserved for evaluation"),
        ("optim.lr", "section.field=value"),
        ("stages=separation,correspondence", "in the order"),
        ("warmup.pooling=mean", "warmup.pooling must be one of max, topk"),
        ("warmup.num_clips=0", "warmup.num_clips must be > 0"),
        ("separation.loss_weighting=energy", "separation.loss_weighting must be one of"),
        ("separation.snr_loss_weight=-1", "separation.snr_loss_weight must be >= 0"),
        ("separation.hidden_fraction=1.5", "separation.hidden_fraction must be in [0, 1]"),
        ("separation.offscreen_fraction=-0.1", "separation.offscreen_fraction must be in [0, 1]"),
        (
            "separation.offscreen_snr_db=20,0",
            "separation.offscreen_snr_db must be finite, low <= high",
        ),
        ("optim.lr=inf", "optim.lr must be a finite number"),
        ("optim.betas=2,3", "optim.betas must be two numbers in [0, 1)"),
        ("optim.lr=1e38", "optim.lr must be at most 1000"),
        ("data.duration_s=0.3", "data.clip_duration_s (1 s a sample) must fit"),
        ("separation.clip_duration_s=5", "separation.clip_duration_s (5 s) must fit"),
        ("seed=-1", "seed must be >= 0"),
        ("correspondence.temperature=nan", "correspondence.temperature must be a finite"),
    ],
)
def test_bad_overrides_are_rejected(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as error:
        apply_overrides(TrainConfig(), [override])
    assert message in str(error.value)


def test_config_json_round_trip() -> None:
    config = apply_overrides(get_recipe("tiny"), ["model_overrides.width=8", "optim.lr=0.01"])
    assert config_from_json(config_to_json(config)) == config
    with pytest.raises(ValueError, match=r"run\.json: unknown config keys bogus"):
        config_from_json(json.dumps({"bogus": 1}), "run.json")
    with pytest.raises(ValueError, match="unknown recipe 'nope'; registered recipes: tiny"):
        get_recipe("nope")
    assert set(RECIPES) >= {"tiny", "avloc_small", "avloc_resnet18"}


# --- the loop on a toy model (model-agnostic machinery) ----------------------------------------


class ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 1))
        self.head = nn.Linear(4, 1)
        self.register_buffer("centre", torch.zeros(4))


class ToyStage(Stage):
    """Regression with dropout and noise (both draw from the global RNG)."""

    def __init__(
        self,
        name: str,
        num_steps: int,
        part: str,
        interrupt_at: int | None,
        signals_at: dict[int, tuple[int, ...]] | None = None,
    ) -> None:
        generator = torch.Generator().manual_seed(7)
        inputs = torch.randn(24, 4, generator=generator)
        self.dataset = torch.utils.data.TensorDataset(inputs, inputs.sum(dim=1, keepdim=True))
        self.name, self.num_steps, self.part = name, num_steps, part
        self.interrupt_at = interrupt_at
        self.signals_at = signals_at or {}  # step -> signals this process sends itself in it
        self.calls = 0

    def trainable(self, model: nn.Module) -> list[nn.Parameter]:
        return list(getattr(model, self.part).parameters())

    def loss(self, model: nn.Module, batch: Any) -> StepOutput:
        self.calls += 1
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        for sig in self.signals_at.get(self.calls, ()):  # as a terminal's Ctrl-C would
            signal.raise_signal(sig)
        inputs, targets = batch
        noisy = inputs + 0.01 * torch.randn_like(inputs) - model.centre
        pred = getattr(model, self.part)(noisy)
        loss = nn.functional.mse_loss(pred, targets)
        return StepOutput(loss, {"abs_err": (pred - targets).abs().mean().item()})

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        torch.randn(100)  # validation must not move the training RNG
        return {"score": 1.0}


class ToyOffline(Stage):
    name = "pseudo_classes"

    def run_offline(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        model.centre.copy_(0.1 * torch.randn(4))
        return {"inertia": 0.5}


def _toy_config(steps: int = 4, **changes: Any) -> TrainConfig:
    return TrainConfig(
        model="toy",
        stages=("correspondence", "pseudo_classes", "separation"),
        data=DataConfig(batch_size=4, num_clips=24),
        optim=OptimConfig(lr=1e-2, warmup_steps=1),
        correspondence=CorrespondenceConfig(steps=steps),
        log_every=1,
        val_every=2,
        checkpoint_every=3,
        **changes,
    )


def _toy_builders(
    interrupt_at: int | None = None, signals_at: dict[int, tuple[int, ...]] | None = None
) -> dict[str, Any]:
    def build_stages(config: TrainConfig, model: nn.Module, runtime: Runtime) -> list[Stage]:
        steps = config.correspondence.steps
        return [
            ToyStage("correspondence", steps, "body", interrupt_at, signals_at),
            ToyOffline(),
            ToyStage("separation", steps, "head", None),
        ]

    return {
        "build_model": lambda config: ToyModel(),
        "build_stages": build_stages,
        "progress": False,
    }


def test_toy_run_writes_config_metrics_and_state(tmp_path: Path) -> None:
    config = _toy_config()
    result = train(config, tmp_path / "run", **_toy_builders())
    assert result.global_step == 8
    assert config_from_json((tmp_path / "run" / "config.json").read_text()) == config
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["step", "stage", "loss", "lr", "clips_per_s"]
    assert {"abs_err", "val_score", "inertia"} <= set(header)
    state = load_state(result.checkpoint)
    assert state["stage_index"] == 3 and state["global_step"] == 8
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["model"])
    with pytest.raises(ValueError, match="already holds a training run"):
        train(config, tmp_path / "run", **_toy_builders())


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_state(path)["model"]


def test_interrupt_and_resume_replays_the_straight_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = _toy_config(steps=6)
    straight = train(config, tmp_path / "straight", **_toy_builders())
    # Killed during the 4th step of stage 1: the state after step 3 is checkpointed.
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", **_toy_builders(interrupt_at=4))
    assert load_state(tmp_path / "resumed" / "checkpoints/last.pt")["global_step"] == 3
    resumed = train(config, tmp_path / "resumed", resume=True, **_toy_builders())
    assert resumed.global_step == straight.global_step == 12
    a, b = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows_a = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    rows_b = (tmp_path / "resumed" / "metrics.csv").read_text().splitlines()
    # Same steps, stages and losses in the log (clips/s and timings differ).
    assert [r.split(",")[:3] for r in rows_a] == [r.split(",")[:3] for r in rows_b]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_step_stops_after_that_step_and_resume_replays_the_run(
    tmp_path: Path, sig: int
) -> None:
    torch.set_num_threads(1)
    config = _toy_config(steps=6)
    straight = train(config, tmp_path / "straight", **_toy_builders())
    with pytest.raises(TrainingInterrupted, match=r"state after step 5 in .*--resume"):
        train(config, tmp_path / "run", **_toy_builders(signals_at={5: (sig,)}))
    assert load_state(tmp_path / "run" / "checkpoints/last.pt")["global_step"] == 5
    assert not list((tmp_path / "run").rglob("*.partial"))
    from training.export import _unfinished_note, training_facts

    assert _unfinished_note(training_facts(load_state(straight.checkpoint))) is None
    note = _unfinished_note(training_facts(load_state(tmp_path / "run" / "checkpoints/last.pt")))
    assert note is not None and "stopped in stage 'correspondence' (0 of 3 stages" in note
    assert signal.getsignal(sig) is not None  # the handlers in place before are back
    resumed = train(config, tmp_path / "run", resume=True, **_toy_builders())
    a, b = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.stopping as stopping

    config = _toy_config(steps=6)  # checkpoints every 3 steps
    twice = {5: (signal.SIGINT, signal.SIGINT)}
    # a double press within the patience is one request: the step is finished and saved
    with pytest.raises(TrainingInterrupted, match="state after step 5"):
        train(config, tmp_path / "a", **_toy_builders(signals_at=twice))
    monkeypatch.setattr(stopping.StopRequests.__init__, "__defaults__", (True, 0.0))
    with pytest.raises(
        TrainingInterrupted, match="stopped at once; --resume continues from step 3"
    ):
        train(config, tmp_path / "b", **_toy_builders(signals_at=twice))
    assert load_state(tmp_path / "b" / "checkpoints/last.pt")["global_step"] == 3


def test_a_press_during_the_last_save_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.stopping as stopping
    import training.train as loop

    monkeypatch.setattr(stopping.StopRequests.__init__, "__defaults__", (True, 0.0))
    real_save = torch.save

    def save(obj: Any, path: Any) -> None:
        if obj["global_step"] == 5:  # the save the first press asked for
            signal.raise_signal(signal.SIGINT)
        real_save(obj, path)

    monkeypatch.setattr(loop.torch, "save", save)
    with pytest.raises(TrainingInterrupted, match="state after step 5"):
        train(
            _toy_config(steps=6),
            tmp_path / "run",
            **_toy_builders(signals_at={5: (signal.SIGINT,)}),
        )
    assert load_state(tmp_path / "run" / "checkpoints/last.pt")["global_step"] == 5


def test_a_checkpoint_write_is_finished_before_a_signal_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.train as loop

    real_save = torch.save

    def save_with_ctrl_c(obj: Any, path: Any) -> None:
        signal.raise_signal(signal.SIGINT)  # held until the file is whole
        real_save(obj, path)

    monkeypatch.setattr(loop.torch, "save", save_with_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        save_state_of_toy(tmp_path / "last.pt")
    assert load_state(tmp_path / "last.pt")["global_step"] == 0


def save_state_of_toy(path: Path) -> None:
    from training.train import _Position, rng_state, save_state

    save_state(path, _toy_config(), ToyModel(), _Position(), rng_state())


def test_a_failed_checkpoint_write_names_the_file_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.train as loop

    save_state_of_toy(tmp_path / "last.pt")

    def full_disk(obj: Any, path: Any) -> None:
        Path(path).write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(loop.torch, "save", full_disk)
    with pytest.raises(OSError, match=r"last\.pt: could not write the training checkpoint .*kept"):
        save_state_of_toy(tmp_path / "last.pt")
    assert load_state(tmp_path / "last.pt")["global_step"] == 0
    assert not (tmp_path / "last.partial").exists()


def test_a_failed_metrics_write_names_the_log_and_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "run" / "metrics.csv").mkdir(parents=True)  # in the way of the rename
    with pytest.raises(OSError, match=r"metrics\.csv: could not write the metrics log"):
        train(_toy_config(), tmp_path / "run", **_toy_builders())
    assert not (tmp_path / "run" / "metrics.partial").exists()


def test_bad_run_folders_and_checkpoints_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--resume: .*typo holds no run"):
        train(_toy_config(), tmp_path / "typo", resume=True, **_toy_builders())
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="afile is a file"):
        train(_toy_config(), tmp_path / "afile", **_toy_builders())
    run = train(_toy_config(), tmp_path / "run", **_toy_builders())
    (tmp_path / "run" / "metrics.csv").write_bytes(os.urandom(64) + b"\xff")
    with pytest.raises(ValueError, match=r"metrics\.csv: not the run's metrics log"):
        train(_toy_config(), tmp_path / "run", resume=True, **_toy_builders())
    state = load_state(run.checkpoint)
    del state["config"]
    torch.save(state, tmp_path / "nocfg.pt")
    with pytest.raises(ValueError, match=r"an incomplete training state \(no config"):
        load_state(tmp_path / "nocfg.pt")
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="damaged, truncated or not written by") as error:
        load_state(tmp_path / "noise.pt")
    assert "weights_only=False" not in str(error.value)


def test_a_trained_stage_of_zero_steps_is_left_out() -> None:
    config = apply_overrides(get_recipe("tiny"), ["separation.steps=0"])
    assert "separation" not in active_stages(config)
    assert "class_aware" in active_stages(config)


def test_resume_with_a_different_config_is_refused(tmp_path: Path) -> None:
    train(_toy_config(), tmp_path / "run", **_toy_builders())
    changed = dataclasses.replace(_toy_config(), seed=3)
    with pytest.raises(ValueError, match="differs from the run's"):
        train(changed, tmp_path / "run", resume=True, **_toy_builders())


def test_too_few_clips_for_a_batch_is_explained(tmp_path: Path) -> None:
    config = dataclasses.replace(_toy_config(), data=DataConfig(batch_size=32))
    with pytest.raises(ValueError, match=r"lower data\.batch_size"):
        train(config, tmp_path / "run", **_toy_builders())


def test_bf16_autocast_keeps_fp32_master_weights(tmp_path: Path) -> None:
    result = train(_toy_config(steps=2, precision="bf16"), tmp_path / "run", **_toy_builders())
    assert all(t.dtype == torch.float32 for t in _weights(result.checkpoint).values())


def test_main_reports_bad_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiny", "--set", "optim.nope=1"]) == 2
    assert "unknown config key 'optim.nope'" in capsys.readouterr().err


# --- the avloc stages on in-memory clips (no decoding) -----------------------------------------


@dataclasses.dataclass
class FakeBatch:
    frames: torch.Tensor
    audio: torch.Tensor
    clip_index: torch.Tensor
    start_s: torch.Tensor

    def to(self, device: torch.device) -> FakeBatch:
        return FakeBatch(*(getattr(self, f.name).to(device) for f in dataclasses.fields(self)))


class FakeClips(torch.utils.data.Dataset):
    """Solo 'clips': a bright square whose colour and tone pitch depend on the class."""

    def __init__(self, num_clips: int, size: int = 64, offset: int = 0) -> None:
        self.num_clips, self.size, self.offset = num_clips, size, offset

    def __len__(self) -> int:
        return self.num_clips

    def box(self, index: int) -> tuple[float, float, float, float]:
        x0 = 0.1 + 0.5 * (((index + self.offset) * 7) % 5) / 5
        return (x0, 0.2, x0 + 0.3, 0.6)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        label = (index + self.offset) % 3
        frame = torch.zeros(1, 3, self.size, self.size)
        x0, y0, x1, y1 = (int(v * self.size) for v in self.box(index))
        frame[0, label, y0:y1, x0:x1] = 2.0
        t = torch.arange(11025) / 11025
        audio = 0.3 * torch.sin(2 * torch.pi * (220 * (label + 1)) * t)
        return frame, audio, index


def _fake_collate(items: Any) -> FakeBatch:
    frames, audio, index = zip(*items, strict=True)
    return FakeBatch(
        torch.stack(frames), torch.stack(audio), torch.tensor(index), torch.zeros(len(index))
    )


def _fake_data(size: int = 64, num_clips: int = 12) -> Any:
    from avloc.data.manifest import BoxAt, SceneClip, SceneObject
    from training.data import TrainData

    val = FakeClips(4, size, offset=1)
    clips = [
        SceneClip(
            clip=Path(f"{i}.mp4"),
            duration_s=1.0,
            fps=8.0,
            sample_rate=11025,
            objects=(SceneObject(f"c{(i + 1) % 3}", True, None, (BoxAt(0.0, *val.box(i)),)),),
        )
        for i in range(4)
    ]
    train_clips = FakeClips(num_clips, size)
    warmup = FakeClips(num_clips, size, offset=2)
    return TrainData(
        train_clips, train_clips, val, clips, _fake_collate, window_s=1.0, warmup=warmup
    )


def test_a_dataset_without_other_windows_is_explained() -> None:
    """Stages and validation that need another window than the run's say which setting to
    drop when the dataset cannot give one (the fakes here have no ``view``)."""
    data = _fake_data()
    with pytest.raises(ValueError, match="FakeClips has no other windows"):
        data.train_view(2.0, None)
    with pytest.raises(ValueError, match="FakeClips has no other windows"):
        data.validate_separation(create_model("avloc-tiny"), torch.device("cpu"), 2, 2.0)
    assert data.train_view(1.0, None) is data.train  # the run's own window needs no view


def _tiny_stage_config(**changes: Any) -> TrainConfig:
    config = apply_overrides(
        get_recipe("tiny"), ["data.batch_size=4", "log_every=1", "val_every=2"]
    )
    return dataclasses.replace(config, **changes)


def _build_tiny_stages(config: TrainConfig, model: nn.Module, runtime: Runtime) -> list[Stage]:
    from training.objectives import build_stages

    return build_stages(config, model, _fake_data())


@pytest.mark.parametrize("objective", ["infonce", "avc", "avts", "rxid", "lvs", "topk"])
def test_every_stage_runs_two_steps_on_avloc_tiny(tmp_path: Path, objective: str) -> None:
    torch.manual_seed(0)
    overrides = [f"correspondence.objective={objective}"]
    if objective == "topk":  # InfoNCE with top-k pooling in stages 1 and 3
        overrides = ["correspondence.pooling=topk", "class_aware.pooling=topk"]
    if objective == "infonce":  # and a max-pooled warm-up before stage 1
        overrides = ["warmup.steps=2"]
    config = apply_overrides(_tiny_stage_config(), overrides)
    stages = active_stages(config) if objective in ("infonce", "topk") else ["correspondence"]
    config = dataclasses.replace(config, stages=tuple(stages))
    result = train(config, tmp_path / "run", build_stages=_build_tiny_stages, progress=False)
    assert ("warmup" in stages) == (objective == "infonce")  # the tiny recipe has no warm-up
    assert result.global_step == 2 * (len(stages) - ("pseudo_classes" in stages))
    rows = (tmp_path / "run" / "metrics.csv").read_text()
    for name in stages:
        assert f",{name}," in rows
    losses = [float(r.split(",")[2]) for r in rows.splitlines()[1:] if r.split(",")[2]]
    assert losses and all(np.isfinite(losses))
    if objective == "infonce":
        assert {"val_ciou", "val_pointing", "val_class_ciou", "val_sdr"} <= set(
            rows.splitlines()[0].split(",")
        )
        state = load_state(result.checkpoint)["model"]
        assert state["class_head.centroids"].abs().sum() > 0  # k-means filled them


def _shrunk_recipe(name: str, device: str = "cpu") -> TrainConfig:
    """Recipe ``name`` with its model, objectives and precision, at two steps a stage on small
    batches of in-memory clips (its data section's own windows and augmentation need decoded
    clips, which FakeClips are not)."""
    return apply_overrides(
        get_recipe(name),
        [
            *("warmup.steps=2", "correspondence.steps=2", "class_aware.steps=2"),
            "separation.steps=2",
            *("data.batch_size=4", "data.num_workers=0", "optim.warmup_steps=0"),
            *("separation.batch_size=2", "separation.clip_duration_s=None"),
            *("separation.augment=None", "pseudo_classes.restarts=1"),
            *("pseudo_classes.iterations=5", "log_every=1", "val_every=2"),
            f"device={device}",
        ],
    )


def _build_stages_at_input_size(
    config: TrainConfig, model: nn.Module, runtime: Runtime
) -> list[Stage]:
    from training.objectives import build_stages

    # Enough clips for every pseudo-class (k-means needs one clip per cluster).
    num_clips = max(12, model.class_head.config.num_classes + 4)
    return build_stages(config, model, _fake_data(model.config.frame_size[0], num_clips))


def test_freeze_visual_trains_the_audio_side_only(tmp_path: Path) -> None:
    config = dataclasses.replace(
        apply_overrides(_tiny_stage_config(), ["correspondence.freeze_visual=true"]),
        stages=("correspondence",),
    )
    torch.manual_seed(0)
    model = create_model(config.model, **dict(config.model_overrides))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    result = train(
        config,
        tmp_path / "run",
        build_model=lambda _: model,
        build_stages=_build_tiny_stages,
        progress=False,
    )
    after = load_state(result.checkpoint)["model"]
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(name.startswith("audio.") for name in changed)
    assert "avol.audio_proj.0.weight" in changed
    # weights and batch-norm statistics of what the maps see stay as they were
    assert not any(name.startswith(("visual.", "avol.visual_proj")) for name in changed)
    assert any(name.startswith("visual.") and "running_mean" in name for name in before)


def test_channels_last_runs_the_same_maths_in_another_memory_layout(tmp_path: Path) -> None:
    losses, states = {}, {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        config = dataclasses.replace(
            _tiny_stage_config(), stages=("correspondence",), channels_last=channels_last
        )
        run = tmp_path / f"channels_last={channels_last}"
        result = train(config, run, build_stages=_build_tiny_stages, progress=False)
        rows = (run / "metrics.csv").read_text().splitlines()[1:]
        losses[channels_last] = [float(r.split(",")[2]) for r in rows if r.split(",")[2]]
        states[channels_last] = load_state(result.checkpoint)["model"]
    conv = states[True]["visual.layer1.0.conv1.weight"]
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert states[False]["visual.layer1.0.conv1.weight"].is_contiguous()
    # The same first loss; after an AdamW step, which divides tiny gradients by their own
    # size, rounding differences grow, but stay small.
    np.testing.assert_allclose(losses[True][0], losses[False][0], rtol=2e-4)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-2)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_runs_each_of_its_stages_for_two_steps(tmp_path: Path, name: str) -> None:
    """Each recipe's own model (e.g. the GPU recipe's ResNet-18 at 224 px, on CPU here)."""
    torch.manual_seed(0)
    config = _shrunk_recipe(name)
    result = train(
        config, tmp_path / "run", build_stages=_build_stages_at_input_size, progress=False
    )
    assert result.global_step == 2 * (len(active_stages(config)) - 1)  # all but k-means
    assert np.isfinite(result.last_metrics["val_sdr"])
    assert load_state(result.checkpoint)["model"]["class_head.centroids"].abs().sum() > 0


@pytest.mark.gpu
def test_gpu_recipe_runs_each_stage_on_cuda_in_bf16(tmp_path: Path) -> None:
    """``python -m pytest -m gpu``: the GPU recipe's stages on CUDA with its bf16 autocast."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    config = _shrunk_recipe("avloc_resnet18", device="cuda")
    assert config.precision == "bf16"
    result = train(
        config, tmp_path / "run", build_stages=_build_stages_at_input_size, progress=False
    )
    assert result.global_step == 6 and np.isfinite(result.last_metrics["val_sdr"])


def test_gpu_recipe_keeps_the_evaluation_styles_held_out_and_scales_up_avloc_small() -> None:
    small, big = get_recipe("avloc_small"), get_recipe("avloc_resnet18")
    assert big.model == "avloc-resnet18" and big.data.sprite_styles == small.data.sprite_styles
    assert big.data.seed == small.data.seed and big.data.num_clips > small.data.num_clips
    assert big.data.batch_size > small.data.batch_size
    assert big.model_overrides == small.model_overrides  # softmax masks in both
    for recipe in (small, big):  # the warm-up draws its clips in trained styles only
        assert set(recipe.warmup.sprite_styles) <= set(recipe.data.sprite_styles)
    assert create_model(big.model).config.frame_size == (224, 224)


# --- the tiny recipe on real `avloc synth` clips -------------------------------------------------


@pytest.fixture(scope="module")
def synth_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny recipe's data (8 + 2 one-second 64-px clips), generated once per module."""
    from training.data import SynthSet, ensure_synth

    cache = tmp_path_factory.mktemp("synth")
    data = get_recipe("tiny").data
    for num, seed in ((data.num_clips, data.seed), (2, data.val_seed)):
        synth_set = SynthSet("solo", num, seed, data.duration_s, data.size)
        ensure_synth(cache, synth_set, 1, progress=False)
    return cache


def test_tiny_recipe_resume_replays_the_straight_run(tmp_path: Path, synth_cache: Path) -> None:
    from training.train import _default_stages

    torch.set_num_threads(1)
    config = apply_overrides(
        get_recipe("tiny"),
        [
            *(f"data.cache_dir={synth_cache}", "warmup.steps=3", "warmup.num_clips=4"),
            *("correspondence.steps=4", "class_aware.steps=2"),
        ],
    )
    stages = ("warmup", "correspondence", "pseudo_classes", "class_aware")
    config = dataclasses.replace(config, stages=stages, checkpoint_every=100)
    calls = {"n": 0}

    def interrupted(config: TrainConfig, model: nn.Module, runtime: Runtime) -> list[Stage]:
        stages = _default_stages(config, model, runtime)
        loss = stages[0].loss

        def loss_then_kill(model: nn.Module, batch: Any) -> StepOutput:
            calls["n"] += 1
            if calls["n"] == 3:  # killed during the warm-up's step 3: steps 1-2 are done
                raise KeyboardInterrupt
            return loss(model, batch)

        stages[0].loss = loss_then_kill  # type: ignore[method-assign]
        return stages

    straight = train(config, tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "b", build_stages=interrupted, progress=False)
    assert load_state(tmp_path / "b" / "checkpoints/last.pt")["global_step"] == 2
    resumed = train(config, tmp_path / "b", resume=True, progress=False)
    assert resumed.global_step == straight.global_step == 9
    a, b = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_separation_stage_trains_on_its_own_window_batch_and_augmentation(
    tmp_path: Path, synth_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``separation.clip_duration_s``/``batch_size``/``augment`` give stage 4 other samples
    than stages 1-3 (the 3-s windows of inference), read from the same decoded clips, and its
    validation mixes windows of that length too."""
    from avloc.metrics import separation as separation_metrics
    from training.train import _default_stages, batch_stream

    config = apply_overrides(
        get_recipe("tiny"),
        [f"data.cache_dir={synth_cache}", "data.clip_duration_s=0.5",
         "data.augment.grayscale_p=1", "separation.clip_duration_s=1.0",
         "separation.batch_size=2", "separation.augment.grayscale_p=0",
         "model_overrides.separator.source_map=class"],
    )  # fmt: skip
    model = create_model(config.model, **dict(config.model_overrides))
    stages = _default_stages(config, model, Runtime())
    first, separation = stages[0], stages[-1]
    assert separation.name == "separation" and separation.batch_size == 2
    assert separation.dataset._cache is first.dataset._cache  # type: ignore[union-attr]
    grey = next(batch_stream(first, config, Runtime(), 0, 0))
    assert grey.audio.shape == (4, 5512)
    colour = next(batch_stream(separation, config, Runtime(), 3, 0))
    assert colour.audio.shape == (2, 11025)
    std, mean = (torch.tensor(v)[:, None, None] for v in (IMAGENET_STD, IMAGENET_MEAN))
    frames = [b.frames * std + mean for b in (grey, colour)]
    assert frames[0].std(dim=-3).max() < 1e-4 < frames[1].std(dim=-3).max()  # grey vs colour
    scored: list[int] = []
    score_mixture = separation_metrics.score_mixture

    def spy(references: Any, estimates: Any, mixture: Any, *args: Any) -> Any:
        scored.append(mixture.shape[-1])
        return score_mixture(references, estimates, mixture, *args)

    monkeypatch.setattr(separation_metrics, "score_mixture", spy)
    with torch.no_grad():
        assert "sdr" in separation.validate(model.eval(), torch.device("cpu"))
    assert scored and set(scored) == {11025}  # 1-s mixtures, not the run's 0.5-s windows
    monkeypatch.undo()
    result = train(config, tmp_path / "run", progress=False)
    assert result.global_step == 6
    # Softmax masks (the sources compete for each bin) train through the same stage, here
    # with magnitude-weighted cross-entropy and the waveforms' SNR loss beside it, and every
    # mixture's second source heard but not seen: its bins are the rest's.
    softmax = apply_overrides(
        config,
        ["model_overrides.separator.mask_mode=softmax", "separation.loss_weighting=magnitude",
         "separation.snr_loss_weight=0.05", "separation.hidden_fraction=1"],
    )  # fmt: skip
    from avloc import losses

    seen: list[tuple[Tensor, Tensor]] = []
    softmax_loss = losses.mask_softmax_loss

    def spy_loss(logits: Tensor, targets: Tensor, *args: Any) -> Tensor:
        seen.append((logits.detach(), targets))
        return softmax_loss(logits, targets, *args)

    monkeypatch.setattr(losses, "mask_softmax_loss", spy_loss)
    assert train(softmax, tmp_path / "softmax", progress=False).global_step == 6
    assert seen and all((t[:, 1] == 0).all() and (t[:, 0] > 0).any() for _, t in seen)
    assert all((logits[:, 1] == -1e4).all() and (logits[:, 0] > -1e4).all() for logits, _ in seen)
    logged = (tmp_path / "softmax/metrics.csv").read_text().splitlines()
    assert {"mask", "neg_snr"} <= set(logged[0].split(","))
    assert all(math.isfinite(float(row.split(",")[2])) for row in logged[1:] if row.split(",")[2])
    with pytest.raises(ValueError, match=r"separation\.clip_duration_s"):
        apply_overrides(config, ["separation.clip_duration_s=0"])
    assert apply_overrides(config, ["separation.augment=none"]).separation.augment is None


def test_separation_stage_hears_offscreen_noise_as_the_rests(
    tmp_path: Path, synth_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``separation.offscreen_fraction``: that fraction of the mixtures gets noise no object makes;
    the separator hears it, its sources stay the clean stems, so noisy bins are the rest's."""
    from avloc import losses

    config = apply_overrides(
        get_recipe("tiny"),
        [f"data.cache_dir={synth_cache}", "stages=separation", "separation.steps=2",
         "model_overrides.separator.mask_mode=softmax", "separation.offscreen_fraction=1",
         "separation.offscreen_snr_db=0,0"],
    )  # fmt: skip
    heard: list[tuple[Tensor, Tensor]] = []
    softmax_loss = losses.mask_softmax_loss

    def spy_loss(logits: Tensor, targets: Tensor, mix_magnitude: Tensor, *args: Any) -> Tensor:
        heard.append((targets, mix_magnitude))
        return softmax_loss(logits, targets, mix_magnitude, *args)

    monkeypatch.setattr(losses, "mask_softmax_loss", spy_loss)
    assert train(config, tmp_path / "noisy", progress=False).global_step == 2
    clean = apply_overrides(config, ["separation.offscreen_fraction=0"])
    train(clean, tmp_path / "clean", progress=False)
    (noisy_targets, noisy_mix), (clean_targets, clean_mix) = heard[0], heard[2]
    # the same clips and gains (the noise is drawn after them), heard with noise as loud
    # as the sources: the mixture is louder, and fewer bins are any source's
    assert noisy_mix.pow(2).mean() > 1.3 * clean_mix.pow(2).mean()
    assert noisy_targets.sum() < 0.9 * clean_targets.sum()


def _torchrun_env(tmp_path: Path) -> dict[str, str]:
    # torchrun's agent keeps a torchelastic_* folder in the temp dir after a run; keep it in
    # the test's own folder rather than one more in /tmp per run.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    return {**env, "TMPDIR": str(tmp_path)}


def _launch_ddp(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = _torchrun_env(tmp_path)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--master_port", str(29500 + os.getpid() % 1000), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_ddp_tiny_recipe_two_cpu_processes(tmp_path: Path, synth_cache: Path) -> None:
    out = tmp_path / "run"
    done = _launch_ddp(
        ["-m", "training.train", "tiny", "--out", str(out), "--no-progress",
         "--set", f"data.cache_dir={synth_cache}", "--set", "stages=correspondence"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_state(out / "checkpoints/last.pt")
    assert state["global_step"] == 2 and state["stage_index"] == 1
    assert not any(k.startswith(("module.", "model.")) for k in state["model"])
    assert (out / "metrics.csv").read_text().startswith("step,stage,loss")


def _launch_two_machines(
    port: int, runs: tuple[tuple[Path, Path], tuple[Path, Path]], tmp: Path, *extra: str
) -> list[subprocess.CompletedProcess[str]]:
    """The tiny recipe's first stage as one job on two "machines": two torchrun agents on this
    host (``--nnodes 2``, one process each), machine ``i`` with its own ``(cache, out)``."""
    env = _torchrun_env(tmp)
    agents = []
    for node, (cache, out) in enumerate(runs):
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
        command += ["--node_rank", str(node), "--nproc_per_node", "1"]
        command += ["--master_addr", "127.0.0.1", "--master_port", str(port)]
        command += ["-m", "training.train", "tiny", "--out", str(out), "--no-progress"]
        command += ["--set", f"data.cache_dir={cache}", "--set", "stages=correspondence", *extra]
        agents.append(
            subprocess.Popen(
                command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    done = []
    for agent in agents:
        stdout, stderr = agent.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(agent.args, agent.returncode, stdout, stderr))
    return done


def test_ddp_on_two_machines_that_share_no_files(tmp_path: Path, synth_cache: Path) -> None:
    """Rank 0 keeps the run folder, and the other machine is sent the state to resume from; the
    other machine, not seeing rank 0's data cache, makes its own copy of the same clips."""
    port = 29500 + (os.getpid() + 500) % 1000
    first, second = (synth_cache, tmp_path / "run0"), (tmp_path / "cache1", tmp_path / "run1")
    for done in _launch_two_machines(port, (first, second), tmp_path):
        assert done.returncode == 0, done.stderr[-3000:]
    assert load_state(tmp_path / "run0/checkpoints/last.pt")["global_step"] == 2
    assert not (tmp_path / "run1").exists()  # rank 1 writes no run folder of its own
    made = sorted((tmp_path / "cache1").rglob("*.mp4"))  # the same clips, byte for byte
    assert len(made) == 10 and all(
        p.read_bytes() == (synth_cache / p.relative_to(tmp_path / "cache1")).read_bytes()
        for p in made
    )

    # --resume of the finished run: machine 1 has no checkpoint, and is sent rank 0's
    for done in _launch_two_machines(port + 1, (first, second), tmp_path, "--resume"):
        assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "run1").exists()

    # rank 0's error (nothing to resume in its --out) stops both machines, each saying why
    empty = (synth_cache, tmp_path / "empty")
    for done in _launch_two_machines(port + 2, (empty, second), tmp_path, "--resume"):
        assert done.returncode != 0 and "holds no run" in done.stderr


_DDP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_training import _build_tiny_stages, _tiny_stage_config
from training.train import train
train(_tiny_stage_config(), {out!r}, build_stages=_build_tiny_stages, progress=False)
"""


@pytest.mark.slow  # ~20 s on 2 busy cores; the tiny-recipe DDP test above runs by default
def test_ddp_runs_every_stage_of_avloc_tiny(tmp_path: Path) -> None:
    script = tmp_path / "ddp_run.py"
    out = tmp_path / "run"
    script.write_text(_DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out)))
    done = _launch_ddp([str(script)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_state(out / "checkpoints/last.pt")
    assert state["global_step"] == 6 and state["stage_index"] == 4
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,stage,loss") and len(rows) > 6  # rank 0 alone wrote it


def test_export_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    from avloc.checkpoint import load_bundle, read_bundle_metadata
    from training.export import main as export_main
    from training.export import model_from_run

    torch.manual_seed(0)
    run = tmp_path / "run"
    config = dataclasses.replace(
        apply_overrides(_tiny_stage_config(), ["warmup.steps=2"]),
        stages=("warmup", "correspondence", "pseudo_classes"),
    )
    train(config, run, build_stages=_build_tiny_stages, progress=False)
    assert export_main([str(run), str(tmp_path / "model.safetensors")]) == 0
    bundle = load_bundle(tmp_path / "model.safetensors")
    trained, _ = model_from_run(run)
    batch = _fake_collate([FakeClips(2)[i] for i in range(2)])
    with torch.no_grad():
        a = bundle.localize(batch.frames[:, 0], batch.audio)
        b = trained.localize(batch.frames[:, 0], batch.audio)
    assert torch.equal(a.maps, b.maps) and torch.equal(a.class_maps, b.class_maps)
    metadata = read_bundle_metadata(tmp_path / "model.safetensors")
    assert metadata.extra["training_step"] == "4"
    assert json.loads(metadata.extra["training_stages_done"]) == list(config.stages)
    assert export_main([str(tmp_path / "nowhere"), str(tmp_path / "x.safetensors")]) == 2
    checkpoint = run / "checkpoints" / "last.pt"
    before = checkpoint.read_bytes()
    assert export_main([str(run), str(checkpoint)]) == 2  # would overwrite the training state
    assert export_main([str(run), str(tmp_path)]) == 2  # a folder, not a file
    other = tmp_path / "other-run.pt"
    other.write_bytes(before)  # another run's training state is not overwritten either
    assert export_main([str(run), str(other)]) == 2 and other.read_bytes() == before
    (tmp_path / "afile").write_text("x")
    assert export_main([str(run), str(tmp_path / "afile" / "m.safetensors")]) == 2
    assert checkpoint.read_bytes() == before


def test_a_failed_bundle_write_names_the_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import avloc.checkpoint as checkpoint

    def full_disk(source: Path, destination: Path) -> None:
        destination.with_name(destination.name + ".tmp").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write_canonical", full_disk)
    with pytest.raises(OSError, match=r"m\.safetensors: could not write the bundle .*space"):
        checkpoint.save_bundle(create_model("avloc-tiny"), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []

    def read_only(self: Path, missing_ok: bool = False) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Path, "unlink", read_only)  # the clean-up fails too: the cause is kept
    with pytest.raises(OSError, match=r"m\.safetensors: could not write the bundle .*space"):
        checkpoint.save_bundle(create_model("avloc-tiny"), tmp_path / "m.safetensors")


def test_init_from_starts_from_a_bundle_and_rejects_missing_or_mismatched_ones(
    tmp_path: Path,
) -> None:
    from avloc.checkpoint import save_bundle
    from avloc.models import create_model
    from training.train import _default_model

    config = _tiny_stage_config()
    torch.manual_seed(1)
    source = create_model(config.model, **dict(config.model_overrides))
    bundle = save_bundle(source, tmp_path / "start.safetensors")
    torch.manual_seed(2)  # a different init: only init_from can make the weights equal
    model = _default_model(dataclasses.replace(config, init_from=str(bundle)))
    for (name, a), b in zip(source.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(FileNotFoundError, match="init_from"):
        _default_model(dataclasses.replace(config, init_from=str(tmp_path / "missing.st")))
    other = save_bundle(create_model("avol-net-small"), tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match=r"other\.safetensors does not fit avloc-tiny \(\d+"):
        _default_model(dataclasses.replace(config, init_from=str(other)))
    for name, data in (("text.txt", b"hello\n"), ("empty.safetensors", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=f"init_from: .*{name}: not a readable .safetensors"):
            _default_model(dataclasses.replace(config, init_from=str(tmp_path / name)))
    # Read as avloc reads bundles: a plain safetensors file is no bundle, damaged weights are
    # refused rather than trained from.
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    save_file(source.state_dict(), str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match=r"init_from: .*plain\.safetensors: not an avloc bundle"):
        _default_model(dataclasses.replace(config, init_from=str(tmp_path / "plain.safetensors")))
    with safe_open(str(bundle), framework="pt") as handle:  # a bundle damaged on disk
        metadata = dict(handle.metadata())
    tensors = load_file(str(bundle))
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    damaged = tmp_path / "damaged.safetensors"
    save_file(tensors, str(damaged), metadata=metadata)
    with pytest.raises(ValueError, match=r"init_from: .*damaged\.safetensors: weights hold NaN"):
        _default_model(dataclasses.replace(config, init_from=str(damaged)))


def test_visual_weights_start_the_visual_encoder_from_a_local_torchvision_file(
    tmp_path: Path,
) -> None:
    from training.train import _default_model

    config = apply_overrides(get_recipe("avloc_resnet18"), ["data.num_workers=0"])
    torch.manual_seed(1)
    weights = create_model(config.model).visual.state_dict()
    torch.save(weights | {"fc.weight": torch.zeros(1000, 512)}, tmp_path / "resnet18.pth")
    torch.manual_seed(2)
    model = _default_model(
        dataclasses.replace(config, visual_weights=str(tmp_path / "resnet18.pth"))
    )
    for name, value in model.visual.state_dict().items():
        assert torch.equal(value, weights[name]), name
    with pytest.raises(
        FileNotFoundError, match=r"visual_weights: no weights file at .*missing\.pth"
    ):
        _default_model(dataclasses.replace(config, visual_weights=str(tmp_path / "missing.pth")))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"visual_weights: .*other\.pth: weights do not match"):
        _default_model(dataclasses.replace(config, visual_weights=str(tmp_path / "other.pth")))


def test_init_skip_keeps_the_seeded_initialisation_of_the_named_modules(tmp_path: Path) -> None:
    from safetensors.torch import load_file as load_bundle_weights

    from avloc.checkpoint import save_bundle
    from avloc.models import create_model
    from training.train import _default_model

    config = _tiny_stage_config()
    torch.manual_seed(1)
    bundle = save_bundle(create_model(config.model), tmp_path / "start.safetensors")
    trained = create_model(config.model)
    trained.load_state_dict(load_bundle_weights(bundle))
    torch.manual_seed(2)
    fresh = create_model(config.model)  # what a run seeded with 2 starts from
    skip = dataclasses.replace(config, init_from=str(bundle), init_skip=("separator",))
    torch.manual_seed(2)
    model = _default_model(skip)
    for name, value in model.state_dict().items():
        expected = fresh if name.startswith("separator.") else trained
        assert torch.equal(value, expected.state_dict()[name]), name
    with pytest.raises(ValueError, match="no weights under 'separatr'"):
        _default_model(dataclasses.replace(skip, init_skip=("separatr",)))
    with pytest.raises(ValueError, match="init_skip"):
        dataclasses.replace(config, init_skip=("separator",))
    # A skipped module may change shape: a deeper separator starts fresh beside loaded encoders.
    deeper = dataclasses.replace(skip, model_overrides={"separator": {"num_levels": 4}})
    model = _default_model(deeper)
    assert len(model.separator.unet.down) == 4
    assert torch.equal(model.visual.conv1.weight, trained.visual.conv1.weight)
    with pytest.raises(ValueError, match=r"(?s)start\.safetensors does not fit .*separator\.unet"):
        _default_model(dataclasses.replace(deeper, init_skip=()))


def test_init_skipped_from_grafts_the_named_modules_from_a_second_bundle(tmp_path: Path) -> None:
    from safetensors.torch import load_file as load_bundle_weights

    from avloc.checkpoint import save_bundle
    from avloc.models import create_model
    from training.train import _default_model

    config = _tiny_stage_config()
    torch.manual_seed(1)
    base = save_bundle(create_model(config.model), tmp_path / "base.safetensors")
    torch.manual_seed(3)
    donor = save_bundle(create_model(config.model), tmp_path / "donor.safetensors")
    base_weights, donor_weights = load_bundle_weights(base), load_bundle_weights(donor)
    graft = dataclasses.replace(
        config,
        init_from=str(base),
        init_skip=("separator", "visual_to_separator"),
        init_skipped_from=str(donor),
    )
    model = _default_model(graft)
    grafted = 0
    for name, value in model.state_dict().items():
        from_donor = name.startswith(("separator.", "visual_to_separator."))
        grafted += from_donor
        expected = donor_weights if from_donor else base_weights
        assert torch.equal(value, expected[name]), name
    assert grafted > 0 and not torch.equal(
        donor_weights["visual_to_separator.weight"], base_weights["visual_to_separator.weight"]
    )
    with pytest.raises(FileNotFoundError, match=r"init_skipped_from: no bundle at .*gone"):
        _default_model(dataclasses.replace(graft, init_skipped_from=str(tmp_path / "gone")))
    # Strict within the grafted modules: a donor whose separator is deeper does not fit.
    torch.manual_seed(3)
    deeper = create_model(config.model, separator={"num_levels": 4})
    other = save_bundle(deeper, tmp_path / "deeper.safetensors")
    with pytest.raises(ValueError, match=r"init_skipped_from: .*deeper\.safetensors does not fit"):
        _default_model(dataclasses.replace(graft, init_skipped_from=str(other)))
    with pytest.raises(ValueError, match="init_skipped_from needs init_skip"):
        dataclasses.replace(config, init_from=str(base), init_skipped_from=str(donor))


def test_sprite_styles_split_the_generated_training_set(tmp_path: Path) -> None:
    from avloc.data.manifest import read_manifest
    from training.data import SynthSet, ensure_synth, train_sets, warmup_sets

    data = apply_overrides(
        get_recipe("tiny"), ["data.sprite_styles=noto,symbola", "data.num_clips=5"]
    ).data
    sets = train_sets(data)
    assert [(s.num_clips, s.seed, s.sprites) for s in sets] == [
        (3, data.seed, "noto"),
        (2, data.seed + 1000, "symbola"),
    ]
    assert sets[1].folder("c").name.endswith("-symbola")
    # The cache name says which synth format made it, so an older avloc's clips are not reused.
    assert f"-f{SYNTH_FORMAT}-" in sets[1].folder("c").name
    assert train_sets(get_recipe("tiny").data)[0].sprites is None  # default style, old cache name
    symbola = SynthSet("solo", 2, 2000, 1.0, 64, "symbola")
    folder = ensure_synth(tmp_path, symbola, 1, False)
    assert folder == symbola.folder(tmp_path)
    classes = {o.class_name for c in read_manifest(folder) for o in c.objects}
    assert classes <= {"acoustic_guitar", "drum", "piano", "saxophone", "trumpet", "violin"}
    with pytest.raises(ValueError, match="sprites 'nosuch': no such folder, and no bundled style"):
        ensure_synth(tmp_path, SynthSet("solo", 1, 2000, 1.0, 64, "nosuch"), 1, False)
    # Several timbres: a set of its own (same pictures, other programs), cached under its name.
    varied = train_sets(apply_overrides(get_recipe("tiny"), ["data.vary_timbre=true"]).data)[0]
    assert varied.vary_timbre and varied.folder("c").name.endswith("-timbres")
    timbres = ensure_synth(tmp_path, dataclasses.replace(symbola, vary_timbre=True), 1, False)
    assert timbres != folder and len(read_manifest(timbres)) == 2
    # The warm-up stage's own set: the training set's settings in its styles, when it runs.
    assert warmup_sets(get_recipe("tiny")) == []  # no warm-up steps
    warm = apply_overrides(get_recipe("tiny"), ["warmup.steps=2", "warmup.num_clips=3"])
    assert [(s.num_clips, s.seed, s.sprites) for s in warmup_sets(warm)] == [(3, data.seed, "noto")]
    skipped = dataclasses.replace(warm, stages=("correspondence",))
    assert warmup_sets(skipped) == []
    # Warped sprites: another set, named by the strength.
    warped = train_sets(apply_overrides(get_recipe("tiny"), ["data.sprite_warp=0.2"]).data)[0]
    assert warped.sprite_warp == 0.2 and warped.folder("c").name.endswith("-warp0.2")


def test_soundfonts_split_the_generated_training_set_with_the_styles(tmp_path: Path) -> None:
    from training.data import ensure_synth, train_sets

    other = tmp_path / "other.sf2"
    overrides = ["data.sprite_styles=noto,symbola", f"data.soundfonts=default,{other}"]
    data = apply_overrides(get_recipe("tiny"), [*overrides, "data.num_clips=6"]).data
    sets = train_sets(data)
    assert [(s.num_clips, s.seed, s.sprites, s.soundfont) for s in sets] == [
        (2, data.seed, "noto", None),
        (2, data.seed + 1000, "noto", str(other)),
        (1, data.seed + 2000, "symbola", None),
        (1, data.seed + 3000, "symbola", str(other)),
    ]
    assert sets[0].folder("c").name.endswith("-noto")  # the default soundfont's old name
    with pytest.raises(ValueError, match=r"data\.soundfonts: .*other\.sf2 is not a file"):
        ensure_synth(tmp_path / "cache", sets[1], 1, False)
    # a run stops on it before any set is made
    from types import SimpleNamespace

    from training.data import _generated

    run = apply_overrides(get_recipe("tiny"), [*overrides, f"data.cache_dir={tmp_path / 'c'}"])
    with pytest.raises(ValueError, match=r"data\.soundfonts: "):
        _generated(run, SimpleNamespace(is_main=True, distributed=False, local_rank=0), False)
    assert not (tmp_path / "c").exists()
    # generation plays the set's own soundfont: this one is not a SoundFont at all
    other.write_bytes(b"not a soundfont")
    with pytest.raises(ValueError, match=r"other\.sf2: not a readable SoundFont"):
        ensure_synth(tmp_path / "cache", sets[1], 1, False)


def test_a_users_soundfont_or_sprite_folder_names_its_cache_by_its_contents(
    tmp_path: Path,
) -> None:
    """Two soundfonts (or sprite folders) of one name in different places are different sets,
    so neither's cached clips are taken for the other's; the same bytes elsewhere are one set."""
    from training.data import SynthSet

    fonts = [tmp_path / d / "GM.sf2" for d in ("a", "b", "c")]
    for font, data in zip(fonts, (b"one", b"two", b"one"), strict=True):
        font.parent.mkdir()
        font.write_bytes(data)
    names = [SynthSet("solo", 2, 2000, 1.0, 64, soundfont=str(f)).folder("c").name for f in fonts]
    assert all("-sf-GM-" in n for n in names)
    assert names[0] != names[1] and names[0] == names[2]
    fonts[0].write_bytes(b"changed")  # edited in place: digested again
    changed = SynthSet("solo", 2, 2000, 1.0, 64, soundfont=str(fonts[0])).folder("c").name
    assert changed not in names
    # Sprite folders: a bundled style keeps its bare name; a folder by its name and PNGs.
    assert SynthSet("solo", 2, 2000, 1.0, 64, "noto").folder("c").name.endswith("-noto")
    folders = []
    for sub, data in (("x", b"png-1"), ("y", b"png-2")):
        png = tmp_path / sub / "noto" / "violin" / "a.png"
        png.parent.mkdir(parents=True)
        png.write_bytes(data)
        folders.append(SynthSet("solo", 2, 2000, 1.0, 64, str(png.parents[1])).folder("c").name)
    assert all("-noto-" in n for n in folders) and folders[0] != folders[1]
