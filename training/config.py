"""Training configuration: frozen dataclasses whose defaults are the documented recipe.

A recipe is a ``TrainConfig`` value (see ``training/recipes``). The command line changes it
with ``--set section.field=value``; values are parsed against the field's declared type and
unknown keys are rejected with the list of valid ones. Each run writes its resolved config as
JSON (``config_to_json``), and ``--resume`` reads it back (``config_from_json``).

Seeds: training data uses seeds 1000 and above; evaluation sets use seeds 1-999, so a model is
never evaluated on clips it was trained on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from avloc.data.transforms import AugmentConfig
from avloc.losses import MASK_WEIGHTINGS
from avloc.models.layers import POOLINGS

STAGE_NAMES: tuple[str, ...] = (
    "warmup",
    "correspondence",
    "pseudo_classes",
    "class_aware",
    "separation",
)
OBJECTIVES: tuple[str, ...] = ("infonce", "avc", "avts", "rxid", "lvs")
MIN_TRAIN_SEED = 1000  # evaluation sets use seeds 1-999


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_pooling(section: str, pooling: str, fraction: float) -> None:
    _check_choice(f"{section}.pooling", pooling, POOLINGS)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"{section}.pooling_fraction must be in (0, 1], got {fraction}")


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}; got {value}")


@dataclass(frozen=True)
class DataConfig:
    """Where the clips come from and how they are batched."""

    manifest: str | None = None  # a train manifest (or its folder); None = generate synth data
    val_manifest: str | None = None  # a held-out manifest; None = generate a small synth set
    cache_dir: str = "runs/.data"  # generated synth sets live here, one folder per setting
    scene: str = "solo"  # avloc synth scene for the generated training set
    # Sprite styles of the generated training set (bundled names or folders), clips split
    # evenly; () = the default style. Styles left out are held out for evaluation.
    sprite_styles: tuple[str, ...] = ()
    # Play each generated object with one of its class's General-MIDI programs (avloc synth
    # --vary-timbre: viola and fiddle for a violin, other drum kits, ...), not always the same.
    vary_timbre: bool = False
    # Warp each generated sprite by a random perspective (avloc synth --sprite-warp), so each
    # class is seen in more shapes than its one drawing per style.
    sprite_warp: float = 0.0
    # Soundfonts (.sf2 files; "default" = TimGM6mb) of the generated training set, the clips
    # split evenly over every style and soundfont; () = TimGM6mb alone.
    soundfonts: tuple[str, ...] = ()
    num_clips: int = 256  # generated training clips
    num_val_clips: int = 16  # generated validation clips
    seed: int = 1000  # synth seed of the training set (training seeds are >= 1000)
    val_seed: int = 1001  # synth seed of the held-out validation set (avloc synth derives
    # per-clip seeds from (seed, index), so different seeds give disjoint clips)
    duration_s: float = 3.0  # clip length of generated clips
    size: int = 224  # generated frame size (square)
    synth_workers: int = 2  # processes avloc synth uses when generating
    batch_size: int = 16  # clips per optimisation step and process
    num_workers: int = 0  # DataLoader worker processes
    num_frames: int = 1  # video frames per training sample
    clip_duration_s: float = 1.0  # audio seconds per training sample
    # Frame augmentation of training samples (e.g. --set data.augment.grayscale_p=0.2).
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        for name in ("num_clips", "num_val_clips", "batch_size", "size", "num_frames"):
            _check_positive(f"data.{name}", getattr(self, name))
        _check_positive("data.num_workers", self.num_workers, allow_zero=True)
        _check_positive("data.synth_workers", self.synth_workers)
        _check_positive("data.duration_s", self.duration_s)
        _check_positive("data.clip_duration_s", self.clip_duration_s)
        for name in ("seed", "val_seed"):
            if getattr(self, name) < MIN_TRAIN_SEED:
                raise ValueError(
                    f"data.{name} must be >= {MIN_TRAIN_SEED}: seeds 1-999 are reserved for "
                    f"evaluation sets; got {getattr(self, name)}"
                )
        if self.val_seed == self.seed:
            raise ValueError("data.val_seed must differ from data.seed (held-out validation)")
        if self.manifest is None and self.clip_duration_s > self.duration_s:
            raise ValueError(
                f"data.clip_duration_s ({self.clip_duration_s:g} s a sample) must fit in the "
                f"generated clips' data.duration_s ({self.duration_s:g} s)"
            )


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up and cosine decay, restarted at every stage."""

    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    warmup_steps: int = 20  # linear warm-up length at the start of each stage
    schedule: str = "cosine"  # "cosine" decays to min_lr_ratio * lr; "constant" keeps lr
    min_lr_ratio: float = 0.05  # final lr of the cosine schedule, relative to lr
    grad_clip_norm: float = 5.0  # clip the global grad norm; 0 disables clipping

    def __post_init__(self) -> None:
        _check_positive("optim.lr", self.lr)
        if self.lr > 1e3:  # far beyond any use; near 1e38 AdamW's step overflows float32
            raise ValueError(f"optim.lr must be at most 1000; got {self.lr}")
        _check_positive("optim.weight_decay", self.weight_decay, allow_zero=True)
        _check_positive("optim.warmup_steps", self.warmup_steps, allow_zero=True)
        _check_positive("optim.grad_clip_norm", self.grad_clip_norm, allow_zero=True)
        _check_choice("optim.schedule", self.schedule, ("cosine", "constant"))
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"optim.min_lr_ratio must be in [0, 1]; got {self.min_lr_ratio}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"optim.betas must be two numbers in [0, 1); got {self.betas}")


