"""``avloc localize``: heatmap overlays, maps, stems and a summary for files or folders of videos.

Per video, in ``OUT/<relative name>/`` (``_1``, ``_2``... when names clash, as ``a.mp4`` and
``a.mkv`` do): ``.input`` (the video's path: the folder stays this video's on later runs),
``overlay.mp4``, ``maps.npz``, ``sources/<label>.wav`` (+ ``residual.wav``) and ``summary.json``,
written last so that a video interrupted half-way is redone on the next run while finished ones
are skipped. Per run: ``OUT/summary.json`` and ``OUT/summary.csv`` with one status per input
(ok / failed / skipped).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avloc.inference import LocalizationResult, Pipeline, SeparationResult
    from avloc.maps import MapOptions

SUMMARY_NAME = "summary.json"
INPUT_MARKER = ".input"  # the absolute path of the video a folder's outputs are for
COLORMAP = "turbo"  # avloc.viz.DEFAULT_COLORMAP, spelt out so `avloc --help` stays light


@dataclass(frozen=True)
class RenderOptions:
    """How the overlay video looks."""

    colormap: str = COLORMAP
    opacity: float = 0.5  # colour weight where the heatmap is 1
    smoothing: float = 0.5  # EMA weight of the past per analysed frame
    boxes: bool = True  # draw the objects' boxes
    separate: bool = True  # also write sources/*.wav


@dataclass(frozen=True)
class InputItem:
    """One video to process and its output folder name (relative to OUT)."""

    path: Path
    name: str


@dataclass(frozen=True)
class ItemStatus:
    """The outcome of one input, as written to the run summary."""

    input: str
    output: str
    status: str  # "ok", "failed" or "skipped"
    error: str = ""
    seconds: float = 0.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "localize",
        help="find the sounding objects in videos: overlays, maps, stems, summaries",
        description=__doc__,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files or folders")
    parser.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    add_model_arguments(parser)
    parser.add_argument(
        "--workers", type=int, default=0, help="chunks decoded ahead in background threads"
    )
    parser.add_argument(
        "--glob", default="**/*", help="file pattern inside folders (default: **/*)"
    )
    parser.add_argument("--colormap", default=COLORMAP, help="matplotlib colormap of the overlay")
    parser.add_argument("--opacity", type=float, default=0.5, help="overlay opacity in [0, 1]")
    parser.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        help="temporal EMA of the overlay's maps: the past's weight per analysed frame, in [0, 1)",
    )
    parser.add_argument("--no-boxes", action="store_true", help="do not draw object boxes")
    parser.add_argument("--no-separate", action="store_true", help="skip writing sources/*.wav")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every model-running subcommand shares."""
    parser.add_argument(
        "--model", default="default", metavar="NAME_OR_PATH", help="model name or bundle"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="frames per model step")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    add_separation_arguments(parser)
    add_map_smoothing_argument(parser)
    add_scales_argument(parser)


