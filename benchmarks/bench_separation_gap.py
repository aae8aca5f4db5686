"""Where separation loses against the ideal binary mask: finding the source, or masking it.

Scores, on the separation quality set (``benchmarks/bench_quality.py``, seed 14; the draws of
``avloc evaluate separation``), four separators between the model and the ideal binary mask:

* the model as evaluated: each source's vector pooled where the model looks while the
  *mixture* plays (what inference can do);
* the model with *own-sound* vectors: each source's vector pooled (in one look) while only its
  own stem plays, so the model finds the right object whenever it can localize a solo sound; the gap
  to the first row is what finding the source under a mixture costs;
* the ideal binary mask on the model's log-frequency grid (warped to the separator's
  ``num_log_freqs`` rows and back): what the U-Net's frequency resolution allows;
* the ideal binary mask (``--baseline oracle-ibm``).

    python benchmarks/bench_separation_gap.py --model default [--limit 64: a quick look]
        [--out PATH] [--split-class saxophone: each row's SDR on the mixtures with that class
        and on the rest, to tell whether one class's loss is in finding it or in masking it]

Prints a markdown table (~4 min). The default model's rows on the whole set are written to
``benchmarks/quality/separation_gap.json`` (another model or ``--limit`` writes only to
``--out``), row by row: Ctrl-C keeps the rows done (``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_source_finding import RESULTS, separation_set  # noqa: E402
from record import RowRecord  # noqa: E402

from avloc.evaluation.model_predictors import (  # noqa: E402
    ModelSeparator,
    _resample_rows,
    model_predictor,
)
from avloc.evaluation.predictors import OracleMaskSeparator  # noqa: E402
from avloc.evaluation.results import MixtureScore  # noqa: E402
from avloc.evaluation.runner import evaluate_separation  # noqa: E402
from avloc.evaluation.samples import SeparationSample  # noqa: E402
from avloc.sources import resample_audio  # noqa: E402

PUBLISHED = RESULTS / "separation_gap.json"
METRICS = ("sdr", "sir", "sar", "nsdr", "si_sdr")


@dataclass(frozen=True)
class OwnSoundVectors(ModelSeparator):
    """The model, each source's vector pooled while its own stem alone plays."""

    def separate(self, sample: SeparationSample) -> np.ndarray:
        pipeline, rate = self.pipeline, self.pipeline.sample_rate
        mixture = resample_audio(sample.mixture, sample.sample_rate, rate)
        num_sources = len(sample.frames)
        vectors = [
            # The references are the stems scaled by 1/S; the model hears each at full level.
            pipeline.source_vectors(
                [frames], resample_audio(stem * num_sources, sample.sample_rate, rate), False
            )[0]
            for frames, stem in zip(sample.frames, sample.references, strict=True)
        ]
        estimates = pipeline.separate_mixture(mixture, np.stack(vectors))
        return _resample_rows(estimates, rate, sample.sample_rate, len(sample.mixture))


def _split_sdr(mixtures: list[MixtureScore], name: str) -> dict[str, object]:
    """Mean SDR of the scored mixtures with class ``name`` among their sources, and of the rest."""
    scored = [(m.classes, m.scores.sdr) for m in mixtures if m.scores is not None]
    with_class = [sdr for classes, sdr in scored if name in classes]
    without = [sdr for classes, sdr in scored if name not in classes]
    return {
        "split_class": name,
        "mixtures_with": len(with_class),
        "sdr_with": float(np.mean(with_class)) if with_class else float("nan"),
        "sdr_without": float(np.mean(without)) if without else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or bundle")
    parser.add_argument(
        "--limit", type=int, default=None, help="score the first N mixtures (a quick look)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the rows here (default: benchmarks/quality/separation_gap.json for the "
        "default model on the whole set; another model or --limit writes nothing unless given one)",
    )
    parser.add_argument(
        "--split-class", help="also score each row on the mixtures with this class and without"
    )
    args = parser.parse_args(argv)
    # another model's rows, or a quick look's, must not replace the published figures
    published = args.model == "default" and args.limit is None
    out = args.out or (PUBLISHED if published else None)
    root = separation_set()
    model = model_predictor(args.model, "separation")
    assert isinstance(model, ModelSeparator)
    log_rows = model.pipeline.model.config.separator.num_log_freqs
    separators = [
        model,
        OwnSoundVectors(model.pipeline, f"{model.name}, own-sound vectors", model.num_frames),
        OracleMaskSeparator("ibm", num_log_freqs=log_rows),
        OracleMaskSeparator("ibm"),
    ]
    print("| separator | " + " | ".join(m.upper().replace("_", "-") for m in METRICS) + " |")
    print("| --- |" + " ---: |" * len(METRICS))
    with RowRecord(out) as record:
        for separator in separators:
            result = evaluate_separation(root, separator, limit=args.limit, progress=False)
            scores = result.metrics()
            row = {"separator": separator.name, "mixtures": len(result.mixtures), **scores}
            if args.split_class:
                row.update(_split_sdr(result.mixtures, args.split_class))
            record.add(row)
            cells = " | ".join(f"{scores[m]:.1f}" for m in METRICS)
            print(f"| {separator.name} | {cells} |", flush=True)
            if args.split_class:
                print(
                    f"|   with {args.split_class}: {row['mixtures_with']} mixtures, SDR "
                    f"{row['sdr_with']:.1f}; without: {row['sdr_without']:.1f} |",
                    flush=True,
                )
    print(f"wrote {out}" if out else f"(another model or --limit: {PUBLISHED} left as it was)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
