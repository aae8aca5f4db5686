"""One function per protocol: read the test set, run a predictor, score it, return a result.

``evaluate_flickr``, ``evaluate_vggss``, ``evaluate_class_aware`` and ``evaluate_separation``
accept any object implementing the predictor protocols of :mod:`avloc.evaluation.predictors`.
A ``KeyboardInterrupt`` during the loop is re-raised as :class:`EvaluationInterrupted`, which
carries the result of the items finished so far (marked ``partial``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from avloc._messages import abridged
from avloc.data.folder import MissingItem
from avloc.data.manifest import SceneClip, read_manifest
from avloc.evaluation import samples as S
from avloc.evaluation.matching import ClassMatching, apply_matching, hungarian_match, match_by_name
from avloc.evaluation.predictors import CLASSES_FILE, ClassMapPredictor, MapPredictor, Separator
from avloc.evaluation.protocols import (
    PROTOCOLS,
    ClassAwareProtocol,
    LocalizationProtocol,
    MapRule,
    SeparationProtocol,
    class_aware_for_scene,
    with_tau,
)
from avloc.evaluation.results import (
    ClassAwareResult,
    EvaluationResult,
    FrameScore,
    ImageScore,
    LocalizationResult,
    MixtureScore,
    SeparationResult,
)
from avloc.metrics import localization as loc

T = TypeVar("T")


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C during an evaluation; ``result`` holds the finished items (``partial=True``)."""

    def __init__(self, result: EvaluationResult) -> None:
        super().__init__("evaluation interrupted")
        self.result = result


def _progress(items: Iterable[T], total: int, desc: str, enabled: bool) -> Iterator[T]:
    from tqdm import tqdm

    return iter(tqdm(items, total=total, desc=desc, disable=not enabled, unit="item"))


def prepare_map(pred: np.ndarray, rule: MapRule) -> np.ndarray:
    """Resize a raw map to the evaluation frame. Shape: (h, w) -> (E, E)."""
    return loc.resize_map(pred, rule.eval_size, rule.resize)


def binarize_map(pred: np.ndarray, rule: MapRule) -> np.ndarray:
    """Apply the preset's binarisation to a map at the evaluation size. Shape: (E, E)."""
    if rule.binarize == "top-fraction":
        return loc.binarize_top_fraction(pred, rule.top_fraction, rule.tie_rule)
    if rule.binarize == "relative":
        return loc.binarize_relative(pred, rule.tau, rule.clip_negative)
    return loc.binarize_absolute(pred, rule.value_range, rule.absolute_threshold)


def score_image(
    pred: np.ndarray, gt: np.ndarray, rule: MapRule, tolerance_px: int
) -> tuple[float, bool]:
    """cIoU and pointing-game hit of one raw map against a ground-truth map at eval size."""
    resized = prepare_map(pred, rule)
    return loc.ciou(binarize_map(resized, rule), gt), loc.pointing_game(resized, gt, tolerance_px)


def _save_array(folder: Path, name: str, array: np.ndarray) -> None:
    """Write ``folder/name.npy`` atomically (temp file + rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.npy.partial"
    arr = np.asarray(array)
    # Keep the predictor's float precision so that --maps scores exactly what was scored here.
    dtype = arr.dtype if arr.dtype in (np.float16, np.float32, np.float64) else np.float32
    with open(tmp, "wb") as handle:
        np.save(handle, arr.astype(dtype, copy=False))
    os.replace(tmp, folder / f"{name}.npy")


def _checked_map(pred: Any, predictor_name: str, sample_id: str) -> np.ndarray:
    arr = np.asarray(pred, np.float64)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(
            f"{predictor_name} returned a map of shape {arr.shape} for {sample_id}; expected (h, w)"
        )
    _check_finite(arr, predictor_name, sample_id)
    return arr


def _check_finite(maps: np.ndarray, predictor_name: str, sample_id: str) -> None:
    """Name the predictor and the sample: the metrics' own check can only say "map"."""
    if not np.all(np.isfinite(maps)):
        raise ValueError(
            f"{predictor_name} returned a map with NaN or infinite values for {sample_id}"
        )


