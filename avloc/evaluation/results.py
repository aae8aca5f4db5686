"""Typed evaluation results: per-item scores plus the set-level numbers papers print.

Every result serialises with ``to_json()`` to a dict holding the metrics, the per-item scores
and the full preset (``protocol``), so a JSON file is self-describing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avloc.data.folder import MissingItem
from avloc.evaluation.matching import ClassMatching
from avloc.evaluation.protocols import ClassAwareProtocol, LocalizationProtocol, SeparationProtocol
from avloc.metrics import localization as loc
from avloc.metrics.separation import SeparationScores


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


@dataclass(frozen=True)
class ImageScore:
    """One image's cIoU and pointing-game hit."""

    id: str
    ciou: float
    pointing: bool


@dataclass(frozen=True)
class LocalizationResult:
    """Flickr-SoundNet / VGG-SS scores of one method."""

    method: str
    protocol: LocalizationProtocol
    scores: tuple[ImageScore, ...]
    requested_ids: tuple[str, ...]
    missing: tuple[MissingItem, ...]
    partial: bool = False
    limit: int | None = None  # --limit: only the first ``limit`` available items were scored
    test_list: str | None = None  # the file the ids came from; None: every annotated id
    empty_ground_truth: tuple[str, ...] = ()  # ids whose boxes cover no pixel: scored cIoU 0

    @property
    def num_samples(self) -> int:
        return len(self.scores)

    @property
    def cious(self) -> np.ndarray:
        return np.array([s.ciou for s in self.scores])

    @property
    def success_rates(self) -> np.ndarray | None:
        """The success curve behind the AUC, at ``protocol.thresholds``."""
        return loc.success_curve(self.cious, self.protocol.thresholds) if self.scores else None

    def metrics(self) -> dict[str, float | None]:
        """ciou50 (AP50, what papers print as "cIoU"), auc, mean_ciou, pointing."""
        if not self.scores:
            return {"ciou50": None, "auc": None, "mean_ciou": None, "pointing": None}
        return {
            "ciou50": loc.success_at(self.cious, self.protocol.ap_threshold),
            "auc": loc.auc(self.cious, self.protocol.thresholds),
            "mean_ciou": float(self.cious.mean()),
            "pointing": float(np.mean([s.pointing for s in self.scores])),
        }

    def to_json(self) -> dict[str, Any]:
        rates = self.success_rates
        return {
            "method": self.method,
            "protocol": self.protocol.to_json(),
            "partial": self.partial,
            "limit": self.limit,
            "test_list": self.test_list,
            **self.metrics(),
            "num_samples": self.num_samples,
            "num_requested": len(self.requested_ids),
            "missing_ids": [{"id": m.id, "reason": m.reason} for m in self.missing],
            "empty_ground_truth_ids": list(self.empty_ground_truth),
            "success_rates": None if rates is None else rates.tolist(),
            "per_image": [
                {"id": s.id, "ciou": s.ciou, "pointing": s.pointing} for s in self.scores
            ],
        }


@dataclass(frozen=True)
class FrameScore:
    """One manifest frame: per sounding class cIoU / pointing, per silent class NSA."""

    id: str
    class_cious: dict[str, float]
    class_pointing: dict[str, bool]
    class_nsa: dict[str, float]

    @property
    def ciou(self) -> float:
        """Mean cIoU over the frame's sounding classes."""
        return float(np.mean(list(self.class_cious.values())))

    @property
    def pointing(self) -> float:
        return float(np.mean(list(self.class_pointing.values())))

    @property
    def nsa(self) -> float | None:
        """Mean NSA over the vocabulary classes not sounding here (None: every class sounds)."""
        return _mean(list(self.class_nsa.values()))


