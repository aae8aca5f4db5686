"""Evaluation presets: frozen dataclasses with every choice explicit.

Each preset is written in full into every result JSON (``to_json``), so a number can always be
traced to the exact arithmetic behind it. The defaults reproduce the published protocols
(``shared/reference/protocols.md``); the alternatives seen in the field are separate named
presets, never silent defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from avloc.metrics.localization import EVAL_SIZE, FLICKR_FRAME, SUCCESS_THRESHOLDS

BinarizeKind = Literal["top-fraction", "relative", "absolute"]


@dataclass(frozen=True)
class MapRule:
    """How a raw predicted map becomes a binary prediction."""

    eval_size: int = EVAL_SIZE  # maps and ground truth are compared on an eval_size² frame
    # "bilinear": cv2 INTER_LINEAR (LVS, DSOL, Qian); "bilinear-align-corners": EZ-VSL's
    # F.interpolate(align_corners=True). Either way the whole frame is resized, never cropped.
    resize: Literal["bilinear", "bilinear-align-corners"] = "bilinear"
    binarize: BinarizeKind = "top-fraction"
    top_fraction: float = 0.5  # threshold = sorted value at index H·W·top_fraction (median rule)
    tie_rule: Literal["ge", "gt"] = "ge"  # keep >= threshold (EZ-VSL): ties all kept
    tau: float = 0.1  # relative rule: keep map > tau · max(map)
    clip_negative: bool = False  # relative rule: zero negative values first (Qian)
    value_range: tuple[float, float] = (0.0, 1.0)  # absolute rule: the fixed range mapped to [0, 1]
    absolute_threshold: float = 0.5  # absolute rule: keep scaled map >= this (SLAVC)

    def __post_init__(self) -> None:
        if self.eval_size < 8:
            raise ValueError(f"eval_size must be >= 8, got {self.eval_size}")
        if not 0.0 <= self.top_fraction < 1.0:
            raise ValueError(f"top_fraction must be in [0, 1), got {self.top_fraction}")
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {self.tau}")


@dataclass(frozen=True)
class LocalizationProtocol:
    """Single-source localization on Flickr-SoundNet or VGG-SS (protocols.md §1, §2)."""

    name: str
    dataset: Literal["flickr", "vggss"]
    ground_truth: Literal["consensus", "union"]  # consensus: /2 clipped at 1; union: binary
    annotation_frame: int | None  # Flickr boxes are ints in a 256² frame; None: normalised boxes
    rule: MapRule
    # "none": the predictor sees the whole image; "center-square": LVS's Resize(224)+CenterCrop(224)
    # loader (the map is still compared with the whole-frame ground truth, as LVS did).
    frame_crop: Literal["none", "center-square"] = "none"
    thresholds: tuple[float, ...] = SUCCESS_THRESHOLDS  # success-curve x values (AUC)
    ap_threshold: float = 0.5  # "cIoU" / AP50 = fraction of images with cIoU >= this
    pointing_tolerance_px: int = 0  # pointing game: hit within this many pixels at eval_size
    sample_rate: int = 11025  # audio given to predictors that do not state their own rate
    video_frame_time: Literal["middle"] = "middle"  # VGG-SS given as video: the frame scored

    def to_json(self) -> dict[str, Any]:
        return {"kind": "localization", **dataclasses.asdict(self)}


@dataclass(frozen=True)
class ClassAwareProtocol:
    """Class-aware multi-source localization (Qian 2020; DSOL, Hu 2020; protocols.md §3)."""

    name: str
    rule: MapRule  # binarize="relative" with the set's tau
    ciou_thresholds: tuple[float, ...] = SUCCESS_THRESHOLDS
    # DSOL prints results[6] and results[10] of the 21-point curve as CIoU@0.3 and CIoU@0.5.
    ciou30_index: int = 6
    ciou50_index: int = 10
    nsa_threshold: float = 0.2  # NSA: fraction of a silent class's map <= this (absolute)
    frames_per_clip: int = 1  # frames scored per clip, at t = (i + 0.5) · duration / n
    # Class maps → classes: "by-name" when the predictor names vocabulary classes, "hungarian" for
    # pseudo-classes (matched on a held-out split), "auto" picks by-name when every name matches.
    matching: Literal["auto", "by-name", "hungarian"] = "auto"
    match_fraction: float = 0.2  # the first ceil(fraction · clips) clips form the matching split
    # A vocabulary class left without a pseudo-class gets a constant map of ones (no information).
    unmatched_map: Literal["ones"] = "ones"
    pointing_tolerance_px: int = 0
    sample_rate: int = 11025

    def __post_init__(self) -> None:
        if self.frames_per_clip < 1:
            raise ValueError(f"frames_per_clip must be >= 1, got {self.frames_per_clip}")
        if not 0.0 <= self.match_fraction < 1.0:
            raise ValueError(f"match_fraction must be in [0, 1), got {self.match_fraction}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "class-aware", **dataclasses.asdict(self)}


@dataclass(frozen=True)
class SeparationProtocol:
    """Sound-of-Pixels mix-and-separate evaluation (Zhao 2018; protocols.md §4)."""

    name: str
    num_mixtures: int = 256  # fixed mixtures drawn with a seeded generator
    num_sources: int = 2  # mix-2
    seed: int = 1234
    # Window length in seconds; None: the shortest clip of the manifest, capped at max_window_s.
    window_s: float | None = None
    max_window_s: float = 65535 / 11025  # SoP clips: 65,535 samples at 11,025 Hz (5.944 s)
    window_position: Literal["center"] = "center"  # the window is centred in each clip
    sample_rate: int = 11025
    silence_threshold: float = 1e-5  # skip unless every reference and estimate has Σ|x| > this
    backend: Literal["mir_eval", "fast"] = "mir_eval"
    oracle_n_fft: int = 1022  # STFT of the oracle-mask bounds (SoP: 1022 / 256, Hann)
    oracle_hop_length: int = 256

    def __post_init__(self) -> None:
        if self.num_mixtures < 1 or self.num_sources < 2:
            raise ValueError("num_mixtures must be >= 1 and num_sources >= 2")
        if self.window_s is not None and not 0.0 < self.window_s <= self.max_window_s:
            raise ValueError(f"window_s must be in (0, {self.max_window_s}], got {self.window_s}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "separation", **dataclasses.asdict(self)}


AnyProtocol = LocalizationProtocol | ClassAwareProtocol | SeparationProtocol

_TOP_HALF = MapRule()


def _class_aware(name: str, tau: float) -> ClassAwareProtocol:
    return ClassAwareProtocol(name=name, rule=MapRule(binarize="relative", tau=tau))


PROTOCOLS: dict[str, AnyProtocol] = {
    # §1, the published default (LVS → EZ-VSL/SLAVC arithmetic).
    "flickr": LocalizationProtocol("flickr", "flickr", "consensus", FLICKR_FRAME, _TOP_HALF),
    # EZ-VSL resizes maps with align_corners=True; identical for maps already at 224².
    "flickr-ezvsl-resize": LocalizationProtocol(
        "flickr-ezvsl-resize",
        "flickr",
        "consensus",
        FLICKR_FRAME,
        MapRule(resize="bilinear-align-corners"),
    ),
    # Qian 2020: 0.1 · max of the (softmaxed) map at 256×256, negatives zeroed.
    "flickr-qian": LocalizationProtocol(
        "flickr-qian",
        "flickr",
        "consensus",
        FLICKR_FRAME,
        MapRule(eval_size=256, binarize="relative", tau=0.1, clip_negative=True),
    ),
    # SLAVC absolute mode: the map is scaled by a fixed range (default [0, 1]) and kept >= 0.5.
    "flickr-slavc-absolute": LocalizationProtocol(
        "flickr-slavc-absolute", "flickr", "consensus", FLICKR_FRAME, MapRule(binarize="absolute")
    ),
    # LVS's loader: the model sees Resize(224)+CenterCrop(224) of the image.
    "flickr-lvs-crop": LocalizationProtocol(
        "flickr-lvs-crop", "flickr", "consensus", FLICKR_FRAME, _TOP_HALF, "center-square"
    ),
    # §2.
    "vggss": LocalizationProtocol("vggss", "vggss", "union", None, _TOP_HALF),
    # §3: tau by set (DSOL).
    "music-solo": _class_aware("music-solo", 0.1),
    "music-duet": _class_aware("music-duet", 0.2),
    "music-synthetic": _class_aware("music-synthetic", 0.5),
    # §4.
    "separation": SeparationProtocol("separation"),
}

# The class-aware preset for each ``scene`` value written by ``avloc synth`` in the manifest.
SCENE_PRESETS: dict[str, str] = {
    "solo": "music-solo",
    "duet": "music-duet",
    "grid": "music-synthetic",
}


def get_protocol(name: str) -> AnyProtocol:
    """The preset called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(
            f"unknown evaluation protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}"
        ) from None