def _empty_ground_truth(
    items: Sequence[Any], gt_of: Callable[[Any], np.ndarray], where: Callable[[Any], str]
) -> tuple[str, ...]:
    """The ids whose boxes cover no pixel at the evaluation size (inverted, empty or thinner
    than a pixel), said in one warning before any work. The published code scores them like
    any other image (cIoU 0, a pointing miss), so they are kept: leaving them out would raise
    AP50 and AUC above the published set's."""
    empty = [item for item in items if gt_of(item).sum() <= 0]
    if empty:
        shown = abridged([f"{where(item)}: boxes {list(item.boxes)}" for item in empty], sep="; ")
        warnings.warn(
            f"{len(empty)} of {len(items)} items have boxes that cover no pixel of the "
            f"evaluation frame ({shown}); they score cIoU 0 "
            "and miss the pointing game, as in the published evaluation code",
            stacklevel=3,
        )
    return tuple(item.id for item in empty)


def _nothing_to_score(what: str, missing: Sequence[MissingItem]) -> ValueError:
    """The error for a test set with no usable item, with the first missing item's reason."""
    first = f"; e.g. {missing[0].id}: {missing[0].reason}" if missing else ""
    return ValueError(f"{what}{first}")


def _run_localization(
    items: Sequence[T],
    build: Callable[[T, int], S.LocalizationSample],
    predictor: MapPredictor,
    protocol: LocalizationProtocol,
    finish: Callable[[tuple[ImageScore, ...], bool, tuple[MissingItem, ...]], LocalizationResult],
    save_maps: Path | None,
    progress: bool,
) -> LocalizationResult:
    """Score every item; one whose media cannot be read (corrupt, no audio stream, ...) is
    reported among the missing ids with the decoder's reason, and the rest are still scored.
    """
    from avloc.media import MediaError

    rate = predictor.sample_rate or protocol.sample_rate
    scores: list[ImageScore] = []
    unreadable: list[MissingItem] = []
    try:
        for item in _progress(items, len(items), f"{protocol.name}/{predictor.name}", progress):
            try:
                sample = build(item, rate)
            except MediaError as error:
                unreadable.append(MissingItem(item.id, f"unreadable: {error}"))  # type: ignore[attr-defined]
                continue
            raw = predictor.predict_map(sample)
            pred = _checked_map(raw, predictor.name, sample.id)
            if save_maps is not None:
                _save_array(save_maps, sample.id, raw)
            value, hit = score_image(pred, sample.gt, protocol.rule, protocol.pointing_tolerance_px)
            scores.append(ImageScore(sample.id, value, hit))
    except KeyboardInterrupt as error:
        raise EvaluationInterrupted(finish(tuple(scores), True, tuple(unreadable))) from error
    return finish(tuple(scores), False, tuple(unreadable))


def _finisher(
    predictor: MapPredictor,
    protocol: LocalizationProtocol,
    requested_ids: tuple[str, ...],
    missing_ids: tuple[MissingItem, ...],
    limit: int | None,
    test_list: str | Path | None,
    empty_ground_truth: tuple[str, ...],
) -> Callable[[tuple[ImageScore, ...], bool, tuple[MissingItem, ...]], LocalizationResult]:
    """The result builder of a Flickr / VGG-SS run: the test set's missing ids plus the
    samples whose media could not be read, and where the ids came from."""

    def finish(
        scores: tuple[ImageScore, ...], partial: bool, unreadable: tuple[MissingItem, ...]
    ) -> LocalizationResult:
        missing = missing_ids + unreadable
        listed = None if test_list is None else str(test_list)
        return LocalizationResult(
            predictor.name, protocol, scores, requested_ids, missing, partial, limit, listed,
            empty_ground_truth,
        )  # fmt: skip

    return finish


