"""Sound-source localization metrics, with the arithmetic of the released evaluation code.

Every function here is pure numpy and stateless. The conventions reproduce what the published
methods compute (``shared/reference/protocols.md`` §1–§3):

* Flickr-SoundNet ground truth: the *consensus map* of the annotators' boxes (LVS, Chen et al.
  2021, ``utils.py::testset_gt``; EZ-VSL, Mo & Morgado 2022, ``datasets.py::bbox2gtmap``).
* Prediction on Flickr / VGG-SS: resize to 224×224, min-max normalise, keep the top half of the
  pixels (EZ-VSL ``test.py``: ``np.sort(pred.flatten())[int(H * W * 0.5)]`` then ``>=``).
* cIoU, the success curve over 21 thresholds and its AUC (``Evaluator.cal_CIOU`` /
  ``finalize_AUC`` in LVS and EZ-VSL).
* Class-aware binarisation ``map > tau * max(map)`` and NSA (DSOL, Hu et al. 2020,
  ``music-exp/eval.py``; Qian et al. 2020, ``utils/evaluate.py``).

Box convention (checked against the released code): a box ``(xmin, ymin, xmax, ymax)`` covers
the pixels ``[ymin:ymax, xmin:xmax]`` — the max coordinate is *exclusive*, exactly as
``temp[item_[1]:item_[3], item_[0]:item_[2]] = 1`` in LVS ``testset_gt`` and
``temp[ymin:ymax, xmin:xmax] = 1`` in EZ-VSL ``bbox2gtmap``. Coordinates are truncated with
``int()`` after scaling (``int(224 * v / 256)`` for Flickr, ``int(224 * clip(v, 0, 1))`` for
normalised boxes as in EZ-VSL/SLAVC ``load_all_bboxes`` and DSOL ``eval.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

EVAL_SIZE = 224  # the side of the square frame every published protocol scores at
FLICKR_FRAME = 256  # Flickr-SoundNet boxes are integers in a 256×256 frame
NSA_RANGE_SLACK = 1e-6  # how far outside [0, 1] NSA lets a map stray (float error of a resize)
# Success-curve thresholds. LVS/EZ-VSL use ``[0.05 * i for i in range(21)]``; np.linspace(0, 1, 21)
# yields the identical float64 values (0.30000000000000004 at index 6 included — it matters for
# DSOL's "CIoU@0.3", which is ``results[6]``), checked in the tests.
SUCCESS_THRESHOLDS: tuple[float, ...] = tuple(float(v) for v in np.linspace(0.0, 1.0, 21))

ResizeMode = Literal["bilinear", "bilinear-align-corners"]
TieRule = Literal["ge", "gt"]

Box = tuple[float, float, float, float]


def _check_map(pred: np.ndarray, name: str = "map") -> np.ndarray:
    arr = np.asarray(pred)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def _size_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else size
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    return int(h), int(w)


def consensus_map(
    boxes: Sequence[Sequence[int]], size: int = EVAL_SIZE, frame: int = FLICKR_FRAME
) -> np.ndarray:
    """The Flickr-SoundNet consensus ground truth.

    Each annotator's box is rescaled with ``int(size * v / frame)``, filled with the max
    coordinate exclusive, the masks are summed, divided by 2 and clipped at 1: a pixel inside one
    annotator's box counts 0.5, inside two or more counts 1 (LVS ``testset_gt``).

    Args:
        boxes: ``(xmin, ymin, xmax, ymax)`` integers in the ``frame``×``frame`` annotation frame,
            one per annotator.
        size: the side of the output map.
        frame: the side of the annotation frame (256 for Flickr-SoundNet).

    Returns:
        The consensus map, values in {0, 0.5, 1}.

    Shape:
        boxes: (A, 4); returns (size, size) float64.

    Raises:
        ValueError: no box, or a box without four coordinates.
    """
    if len(boxes) == 0:
        raise ValueError("consensus_map needs at least one annotator box")
    gt = np.zeros((size, size))
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"a box must be (xmin, ymin, xmax, ymax), got {tuple(box)}")
        x0, y0, x1, y1 = (int(size * int(v) / frame) for v in box)
        gt[max(y0, 0) : y1, max(x0, 0) : x1] += 1.0
    gt /= 2.0
    gt[gt > 1.0] = 1.0
    return gt


def union_map(
    boxes: Sequence[Sequence[float]], size: int | tuple[int, int] = EVAL_SIZE
) -> np.ndarray:
    """The binary union of normalised boxes (VGG-SS and class-aware ground truth).

    Coordinates are clipped to [0, 1], scaled and truncated (``int(224 * clip(v, 0, 1))``, as
    EZ-VSL/SLAVC ``load_all_bboxes``), the max coordinate exclusive.

    Args:
        boxes: normalised ``(x0, y0, x1, y1)`` boxes; may be empty (an all-zero map).
        size: the output side, or ``(height, width)``.

    Shape:
        boxes: (B, 4); returns (H, W) float64 in {0, 1}.

    Raises:
        ValueError: a box without four coordinates.
    """
    h, w = _size_hw(size)
    gt = np.zeros((h, w))
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"a box must be (x0, y0, x1, y1), got {tuple(box)}")
        x0, y0, x1, y1 = (float(np.clip(v, 0.0, 1.0)) for v in box)
        gt[int(h * y0) : int(h * y1), int(w * x0) : int(w * x1)] = 1.0
    return gt


def resize_map(
    pred: np.ndarray, size: int | tuple[int, int] = EVAL_SIZE, mode: ResizeMode = "bilinear"
) -> np.ndarray:
    """Resize a map to the evaluation frame (the whole frame: no crop).

    Args:
        pred: the raw map.
        size: the output side, or ``(height, width)``.
        mode: ``"bilinear"`` — ``cv2.resize(..., INTER_LINEAR)`` with half-pixel centres, as LVS
            ``test.py``, DSOL ``eval.py`` and Qian ``evaluate.py``; ``"bilinear-align-corners"`` —
            ``F.interpolate(..., mode="bilinear", align_corners=True)`` as EZ-VSL ``test.py``.

    Shape:
        pred: (h, w); returns (H, W) float64.

    Raises:
        ValueError: ``pred`` is not a finite 2-D array, or ``mode`` is unknown.
    """
    arr = _check_map(pred).astype(np.float64)
    h, w = _size_hw(size)
    if arr.shape == (h, w):
        return arr
    if mode == "bilinear":
        return np.asarray(cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR), np.float64)
    if mode == "bilinear-align-corners":
        return _resize_align_corners(arr, h, w)
    raise ValueError(f"unknown resize mode {mode!r}; use 'bilinear' or 'bilinear-align-corners'")


def _resize_align_corners(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    def axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.linspace(0.0, n_in - 1, n_out) if n_out > 1 else np.zeros(1)
        lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
        hi = np.clip(lo + 1, 0, n_in - 1)
        return lo, hi, pos - lo

    y0, y1, fy = axis_weights(arr.shape[0], h)
    x0, x1, fx = axis_weights(arr.shape[1], w)
    rows = arr[y0] * (1.0 - fy)[:, None] + arr[y1] * fy[:, None]
    return rows[:, x0] * (1.0 - fx)[None, :] + rows[:, x1] * fx[None, :]


def normalize_min_max(pred: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a constant map is returned unchanged (as ``normalize_img``).

    Shape:
        pred: (H, W); returns (H, W) float64.
    """
    arr = _check_map(pred).astype(np.float64)
    lo, hi = arr.min(), arr.max()
    return arr if hi == lo else (arr - lo) / (hi - lo)