@dataclass(frozen=True)
class ClassAwareResult:
    """Class-aware localization scores of one method (CIoU@0.3, @0.5, AUC, NSA)."""

    method: str
    protocol: ClassAwareProtocol
    vocabulary: tuple[str, ...]
    scores: tuple[FrameScore, ...]
    matching: ClassMatching | None
    num_match_clips: int
    num_eval_clips: int
    num_skipped_frames: int = 0  # frames whose sounding classes all had empty boxes
    partial: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    missing: tuple[MissingItem, ...] = ()  # clips skipped because their media could not be read
    limit: int | None = None  # --limit: only the first ``limit`` evaluation clips were scored
    num_listed: int | None = None  # clips the test set lists, found or not (None: match + eval)

    @property
    def cious(self) -> np.ndarray:
        return np.array([s.ciou for s in self.scores])

    def metrics(self) -> dict[str, float | None]:
        if not self.scores:
            return dict.fromkeys(("ciou30", "ciou50", "auc", "nsa", "pointing"))
        rates = loc.success_curve(self.cious, self.protocol.ciou_thresholds)
        return {
            "ciou30": float(rates[self.protocol.ciou30_index]),
            "ciou50": float(rates[self.protocol.ciou50_index]),
            "auc": loc.auc(self.cious, self.protocol.ciou_thresholds),
            "nsa": _mean([n for s in self.scores if (n := s.nsa) is not None]),
            "pointing": float(np.mean([s.pointing for s in self.scores])),
        }

    def per_class(self) -> dict[str, dict[str, float | int | None]]:
        """Per vocabulary class: mean cIoU, CIoU@0.5 and pointing where it sounds; mean NSA."""
        out: dict[str, dict[str, float | int | None]] = {}
        for cls in self.vocabulary:
            cious = [s.class_cious[cls] for s in self.scores if cls in s.class_cious]
            hits = [float(s.class_pointing[cls]) for s in self.scores if cls in s.class_pointing]
            nsas = [s.class_nsa[cls] for s in self.scores if cls in s.class_nsa]
            out[cls] = {
                "num_sounding": len(cious),
                "mean_ciou": _mean(cious),
                "ciou50": _mean([float(c >= 0.5) for c in cious]),
                "pointing": _mean(hits),
                "num_silent": len(nsas),
                "nsa": _mean(nsas),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        rates = (
            loc.success_curve(self.cious, self.protocol.ciou_thresholds) if self.scores else None
        )
        return {
            "method": self.method,
            "protocol": self.protocol.to_json(),
            "partial": self.partial,
            "limit": self.limit,
            **self.metrics(),
            "num_samples": len(self.scores),
            "num_eval_clips": self.num_eval_clips,
            "num_match_clips": self.num_match_clips,
            "num_listed": self.num_listed,
            "num_skipped_frames": self.num_skipped_frames,
            "missing_ids": [{"id": m.id, "reason": m.reason} for m in self.missing],
            "vocabulary": list(self.vocabulary),
            "per_class": self.per_class(),
            "matching": None if self.matching is None else self.matching.to_json(),
            "success_rates": None if rates is None else rates.tolist(),
            "notes": list(self.notes),
            "per_frame": [
                {
                    "id": s.id,
                    "ciou": s.ciou,
                    "nsa": s.nsa,
                    "pointing": s.pointing,
                    "class_cious": s.class_cious,
                    "class_nsa": s.class_nsa,
                }
                for s in self.scores
            ],
        }


@dataclass(frozen=True)
class MixtureScore:
    """One mixture's scores; ``scores`` is None when the silence rule skipped it."""

    id: str
    classes: tuple[str, ...]
    scores: SeparationScores | None


@dataclass(frozen=True)
class SeparationResult:
    """Mix-and-separate scores of one method, averaged over sources then mixtures."""

    method: str
    protocol: SeparationProtocol
    mixtures: tuple[MixtureScore, ...]
    window_s: float
    num_ineligible_clips: int  # manifest clips without exactly one sounding object with a stem
    partial: bool = False
    limit: int | None = None  # --limit: only the first ``limit`` drawn mixtures were scored

    @property
    def scored(self) -> list[SeparationScores]:
        return [m.scores for m in self.mixtures if m.scores is not None]

    def metrics(self) -> dict[str, float | None]:
        scored = self.scored
        return {
            key: _mean([float(getattr(s, key)) for s in scored])
            for key in ("sdr", "sir", "sar", "nsdr", "si_sdr")
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "protocol": self.protocol.to_json(),
            "partial": self.partial,
            "limit": self.limit,
            **self.metrics(),
            "num_mixtures": len(self.scored),
            "num_skipped": len(self.mixtures) - len(self.scored),
            "num_drawn": len(self.mixtures),
            "num_ineligible_clips": self.num_ineligible_clips,
            "window_s": self.window_s,
            "per_mixture": [
                {
                    "id": m.id,
                    "classes": list(m.classes),
                    "skipped": m.scores is None,
                    **(
                        {}
                        if m.scores is None
                        else {
                            k: float(getattr(m.scores, k))
                            for k in ("sdr", "sir", "sar", "nsdr", "si_sdr")
                        }
                    ),
                }
                for m in self.mixtures
            ],
        }


EvaluationResult = LocalizationResult | ClassAwareResult | SeparationResult