def evaluate_flickr(
    root: str | Path,
    predictor: MapPredictor,
    protocol: LocalizationProtocol | None = None,
    test_list: str | Path | None = None,
    limit: int | None = None,
    save_maps: str | Path | None = None,
    progress: bool = True,
) -> LocalizationResult:
    """Score ``predictor`` on the Flickr-SoundNet test set under ``root`` (protocols.md §1).

    Args:
        root: the folder holding ``Annotations/`` and ``Data/``.
        predictor: a :class:`MapPredictor`.
        protocol: a Flickr preset (default ``PROTOCOLS["flickr"]``).
        test_list: the 250-id list or ``flickr_test.csv``; ``None``: every annotated id.
        limit: score only the first ``limit`` available samples.
        save_maps: write each raw map as ``<id>.npy`` here.
        progress: show a tqdm bar.

    Raises:
        ValueError: a non-Flickr preset, a malformed annotation, or no sample to score.
            (An image whose boxes cover no pixel is scored cIoU 0, with a warning.)
        FileNotFoundError: ``root`` lacks ``Annotations/`` or ``Data/``.
        EvaluationInterrupted: Ctrl-C; carries the partial result.
    """
    from avloc.data.flickr import read_flickr

    protocol = protocol or _preset("flickr", LocalizationProtocol)
    if protocol.dataset != "flickr" or protocol.annotation_frame is None:
        raise ValueError(f"evaluate_flickr needs a Flickr preset, got {protocol.name!r}")
    frame = protocol.annotation_frame
    test_set = read_flickr(root, test_list)
    if not test_set.samples:
        raise _nothing_to_score(
            f"{root}: no Flickr-SoundNet sample to score: "
            + (
                f"none of the {len(test_set.requested_ids)} requested ids has its "
                "Annotations/<id>.xml, <id>.jpg and <id>.wav (under Data/)"
                if test_set.requested_ids
                else "Annotations/ holds no <id>.xml file"
            ),
            test_set.missing_ids,
        )
    items = test_set.samples[:limit] if limit is not None else test_set.samples
    size = protocol.rule.eval_size

    def gt_of(item: Any) -> np.ndarray:
        return loc.consensus_map(item.boxes, size, frame)

    empty = _empty_ground_truth(
        items, gt_of, lambda item: f"{Path(root) / 'Annotations' / item.id}.xml"
    )

    def build(item: Any, rate: int) -> S.LocalizationSample:
        return S.flickr_sample(item, gt_of(item), rate, protocol.frame_crop, frame)

    finish = _finisher(
        predictor, protocol, test_set.requested_ids, test_set.missing_ids, limit, test_list, empty
    )

    folder = Path(save_maps) if save_maps is not None else None
    return _run_localization(items, build, predictor, protocol, finish, folder, progress)


def evaluate_vggss(
    annotations: str | Path,
    media_root: str | Path,
    predictor: MapPredictor,
    protocol: LocalizationProtocol | None = None,
    limit: int | None = None,
    save_maps: str | Path | None = None,
    progress: bool = True,
) -> LocalizationResult:
    """Score ``predictor`` on VGG-SS (protocols.md §2): union ground truth, same rule as Flickr.

    Args:
        annotations: ``vggss.json``.
        media_root: the folder holding the frames + audio or the videos.
        predictor, protocol, limit, save_maps, progress: as :func:`evaluate_flickr`.

    Raises:
        ValueError: a non-VGG-SS preset, a malformed json, or no clip with media. (An entry
            whose boxes cover no pixel is scored cIoU 0, with a warning.)
        EvaluationInterrupted: Ctrl-C; carries the partial result.
    """
    from avloc.data.vggss import read_vggss

    protocol = protocol or _preset("vggss", LocalizationProtocol)
    if protocol.dataset != "vggss":
        raise ValueError(f"evaluate_vggss needs a VGG-SS preset, got {protocol.name!r}")
    test_set = read_vggss(annotations, media_root)
    if not test_set.samples:
        raise _nothing_to_score(
            f"{annotations} lists no clip"
            if not test_set.requested_ids
            else f"{media_root}: no VGG-SS clip to score: none of the "
            f"{len(test_set.requested_ids)} clips of {annotations} has its media here "
            "(<file>.jpg + <file>.wav, or <file>.mp4)",
            test_set.missing_ids,
        )
    items = test_set.samples[:limit] if limit is not None else test_set.samples
    size = protocol.rule.eval_size

    def gt_of(item: Any) -> np.ndarray:
        return loc.union_map(item.boxes, size)

    empty = _empty_ground_truth(items, gt_of, lambda item: f"{annotations}: entry {item.id!r}")

    def build(item: Any, rate: int) -> S.LocalizationSample:
        return S.vggss_sample(item, gt_of(item), rate, protocol.frame_crop)

    finish = _finisher(
        predictor, protocol, test_set.requested_ids, test_set.missing_ids, limit, annotations, empty
    )

    folder = Path(save_maps) if save_maps is not None else None
    return _run_localization(items, build, predictor, protocol, finish, folder, progress)


