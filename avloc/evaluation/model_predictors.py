"""A trained avloc model as an evaluation predictor (``avloc evaluate --model``).

The adapters speak the protocols of :mod:`avloc.evaluation.predictors` and run the model through
:class:`avloc.inference.Pipeline`, so evaluation sees exactly the preprocessing that inference
uses (frame size, mean/std, audio window, sample rate, all from ``model.config``).

* Localization: the image heard with each audio window of the centre 3 s of the sample's audio,
  the maps averaged (:meth:`Pipeline.analyze_image`); the maps are the pipeline's, smoothed as
  inference smooths them (``--map-smoothing``).
* Class-aware: the model's K pseudo-class maps for the frame and its one audio window, smoothed
  as inference smooths them (``--class-map-smoothing``), named ``k0 … k{K-1}``; the runner
  matches them to the vocabulary with the Hungarian algorithm on its held-out split.
* Separation (Sound-of-Pixels protocol): for each source, every decoded frame of its clip is paired
  with the mixture; the separator vector is pooled where ``AVLocModel.source_weights`` finds the
  source's object under the mixture's sound (as the separator is trained; the class maps' logits
  shifted by ``--source-map-offset``, 0 by default as in training) and max-pooled over
  the frames (Sound-of-Pixels pools over time), then looked for again with each source's frames
  hearing its first estimate, the two vectors averaged (``--no-refine-sources``: once); the
  mixture is separated with one vector per source, the masks combined by the pipeline's ``mask_rule`` (``--mask-rule``), or with each
  source's vector alone, the other sources heard but not seen (``--alone``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from avloc.defaults import (
    CLASS_GUIDANCE,
    DEFAULT_SCALES,
    IMAGE_AUDIO_S,
    REFINE_SOURCES,
    SOURCE_MAP_OFFSET,
    MaskRule,
)
from avloc.evaluation.predictors import ClassMaps, ImageAudioSample
from avloc.evaluation.samples import ClassAwareSample, SeparationSample
from avloc.inference import FrameAnalysis, Pipeline
from avloc.maps import CLASS_MAP_OPTIONS, HEATMAP_OPTIONS, MapOptions
from avloc.sources import resample_audio

PredictorKind = Literal["localization", "class-aware", "separation"]


@dataclass(frozen=True)
class ModelLocalizer:
    """A model as a :class:`MapPredictor` and a :class:`ClassMapPredictor`."""

    pipeline: Pipeline
    name: str
    image_audio_s: float = IMAGE_AUDIO_S  # how much of an image's sound is heard (its centre)

    @property
    def audio_window_s(self) -> float | None:
        return self.pipeline.audio_window_s

    @property
    def sample_rate(self) -> int | None:
        return self.pipeline.sample_rate

    def _analyze(self, sample: ImageAudioSample) -> FrameAnalysis:
        audio = resample_audio(sample.audio, sample.sample_rate, self.pipeline.sample_rate)
        return self.pipeline.analyze_image(sample.image, audio, self.image_audio_s)

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        return self._analyze(sample).maps[0]

    def predict_class_maps(self, sample: ClassAwareSample) -> ClassMaps:
        class_maps = self._analyze(sample).class_maps[0]
        if class_maps.shape[0] == 0:
            raise ValueError(f"model {self.name} has no class head: it cannot be class-aware")
        return ClassMaps(class_maps, tuple(f"k{k}" for k in range(class_maps.shape[0])))


@dataclass(frozen=True)
class ModelSeparator:
    """A model as a :class:`Separator` (mix-and-separate with each source's frames)."""

    pipeline: Pipeline
    name: str
    num_frames: int = 3
    alone: bool = False  # each source separated with its own vector only, the others unseen

    def separate(self, sample: SeparationSample) -> np.ndarray:
        rate = self.pipeline.sample_rate
        mixture = resample_audio(sample.mixture, sample.sample_rate, rate)
        if any(len(f) == 0 for f in sample.frames):
            raise ValueError(f"{sample.id}: the model separator needs each source's frames")
        vectors = self.pipeline.source_vectors(sample.frames, mixture)
        if self.alone:
            estimates = np.concatenate(
                [
                    self.pipeline.separate_mixture(mixture, vectors[i : i + 1])
                    for i in range(len(vectors))
                ]
            )
        else:
            estimates = self.pipeline.separate_mixture(mixture, vectors)
        return _resample_rows(estimates, rate, sample.sample_rate, len(sample.mixture))


def _resample_rows(rows: np.ndarray, rate_in: int, rate_out: int, length: int) -> np.ndarray:
    out = np.zeros((len(rows), length), np.float32)
    for i, row in enumerate(rows):
        row = resample_audio(row, rate_in, rate_out)[:length]
        out[i, : len(row)] = row
    return out


def model_predictor(
    name_or_path: str,
    kind: PredictorKind,
    device: str | None = None,
    mask_rule: MaskRule = "independent",
    heatmap_options: MapOptions = HEATMAP_OPTIONS,
    class_map_options: MapOptions = CLASS_MAP_OPTIONS,
    scales: Sequence[float] = DEFAULT_SCALES,
    image_audio_s: float = IMAGE_AUDIO_S,
    alone: bool = False,
    source_map_offset: float = SOURCE_MAP_OFFSET,
    refine_sources: bool = REFINE_SOURCES,
    flip: bool = False,
    class_guidance: float = CLASS_GUIDANCE,
) -> ModelLocalizer | ModelSeparator:
    """Load a model by name or bundle path and wrap it for one kind of protocol.

    ``mask_rule`` (separation) says how the sources' masks share the mixture
    (:func:`avloc.masks.combine_masks`); a rule other than the default names the predictor
    ``"<model> (<rule> masks)"``. ``heatmap_options`` (localization) and ``class_map_options``
    (class-aware) are how the pipeline draws its maps (:class:`avloc.maps.MapOptions`); each
    value other than the default names the predictor, e.g. ``"<model> (map smoothing
    <sigma>)"``, ``" (map halo <h>)"``, ``" (map kernel gaussian)"``, ``" (class map offset
    <l>)"``. ``source_map_offset`` (separation) shifts the class maps the
    sources' vectors are pooled under; another value than ``SOURCE_MAP_OFFSET`` adds
    ``" (source map offset <l>)"``; ``refine_sources`` (separation) looks for each source
    again hearing its first estimate (:meth:`Pipeline.source_vectors`), and off adds
    ``" (one look)"``. ``flip`` (localization and class-aware) averages each frame's maps with
    its mirror image's and adds ``" (flip)"``. ``class_guidance`` (localization) weights the
    heatmaps toward the classes heard (:func:`avloc.maps.guide_by_classes`); another value
    than ``CLASS_GUIDANCE`` adds ``" (class guidance <w>)"``. ``scales`` are the pipeline's frame scales (localization and
    class-aware); others than the default add ``" (scales <s,...>)"``. ``image_audio_s``
    (localization) is how much of each image's sound the model hears
    (:meth:`Pipeline.analyze_image`); another value adds ``" (image audio <s> s)"``. ``alone``
    (separation) separates each source with its own vector only, the others heard but not seen
    (Sound-of-Pixels' per-source masks; what :meth:`Pipeline.separate` meets when a sound's
    object is off screen), and adds ``" (alone)"``.

    Raises:
        FileNotFoundError: no such model. ValueError: unknown ``kind`` or ``mask_rule``,
        ``image_audio_s`` not positive, or ``alone`` with a mask rule other than independent
        (one source alone has nothing to share the mixture with).
    """
    if not image_audio_s > 0:
        raise ValueError(f"image_audio_s must be > 0 seconds, got {image_audio_s}")
    if alone and mask_rule != "independent":
        raise ValueError(
            f"a source separated alone has no other source to share the mixture with: the "
            f"{mask_rule!r} mask rule needs them all together"
        )
    pipeline = Pipeline.from_pretrained(
        name_or_path,
        device=device,
        mask_rule=mask_rule,
        heatmap_options=heatmap_options,
        class_map_options=class_map_options,
        scales=scales,
        source_map_offset=source_map_offset,
        refine_sources=refine_sources,
        flip=flip,
        class_guidance=class_guidance,
    )
    source_map = (
        f" (source map offset {source_map_offset:g})"
        if source_map_offset != SOURCE_MAP_OFFSET
        else ""
    )
    if refine_sources != REFINE_SOURCES:
        source_map += " (refined sources)" if refine_sources else " (one look)"
    suffix = {  # the settings each kind's output depends on: one not at its default names it
        "localization": _changed("map", heatmap_options, HEATMAP_OPTIONS),
        "class-aware": _changed("class map", class_map_options, CLASS_MAP_OPTIONS),
        # the sources' regions under a mixture: the class maps shifted by source_map_offset
        "separation": source_map,
    }.get(kind, "")
    if kind in ("localization", "class-aware"):
        if pipeline.scales != DEFAULT_SCALES:
            suffix += f" (scales {','.join(f'{s:g}' for s in pipeline.scales)})"
        suffix += " (flip)" if flip else ""
        if kind == "localization" and class_guidance != CLASS_GUIDANCE:
            suffix += f" (class guidance {class_guidance:g})"
        if kind == "localization" and image_audio_s != IMAGE_AUDIO_S:
            suffix += f" (image audio {image_audio_s:g} s)"
        return ModelLocalizer(pipeline, f"{name_or_path}{suffix}", image_audio_s)
    if kind == "separation":
        masks = "" if mask_rule == "independent" else f" ({mask_rule} masks)"
        masks += " (alone)" if alone else ""
        return ModelSeparator(pipeline, name=f"{name_or_path}{masks}{suffix}", alone=alone)
    raise ValueError(f"unknown predictor kind {kind!r}: localization, class-aware or separation")


def _changed(
    label: str,
    options: MapOptions,
    default: MapOptions,
    names: Sequence[str] = ("smoothing", "halo", "offset", "kernel"),
) -> str:
    """``" (<label> <field> <value>)"`` for each of ``names`` where ``options`` differ from
    ``default``."""

    def shown(value: float | str) -> str:
        return value if isinstance(value, str) else f"{value:g}"

    return "".join(
        f" ({label} {name} {shown(getattr(options, name))})"
        for name in names
        if getattr(options, name) != getattr(default, name)
    )
