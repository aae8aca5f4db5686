"""``tiny``: every stage for two steps on a handful of small synth clips (smoke tests)."""

from __future__ import annotations

from training.config import (
    ClassAwareConfig,
    CorrespondenceConfig,
    DataConfig,
    OptimConfig,
    PseudoClassConfig,
    SeparationConfig,
    TrainConfig,
)

RECIPE = TrainConfig(
    model="avloc-tiny",
    data=DataConfig(
        cache_dir="runs/.data",
        num_clips=8,
        num_val_clips=2,
        seed=1000,
        val_seed=1001,
        duration_s=1.0,
        size=64,
        synth_workers=1,
        batch_size=4,
        num_frames=1,
        clip_duration_s=1.0,
    ),
    optim=OptimConfig(lr=1e-3, warmup_steps=0),
    correspondence=CorrespondenceConfig(steps=2),
    pseudo_classes=PseudoClassConfig(iterations=5, restarts=1),
    class_aware=ClassAwareConfig(steps=2),
    separation=SeparationConfig(steps=2),
    precision="fp32",
    seed=0,
    log_every=1,
    val_every=0,
    checkpoint_every=1,
)