def _preset(name: str, kind: type[T]) -> T:
    preset = PROTOCOLS[name]
    assert isinstance(preset, kind)
    return preset


def class_aware_protocol(
    clips: Sequence[SceneClip], tau: float | None = None
) -> ClassAwareProtocol:
    """The class-aware preset for a manifest: from its ``scene`` extra (solo/duet/grid) or ``tau``.

    Raises:
        ValueError: scenes are mixed or missing and no ``tau`` is given.
    """
    scenes = sorted({str(c.extra.get("scene")) for c in clips})
    if len(scenes) == 1:
        return class_aware_for_scene(scenes[0], tau)
    if tau is None:
        raise ValueError(
            f"the manifest mixes scenes {scenes}; pass --tau (or a music-* preset) to choose the "
            "relative threshold"
        )
    return class_aware_for_scene("custom", tau)


MapSaver = Callable[[str, np.ndarray, tuple[str, ...]], None]


def _class_map_saver(folder: Path | None) -> MapSaver:
    """Writes ``<id>.npy`` (K, h, w) and, once, ``classes.json``; a no-op without a folder."""
    seen: list[tuple[str, ...]] = []

    def save(sample_id: str, maps: np.ndarray, names: tuple[str, ...]) -> None:
        if folder is None:
            return
        if seen and seen[0] != names:
            raise ValueError(f"class map names changed between samples: {seen[0]} then {names}")
        if not seen:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / CLASSES_FILE).write_text(json.dumps({"classes": list(names)}, indent=1))
            seen.append(names)
        _save_array(folder, sample_id, maps)

    return save


def _frame_score(
    sample: S.ClassAwareSample, maps: np.ndarray, protocol: ClassAwareProtocol
) -> FrameScore | None:
    """Score one frame; maps are (C, E, E) in vocabulary order. None: no sounding box."""
    size = protocol.rule.eval_size
    cious, hits, nsas = {}, {}, {}
    for c, cls in enumerate(sample.vocabulary):
        if cls not in sample.sounding:
            nsas[cls] = loc.nsa(maps[c], protocol.nsa_threshold)
            continue
        gt = loc.union_map(sample.class_boxes[cls], size)
        if gt.sum() == 0:
            continue
        cious[cls] = loc.ciou(binarize_map(maps[c], protocol.rule), gt)
        hits[cls] = loc.pointing_game(maps[c], gt, protocol.pointing_tolerance_px)
    return FrameScore(sample.id, cious, hits, nsas) if cious else None