@dataclass(frozen=True)
class WarmupConfig:
    """Stage 0: correspondence learnt first as AVOL-Net learns it, before stage 1 widens it.

    Max pooling on one sprite style with plain augmentation finds the objects from scratch;
    top-k pooling from scratch learns a looser correspondence, and max pooling on several
    styles with grey frames and an equaliser does not learn in the steps a recipe has
    (docs/findings.md). The objective and temperature are stage 1's (``correspondence``).
    ``steps = 0`` (the default) leaves the stage out.
    """

    steps: int = 0  # optimisation steps; 0: no warm-up
    # Its own generated clips (data.scene, data.seed, data.duration_s, data.size), the clips
    # split evenly over these styles as data.sprite_styles splits the training set's.
    sprite_styles: tuple[str, ...] = ("noto",)
    num_clips: int = 1000
    pooling: str = "max"
    pooling_fraction: float = 0.2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    lr_scale: float = 1.0  # this stage's lr = optim.lr * lr_scale

    def __post_init__(self) -> None:
        _check_positive("warmup.steps", self.steps, allow_zero=True)
        _check_positive("warmup.num_clips", self.num_clips)
        _check_pooling("warmup", self.pooling, self.pooling_fraction)
        _check_positive("warmup.lr_scale", self.lr_scale)


@dataclass(frozen=True)
class CorrespondenceConfig:
    """Stage 1: audio-visual correspondence on solo clips (AVOL-Net MIL scores)."""

    steps: int = 300  # optimisation steps
    # "infonce" | "avc" (L3) | "avts" (time-shift negatives) | "rxid" | "lvs" (LVS hard way)
    objective: str = "infonce"
    temperature: float = 0.07  # softmax temperature of the contrastive objectives
    # Multiple-instance pooling of each pair's map into its score (not used by "lvs"): "max"
    # (AVOL-Net) or "topk" (mean of the pooling_fraction best locations: maps cover objects).
    pooling: str = "max"
    pooling_fraction: float = 0.2
    lr_scale: float = 1.0  # this stage's lr = optim.lr * lr_scale
    # Train the audio side only (the audio encoder, its projection and the map calibration),
    # the visual encoder and its projection frozen in eval mode: a fine-tune on new sounds
    # that leaves what the maps see, and so their shapes, as they were.
    freeze_visual: bool = False

    def __post_init__(self) -> None:
        _check_positive("correspondence.steps", self.steps, allow_zero=True)
        _check_choice("correspondence.objective", self.objective, OBJECTIVES)
        _check_positive("correspondence.temperature", self.temperature)
        _check_pooling("correspondence", self.pooling, self.pooling_fraction)
        _check_positive("correspondence.lr_scale", self.lr_scale)


