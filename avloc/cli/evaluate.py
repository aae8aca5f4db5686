"""``avloc evaluate``: score a model, a baseline or saved maps with a protocol-exact preset.

Examples::

    avloc evaluate flickr --root Flickr-SoundNet --baseline all --out flickr.json
    avloc evaluate class-aware --root synth_duet --maps other_method_maps/ --out duet.json
    avloc evaluate separation --root synth_solo --baseline mixture

``--maps DIR`` layout (also what ``--save-maps DIR`` writes): ``<id>.npy`` per sample, an
(H, W) float map for flickr/vggss (``id`` = Flickr id / VGG-SS ``file``); for class-aware an
(K, H, W) array named ``<clip_id>_<t_ms>.npy`` (``t_ms`` = frame time in ms, rounded) plus
``classes.json`` = ``{"classes": [K names]}`` — vocabulary class names, or pseudo-class ids
matched to classes with the Hungarian algorithm on the matching split.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from avloc._messages import abridged
from avloc.cli.localize import (
    add_map_smoothing_argument,
    add_scales_argument,
    add_separation_arguments,
    check_model_arguments,
    map_options,
    nearest_existing,
)

if TYPE_CHECKING:
    from avloc.maps import MapOptions

_KINDS = {
    "flickr": "localization",
    "flickr-ezvsl-resize": "localization",
    "flickr-qian": "localization",
    "flickr-slavc-absolute": "localization",
    "flickr-lvs-crop": "localization",
    "vggss": "localization",
    "class-aware": "class-aware",
    "music-solo": "class-aware",
    "music-duet": "class-aware",
    "music-synthetic": "class-aware",
    "separation": "separation",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model, baseline or saved maps on a protocol-exact benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("protocol", choices=list(_KINDS), help="the evaluation preset")
    parser.add_argument("--root", required=True, type=Path, help="test set folder (or manifest)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model name or bundle path")
    source.add_argument("--baseline", help="baseline name, or 'all' (random, centre, whole, oracle; "
                        "separation: mixture, oracle-ibm, oracle-irm)")  # fmt: skip
    source.add_argument("--maps", type=Path, help="folder of saved maps (<id>.npy) to score")
    parser.add_argument("--out", type=Path, help="result JSON path (plots are written beside it)")
    parser.add_argument(
        "--save-maps",
        type=Path,
        help="write the predicted maps (<id>.npy), before the protocol resizes and thresholds "
        "them, here",
    )
    parser.add_argument("--test-list", type=Path, help="flickr: the 250-id list or flickr_test.csv")
    parser.add_argument(
        "--annotations", type=Path, help="vggss: vggss.json (default ROOT/vggss.json)"
    )
    parser.add_argument(
        "--boxes",
        type=Path,
        help="music-solo/music-duet: DSOL's solotest.json or duettest.json, to score real MUSIC "
        "videos (found under --root by their YouTube id) instead of a scene manifest",
    )
    parser.add_argument("--match-split", type=Path, help="class-aware: manifest used for matching")
    parser.add_argument("--tau", type=float, help="class-aware: relative threshold override")
    parser.add_argument(
        "--bss-backend",
        choices=("mir_eval", "fast"),
        help="separation: BSS-eval implementation (preset default: mir_eval, the reference; "
        "fast_bss_eval agrees to < 0.01 dB and is several times faster)",
    )
    add_separation_arguments(parser, when="separation with --model: ")
    parser.add_argument(
        "--alone",
        action="store_true",
        help="separation with --model: separate each source with its own frames only, the "
        "other sources heard but not seen (Sound-of-Pixels' per-source masks; a sound from off "
        "screen)",
    )
    add_map_smoothing_argument(parser, when="localization with --model: ")
    add_scales_argument(parser, when="localization with --model: ")
    from avloc.defaults import IMAGE_AUDIO_S

    parser.add_argument(
        "--image-audio-s",
        type=float,
        default=IMAGE_AUDIO_S,
        metavar="S",
        help="flickr/vggss with --model: how much of each image's sound the model hears, from "
        f"its centre, one window at a time, the maps averaged (default {IMAGE_AUDIO_S:g}; "
        "1: the centre window alone)",
    )
    parser.add_argument("--limit", type=int, help="score only the first N items")
    parser.add_argument("--device", help="device for --model (e.g. cpu, cuda)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def _make_predictors(args: argparse.Namespace, kind: str) -> tuple[list[Any], str | None]:
    """The predictors to score and the model's sha256 (when a model file is used)."""
    from avloc.evaluation import predictors as P
    from avloc.evaluation.protocols import SeparationProtocol, get_protocol

    if args.alone and (kind != "separation" or args.model is None):
        raise ValueError("--alone separates with a model's frames: it takes separation --model")
    if args.maps is not None:
        if kind == "separation":
            raise ValueError(
                "--maps scores localization maps; separation takes --model or --baseline"
            )
        if not args.maps.is_dir():
            raise FileNotFoundError(f"--maps folder {args.maps} does not exist")
        return [P.SavedMaps(args.maps, name=f"maps:{args.maps.name}")], None
    if args.model is not None:
        heatmap_options, class_map_options = map_options(args)
        predictor = _model_predictor(
            args.model,
            kind,
            args.device,
            args.mask_rule,
            heatmap_options,
            class_map_options,
            args.scales,
            args.image_audio_s,
            args.alone,
            args.source_map_offset,
            args.refine_sources,
            args.flip,
            args.class_guidance,
        )
        return [predictor], _sha256_of(args.model)
    tables: dict[str, dict[str, Any]] = {
        "localization": P.LOCALIZATION_BASELINES,
        "class-aware": P.CLASS_AWARE_BASELINES,
        "separation": P.SEPARATION_BASELINES,
    }
    table = tables[kind]
    names = list(table) if args.baseline == "all" else [args.baseline]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r} for {args.protocol}; use one of "
                         f"{', '.join(table)} or 'all'")  # fmt: skip
    if kind == "separation":
        preset = get_protocol("separation")
        assert isinstance(preset, SeparationProtocol)
        return [_separation_baseline(n, preset) for n in names], None
    return [table[n]() for n in names], None