def add_map_smoothing_argument(parser: argparse.ArgumentParser, when: str = "") -> None:
    """``--map-smoothing`` and ``--class-map-smoothing`` (:func:`avloc.maps.smooth_maps`),
    with their halos' heights (``--map-halo``, ``--class-map-halo``), blurs
    (``--map-kernel``, ``--class-map-kernel``) and logit offsets (``--map-offset``,
    ``--class-map-offset``), and the heatmaps' ``--class-guidance``
    (:func:`avloc.maps.guide_by_classes`); ``when`` prefixes the help."""
    from avloc.defaults import (
        CLASS_GUIDANCE,
        CLASS_MAP_HALO,
        CLASS_MAP_KERNEL,
        CLASS_MAP_OFFSET,
        DEFAULT_CLASS_MAP_SMOOTHING,
        DEFAULT_MAP_SMOOTHING,
        MAP_HALO,
        MAP_KERNEL,
        MAP_KERNELS,
        MAP_OFFSET,
    )

    parser.add_argument(
        "--map-smoothing",
        type=float,
        default=DEFAULT_MAP_SMOOTHING,
        metavar="SIGMA",
        help=f"{when}peak-preserving smoothing of the heatmaps: max(map, a blur of it topped "
        f"at --map-halo of the map's peak), sigma the blur's standard deviation as a fraction "
        f"of the map's width (default {DEFAULT_MAP_SMOOTHING}; 0: the model's raw maps)",
    )
    parser.add_argument(
        "--class-map-smoothing",
        type=float,
        default=DEFAULT_CLASS_MAP_SMOOTHING,
        metavar="SIGMA",
        help=f"{when}the same for the class maps, the blur topped at --class-map-halo of the "
        f"peak (default {DEFAULT_CLASS_MAP_SMOOTHING}; 0: raw)",
    )
    for name, default in (("map", MAP_HALO), ("class-map", CLASS_MAP_HALO)):
        parser.add_argument(
            f"--{name}-halo",
            type=float,
            default=default,
            metavar="H",
            help=f"{when}the height of the {name.replace('-', ' ')} smoothing's halo as a "
            f"fraction of each map's peak, in [0, 1) (default {default:g})",
        )
    for kind, kernel in (("map", MAP_KERNEL), ("class-map", CLASS_MAP_KERNEL)):
        parser.add_argument(
            f"--{kind}-kernel",
            choices=MAP_KERNELS,
            default=kernel,
            help=f"{when}the {kind.replace('-', ' ')} smoothing's blur: a Gaussian, or a box "
            f"(uniform) filter of the same standard deviation (default {kernel})",
        )
    parser.add_argument(
        "--map-offset",
        type=float,
        default=MAP_OFFSET,
        metavar="L",
        help=f"{when}added to the audio-visual logits before the heatmap's sigmoid (default "
        f"{MAP_OFFSET:g}: the model's calibrated probabilities; -4 sharpens single-source maps "
        f"but dims quiet sources beside loud ones)",
    )
    parser.add_argument(
        "--class-map-offset",
        type=float,
        default=CLASS_MAP_OFFSET,
        metavar="L",
        help=f"{when}the same for the class activation maps (default {CLASS_MAP_OFFSET:g}; 0: "
        f"the model's own class maps)",
    )
    parser.add_argument(
        "--class-guidance",
        type=float,
        default=CLASS_GUIDANCE,
        metavar="W",
        help=f"{when}how much each heatmap is weighted toward where the classes heard are seen, "
        f"in [0, 1]: map x (1 - W + W x their presence-weighted class maps, peak 1) (default "
        f"{CLASS_GUIDANCE:g}; 0: the audio-visual map alone)",
    )


def map_options(args: argparse.Namespace) -> tuple[MapOptions, MapOptions]:
    """The heatmap and class-map options the flags of :func:`add_map_smoothing_argument` give
    (``--class-guidance`` checked too).

    Raises:
        ValueError: a value out of range, naming its flag.
    """
    from avloc.maps import MapOptions, check_class_guidance

    made = []
    for flag in ("map", "class-map"):
        prefix = flag.replace("-", "_")
        fields = ("smoothing", "halo", "offset", "kernel")
        values = [getattr(args, f"{prefix}_{name}") for name in fields]
        try:
            made.append(MapOptions(*values))
        except ValueError as error:  # its message starts with the field's name
            raise ValueError(f"--{flag}-{error}") from None
    check_class_guidance(args.class_guidance, "--class-guidance")
    return made[0], made[1]


def parse_scales(text: str) -> tuple[float, ...]:
    """``"1,1.5"`` -> ``(1.0, 1.5)`` (argparse type of ``--scales``)."""
    from avloc.maps import check_scales

    try:
        values = [float(v) for v in text.split(",")]
        return check_scales(values, "--scales")
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{error}"
            if "--scales" in str(error)
            else f"--scales wants numbers like 1,1.5: got {text!r}"
        ) from None


def add_scales_argument(parser: argparse.ArgumentParser, when: str = "") -> None:
    """``--scales`` and ``--flip`` (``Pipeline(scales=..., flip=...)``); ``when`` prefixes the
    help."""
    from avloc.defaults import DEFAULT_SCALES

    parser.add_argument(
        "--scales",
        type=parse_scales,
        default=DEFAULT_SCALES,
        metavar="S[,S...]",
        help=f"{when}frame sizes the model looks at, as factors of its own; the maps keep each "
        f"cell's highest value over them (default {','.join(f'{s:g}' for s in DEFAULT_SCALES)}; "
        "1: one pass at the model's size, the fastest)",
    )
    parser.add_argument(
        "--flip",
        action="store_true",
        help=f"{when}also look at each frame's mirror image and average the maps (twice the "
        "time; docs/findings.md gives what it gains)",
    )