def _predict_classes(
    predictor: ClassMapPredictor, sample: S.ClassAwareSample, rule: MapRule
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Raw (K, h, w) maps, their names, and the maps resized to (K, E, E)."""
    out = predictor.predict_class_maps(sample)
    maps = np.asarray(out.maps)
    _check_finite(maps, predictor.name, sample.id)
    if maps.size and (maps.min() < -loc.NSA_RANGE_SLACK or maps.max() > 1 + loc.NSA_RANGE_SLACK):
        raise ValueError(
            f"{predictor.name} returned class maps with values in [{maps.min():.3g}, "
            f"{maps.max():.3g}] for {sample.id}; the class-aware protocol needs maps in [0, 1] "
            "(NSA counts pixels <= 0.2): rescale them (e.g. a sigmoid) before scoring"
        )
    return out.maps, out.names, np.stack([prepare_map(m, rule) for m in out.maps])


SamplesOf = Callable[[Sequence[Any]], Iterator[S.ClassAwareSample]]  # clips or DSOL videos
Unreadable = dict[str, MissingItem]  # clip id -> why; a dict, so a clip tried twice counts once


def _readable_samples(
    samples_of: SamplesOf, clips: Iterable[Any], unreadable: Unreadable
) -> Iterator[S.ClassAwareSample]:
    """The frames of each clip whose media can be read, clip by clip.

    A clip that cannot be read (corrupt, no audio or video stream, file gone) is noted in
    ``unreadable`` with the decoder's reason and skipped whole, as Flickr / VGG-SS skip an
    unreadable item: one bad clip must not end a run. A clip's frames are decoded before any
    is yielded, so a clip is never half scored.
    """
    from avloc.media import MediaError

    for clip in clips:
        try:
            frames = list(samples_of([clip]))
        except (MediaError, FileNotFoundError) as error:
            unreadable.setdefault(clip.clip_id, MissingItem(clip.clip_id, f"unreadable: {error}"))
            continue
        yield from frames


def _match_classes(
    predictor: ClassMapPredictor,
    samples: Iterable[S.ClassAwareSample],
    vocabulary: tuple[str, ...],
    protocol: ClassAwareProtocol,
    save: MapSaver,
) -> ClassMatching:
    """Hungarian matching on the matching split: score[k, c] = mean cIoU of map k on class c."""
    score: np.ndarray | None = None
    counts = np.zeros(len(vocabulary))
    names: tuple[str, ...] = ()
    for sample in samples:
        raw, names, maps = _predict_classes(predictor, sample, protocol.rule)
        save(sample.id, raw, names)
        if score is None:
            score = np.zeros((len(names), len(vocabulary)))
        binary = np.stack([binarize_map(m, protocol.rule) for m in maps])
        for c, cls in enumerate(vocabulary):
            if cls not in sample.sounding:
                continue
            gt = loc.union_map(sample.class_boxes[cls], protocol.rule.eval_size)
            if gt.sum() == 0:
                continue
            counts[c] += 1
            score[:, c] += [loc.ciou(b, gt) for b in binary]
    if score is None:
        raise ValueError(
            "pseudo-class matching needs a non-empty matching split (with a readable clip)"
        )
    return hungarian_match(score / np.maximum(counts, 1), names, vocabulary, counts)


def _split_clips(
    clips: list[SceneClip], match_manifest: str | Path | None, fraction: float
) -> tuple[list[SceneClip], list[SceneClip]]:
    if match_manifest is not None:
        return read_manifest(match_manifest), clips
    return _hold_out(
        clips,
        fraction,
        f"the manifest has {len(clips)} clip(s)",
        "add clips, pass --match-split, or lower match_fraction",
    )


def _hold_out(
    units: Sequence[T], fraction: float, have: str, remedy: str
) -> tuple[list[T], list[T]]:
    """The first ``ceil(fraction · units)`` units (the matching split) and the rest (scored).

    Raises:
        ValueError: nothing would be left to score; ``have`` says what there is, ``remedy``
            what to do.
    """
    num = S.num_match_clips(len(units), fraction)
    if num >= len(units):
        raise ValueError(f"{have}: too few to hold out a matching split of {num}; {remedy}")
    return list(units[:num]), list(units[num:])


def evaluate_class_aware(
    manifest: str | Path,
    predictor: ClassMapPredictor,
    protocol: ClassAwareProtocol | None = None,
    tau: float | None = None,
    match_manifest: str | Path | None = None,
    limit: int | None = None,
    save_maps: str | Path | None = None,
    progress: bool = True,
) -> ClassAwareResult:
    """Class-aware localization on a scene manifest (protocols.md §3).

    The first ``ceil(match_fraction · clips)`` clips (or ``match_manifest``) form the matching
    split, held out from scoring for every method so that all rows of a table share one set.
    Predictors naming vocabulary classes are matched by name; pseudo-classes by the Hungarian
    algorithm on the matching split. A clip whose media cannot be read is skipped and listed
    in the result's ``missing``, as Flickr / VGG-SS list theirs.

    Args:
        manifest: a ``manifest.jsonl`` or its folder.
        predictor: a :class:`ClassMapPredictor`.
        protocol: a class-aware preset; ``None`` picks it from the manifest's ``scene``.
        tau: override the preset's relative threshold.
        match_manifest: a separate manifest for matching (then every clip of ``manifest`` is scored).
        limit: score only the first ``limit`` evaluation clips.
        save_maps: write raw (K, h, w) maps as ``<clip_id>_<t_ms>.npy`` + ``classes.json``.
        progress: show a tqdm bar.

    Raises:
        ValueError: bad manifest, scenes without a preset, too few clips to match, no
            readable clip.
        EvaluationInterrupted: Ctrl-C; carries the partial result.
    """
    clips = read_manifest(manifest)
    if not clips:
        raise ValueError(f"the manifest {manifest} lists no clip")
    if protocol is None:
        protocol = class_aware_protocol(clips, tau)
    elif tau is not None:
        protocol = with_tau(protocol, tau)
    match_clips, eval_clips = _split_clips(clips, match_manifest, protocol.match_fraction)
    eval_clips = eval_clips[:limit] if limit is not None else eval_clips
    vocabulary = S.manifest_vocabulary([*match_clips, *eval_clips])
    rate = predictor.sample_rate or protocol.sample_rate

    def samples_of(chosen: Sequence[SceneClip]) -> Iterator[S.ClassAwareSample]:
        return S.class_aware_samples(
            chosen, vocabulary, protocol.frames_per_clip, rate, predictor.audio_window_s
        )

    split = _Split(match_clips, eval_clips, len(eval_clips) * protocol.frames_per_clip, "manifest")
    return _score_class_aware(
        predictor, protocol, vocabulary, samples_of, split, limit, save_maps, progress
    )


@dataclass(frozen=True)
class _Split:
    """The units (manifest clips or DSOL videos) that match pseudo-classes and that are scored."""

    match: Sequence[Any]
    scored: Sequence[Any]
    num_frames: int  # frames the scored units yield (for the progress bar)
    source: str  # what the units come from, in messages ("manifest", "DSOL box file")
    missing: tuple[MissingItem, ...] = ()  # units the set lists but the disk lacks
    notes: tuple[str, ...] = ()
    num_listed: int | None = None  # units the set lists, found or not (None: match + scored)


def _score_class_aware(
    predictor: ClassMapPredictor,
    protocol: ClassAwareProtocol,
    vocabulary: tuple[str, ...],
    samples_of: SamplesOf,
    split: _Split,
    limit: int | None,
    save_maps: str | Path | None,
    progress: bool,
) -> ClassAwareResult:
    """Match the predictor's maps to the vocabulary, then score every frame of the split."""
    save = _class_map_saver(Path(save_maps) if save_maps is not None else None)
    unreadable: Unreadable = {}
    matching = _choose_matching(
        predictor, samples_of, split, vocabulary, protocol, save, unreadable
    )
    scores: list[FrameScore] = []
    skipped = 0

    def finish(partial: bool) -> ClassAwareResult:
        return ClassAwareResult(
            predictor.name, protocol, vocabulary, tuple(scores), matching,
            len(split.match), len(split.scored), skipped, partial, split.notes,
            missing=split.missing + tuple(unreadable.values()), limit=limit,
            num_listed=split.num_listed,
        )  # fmt: skip

    frames = _readable_samples(samples_of, split.scored, unreadable)
    try:
        for sample in _progress(
            frames, split.num_frames, f"{protocol.name}/{predictor.name}", progress
        ):
            raw, names, maps = _predict_classes(predictor, sample, protocol.rule)
            save(sample.id, raw, names)
            frame = _frame_score(sample, apply_matching(maps, names, matching), protocol)
            if frame is None:
                skipped += 1
            else:
                scores.append(frame)
    except KeyboardInterrupt as error:
        raise EvaluationInterrupted(finish(True)) from error
    return finish(False)


def evaluate_dsol(
    boxes: str | Path,
    video_root: str | Path,
    predictor: ClassMapPredictor,
    protocol: ClassAwareProtocol | None = None,
    tau: float | None = None,
    limit: int | None = None,
    save_maps: str | Path | None = None,
    progress: bool = True,
) -> ClassAwareResult:
    """Class-aware localization on real MUSIC videos with DSOL's boxes (protocols.md §3, §5).

    ``boxes`` is DSOL's ``solotest.json`` or ``duettest.json``; the videos are found under
    ``video_root`` by their YouTube id (:func:`avloc.data.music.read_dsol_test_set`). Each
    annotated frame with a box is scored with the 1 s of sound of its second; frames without
    a box are skipped, as DSOL's evaluation skips them. The vocabulary is MUSIC's 11 solo
    classes, so NSA covers every class map that is not sounding. The first
    ``ceil(match_fraction · videos)`` videos (by id) match pseudo-classes and are not scored.

    Args:
        boxes: DSOL's box file.
        video_root: the folder holding the downloaded MUSIC videos.
        predictor: a :class:`ClassMapPredictor`.
        protocol: a class-aware preset (default ``music-duet`` when the file is named
            ``duettest*``, else ``music-solo``).
        tau, limit, save_maps, progress: as :func:`evaluate_class_aware` (``limit`` counts
            scored videos).

    Raises:
        ValueError: a malformed box file, too few videos to match, no readable video.
        FileNotFoundError: the box file or ``video_root`` is missing.
        EvaluationInterrupted: Ctrl-C; carries the partial result.
    """
    from avloc.data.music import MUSIC_SOLO_CLASSES, read_dsol_test_set

    boxes = Path(boxes)
    if protocol is None:
        preset = "music-duet" if boxes.name.startswith("duettest") else "music-solo"
        protocol = _preset(preset, ClassAwareProtocol)
    if tau is not None:
        protocol = with_tau(protocol, tau)
    test_set = read_dsol_test_set(boxes, video_root)
    if not test_set.videos:
        raise _nothing_to_score(
            f"{video_root}: none of the videos of {boxes} is here", test_set.missing
        )
    match, scored = _hold_out(
        test_set.videos,
        protocol.match_fraction,
        f"{video_root} holds {len(test_set.videos)} of the videos of {boxes}",
        "add videos or lower match_fraction",
    )
    scored = scored[:limit] if limit is not None else scored
    vocabulary = MUSIC_SOLO_CLASSES
    rate = predictor.sample_rate or protocol.sample_rate

    def samples_of(chosen: Sequence[Any]) -> Iterator[S.ClassAwareSample]:
        return S.dsol_samples(chosen, vocabulary, rate, predictor.audio_window_s)

    note = (
        f"{boxes.name}: {test_set.num_frames} annotated frames, {test_set.num_empty_frames} "
        "without a box skipped (as DSOL's evaluation does)"
    )
    split = _Split(
        match, scored, sum(len(v.frames) for v in scored), "DSOL box file", test_set.missing,
        (note,), len(test_set.videos) + len(test_set.missing),
    )  # fmt: skip
    return _score_class_aware(
        predictor, protocol, vocabulary, samples_of, split, limit, save_maps, progress
    )


def _choose_matching(
    predictor: ClassMapPredictor,
    samples_of: SamplesOf,
    split: _Split,
    vocabulary: tuple[str, ...],
    protocol: ClassAwareProtocol,
    save: MapSaver,
    unreadable: Unreadable,
) -> ClassMatching:
    """By name when the predictor names every vocabulary class (or the preset says so).

    The predictor's names are read off the first readable clip; unreadable clips met on the way
    are noted in ``unreadable``.
    """
    method = protocol.matching
    names: tuple[str, ...] | None = None
    if method != "hungarian":
        clips = [*split.scored, *split.match]
        first = next(_readable_samples(samples_of, clips, unreadable), None)
        if first is None:
            raise _nothing_to_score(
                f"none of the {len(clips)} clips of the {split.source} could be read",
                list(unreadable.values()),
            )
        names = predictor.predict_class_maps(first).names
        if method == "auto":
            method = "by-name" if set(vocabulary) <= set(names) else "hungarian"
    if method == "hungarian":
        if not split.match:
            raise ValueError("pseudo-class maps need a matching split: set match_fraction > 0")
        samples = _readable_samples(samples_of, split.match, unreadable)
        return _match_classes(predictor, samples, vocabulary, protocol, save)
    assert names is not None
    return match_by_name(names, vocabulary)


def evaluate_separation(
    manifest: str | Path,
    separator: Separator,
    protocol: SeparationProtocol | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> SeparationResult:
    """Mix-and-separate on the solo clips of a scene manifest (protocols.md §4).

    ``protocol.num_mixtures`` mixtures of ``num_sources`` clips of different classes are drawn
    with ``protocol.seed``; references are the stems scaled by 1/S over a window centred in each
    clip; the silence rule skips mixtures (counted in the result).

    Args:
        manifest: a ``manifest.jsonl`` (or folder) whose solo clips have stems.
        separator: a :class:`Separator`.
        protocol: a separation preset (default ``PROTOCOLS["separation"]``).
        limit: score only the first ``limit`` of the drawn mixtures.
        progress: show a tqdm bar.

    Raises:
        ValueError: too few usable clips or classes; an estimate of the wrong shape.
        EvaluationInterrupted: Ctrl-C; carries the partial result.
    """
    from avloc.metrics.separation import SILENCE_THRESHOLD, score_mixture

    protocol = protocol or _preset("separation", SeparationProtocol)
    if protocol.silence_threshold != SILENCE_THRESHOLD:
        raise ValueError(
            f"silence_threshold {protocol.silence_threshold} differs from the SoP rule "
            f"({SILENCE_THRESHOLD}) that avloc.metrics.separation.score_mixture applies"
        )
    usable, ineligible = S.solo_clips(read_manifest(manifest))
    if len(usable) < protocol.num_sources:
        raise ValueError(
            f"{manifest}: separation needs >= {protocol.num_sources} solo clips with a stem "
            f"(one sounding object each); found {len(usable)}"
        )
    window = S.separation_window_s(usable, protocol.window_s, protocol.max_window_s)
    draws = S.draw_pairs(usable, protocol.num_mixtures, protocol.num_sources, protocol.seed)
    draws = draws[:limit] if limit is not None else draws
    mixtures: list[MixtureScore] = []

    def finish(partial: bool) -> SeparationResult:
        return SeparationResult(
            separator.name, protocol, tuple(mixtures), window, ineligible, partial, limit
        )

    try:
        for draw in _progress(draws, len(draws), f"{protocol.name}/{separator.name}", progress):
            sample = S.separation_sample(
                [usable[i] for i in draw], window, protocol.sample_rate, separator.num_frames
            )
            estimates = np.asarray(separator.separate(sample), np.float32)
            if estimates.shape != sample.references.shape:
                raise ValueError(
                    f"{separator.name} returned estimates {estimates.shape} for {sample.id}; "
                    f"expected {sample.references.shape} (S, T)"
                )
            scores = score_mixture(sample.references, estimates, sample.mixture, protocol.backend)
            mixtures.append(MixtureScore(sample.id, sample.classes, scores))
    except KeyboardInterrupt as error:
        raise EvaluationInterrupted(finish(True)) from error
    return finish(False)