def _separation_baseline(name: str, preset: Any) -> Any:
    from avloc.evaluation import predictors as P

    if name in ("oracle-ibm", "oracle-irm"):
        kind: Literal["ibm", "irm"] = "ibm" if name == "oracle-ibm" else "irm"
        return P.OracleMaskSeparator(kind, preset.oracle_n_fft, preset.oracle_hop_length)
    return P.SEPARATION_BASELINES[name]()


def _model_predictor(
    name_or_path: str,
    kind: str,
    device: str | None,
    mask_rule: str,
    heatmap_options: MapOptions,
    class_map_options: MapOptions,
    scales: tuple[float, ...],
    image_audio_s: float,
    alone: bool,
    source_map_offset: float,
    refine_sources: bool,
    flip: bool,
    class_guidance: float,
) -> Any:
    """A trained model wrapped as a predictor, via ``avloc.evaluation.model_predictors``."""
    from avloc.evaluation.model_predictors import PredictorKind, model_predictor
    from avloc.masks import check_mask_rule

    return model_predictor(
        name_or_path,
        cast(PredictorKind, kind),
        device,
        check_mask_rule(mask_rule, "--mask-rule"),
        heatmap_options,
        class_map_options,
        scales,
        image_audio_s,
        alone,
        source_map_offset,
        refine_sources,
        flip,
        class_guidance,
    )


def _sha256_of(name_or_path: str) -> str:
    """The checksum of the model file behind a pretrained name or a bundle path."""
    from avloc.checkpoint import bundle_sha256
    from avloc.pretrained import resolve

    return bundle_sha256(resolve(name_or_path))


def _evaluate_one(
    args: argparse.Namespace, kind: str, predictor: Any, save_maps: Path | None
) -> Any:
    from avloc.evaluation import runner
    from avloc.evaluation.protocols import (
        ClassAwareProtocol,
        LocalizationProtocol,
        SeparationProtocol,
        get_protocol,
    )

    progress = not args.no_progress
    if kind == "separation":
        sep = get_protocol("separation")
        assert isinstance(sep, SeparationProtocol)
        if args.bss_backend is not None:
            sep = dataclasses.replace(sep, backend=args.bss_backend)
        return runner.evaluate_separation(args.root, predictor, sep, args.limit, progress)
    preset = None if args.protocol == "class-aware" else get_protocol(args.protocol)
    if kind == "class-aware":
        assert preset is None or isinstance(preset, ClassAwareProtocol)
        if args.boxes is not None:
            return runner.evaluate_dsol(
                args.boxes, args.root, predictor, preset, args.tau, args.limit, save_maps, progress
            )
        return runner.evaluate_class_aware(
            args.root,
            predictor,
            preset,
            args.tau,
            args.match_split,
            args.limit,
            save_maps,
            progress,
        )
    assert isinstance(preset, LocalizationProtocol)
    if preset.dataset == "vggss":
        annotations = args.annotations or args.root / "vggss.json"
        return runner.evaluate_vggss(
            annotations, args.root, predictor, preset, args.limit, save_maps, progress
        )
    return runner.evaluate_flickr(
        args.root, predictor, preset, args.test_list, args.limit, save_maps, progress
    )


def check_writable_folder(folder: Path, flag: str) -> None:
    """Fail unless ``folder`` is, or can be made, a writable folder.

    It need not exist yet: its nearest existing ancestor must be a writable folder (a file
    there would make ``mkdir`` fail). Nothing is created, so a failed run leaves no folders.
    """
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise ValueError(f"{flag}: cannot create the folder {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: the folder {existing} is not writable")


def check_out_file(path: Path, flag: str = "--out") -> None:
    """Fail unless a result file can be written at ``path`` (not a folder; its folder writable)."""
    if path.is_dir():
        raise ValueError(
            f"{flag} {path} is a folder; give the result file's path, e.g. {path / 'result.json'}"
        )
    check_writable_folder(path.parent, f"{flag} {path}")