@dataclass(frozen=True)
class PseudoClassConfig:
    """Stage 2: k-means on solo clips' audio embeddings -> the class head's K centroids."""

    iterations: int = 50  # Lloyd iterations after k-means++ initialisation
    restarts: int = 4  # independent k-means runs; the lowest inertia wins
    max_clips: int = 4096  # audio embeddings clustered at most (the first clips of the set)
    init_heads: bool = True  # initialise the visual CAM conv / audio classifier from centroids

    def __post_init__(self) -> None:
        for name in ("iterations", "restarts", "max_clips"):
            _check_positive(f"pseudo_classes.{name}", getattr(self, name))


@dataclass(frozen=True)
class ClassAwareConfig:
    """Stage 3: class-aware localisation (Qian 2020 / DSOL coarse-to-fine) on 2-source mixes."""

    steps: int = 200  # optimisation steps
    audio_class_weight: float = 1.0  # multi-label BCE of the audio classifier on mixtures
    visual_class_weight: float = 1.0  # MIL BCE of the max-pooled visual class maps
    align_weight: float = 0.5  # category-specific audio-visual alignment loss
    prior_weight: float = 0.5  # weight of the stage-1 map as a spatial prior for class maps
    # MIL pooling of the class maps: "max" (DSOL) or "topk" (mean of the best fraction).
    pooling: str = "max"
    pooling_fraction: float = 0.2
    lr_scale: float = 1.0  # this stage's lr = optim.lr * lr_scale

    def __post_init__(self) -> None:
        _check_positive("class_aware.steps", self.steps, allow_zero=True)
        _check_pooling("class_aware", self.pooling, self.pooling_fraction)
        for name in ("audio_class_weight", "visual_class_weight", "align_weight"):
            _check_positive(f"class_aware.{name}", getattr(self, name), allow_zero=True)
        if not 0.0 <= self.prior_weight <= 1.0:
            raise ValueError(f"class_aware.prior_weight must be in [0, 1]; got {self.prior_weight}")
        _check_positive("class_aware.lr_scale", self.lr_scale)


