"""Quality of a model against the baselines and bounds, every number from ``avloc evaluate``.

Builds the held-out evaluation sets with ``avloc synth`` (seeds 11-20, 41-48: evaluation seeds
are 1-999, tuning used 21-35, training seeds >= 1000, so no clip was seen in training or
tuning), then runs ``avloc evaluate``
for the model and for every baseline on each set, and prints the README's markdown tables.

    python benchmarks/bench_quality.py --model default            # all sets: the long run
    python benchmarks/bench_quality.py --model default --only flickr
    # another bundle (a run of the recipe), its own rows only, kept apart from the README's:
    python benchmarks/bench_quality.py --model runs/w1.safetensors --model-only --results runs/w1-quality

Sets (cached under benchmarks/.cache/quality-f<synth format>/, results under benchmarks/quality/):

* flickr: 250 Flickr-layout solo images with 1-2 silent distractors (seed 11), and the same
  images with one distractor's sound instead (``--sound-from distractor``): the map must move.
* flickr-emojione: the same task drawn in a sprite style never used in training, and its
  distractor control (the same images with a silent instrument's sound).
* flickr-twemoji, flickr-fluent: two more styles the bundled recipe does not train on (seeds 18,
  43), bundled after the model, so never looked at while it was made.
* flickr-symbola: a style the bundled recipe trains on beside Noto (new clips, seed 15).
* flickr-fluidr3: sounds from another soundfont (Debian's FluidR3_GM), and its distractor
  control.
* flickr-csound: a second soundfont held out (Csound's public-domain GM bank, Debian's
  csound-soundfont; seed 48, added after the model was made), and its distractor control.
  Without a set's soundfont installed, the set is skipped and its saved results and tables
  stay as they are.
* solo, duet, grid: class-aware localization (tau 0.1 / 0.2 / 0.5; seeds 41 / 12 / 13),
  each with the pseudo-classes matched to classes on a separate set of 200 scenes of its kind
  (seeds 42 / 19 / 20, ``--match-split``): the default held-out 20 % is 20 scenes, too few to
  match 16 pseudo-classes to 11 classes (a class may not sound in them at all).
* duet-emojione, duet-fluidr3: the duet in the held-out style and soundfont (seeds 44 / 46,
  matched on 45 / 47).
* Every Flickr-layout set is also scored with the model's raw maps (``--map-smoothing 0``) beside
  the smoothed maps inference shows, at one scale (``--scales 1``), hearing the centre 1-s window
  of each image's sound alone (``--image-audio-s 1``, the earlier default), and with sharper maps
  (``--map-offset -4``, README: an option that dims quiet sources beside loud ones), and
  unguided by the class maps (``--class-guidance 0``, the default before 2026-11-25); the
  class-aware sets with the model's own class maps (``--class-map-smoothing 0
  --class-map-offset 0``), at one scale, and as the earlier default drew them (no offset,
  halo 0.65). Both kinds also with each frame's mirror image looked at too (``--flip``).
* separation: 256 mix-2 mixtures of solo clips of different classes (seed 14); the model with
  each ``--mask-rule`` (independent masks, shared, winner-take-all), with each source alone
  (``--alone``), and with the sources found under class maps shifted as the ones shown
  (``--source-map-offset -2``, the default before 2026-11-25), and looked for once
  (``--no-refine-sources``, as before 2026-11-25 too).

Each run is scored into ``<set>-<run>.partial.json`` and moved over the saved result when it
ends, so Ctrl-C keeps the runs already done and leaves the one in progress as it was saved
(its part scored stays in the ``.partial.json``, marked ``"partial": true``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avloc.cli import main as avloc  # noqa: E402
from avloc.defaults import MASK_RULES  # noqa: E402
from avloc.evaluation import statistics  # noqa: E402
from avloc.synth import SYNTH_FORMAT  # noqa: E402

# Named by the synth format, so sets made by an older avloc synth are made again.
CACHE = ROOT / "benchmarks" / ".cache" / f"quality-f{SYNTH_FORMAT}"
RESULTS = ROOT / "benchmarks" / "quality"
FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian's fluid-soundfont-gm
CSOUND = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")  # Debian's csound-soundfont


@dataclass(frozen=True)
class EvalSet:
    name: str
    protocol: str
    synth: tuple[str, ...]
    baselines: str = "all"
    match: tuple[str, ...] | None = None  # synth arguments of a separate matching set
    requires: tuple[Path, ...] = ()  # files the set's synth arguments name (a soundfont)


def _requires(extra: tuple[str, ...]) -> tuple[Path, ...]:
    """The soundfont a set's synth arguments name, if any."""
    return tuple(Path(extra[i + 1]) for i, arg in enumerate(extra[:-1]) if arg == "--soundfont")


def _class_aware(
    name: str, seed: int, match_seed: int, *extra: str, scene: str | None = None
) -> EvalSet:
    def scenes(num: int, seed: int) -> tuple[str, ...]:
        return ("--scene", scene or name, "--num-clips", str(num), "--seed", str(seed), *extra)

    return EvalSet(
        name,
        "class-aware",
        scenes(100, seed),
        match=scenes(200, match_seed),
        requires=_requires(extra),
    )