def binarize_top_fraction(
    pred: np.ndarray, fraction: float = 0.5, tie_rule: TieRule = "ge"
) -> np.ndarray:
    """Keep the top pixels: the published Flickr / VGG-SS prediction rule.

    Min-max normalise, take ``threshold = sort(pred)[int(H * W * fraction)]`` and keep the pixels
    ``>= threshold`` (EZ-VSL ``test.py``). Ties at the threshold are all kept, so a constant map
    keeps every pixel. ``tie_rule="gt"`` keeps ``> threshold`` instead (what LVS ``test.py``
    does, except that it also keeps pixels equal to 1).

    Args:
        pred: the map at the evaluation size.
        fraction: the share of pixels *below* the threshold index (0.5: the top half).
        tie_rule: ``"ge"`` (published default) or ``"gt"``.

    Shape:
        pred: (H, W); returns (H, W) float64 in {0, 1}.

    Raises:
        ValueError: ``fraction`` outside [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    norm = normalize_min_max(pred)
    threshold = np.sort(norm.ravel())[int(norm.shape[0] * norm.shape[1] * fraction)]
    keep = norm >= threshold if tie_rule == "ge" else norm > threshold
    if tie_rule == "gt":
        keep |= norm == norm.max()
    return keep.astype(np.float64)


def binarize_top_half(pred: np.ndarray) -> np.ndarray:
    """``binarize_top_fraction(pred, 0.5, "ge")``: the Flickr / VGG-SS rule (protocols.md §1).

    Shape:
        pred: (H, W); returns (H, W) float64 in {0, 1}.
    """
    return binarize_top_fraction(pred, 0.5, "ge")


def binarize_relative(pred: np.ndarray, tau: float, clip_negative: bool = False) -> np.ndarray:
    """``pred > tau * max(pred)``: the class-aware rule (DSOL ``eval.py``, Qian ``evaluate.py``).

    Args:
        pred: the map at the evaluation size.
        tau: the relative threshold (MUSIC-solo 0.1, Duet 0.2, Synthetic 0.5).
        clip_negative: set negative values to 0 first (Qian's ``infer[infer < 0] = 0``).

    Shape:
        pred: (H, W); returns (H, W) float64 in {0, 1}.

    Raises:
        ValueError: ``tau`` outside [0, 1].
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    arr = _check_map(pred).astype(np.float64)
    if clip_negative:
        arr = np.maximum(arr, 0.0)
    return (arr > tau * arr.max()).astype(np.float64)


def binarize_absolute(
    pred: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0), threshold: float = 0.5
) -> np.ndarray:
    """SLAVC's absolute mode: scale by a *fixed* range, keep ``>= threshold``.

    SLAVC ``test.py`` (without ``--relative_prediction``) maps scores with
    ``(x - xmin) / (xmax - xmin)`` for a fixed ``[xmin, xmax]`` (``[-1/tau, 1/tau]`` for its
    similarity maps) and keeps ``>= pred_thr`` (0.5).

    Shape:
        pred: (H, W); returns (H, W) float64 in {0, 1}.

    Raises:
        ValueError: an empty range.
    """
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    arr = _check_map(pred).astype(np.float64)
    return ((arr - lo) / (hi - lo) >= threshold).astype(np.float64)