def add_separation_arguments(parser: argparse.ArgumentParser, when: str = "") -> None:
    """``--mask-rule`` (:func:`avloc.masks.combine_masks`), ``--source-map-offset`` and
    ``--refine-sources`` (``Pipeline(source_map_offset=..., refine_sources=...)``); ``when``
    prefixes the help."""
    from avloc.defaults import MASK_RULES, REFINE_SOURCES, SOURCE_MAP_OFFSET

    parser.add_argument(
        "--mask-rule",
        choices=MASK_RULES,
        default="independent",
        help=f"{when}how the objects share the sound: each its own mask, the rest in the "
        "residual (Sound-of-Pixels, the default); split in proportion to their masks (no "
        "residual while they sound); or each time-frequency bin to the highest mask",
    )
    parser.add_argument(
        "--source-map-offset",
        type=float,
        default=SOURCE_MAP_OFFSET,
        metavar="L",
        help=f"{when}added to the class maps' logits before each object's separator vector is "
        f"pooled under them (default {SOURCE_MAP_OFFSET:g}: the model's own class maps, as the "
        "separator was trained; the maps shown keep --class-map-offset)",
    )
    parser.add_argument(
        "--refine-sources",
        action=argparse.BooleanOptionalAction,
        default=REFINE_SOURCES,
        help=f"{when}where each source is seen in its own frames, look for it again hearing its "
        "first estimate and average the two looks' vectors (default: on)",
    )


def check_model_arguments(args: argparse.Namespace) -> None:
    """Check the shared model flags that fail late otherwise (``--device`` fails with a
    traceback from deep inside model loading), so that a run stops before any work."""
    from avloc.checkpoint import check_device

    check_device(args.device, "--device")