def _flickr(name: str, num: int, seed: int, *extra: str) -> EvalSet:
    args = ("--scene", "solo", "--layout", "flickr", "--num-clips", str(num), "--seed", str(seed))
    return EvalSet(name, "flickr", (*args, *extra), requires=_requires(extra))


def _sets() -> list[EvalSet]:
    sprites = ROOT / "assets" / "sprites"
    emojione = ("--sprites", str(sprites / "emojione"))
    fluidr3 = ("--soundfont", str(FLUIDR3))
    csound = ("--soundfont", str(CSOUND))
    return [
        _flickr("flickr", 250, 11),
        _flickr("flickr-distractor", 250, 11, "--sound-from", "distractor"),
        _flickr("flickr-symbola", 150, 15, "--sprites", str(sprites / "symbola")),
        _flickr("flickr-emojione", 150, 16, *emojione),
        _flickr("flickr-emojione-distractor", 150, 16, *emojione, "--sound-from", "distractor"),
        _flickr("flickr-fluidr3", 150, 17, *fluidr3),
        _flickr("flickr-fluidr3-distractor", 150, 17, *fluidr3, "--sound-from", "distractor"),
        _flickr("flickr-twemoji", 150, 18, "--sprites", str(sprites / "twemoji")),
        _flickr("flickr-fluent", 150, 43, "--sprites", str(sprites / "fluent")),
        _flickr("flickr-csound", 150, 48, *csound),
        _flickr("flickr-csound-distractor", 150, 48, *csound, "--sound-from", "distractor"),
        _class_aware("solo", 41, 42),
        _class_aware("duet", 12, 19),
        _class_aware("grid", 13, 20),
        _class_aware("duet-emojione", 44, 45, *emojione, scene="duet"),
        _class_aware("duet-fluidr3", 46, 47, *fluidr3, scene="duet"),
        EvalSet(
            "separation",
            "separation",
            ("--scene", "solo", "--num-clips", "300", "--seed", "14"),
            baselines="mixture,oracle-ibm,oracle-irm",
        ),
    ]


def _synth(root: Path, args: tuple[str, ...]) -> Path:
    if not (root / ".complete").exists():
        if avloc(["synth", str(root), *args, "--workers", "2"]) != 0:
            raise SystemExit(f"avloc synth failed for {root.name}")
        (root / ".complete").touch()
    return root


def _ensure(dataset: EvalSet) -> Path:
    if dataset.match is not None:
        _synth(CACHE / f"{dataset.name}-match", dataset.match)
    return _synth(CACHE / dataset.name, dataset.synth)


def ensure_set(name: str) -> Path:
    """The evaluation set ``name`` (see ``_sets``), made with ``avloc synth`` on first use."""
    return _ensure(next(dataset for dataset in _sets() if dataset.name == name))


def _runs(dataset: EvalSet, model: str, model_only: bool = False) -> list[tuple[str, list[str]]]:
    names = dataset.baselines.split(",") if dataset.baselines != "all" else ["all"]
    models = [("model", ["--model", model])]
    if model_only:
        return models
    if dataset.protocol == "flickr":  # what the peak-preserving smoothing adds; its Gaussian
        # blur (the earlier default); sharper maps; one scale; the centre 1-s window alone
        # instead of the centre 3 s (the earlier default)
        models.append(("model-raw", ["--model", model, "--map-smoothing", "0"]))
        gaussian = ["--map-kernel", "gaussian", "--map-halo", "0.25"]
        models.append(("model-gaussian", ["--model", model, *gaussian]))
        models.append(("model-offset", ["--model", model, "--map-offset", "-4"]))
        models.append(("model-one-scale", ["--model", model, "--scales", "1"]))
        models.append(("model-centre-window", ["--model", model, "--image-audio-s", "1"]))
        # the audio-visual map alone, not guided by the class maps (the default before
        # 2026-11-25)
        models.append(("model-unguided", ["--model", model, "--class-guidance", "0"]))
    if dataset.protocol in ("flickr", "class-aware"):  # each frame's mirror image looked at too
        models.append(("model-flip", ["--model", model, "--flip"]))
    if dataset.protocol == "class-aware":  # the model's own maps; one scale; the earlier default
        raw = ["--class-map-smoothing", "0", "--class-map-offset", "0"]
        models.append(("model-raw", ["--model", model, *raw]))
        models.append(("model-one-scale", ["--model", model, "--scales", "1"]))
        last = ["--class-map-offset", "0", "--class-map-halo", "0.65"]
        models.append(("model-unshifted", ["--model", model, *last]))
    if dataset.protocol == "separation":  # the other ways the sources' masks may share the mix
        models += [(f"model-{r}", ["--model", model, "--mask-rule", r]) for r in MASK_RULES[1:]]
        # the sources' regions under class maps shifted as the ones shown (the default before
        # 2026-11-25; the separator trains under the model's own)
        models.append(("model-shifted", ["--model", model, "--source-map-offset", "-2"]))
        # each source looked for once, hearing the mixture (the default before 2026-11-25)
        models.append(("model-one-look", ["--model", model, "--no-refine-sources"]))
        # each source with its own vector only, the other heard but not seen (off screen)
        models.append(("model-alone", ["--model", model, "--alone"]))
    return models + [(n, ["--baseline", n]) for n in names]