@dataclass(frozen=True)
class SeparationConfig:
    """Stage 4: Sound-of-Pixels mix-and-separate on pairs of solo clips.

    Binary masks (log1p-weighted BCE) or ratio masks (weighted L1) follow the model's
    ``separator.mask_mode``; change it with ``--set model_overrides.separator.mask_mode=ratio``.
    """

    steps: int = 300  # optimisation steps
    gain_range: tuple[float, float] = (0.5, 1.5)  # random per-source gain before mixing (SoP)
    # Validation mixtures scored with SDR (3 s each in the recipe: ~9 s for 32 on 2 cores). Eight
    # 3-s mixtures put the shipped bundle at 20.9 dB and 32 at 13.3, near its 14.0 held out.
    max_val_mixtures: int = 32
    lr_scale: float = 1.0  # this stage's lr = optim.lr * lr_scale
    # Mixture seconds and clips per step when they differ from data.clip_duration_s /
    # data.batch_size: the separator runs on the 3-s windows of inference, where the
    # correspondence stages want short windows and big batches of negatives.
    clip_duration_s: float | None = None
    batch_size: int | None = None
    # Augmentation of this stage's samples when it differs from data.augment (set in a recipe):
    # grey frames and a random EQ help the correspondence stages transfer to other styles, but
    # they hide from the separator the colours and timbres that tell two sources apart.
    augment: AugmentConfig | None = None
    # How the mask loss weights spectrogram bins (``avloc.losses.mask_weights``): "log1p" as
    # Sound-of-Pixels, or "magnitude", closer to the energy that SDR counts.
    loss_weighting: str = "log1p"
    # Weight of a waveform loss added to the mask loss: minus the SNR (dB) of the waveforms the
    # masks rebuild (``avloc.losses.negative_snr_loss``); 0: the mask loss alone.
    snr_loss_weight: float = 0.0
    # Fraction of mixtures whose second source is heard but not seen: its vector is left out,
    # so its bins are the rest's. Without it a softmax separator learns that the objects it is
    # given share all the sound, and one object alone takes the whole mixture. Softmax masks
    # only: binary and ratio masks each hear their own vector alone already.
    hidden_fraction: float = 0.0
    # Fraction of mixtures with a sound that no object makes added at an SNR drawn from
    # offscreen_snr_db (``avloc.data.mixing.offscreen_sound``): noise (wind, a room, a crowd)
    # or, for offscreen_tone_fraction of them, a steady tone (a hum, a beep). Its bins are the
    # rest's, so at inference such sound stays in the residual, not in the objects' stems.
    offscreen_fraction: float = 0.0
    offscreen_snr_db: tuple[float, float] = (0.0, 20.0)  # the mixture's level over the sound's
    offscreen_tone_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("separation.steps", self.steps, allow_zero=True)
        _check_positive("separation.snr_loss_weight", self.snr_loss_weight, allow_zero=True)
        for name in ("hidden_fraction", "offscreen_fraction", "offscreen_tone_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"separation.{name} must be in [0, 1]; got {getattr(self, name)}")
        low, high = self.offscreen_snr_db
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(
                f"separation.offscreen_snr_db must be finite, low <= high; got {low}, {high}"
            )
        _check_choice("separation.loss_weighting", self.loss_weighting, MASK_WEIGHTINGS)
        if self.clip_duration_s is not None:
            _check_positive("separation.clip_duration_s", self.clip_duration_s)
        if self.batch_size is not None:
            _check_positive("separation.batch_size", self.batch_size)
        low, high = self.gain_range
        if not 0.0 < low <= high:
            raise ValueError(f"separation.gain_range must be 0 < low <= high; got {low}, {high}")
        _check_positive("separation.max_val_mixtures", self.max_val_mixtures)
        _check_positive("separation.lr_scale", self.lr_scale)


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run; the defaults are the bundled ``avloc-small`` recipe's shape."""

    model: str = "avloc-small"  # registry name passed to avloc.models.create_model
    model_overrides: Mapping[str, Any] = field(default_factory=dict)  # create_model(**overrides)
    stages: tuple[str, ...] = STAGE_NAMES  # run in this order; any subsequence of STAGE_NAMES
    # A bundle (.safetensors) of the same architecture whose weights the model starts from, so
    # later stages can be (re)trained alone: --set stages=separation --set init_from=model.st
    init_from: str | None = None
    # Modules (state-dict prefixes) that keep their fresh, seeded initialisation instead of
    # init_from's weights: --set init_skip=separator,visual_to_separator retrains stage 4 from
    # scratch on another run's stages 1-3, starting exactly where a whole run's stage 4 starts.
    init_skip: tuple[str, ...] = ()
    # A second bundle the init_skip modules load from instead (strictly: each of their weights,
    # same shapes): one run's separator grafted onto another run's stages 1-3, --set
    # init_skip=separator,visual_to_separator --set init_skipped_from=other.safetensors.
    init_skipped_from: str | None = None
    # A local torchvision-named ResNet state dict (.pth/.pt/.safetensors, e.g. ImageNet
    # ResNet-18 for avloc-resnet18) loaded into the visual encoder after init_from; its
    # classifier (fc.) is skipped and every other weight must fit. Never downloaded.
    visual_weights: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    correspondence: CorrespondenceConfig = field(default_factory=CorrespondenceConfig)
    pseudo_classes: PseudoClassConfig = field(default_factory=PseudoClassConfig)
    class_aware: ClassAwareConfig = field(default_factory=ClassAwareConfig)
    separation: SeparationConfig = field(default_factory=SeparationConfig)
    precision: str = "fp32"  # "bf16" autocast (fp32 master weights) or "fp32"
    # Conv weights and activations in NHWC (channels-last) memory: oneDNN's CPU convolutions
    # and pooling skip their layout reorders (avloc_small's model steps 1.4-1.9x faster,
    # benchmarks/bench_training.py), and CUDA's bf16 convolutions prefer it too. Same maths,
    # other kernels: runs round differently from NCHW ones, and still repeat themselves.
    channels_last: bool = True
    seed: int = 0  # seeds model init, data order and augmentation
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    num_threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    log_every: int = 10  # steps between metrics.csv rows
    val_every: int = 100  # steps between validations; 0 validates only at stage ends
    checkpoint_every: int = 100  # steps between checkpoints (always one at stage ends)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"stages must name at least one of {', '.join(STAGE_NAMES)}")
        for name in self.stages:
            _check_choice("stages", name, STAGE_NAMES)
        order = [STAGE_NAMES.index(name) for name in self.stages]
        if order != sorted(set(order)):
            raise ValueError(
                f"stages must be distinct and in the order {', '.join(STAGE_NAMES)}; "
                f"got {', '.join(self.stages)}"
            )
        window = self.separation.clip_duration_s
        if self.data.manifest is None and window is not None and window > self.data.duration_s:
            raise ValueError(
                f"separation.clip_duration_s ({window:g} s) must fit in the generated clips' "
                f"data.duration_s ({self.data.duration_s:g} s)"
            )
        if self.init_skip and self.init_from is None:
            raise ValueError("init_skip names modules to leave out of init_from, which is not set")
        if self.init_skipped_from is not None and not self.init_skip:
            raise ValueError("init_skipped_from needs init_skip to name the modules it gives")
        _check_choice("precision", self.precision, ("bf16", "fp32"))
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("log_every", "checkpoint_every"):
            _check_positive(name, getattr(self, name))
        _check_positive("seed", self.seed, allow_zero=True)  # torch refuses negative seeds
        for name in ("val_every", "num_threads"):
            _check_positive(name, getattr(self, name), allow_zero=True)
        if not isinstance(self.model_overrides, Mapping):
            raise TypeError("model_overrides must be a mapping of model config fields to values")


# --- overrides --------------------------------------------------------------------------------


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def valid_keys(config: Any, prefix: str = "") -> list[str]:
    """Every dotted key ``--set`` accepts for ``config`` (nested dataclasses are expanded)."""
    keys: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        nested = _dataclass_type(_field_types(type(config))[f.name])
        if value is None and nested is not None:  # an unset optional section
            keys.append(f"{prefix}{f.name}")
            value = nested()
        if dataclasses.is_dataclass(value):
            keys.extend(valid_keys(value, f"{prefix}{f.name}."))
        elif f.name == "model_overrides":
            keys.append(f"{prefix}model_overrides.<model config field>")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false/1/0/yes/no), got {text!r}")