def ciou(pred_binary: np.ndarray, gt: np.ndarray) -> float:
    """Consensus IoU: ``Σ(P·G) / (ΣG + Σ(P·[G = 0]))`` (LVS / EZ-VSL ``cal_CIOU``).

    Args:
        pred_binary: the binary prediction.
        gt: the ground truth, values in [0, 1] ({0, 0.5, 1} for Flickr consensus maps).

    Shape:
        pred_binary, gt: (H, W).

    An empty ground truth (a box thinner than a pixel, or inverted) scores 0, as the formula
    gives it in the published code whenever the prediction keeps any pixel; 0 also when
    neither keeps one, where the ratio would be 0/0.

    Raises:
        ValueError: shapes differ.
    """
    p = _check_map(pred_binary, "pred_binary").astype(np.float64)
    g = _check_map(gt, "gt").astype(np.float64)
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    denominator = g.sum() + (p * (g == 0)).sum()
    return float((p * g).sum() / denominator) if denominator > 0 else 0.0


def success_curve(
    cious: Sequence[float] | np.ndarray, thresholds: Sequence[float] = SUCCESS_THRESHOLDS
) -> np.ndarray:
    """The fraction of images with cIoU ``>=`` each threshold.

    Shape:
        cious: (N,); returns (len(thresholds),) float64.

    Raises:
        ValueError: no cIoU values, or one that is NaN or outside [0, 1].
    """
    values = np.asarray(cious, dtype=np.float64)
    if values.size == 0:
        raise ValueError("success_curve needs at least one cIoU value")
    if not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0):
        raise ValueError("cIoU values must be numbers in [0, 1]; got NaN or a value outside")
    return np.array([np.sum(values >= t) / values.size for t in thresholds])


