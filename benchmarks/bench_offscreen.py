"""Sound from off screen that no object makes: does it stay out of the objects' stems?

On the separation quality set (``benchmarks/bench_quality.py``, seed 14; the draws of ``avloc
evaluate separation``), a sound that no object makes (``avloc.data.mixing.offscreen_sound``,
seeded by the mixture's id) is added to each mixture at ``--snr-db`` below it: noise (white to
brown) or a steady tone (1-4 harmonics of 80-2,000 Hz), each swelling and fading. The model
separates the mixture with each source's frames, and its estimates are scored against the
clean sources; beside it, the mixture with the sound itself (the baseline) and the model on
the clean mixtures. *In stems* is the share of the added sound that the stems took: each
stem's change, against the clean mixture's, projected on the sound, summed over the stems and
the mixtures (the residual, the mixture minus the stems, holds the rest).

    python benchmarks/bench_offscreen.py --model default [--model other.safetensors]
        [--snr-db 10] [--limit 64: a quick look] [--json PATH]
        [--root DIR: another solo set, e.g. tuning mixtures, so a choice between models is not
        made on the evaluation set]

``--json`` is rewritten as each row finishes (``benchmarks/record.py``), so Ctrl-C keeps the
rows done.

Prints a markdown table: 256 mixtures took 11.8 min for two models on 2 cores (2026-11-24, an
hour when ``bench_training.py`` ran at 0.65-0.70x the README's figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_source_finding import separation_set  # noqa: E402
from record import RowRecord  # noqa: E402

from avloc.data.manifest import read_manifest  # noqa: E402
from avloc.data.mixing import offscreen_sound  # noqa: E402
from avloc.evaluation.model_predictors import ModelSeparator, model_predictor  # noqa: E402
from avloc.evaluation.predictors import SEPARATION_BASELINES, Separator  # noqa: E402
from avloc.evaluation.runner import evaluate_separation  # noqa: E402
from avloc.evaluation.samples import SeparationSample  # noqa: E402

METRICS = ("sdr", "sir", "sar", "si_sdr")


KINDS = {"noise": 0.0, "tone": 1.0}  # kind -> offscreen_sound's tone_fraction


def with_sound(sample: SeparationSample, kind: str, snr_db: float) -> SeparationSample:
    """``sample`` with a sound from off screen ``snr_db`` below its mixture (one per id)."""
    generator = torch.Generator().manual_seed(zlib.crc32(sample.id.encode()))
    length, rate = len(sample.mixture), sample.sample_rate
    sound = offscreen_sound(1, length, rate, KINDS[kind], generator)[0].numpy()
    level = np.sqrt(np.mean(sample.mixture.astype(np.float64) ** 2)) * 10 ** (-snr_db / 20)
    return dataclasses.replace(sample, mixture=(sample.mixture + level * sound).astype(np.float32))


@dataclass
class Remembered:
    """A separator that keeps its estimates by mixture id: the model's row on the clean
    mixtures fills it, and each kind of sound then takes its reference from it instead of
    separating every clean mixture again."""

    inner: Separator
    estimates: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def num_frames(self) -> int:
        return self.inner.num_frames

    def separate(self, sample: SeparationSample) -> np.ndarray:
        if sample.id not in self.estimates:
            self.estimates[sample.id] = self.inner.separate(sample)
        return self.estimates[sample.id]


@dataclass
class WithSound:
    """A separator that hears each mixture with a sound from off screen; keeps the stems' share.

    ``clean`` separates the clean mixtures that the stems' change is measured from: ``inner``
    by default; a :class:`Remembered` one saves separating them again for each kind of sound.
    """

    inner: Separator
    kind: str
    snr_db: float
    clean: Separator | None = None
    in_stems: list[float] = field(default_factory=list)  # per mixture: stems' change · sound
    energy: list[float] = field(default_factory=list)  # per mixture: sound · sound

    @property
    def name(self) -> str:
        return f"{self.inner.name}, {self.kind} {self.snr_db:g} dB below"

    @property
    def num_frames(self) -> int:
        return self.inner.num_frames

    def separate(self, sample: SeparationSample) -> np.ndarray:
        heard = with_sound(sample, self.kind, self.snr_db)
        estimates = self.inner.separate(heard)
        sound = (heard.mixture - sample.mixture).astype(np.float64)
        clean = (self.clean or self.inner).separate(sample)
        change = estimates.astype(np.float64) - clean
        self.in_stems.append(float((change @ sound).sum()))
        self.energy.append(float(sound @ sound))
        return estimates

    def share_in_stems(self) -> float:
        return sum(self.in_stems) / max(sum(self.energy), 1e-12)


def _shown(path: Path) -> str:
    """``path`` as a record names it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model name or bundle (repeatable)")
    parser.add_argument("--snr-db", type=float, default=10.0, help="mixture over noise, dB")
    parser.add_argument("--limit", type=int, default=None, help="score the first N mixtures")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--root", type=Path, default=None, help="an avloc synth solo set (default: the quality set)"
    )
    args = parser.parse_args(argv)
    if args.root is not None:
        try:  # before any model loads: one line naming the folder and what is wrong with it
            read_manifest(args.root)
        except (FileNotFoundError, ValueError) as error:
            parser.error(f"--root: {error}")
    root = args.root or separation_set()
    print("| separator | mixtures | " + " | ".join(m.upper() for m in METRICS) + " | in stems |")
    print("| --- | ---: |" + " ---: |" * (len(METRICS) + 1))
    mixture = SEPARATION_BASELINES["mixture"]()
    separators: list[Separator] = [WithSound(mixture, kind, args.snr_db) for kind in KINDS]
    for name in args.model or ["default"]:
        model = model_predictor(name, "separation")
        assert isinstance(model, ModelSeparator)
        clean = Remembered(model)  # its own row comes first and fills it
        separators += [clean, *(WithSound(model, kind, args.snr_db, clean) for kind in KINDS)]
    with RowRecord(
        args.json, lambda rows: {"root": _shown(root), "snr_db": args.snr_db, "rows": rows}
    ) as record:
        for separator in separators:
            result = evaluate_separation(root, separator, limit=args.limit, progress=False)
            scores = result.metrics()
            share = separator.share_in_stems() if isinstance(separator, WithSound) else None
            record.add(
                {
                    "separator": separator.name,
                    "mixtures": len(result.mixtures),
                    **scores,
                    "share_in_stems": share,
                }
            )
            cells = " | ".join(f"{scores[m]:.1f}" for m in METRICS)
            stems = "–" if share is None else f"{100 * share:.0f} %"
            print(f"| {separator.name} | {len(result.mixtures)} | {cells} | {stems} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