def _evaluate(
    dataset: EvalSet, root: Path, runs: list[tuple[str, list[str]]], results: Path
) -> None:
    extra = ["--test-list", str(root / "flickr_test.csv")] if dataset.protocol == "flickr" else []
    if dataset.match is not None:
        extra = ["--match-split", str(CACHE / f"{dataset.name}-match" / "manifest.jsonl")]
    for label, source in runs:
        argv = ["evaluate", dataset.protocol, "--root", str(root), *source, *extra]
        evaluate_into(results / f"{dataset.name}-{label}.json", argv)


def evaluate_into(out: Path, argv: list[str]) -> None:
    """Run ``avloc evaluate`` (``argv``, without ``--out``) and save its result as ``out``.

    It is scored into ``<out>.partial.json`` beside it and moved over ``out`` (with its plots)
    when it ends, so that Ctrl-C (exit 130, saying where the part scored is) leaves the saved
    result as it was.
    """
    fresh = out.with_name(f"{out.stem}.partial.json")
    status = avloc([*argv, "--out", str(fresh), "--no-progress"])
    if status == 0:
        os.replace(fresh, out)
        for plot in fresh.parent.glob(f"{fresh.stem}_*.png"):  # write_plots: <stem>_<kind>.png
            os.replace(plot, out.with_name(out.stem + plot.name[len(fresh.stem) :]))
    elif status == 130:  # Ctrl-C: avloc evaluate wrote what it had scored, marked partial
        print(f"interrupted: {fresh} holds the part scored; {out} left as it was", file=sys.stderr)
        raise SystemExit(130)
    else:
        raise SystemExit(f"avloc evaluate failed: {' '.join(argv)}")


def _rows(dataset: EvalSet, runs: list[tuple[str, list[str]]], results: Path) -> list[dict]:
    """The saved results of ``dataset``'s ``runs``, model first (empty when never evaluated)."""
    rows: list[dict] = []
    for label, _ in runs:
        out = results / f"{dataset.name}-{label}.json"
        if out.is_file():
            loaded = json.loads(out.read_text())
            rows.extend(loaded.get("results", [loaded]))
    return rows


# each set's protocol -> the metric columns `avloc evaluate` reports for it
COLUMNS = {
    "flickr": statistics.METRICS["localization"],
    "class-aware": statistics.METRICS["class-aware"],
    "separation": statistics.METRICS["separation"],
}


def _table(dataset: EvalSet, rows: list[dict]) -> str:
    columns = COLUMNS[dataset.protocol]
    lines = [
        f"| {dataset.name} | n | " + " | ".join(columns) + " |",
        "| --- | --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    scale = 100.0 if dataset.protocol != "separation" else 1.0
    for row in rows:
        n = row.get("num_samples", row.get("num_mixtures", row.get("num_frames", "")))
        values = []
        for column in columns:
            value = row.get(column)
            is_number = isinstance(value, (int, float))
            values.append(f"{value * scale:.1f}" if is_number else str(value))
        lines.append(f"| {row['method']} | {n} | " + " | ".join(values) + " |")
        if row is rows[0] and "protocol" in row:  # the model: how sure its numbers are
            lines.append(_interval_row(row, columns, scale))  # (avloc compare: any row's)
    return "\n".join(lines)


def _interval_row(row: dict, columns: tuple[str, ...], scale: float) -> str:
    intervals = {iv.metric: iv.interval for iv in statistics.metric_intervals(row)}
    cells = [
        f"{intervals[c].low * scale:.1f}–{intervals[c].high * scale:.1f}" if c in intervals else "-"
        for c in columns
    ]
    return f"| {row['method']}: 95 % interval | | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or bundle path")
    parser.add_argument("--only", help="comma-separated set names")
    parser.add_argument(
        "--model-only",
        action="store_true",
        help="score the model as it is, without the baselines and the other settings' rows",
    )
    parser.add_argument(
        "--results", type=Path, help=f"folder for the JSONs and tables.md (default {RESULTS})"
    )
    args = parser.parse_args(argv)
    results = args.results or RESULTS
    results.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    tables = []
    for dataset in _sets():
        runs = _runs(dataset, args.model, args.model_only)
        if wanted is None or dataset.name in wanted:
            missing = [path for path in dataset.requires if not path.is_file()]
            if missing:
                print(f"skipping {dataset.name}: {missing[0]} is not installed", flush=True)
            else:
                _evaluate(dataset, _ensure(dataset), runs, results)
        rows = _rows(dataset, runs, results)
        if rows:  # every set evaluated so far, so re-running one set keeps the others' tables
            tables.append(_table(dataset, rows))
            print(tables[-1] + "\n", flush=True)
    (results / "tables.md").write_text("\n\n".join(tables) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