def _parse_literal(text: str) -> Any:
    """A model override's value: int, float, bool, None or else the string itself."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


def parse_value(text: str, annotation: Any) -> Any:
    """Parse ``text`` as a value of the type ``annotation`` (int/float/bool/str/tuple/Optional).

    Raises:
        ValueError: ``text`` is not a value of that type.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if text.strip().lower() in ("none", "null") and len(non_none) < len(args):
            return None
        if len(non_none) != 1:
            raise ValueError(f"unsupported union type {annotation}")
        return parse_value(text, non_none[0])
    if origin is tuple:
        parts = [p for p in text.split(",") if p.strip()] if text.strip() else []
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(p, args[0]) for p in parts)
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
        return tuple(parse_value(p, a) for p, a in zip(parts, args, strict=True))
    if annotation is bool:
        return _parse_bool(text)
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    if annotation is str:
        return text
    raise ValueError(f"cannot parse a value of type {annotation}")


def _nested_set(mapping: Mapping[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """``{**mapping, a: {..., b: value}}`` for the path ``[a, b]`` (nested model configs)."""
    result = dict(mapping)
    if len(path) == 1:
        result[path[0]] = value
    else:
        inner = result.get(path[0])
        result[path[0]] = _nested_set(inner if isinstance(inner, Mapping) else {}, path[1:], value)
    return result


def _set_one(config: Any, path: list[str], text: str, full_key: str, root: Any) -> Any:
    names = {f.name for f in dataclasses.fields(config)}
    head = path[0]
    if head not in names:
        raise ValueError(
            f"unknown config key {full_key!r}; valid keys: {', '.join(valid_keys(root))}"
        )
    current = getattr(config, head)
    hint = _field_types(type(config))[head]
    nested = _dataclass_type(hint)
    if current is None and nested is not None and len(path) > 1:
        current = nested()  # an unset optional section: start from its defaults
    if head == "model_overrides" and len(path) >= 2:
        return dataclasses.replace(
            config, **{head: _nested_set(current, path[1:], _parse_literal(text))}
        )
    if dataclasses.is_dataclass(current) and len(path) > 1:
        return dataclasses.replace(
            config, **{head: _set_one(current, path[1:], text, full_key, root)}
        )
    optional = nested is not None and nested is not hint  # ``X | None``: may be set to none
    if len(path) != 1 or (dataclasses.is_dataclass(current) and not optional):
        raise ValueError(
            f"unknown config key {full_key!r}; valid keys: {', '.join(valid_keys(root))}"
        )
    try:
        value = parse_value(text, hint)
    except ValueError as error:
        raise ValueError(f"--set {full_key}={text}: {error}") from error
    return dataclasses.replace(config, **{head: value})


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Apply ``key=value`` overrides such as ``optim.lr=3e-4`` or ``data.num_clips=100``.

    Args:
        config: the recipe to start from.
        overrides: ``dotted.key=value`` strings; tuples are comma-separated (``0.5,1.5``),
            ``none`` sets an Optional field to None, ``model_overrides.X=V`` passes ``X=V``
            to ``create_model`` (``model_overrides.separator.mask_mode=ratio`` a nested field).

    Returns:
        A new, validated ``TrainConfig``.

    Raises:
        ValueError: a malformed override, an unknown key (the message lists the valid keys),
            a value of the wrong type, or a value the config rejects.
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like section.field=value")
        config = _set_one(config, key.strip().split("."), text.strip(), key.strip(), config)
    return config


# --- JSON -------------------------------------------------------------------------------------


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON-able values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_to_json(config: TrainConfig) -> str:
    """The resolved config as indented JSON (what ``config.json`` in a run dir holds)."""
    return json.dumps(config_to_dict(config), indent=2, sort_keys=True)


def _dataclass_type(hint: Any) -> type | None:
    """The dataclass a field holds: ``hint`` itself, or the one in ``X | None``."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [
            a for a in typing.get_args(hint) if isinstance(a, type) and dataclasses.is_dataclass(a)
        ]
        return found[0] if len(found) == 1 else None
    return None


def _from_dict(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"{where}: unknown config keys {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        nested = _dataclass_type(hints[name])
        if nested is not None and isinstance(value, Mapping):
            kwargs[name] = _from_dict(nested, value, f"{where}: {name}")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_json(text: str, where: str = "config.json") -> TrainConfig:
    """Rebuild a ``TrainConfig`` from ``config_to_json`` output.

    Raises:
        ValueError: the JSON is malformed or holds unknown keys; names ``where``.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg})") from error
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object")
    return typing.cast(TrainConfig, _from_dict(TrainConfig, raw, where))