def nearest_existing(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists: where ``mkdir(parents=True)`` starts."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_folder(folder: Path, flag: str = "-o") -> None:
    """Fail before any work if ``folder`` cannot take the outputs: a file stands in its (or a
    parent's) place, or the folder (or the parent it would be made in) is not writable.

    Raises:
        ValueError: naming ``flag``, the folder and the problem.
    """
    existing = nearest_existing(folder)
    if not existing.is_dir():
        if existing == folder:
            raise ValueError(f"{flag} {folder}: is a file, not a folder")
        raise ValueError(f"{flag} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == folder:
            raise ValueError(f"{flag} {folder}: the folder is not writable")
        raise ValueError(f"{flag} {folder}: cannot make it, {existing} is not writable")


def load_pipeline(args: argparse.Namespace, decode_ahead: int = 0) -> Pipeline:
    """Build the pipeline the shared model flags describe."""
    from avloc.inference import Pipeline

    heatmap_options, class_map_options = map_options(args)
    return Pipeline.from_pretrained(
        args.model,
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        decode_ahead=decode_ahead,
        mask_rule=args.mask_rule,
        heatmap_options=heatmap_options,
        class_map_options=class_map_options,
        scales=args.scales,
        source_map_offset=args.source_map_offset,
        refine_sources=args.refine_sources,
        flip=args.flip,
        class_guidance=args.class_guidance,
    )


def run(args: argparse.Namespace) -> int:
    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    options = RenderOptions(
        colormap=args.colormap,
        opacity=args.opacity,
        smoothing=args.smoothing,
        boxes=not args.no_boxes,
        separate=not args.no_separate,
    )
    _check_options(options)
    check_model_arguments(args)
    check_glob(args.glob)
    check_output_folder(args.output)
    items, problems = collect_inputs(args.inputs, args.glob, output=args.output)
    if not items:  # nothing to do: say why before loading the model or writing anything
        raise ValueError("; ".join(status.error for status in problems))
    pipeline = load_pipeline(args, decode_ahead=args.workers)
    statuses = process_all(pipeline, items, args.output, options, problems, quiet=args.quiet)
    failed = [s for s in statuses if s.status == "failed"]
    done = sum(s.status == "ok" for s in statuses)
    skipped = sum(s.status == "skipped" for s in statuses)
    print(f"avloc localize: {done} done, {skipped} skipped, {len(failed)} failed -> {args.output}")
    return 1 if failed else 0


def _check_options(options: RenderOptions) -> None:
    from avloc.viz import TemporalSmoother, colormap_lut

    colormap_lut(options.colormap)
    TemporalSmoother(options.smoothing)
    if not 0.0 <= options.opacity <= 1.0:
        raise ValueError(f"--opacity must be in [0, 1], got {options.opacity}")


def check_glob(glob: str) -> str:
    """``glob`` if it is a pattern inside each input folder: ``Path.glob`` raises
    ``NotImplementedError`` on absolute patterns, and ``..`` would leave the folder.

    Raises:
        ValueError: an empty, absolute or ``..`` pattern.
    """
    parts = Path(glob).parts
    if not glob or Path(glob).is_absolute() or ".." in parts:
        raise ValueError(
            f"--glob {glob!r}: must be a pattern relative to each input folder, e.g. '**/*.mp4'"
        )
    return glob


def collect_inputs(
    inputs: Sequence[str | Path], glob: str = "**/*", output: Path | None = None
) -> tuple[list[InputItem], list[ItemStatus]]:
    """Expand files and folders into videos, each named by its path in its input folder
    without the extension (:func:`assign_output_names` makes the names unique per run).

    ``output`` (the output folder) is left out of the input folders it lies in, so that a
    second run does not take the first run's overlays for videos. Sub-folders that cannot be
    read are skipped with a warning (``Path.glob`` skips them silently).

    Returns:
        The videos, and a failed status for each input that does not exist, and each folder
        that cannot be read or holds no video ``glob`` matches.

    Raises:
        ValueError: ``output`` is an input folder itself.
    """
    from avloc.data.folder import VIDEO_EXTENSIONS, find_videos

    items: list[InputItem] = []
    failed: list[ItemStatus] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            if output is not None and path.resolve() == output.resolve():
                raise ValueError(
                    f"-o {output}: is the input folder {path} too; the outputs would be read "
                    "as videos on the next run, so pick another output folder"
                )
            skip = output if output is not None and _inside(output, path) else None
            unreadable = unreadable_folders(path, glob, skip)
            if path in unreadable:
                failed.append(_failed(path, f"cannot read this folder ({unreadable[path]})"))
                continue
            for folder, reason in unreadable.items():
                print(
                    f"avloc localize: warning: {folder}: cannot read this folder ({reason}); "
                    "the videos in it are skipped",
                    file=sys.stderr,
                )
            found = [p for p in find_videos(path, glob) if not _inside(p, skip)]
            if not found:
                extensions = ", ".join(VIDEO_EXTENSIONS)
                failed.append(_failed(path, f"no videos ({extensions}) match --glob {glob!r}"))
            items += [InputItem(p, str(p.relative_to(path).with_suffix(""))) for p in found]
        elif path.exists():
            items.append(InputItem(path, path.stem))
        else:
            failed.append(_failed(path, "no such file or folder"))
    unique = []
    for item in items:  # a file named twice (or in two nested input folders) is done once
        if item.path.resolve() not in seen:
            seen.add(item.path.resolve())
            unique.append(item)
    return unique, failed


def _failed(path: Path, problem: str) -> ItemStatus:
    return ItemStatus(str(path), "", "failed", f"{path}: {problem}")


def _inside(path: Path, folder: Path | None) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (symbolic links resolved)."""
    return folder is not None and path.resolve().is_relative_to(folder.resolve())


def unreadable_folders(root: Path, glob: str, skip: Path | None = None) -> dict[Path, str]:
    """The folders under ``root`` (itself included) that ``glob`` searches but that cannot be
    listed, with why: ``Path.glob`` passes over them, and their videos, without a word.

    A pattern names one folder level per part up to its first ``**``; past that, a recursive
    pattern searches every folder and a flat one none. ``skip`` and what is under it are left
    out.
    """
    parts = Path(glob).parts
    named = parts.index("**") if "**" in parts else len(parts) - 1
    found: dict[Path, str] = {}

    def note(error: OSError) -> None:
        found[Path(error.filename)] = error.strerror or str(error)

    for folder, dirs, _files in os.walk(root, onerror=note):
        level = len(Path(folder).relative_to(root).parts)
        if level < named:
            dirs[:] = [d for d in dirs if fnmatch.fnmatchcase(d, parts[level])]
        elif "**" not in parts:
            dirs.clear()
        dirs[:] = [d for d in dirs if not _inside(Path(folder, d), skip)]
    return found


def assign_output_names(items: Sequence[InputItem], out_root: Path) -> list[InputItem]:
    """Give each video an output folder that stays its own on later runs.

    ``a.mkv`` and ``a.avi`` both want ``OUT/a``; ``_1``, ``_2``... part them. First each video
    takes back the folder an earlier run made for it (whose summary or input marker names this
    very file), so that a file added later never takes over another file's folder, nor gets
    "skipped, already done" on another file's results; then each video without one takes the
    first name neither taken in this run nor holding another file's outputs.
    """
    taken: set[str] = set()
    names: dict[int, str] = {}
    for index, item in enumerate(items):
        for name in _candidate_names(item.name):
            if not (out_root / name).is_dir():
                break
            if name not in taken and _same_file(folder_input(out_root / name), item.path):
                names[index] = name
                taken.add(name)
                break
    named = []
    for index, item in enumerate(items):
        if index not in names:
            names[index] = next(
                name
                for name in _candidate_names(item.name)
                if name not in taken and folder_input(out_root / name) is None
            )
            taken.add(names[index])
        named.append(InputItem(item.path, names[index]))
    return named


def _candidate_names(name: str) -> Iterator[str]:
    yield name
    yield from (f"{name}_{count}" for count in itertools.count(1))


def folder_input(out_dir: Path) -> str | None:
    """The input an earlier run wrote ``out_dir`` for, as that run named it (its input marker,
    else its summary's ``input``); None when neither exists (never used, or too early cut
    off), and ``""`` when they cannot be read (the folder is then nobody's to take).
    """
    try:
        if (out_dir / INPUT_MARKER).is_file():
            return (out_dir / INPUT_MARKER).read_text(encoding="utf-8").strip()
        if (out_dir / SUMMARY_NAME).is_file():
            return str(json.loads((out_dir / SUMMARY_NAME).read_text(encoding="utf-8"))["input"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return None


def _same_file(stored: str | None, path: Path) -> bool:
    """Whether ``stored`` (absolute, or relative to the current folder) names ``path``."""
    return bool(stored) and Path(str(stored)).resolve() == path.resolve()


def process_all(
    pipeline: Pipeline,
    items: Sequence[InputItem],
    out_root: Path,
    options: RenderOptions,
    initial: Sequence[ItemStatus] = (),
    quiet: bool = False,
) -> list[ItemStatus]:
    """Process each video, skipping finished ones and reporting (not raising) bad files."""
    from tqdm import tqdm

    from avloc.inference import ModelOutputError
    from avloc.media import MediaError

    out_root.mkdir(parents=True, exist_ok=True)
    items = assign_output_names(items, out_root)
    statuses = list(initial)
    for status in statuses:
        print(f"avloc localize: {status.error}", file=sys.stderr)
    for item in tqdm(items, desc="videos", unit="video", disable=quiet):
        out_dir = out_root / item.name
        start = time.perf_counter()
        if (out_dir / SUMMARY_NAME).exists():  # this file's own: see assign_output_names
            statuses.append(ItemStatus(str(item.path), item.name, "skipped", "already done"))
        else:
            try:
                process_video(pipeline, item.path, out_dir, options, quiet=quiet)
                status = ItemStatus(
                    str(item.path), item.name, "ok", seconds=time.perf_counter() - start
                )
            except ModelOutputError:  # not this video's fault: the rest would fail alike
                write_run_summary(out_root, statuses)
                raise
            except (MediaError, ValueError, OSError, RuntimeError) as error:
                message = str(error)  # media errors already start with the file's path
                if not message.startswith(str(item.path)):
                    message = f"{item.path}: {message}"
                print(f"avloc localize: {message}", file=sys.stderr)
                status = ItemStatus(str(item.path), item.name, "failed", message)
            statuses.append(status)
        write_run_summary(out_root, statuses)
    write_run_summary(out_root, statuses)
    return statuses


def process_video(
    pipeline: Pipeline, path: Path, out_dir: Path, options: RenderOptions, quiet: bool = True
) -> None:
    """Write overlay.mp4, maps.npz, sources/*.wav, then summary.json for one video."""
    from tqdm import tqdm

    from avloc import media
    from avloc.viz import write_overlay_video

    info = media.probe(path)
    total = math.ceil(info.duration_s * pipeline.fps)
    with tqdm(total=total, desc=path.name, unit="frame", leave=False, disable=quiet) as bar:
        loc = pipeline.localize(path, progress=bar.update)
        # The container's duration is an estimate (e.g. sound outlasting the pictures): the
        # bar ends at the frames there were.
        bar.total = bar.n
        bar.refresh()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / INPUT_MARKER, str(path.resolve()))  # claims the folder
    write_maps(out_dir / "maps.npz", loc)
    write_overlay_video(
        out_dir / "overlay.mp4",
        path,
        loc,
        options.colormap,
        options.opacity,
        options.smoothing,
        options.boxes,
    )
    stems: dict[str, str] = {}
    if options.separate:
        separation = pipeline.separate(path, localization=loc)
        stems = write_sources(out_dir / "sources", separation)
    summary = video_summary(path, loc, stems)
    atomic_write_text(out_dir / SUMMARY_NAME, json.dumps(summary, indent=2))


def write_maps(path: Path, loc: LocalizationResult) -> None:
    """maps.npz: float16 heatmaps and class maps, presence, loudness and times."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(
            handle,
            times_s=loc.times_s.astype(np.float32),
            heatmaps=loc.heatmaps.astype(np.float16),
            class_maps=loc.class_maps.astype(np.float16),
            class_presence=loc.class_presence.astype(np.float16),
            loudness_db=loc.loudness_db.astype(np.float32),
        )


def write_sources(folder: Path, separation: SeparationResult) -> dict[str, str]:
    """sources/<label>.wav per object and residual.wav; returns label -> relative file."""
    from avloc import media

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for label, wave in zip(separation.labels, separation.sources, strict=True):
        media.write_audio(folder / f"{label}.wav", wave, separation.sample_rate)
        files[label] = f"{folder.name}/{label}.wav"
    media.write_audio(folder / "residual.wav", separation.residual, separation.sample_rate)
    files["residual"] = f"{folder.name}/residual.wav"
    return files


def video_summary(path: Path, loc: LocalizationResult, stems: dict[str, str]) -> dict[str, Any]:
    """The per-video summary.json content."""
    from avloc.version import __version__

    return {
        "input": str(path),
        "avloc_version": __version__,
        "duration_s": round(loc.duration_s, 4),
        "fps": loc.fps,
        "sample_rate": loc.sample_rate,
        "frame_size": list(loc.frame_size),
        "num_frames": loc.num_frames,
        "objects": [o.to_json(loc.times_s) for o in loc.objects],
        # pseudo-classes the model hears in silence, never listed as objects
        "silence_classes": list(loc.silence_classes),
        "files": {"overlay": "overlay.mp4", "maps": "maps.npz", "sources": stems},
    }


def write_run_summary(out_root: Path, statuses: Sequence[ItemStatus]) -> None:
    """OUT/summary.json and OUT/summary.csv, rewritten atomically after every video."""
    rows = [status.__dict__ for status in statuses]
    counts = {key: sum(s.status == key for s in statuses) for key in ("ok", "failed", "skipped")}
    atomic_write_text(
        out_root / SUMMARY_NAME, json.dumps({"counts": counts, "inputs": rows}, indent=2)
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ItemStatus.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_root / "summary.csv", buffer.getvalue())


class atomic_path:
    """A temporary path beside ``path`` that replaces it on success and vanishes on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, kind: Any, *rest: Any) -> None:
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never half."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