def _check_outputs(args: argparse.Namespace) -> None:
    """Check ``--out`` and ``--save-maps`` before any work: an evaluation can take hours, and a
    path that cannot be written would otherwise only fail once it is over, losing it all."""
    if args.out is not None:
        check_out_file(args.out)
    if args.save_maps is not None:
        if args.save_maps.exists() and not args.save_maps.is_dir():
            raise ValueError(
                f"--save-maps {args.save_maps} is a file; give a folder to write the maps into"
            )
        check_writable_folder(args.save_maps, f"--save-maps {args.save_maps}")


def _scored_and_lost(result: Any) -> tuple[int, int, list[Any], str]:
    """How many items a result scored, out of how many, which were lost, and what an item is."""
    from avloc.evaluation.results import ClassAwareResult, LocalizationResult

    if isinstance(result, LocalizationResult):
        return result.num_samples, len(result.requested_ids), list(result.missing), "items"
    assert isinstance(result, ClassAwareResult)
    clips = result.num_listed or result.num_match_clips + result.num_eval_clips
    return len(result.scores), clips, list(result.missing), "clips"


def _report_losses(args: argparse.Namespace, result: Any, warned: set[tuple[str, ...]]) -> None:
    """Say on stderr what a run could not score, which otherwise only shows in the JSON.

    A run that scored nothing is an error, not a table of empty metrics. ``warned`` holds the
    id lists already reported, so ``--baseline all`` warns once about a shared test set.
    """
    if _KINDS[args.protocol] == "separation":
        return  # mixtures the silence rule skips are counted in the table and the JSON
    scored, total, lost, unit = _scored_and_lost(result)
    if scored == 0 and not result.partial:
        why = (
            f"{len(lost)} of {total} {unit} missing or unreadable; e.g. {lost[0].id}: "
            f"{lost[0].reason}"
            if lost
            else f"no frame of its {total} clips shows a sounding object with a box"
        )
        raise ValueError(f"{args.root}: nothing could be scored: {why}")
    ids = tuple(m.id for m in lost)
    if not ids or ids in warned:
        return
    warned.add(ids)
    shown = abridged(ids)
    where = (
        f"see missing_ids in {args.out}"
        if args.out is not None
        else "--out records why, in missing_ids"
    )
    print(
        f"warning: {len(ids)} of {total} {unit} missing or unreadable (ids: {shown}); {where}",
        file=sys.stderr,
    )


BESIDE_A_MODEL = ("centre", "whole")  # protocols.md §1: whole images already score high


def _baselines_beside(args: argparse.Namespace, kind: str) -> list[Any]:
    """Flickr / VGG-SS: the centre-prior and whole-image baselines on the same items as the
    model (or saved maps), to print beside it; they take about a second per 250 images."""
    from avloc.evaluation import predictors as P

    if kind != "localization" or args.baseline is not None:
        return []
    quiet = argparse.Namespace(**{**vars(args), "no_progress": True})
    return [_evaluate_one(quiet, kind, P.LOCALIZATION_BASELINES[n](), None) for n in BESIDE_A_MODEL]


def run(args: argparse.Namespace) -> int:
    from avloc.evaluation.report import (
        format_interval_table,
        format_table,
        write_plots,
        write_results,
    )
    from avloc.evaluation.runner import EvaluationInterrupted

    kind = _KINDS[args.protocol]
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.boxes is not None and args.protocol not in ("music-solo", "music-duet"):
        raise ValueError(
            "--boxes takes DSOL's real-MUSIC boxes: use it with music-solo or music-duet"
        )
    if args.boxes is not None and args.match_split is not None:
        raise ValueError("--match-split takes a manifest; with --boxes the first videos match")
    _check_outputs(args)
    check_model_arguments(args)
    predictors, sha256 = _make_predictors(args, kind)
    results: list[Any] = []
    warned: set[tuple[str, ...]] = set()
    status = 0
    for predictor in predictors:
        save_maps = args.save_maps
        if save_maps is not None and len(predictors) > 1:
            save_maps = save_maps / predictor.name
        try:
            results.append(_evaluate_one(args, kind, predictor, save_maps))
        except EvaluationInterrupted as interrupted:
            results.append(interrupted.result)
            status = 130
            print("avloc evaluate: interrupted; writing the partial result", file=sys.stderr)
            _report_losses(args, results[-1], warned)
            break
        _report_losses(args, results[-1], warned)
    beside = _baselines_beside(args, kind) if status == 0 else []
    print(format_table(results + beside))
    print(format_interval_table(results))
    if args.limit is not None:  # a subset's numbers are not the protocol's: say so beside them
        print(f"note: --limit {args.limit}: only the first {args.limit} items were scored, so "
              "these are not the full set's numbers; the result records the limit", file=sys.stderr)  # fmt: skip
    if args.out is not None:
        path = write_results(results, args.out, sha256, beside)
        plots = write_plots(results, path)
        print(f"wrote {path}" + "".join(f", {p}" for p in plots))
    return status