def class_aware_for_scene(scene: str, tau: float | None = None) -> ClassAwareProtocol:
    """The class-aware preset for a manifest ``scene`` (solo/duet/grid), optionally with ``tau``.

    Raises:
        ValueError: unknown scene and no ``tau``.
    """
    if scene in SCENE_PRESETS:
        preset = PROTOCOLS[SCENE_PRESETS[scene]]
        assert isinstance(preset, ClassAwareProtocol)
    elif tau is not None:
        preset = _class_aware("class-aware", tau)
    else:
        raise ValueError(
            f"manifest scene {scene!r} has no class-aware preset (known: "
            f"{', '.join(SCENE_PRESETS)}); pass --tau to choose the relative threshold"
        )
    return preset if tau is None else with_tau(preset, tau)


def with_tau(preset: ClassAwareProtocol, tau: float) -> ClassAwareProtocol:
    """``preset`` binarising at ``tau``; a τ other than the preset's is named in the preset's
    name (``music-duet-tau0.5``), so that no table row carries a published preset's name for
    numbers computed at another threshold."""
    if tau == preset.rule.tau:
        return preset
    return dataclasses.replace(
        preset, name=f"{preset.name}-tau{tau:g}", rule=dataclasses.replace(preset.rule, tau=tau)
    )