def auc(
    cious: Sequence[float] | np.ndarray, thresholds: Sequence[float] = SUCCESS_THRESHOLDS
) -> float:
    """Area under the success curve by the trapezoid rule over ``thresholds`` (x in [0, 1]).

    This is ``sklearn.metrics.auc(x, results)`` with ``x = [0.05 * i for i in range(21)]`` as in
    LVS/EZ-VSL ``finalize_AUC`` and DSOL ``eval.py`` (sklearn's ``auc`` is the trapezoid rule).

    Shape:
        cious: (N,).
    """
    x = np.asarray(thresholds, dtype=np.float64)
    y = success_curve(cious, thresholds)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def success_at(cious: Sequence[float] | np.ndarray, threshold: float = 0.5) -> float:
    """The fraction of images with cIoU ``>= threshold`` (``AP50``/"cIoU" at 0.5).

    Shape:
        cious: (N,).
    """
    return float(success_curve(cious, (threshold,))[0])


def pointing_game(pred: np.ndarray, gt: np.ndarray, tolerance_px: int = 0) -> bool:
    """Whether the map's maximum falls on the ground truth (Zhang et al. 2016).

    The pointed pixel is ``np.argmax`` (the first maximum in raster order, so a constant map
    points at the top-left pixel). It is a hit when a ground-truth pixel (``gt > 0``) lies
    within ``tolerance_px`` (Euclidean) of it.

    Shape:
        pred, gt: (H, W).

    Raises:
        ValueError: shapes differ or ``tolerance_px`` is negative.
    """
    p = _check_map(pred)
    g = _check_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    if tolerance_px < 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    y, x = np.unravel_index(int(np.argmax(p)), p.shape)
    if tolerance_px == 0:
        return bool(g[y, x] > 0)
    yy, xx = np.nonzero(g > 0)
    return bool(np.any((yy - y) ** 2 + (xx - x) ** 2 <= tolerance_px**2))


def nsa(pred: np.ndarray, threshold: float = 0.2) -> float:
    """No-sounding-area: the fraction of pixels ``<= threshold`` (DSOL ``eval.py``).

    The map is used as given (absolute values, expected in [0, 1]); higher is better for the map
    of a class that is not sounding.

    Shape:
        pred: (H, W).

    Raises:
        ValueError: a value outside [0, 1]: on logits or raw similarities the absolute rule
            would score anything.
    """
    arr = _check_map(pred)
    if arr.size and (arr.min() < -NSA_RANGE_SLACK or arr.max() > 1.0 + NSA_RANGE_SLACK):
        raise ValueError(
            f"NSA needs a map in [0, 1] (it counts pixels <= {threshold}); got values in "
            f"[{arr.min():.3g}, {arr.max():.3g}]: rescale the map first (e.g. a sigmoid)"
        )
    return float(np.mean(arr <= threshold))
