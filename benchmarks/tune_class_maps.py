"""How the class maps were chosen: logit offset, halo and sigma, on tuning sets only.

Inference shifts the class activation maps' logits (``MapOptions.offset``: the class-head CAMs'
sigmoid saturates, so unshifted regions spread far past their objects), then smooths the maps
around their peaks (:func:`avloc.maps.smooth_maps`, ``max(map, halo)``, the halo a
Gaussian blur topped at a fraction of the peak). The class-aware protocols binarise
``map > tau * max`` with tau 0.1 (solo), 0.2 (duet) and 0.5 (grid), so the halo's height
decides which protocols it reaches at all. This script builds one tuning set of
each kind with ``avloc synth`` (seeds 21-28: never an evaluation seed, never a training seed),
scores the model's class maps under each (halo, sigma) with the set's own protocol, pseudo-classes
matched on a separate set of 200 scenes of the same kind, and prints CIoU@0.3 and AUC per set.

    python benchmarks/tune_class_maps.py --model default          # ~6 min on 2 cores
    python benchmarks/tune_class_maps.py --model runs/x.safetensors --grid 0.9:0.08:-2 --out x.json
    python benchmarks/tune_class_maps.py --model runs/x.safetensors --grid 0.9:0.08:-2 --held-out

``--held-out`` adds a duet set in a sprite style never trained on (EmojiOne; seed 34, matched
on 35): choosing a bundle on the trained style's sets alone once hid a held-out drawing's loss
(docs/findings.md, run q3). It is not part of the published record's sets.

Sets are cached under benchmarks/.cache/tuning/. The default model's rows on the default grid
are written to benchmarks/quality/tuning-class-maps.json (another model or grid writes only
to ``--out``), as each row finishes (Ctrl-C keeps the rows done; ``benchmarks/record.py``).
The default grid is docs/findings.md's table; the defaults chosen from it are
``avloc.maps.CLASS_MAP_OPTIONS`` (``CLASS_MAP_OFFSET``, ``CLASS_MAP_HALO`` and
``DEFAULT_CLASS_MAP_SMOOTHING`` in ``avloc/defaults.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_quality import RESULTS, _synth  # noqa: E402
from record import RowRecord  # noqa: E402

from avloc.checkpoint import bundle_sha256  # noqa: E402
from avloc.evaluation.model_predictors import ModelLocalizer  # noqa: E402
from avloc.evaluation.runner import evaluate_class_aware  # noqa: E402
from avloc.inference import Pipeline  # noqa: E402
from avloc.maps import CLASS_MAP_OPTIONS, MapOptions  # noqa: E402
from avloc.pretrained import load_model, resolve  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "tuning"
# scene -> (seed of the scored set, seed of its matching set)
SETS = {"solo": (27, 28), "duet": (22, 24), "grid": (23, 25)}
# name -> (scene, seed, matching seed, extra ``avloc synth`` arguments): --held-out's sets
HELD_OUT = {"duet-emojione": ("duet", 34, 35, ("--sprites", "emojione"))}
# (offset, halo, sigma): without an offset, the sweep behind the earlier default; then around
# the choice.
GRID = (
    (0.0, 0.5, 0.1),
    (0.0, 0.65, 0.08),
    (0.0, 0.8, 0.08),
    (-1.0, 0.8, 0.08),
    (-1.5, 0.9, 0.08),
    (-2.0, 0.5, 0.1),
    (-2.0, 0.8, 0.08),
    (-2.0, 0.85, 0.08),
    (-2.0, 0.9, 0.06),
    (-2.0, 0.9, 0.08),
    (-2.0, 0.9, 0.1),
    (-2.0, 0.95, 0.08),
    (-3.0, 0.9, 0.08),
)


PUBLISHED = RESULTS / "tuning-class-maps.json"


def _scenes(
    scene: str, num_clips: int, seed: int, extra: tuple[str, ...] = (), name: str | None = None
) -> Path:
    """A tuning set, made once (bench_quality's cache rule)."""
    args = ("--scene", scene, "--num-clips", str(num_clips), "--seed", str(seed), *extra)
    return _synth(CACHE / f"{name or scene}-{seed}", args)


def _halo_sigma_offset(text: str) -> tuple[float, float, float]:
    """``"0.9:0.08:-2"`` -> ``(-2.0, 0.9, 0.08)``, as (offset, halo, sigma) (argparse type of
    ``--grid``; the offset comes last so that a negative one is not read as an option)."""
    try:
        halo, sigma, offset = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HALO:SIGMA:OFFSET, got {text!r}") from None
    return offset, halo, sigma


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or bundle path")
    parser.add_argument(
        "--grid",
        nargs="+",
        type=_halo_sigma_offset,
        default=GRID,
        metavar="HALO:SIGMA:OFFSET",
        help="the (offset, halo, sigma) triples to score (default: docs/findings.md's table)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the rows here (default: benchmarks/quality/tuning-class-maps.json for the "
        "default model and grid; another model or grid writes nothing unless given one)",
    )
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="also score a duet set in a held-out sprite style (EmojiOne; not in the published "
        "record's sets)",
    )
    args = parser.parse_args(argv)
    # another model's, grid's or set list's rows must not replace the published record
    published = args.model == "default" and tuple(args.grid) == GRID and not args.held_out
    out = args.out or (PUBLISHED if published else None)
    sets = {
        scene: (_scenes(scene, 100, seed), _scenes(scene, 200, match_seed))
        for scene, (seed, match_seed) in SETS.items()
    }
    recorded: dict[str, object] = dict(SETS)
    if args.held_out:
        for name, (scene, seed, match_seed, extra) in HELD_OUT.items():
            sets[name] = (
                _scenes(scene, 100, seed, extra, name),
                _scenes(scene, 200, match_seed, extra, name),
            )
            recorded[name] = HELD_OUT[name]
    model = load_model(args.model)  # once: every setting below is inference-side
    header = " | ".join(f"{s} CIoU@0.3 | {s} AUC" for s in sets)
    print(f"| offset | halo | sigma | {header} | mean CIoU@0.3 |")
    print("| --- | --- | --- | " + " | ".join("--- | ---" for _ in sets) + " | --- |")
    default = (CLASS_MAP_OPTIONS.offset, CLASS_MAP_OPTIONS.halo, CLASS_MAP_OPTIONS.smoothing)
    sha256 = bundle_sha256(resolve(args.model))
    with RowRecord(
        out,
        lambda rows: {"model": args.model, "model_sha256": sha256, "sets": recorded, "rows": rows},
    ) as record:
        for offset, halo, sigma in args.grid:
            pipeline = Pipeline(
                model, class_map_options=MapOptions(sigma, halo, offset, CLASS_MAP_OPTIONS.kernel)
            )
            scores = {}
            for scene, (root, match) in sets.items():
                result = evaluate_class_aware(
                    root, ModelLocalizer(pipeline, args.model), match_manifest=match, progress=False
                )
                metrics = result.metrics()
                scores[scene] = {k: round(100 * metrics[k], 1) for k in ("ciou30", "auc")}
            chosen = (offset, halo, sigma) == default
            mean = round(sum(v["ciou30"] for v in scores.values()) / len(scores), 1)
            record.add(
                {
                    "offset": offset,
                    "halo": halo,
                    "sigma": sigma,
                    "default": chosen,
                    **scores,
                    "mean": mean,
                }
            )
            cells = " | ".join(f"{v['ciou30']} | {v['auc']}" for v in scores.values())
            name = f"{offset:g}{' (default)' if chosen else ''}"
            print(f"| {name} | {halo:g} | {sigma:g} | {cells} | {mean} |", flush=True)
    print(f"wrote {out}" if out else f"(another model or grid: {PUBLISHED} left as it was)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
