"""``avloc_small``: the bundled model: all four stages on ``avloc synth`` solo clips.

Measured on 2 CPU cores (the run of 2026-11-22 that made the shipped bundle): stages 1-3 with
data generation 27.4 min, stage 4 5.5 min; 33 min in all, over the 30-minute budget by ~10 %
(other work shared the cores for ~3 of those minutes). Basis, measured as CPU time per step of
16 clips on one core (bf16; benchmarks/bench_training.py gives wall-clock clips/s):
correspondence 143 ms, class-aware 89 ms, separation 220 ms, plus ~4 ms per clip for sample
augmentation in the main process; generating a 3-s clip takes ~0.07 s per worker and decoding
it into the in-memory cache 22 ms. The decoded clips take about 1.2 MB each in RAM (2,000
clips: ~2.4 GB).

The shipped ``assets/models/avloc-small.safetensors`` is this recipe's four stages (stage 4 run
on its own from the stage-1-3 bundle: ``--set stages=separation --set
init_from=STAGES_1_3.safetensors``), then stage 4 continued on 3-s mixtures, the window
inference separates (``--set stages=separation --set init_from=PREVIOUS.safetensors --set
data.clip_duration_s=3.0 --set data.batch_size=16 --set separation.steps=800``, 5.4 min).
"""

from __future__ import annotations

from avloc.data.transforms import AugmentConfig
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
    model="avloc-small",
    data=DataConfig(
        scene="solo",
        # Two sprite styles (EmojiOne and the FluidR3 soundfont stay held out for evaluation).
        sprite_styles=("noto", "symbola"),
        num_clips=2000,
        num_val_clips=16,
        seed=1000,  # training seeds are >= 1000; evaluation sets use 1-999
        val_seed=1001,
        duration_s=3.0,
        size=224,
        synth_workers=2,
        batch_size=32,  # InfoNCE needs enough negatives; 16 stalls near chance
        num_workers=0,
        num_frames=1,
        clip_duration_s=1.0,
        # Shape over palette (grey frames, wide hue jitter) and timbre over spectral balance
        # (random ±6 dB equaliser): what transfers to other styles and soundfonts.
        augment=AugmentConfig(hue=0.1, grayscale_p=0.2, eq_db=6.0),
    ),
    optim=OptimConfig(lr=1e-3, weight_decay=1e-4, warmup_steps=100, grad_clip_norm=5.0),
    # Top-k pooling: the mean of the best 30 % (stage 1) / 10 % (class maps) of locations must
    # match, so maps cover the object rather than its most telling cell (benchmarks/
    # bench_objectives.py compares the objectives and poolings).
    correspondence=CorrespondenceConfig(
        steps=4000, objective="infonce", temperature=0.07, pooling="topk", pooling_fraction=0.3
    ),
    pseudo_classes=PseudoClassConfig(iterations=50, restarts=4),
    class_aware=ClassAwareConfig(steps=1500, pooling="topk", pooling_fraction=0.1),
    separation=SeparationConfig(steps=1000),
    precision="bf16",
    seed=0,
    log_every=25,
    val_every=500,
    checkpoint_every=250,
)
