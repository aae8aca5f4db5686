"""The correspondence objectives compared: same model, data, seed and steps; only the loss differs.

Trains stage 1 (correspondence) of the ``avloc_small`` recipe from scratch once per objective,
exports each run, and scores it with ``avloc evaluate`` on the held-out Flickr-layout sets of
``bench_quality.py`` (the sounding object among silent distractors, and the same images with a
distractor's sound, where the map must move), with the maps inference shows (smoothed; AP50 of
the raw maps beside it), not guided by the class maps (``--class-guidance 0``: the class head
is the start's). Prints the README's comparison table.

    python benchmarks/bench_objectives.py --steps 2500                # from scratch, ~1 h
    python benchmarks/bench_objectives.py --steps 500 \
        --init-from runs/avloc-small-previous.safetensors                # fine-tunes, ~13 min

From scratch, correspondence on these scenes barely leaves chance before ~1,500 steps (1,000
steps of InfoNCE: AP50 2.4, pointing 30 %), so short from-scratch runs compare nothing; the
README's table fine-tunes every objective from one InfoNCE/max-pooling bundle instead.

Runs go to runs/objectives/<name>/, bundles to runs/objectives/<name>.safetensors, scores to
benchmarks/quality/objectives/<name>-<set>.json and the table to
benchmarks/quality/objectives/table.md. A finished run is reused (delete it to retrain).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_quality import _ensure, _sets, evaluate_into  # noqa: E402

RUNS = ROOT / "runs" / "objectives"
RESULTS = ROOT / "benchmarks" / "quality" / "objectives"
SETS = ("flickr", "flickr-distractor")

# name -> (what it is, recipe overrides). Pooling is AVOL-Net's max unless named otherwise.
_MAX = ("correspondence.pooling=max",)
OBJECTIVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "infonce": (
        "InfoNCE, both directions (AVOL-Net / EZ-VSL)",
        ("correspondence.objective=infonce", *_MAX),
    ),
    "avc": ("binary correspondence (L3-Net / AVC)", ("correspondence.objective=avc", *_MAX)),
    "avts": (
        "InfoNCE + time-shifted hard negatives (AVTS)",
        ("correspondence.objective=avts", *_MAX),
    ),
    "rxid": ("Robust xID", ("correspondence.objective=rxid", *_MAX)),
    "lvs": (
        "LVS hard way (region positives, in-image negatives)",
        ("correspondence.objective=lvs", *_MAX),
    ),
    "infonce-topk": (
        "InfoNCE, top-30 % pooling (the bundled recipe)",
        ("correspondence.objective=infonce", "correspondence.pooling=topk"),
    ),
    "rxid-topk": (
        "Robust xID, top-30 % pooling",
        ("correspondence.objective=rxid", "correspondence.pooling=topk"),
    ),
}


def _train(
    name: str, overrides: tuple[str, ...], steps: int, init_from: str | None
) -> tuple[Path, float]:
    """Train (or reuse) one objective's run; returns its bundle and training minutes."""
    from training.export import main as export
    from training.train import main as train

    run_dir = RUNS / name
    bundle = RUNS / f"{name}.safetensors"
    timing = RUNS / f"{name}.minutes"
    if bundle.is_file() and timing.is_file():
        return bundle, float(timing.read_text())
    argv = ["avloc_small", "--out", str(run_dir), "--no-progress", "--set", "stages=correspondence"]
    argv += ["--set", f"correspondence.steps={steps}", "--set", "val_every=100000"]
    # NCHW memory, as the published table's runs had (scores and minutes): channels-last, the
    # recipe's default since, runs the same maths faster but rounds differently.
    argv += ["--set", "channels_last=false"]
    # A fine-tune takes a gentler learning rate (the recipe's, after its warm-up); from scratch,
    # the full one.
    lr_scale = 1.0 if init_from is None else 0.3
    argv += ["--set", f"correspondence.lr_scale={lr_scale}"]
    if init_from is not None:
        argv += ["--set", f"init_from={init_from}"]
    for item in overrides:
        argv += ["--set", item]
    resume = (run_dir / "checkpoints").is_dir()
    start = time.perf_counter()
    status = train([*argv, "--resume"] if resume else argv)
    if status == 130:  # Ctrl-C: the training loop saved its step; the next run resumes it
        print(f"interrupted: {run_dir} resumes on the next run", file=sys.stderr)
        raise SystemExit(130)
    if status != 0:
        raise SystemExit(f"training {name} failed")
    minutes = (time.perf_counter() - start) / 60.0
    if export([str(run_dir), str(bundle)]) != 0:
        raise SystemExit(f"exporting {name} failed")
    timing.write_text(f"{minutes:.2f}\n")
    return bundle, minutes


def _score(name: str, bundle: Path) -> dict[str, dict]:
    roots = {s.name: _ensure(s) for s in _sets() if s.name in SETS}
    scores = {}
    for set_name, root in roots.items():
        out = RESULTS / f"{name}-{set_name}.json"
        argv = ["evaluate", "flickr", "--root", str(root), "--model", str(bundle)]
        argv += ["--test-list", str(root / "flickr_test.csv")]
        # Stage 1 alone is compared: the class head a fine-tune carries is its start's, so
        # heatmaps guided by it would mix in what the objective did not learn.
        argv += ["--class-guidance", "0"]
        evaluate_into(out, argv)
        scores[set_name] = json.loads(out.read_text())
        if set_name == "flickr":  # AP50 of the raw maps too: the smoothing is not the objective's
            raw = RESULTS / f"{name}-{set_name}-raw.json"
            evaluate_into(raw, [*argv, "--map-smoothing", "0"])
            scores["flickr-raw"] = json.loads(raw.read_text())
    return scores


def _table(rows: list[tuple[str, float, dict[str, dict]]], steps: int, start: str) -> str:
    lines = [
        f"| objective ({steps} steps {start}) | train min | AP50 | AP50, raw maps | AUC "
        "| pointing | pointing, distractor's sound |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, minutes, scores in rows:
        flickr, moved = scores["flickr"], scores["flickr-distractor"]
        lines.append(
            f"| `{name}`: {OBJECTIVES[name][0]} | {minutes:.1f} | {100 * flickr['ciou50']:.1f} "
            f"| {100 * scores['flickr-raw']['ciou50']:.1f} "
            f"| {100 * flickr['auc']:.1f} | {100 * flickr['pointing']:.1f} "
            f"| {100 * moved['pointing']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="correspondence steps per run")
    parser.add_argument("--only", help=f"comma-separated objectives of {', '.join(OBJECTIVES)}")
    parser.add_argument(
        "--init-from", help="fine-tune every run from this bundle instead of training from scratch"
    )
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(OBJECTIVES)
    unknown = sorted(set(names) - set(OBJECTIVES))
    if unknown:
        parser.error(f"unknown objectives {unknown}; choose from {', '.join(OBJECTIVES)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    start = f"from {Path(args.init_from).name}" if args.init_from else "from scratch"
    rows = []
    for name in names:
        bundle, minutes = _train(name, OBJECTIVES[name][1], args.steps, args.init_from)
        rows.append((name, minutes, _score(name, bundle)))
        print(_table(rows, args.steps, start) + "\n", flush=True)
    (RESULTS / "table.md").write_text(_table(rows, args.steps, start) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
