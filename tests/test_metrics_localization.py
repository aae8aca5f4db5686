"""Hand-computed cases for the localization metrics (avloc.metrics.localization)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from avloc.metrics import localization as loc

FIXTURES = Path(__file__).parent / "fixtures" / "eval"


# ----------------------------------------------------------------------------- ground truth


def test_consensus_one_box_counts_half_and_max_is_exclusive():
    gt = loc.consensus_map([(0, 0, 32, 32)])
    side = int(224 * 32 / 256)  # 28: pixels 0..27, the max coordinate excluded
    assert side == 28
    assert gt.shape == (224, 224)
    assert gt[:side, :side].min() == gt[:side, :side].max() == 0.5
    assert gt[side, 0] == 0 and gt[0, side] == 0
    assert gt.sum() == pytest.approx(0.5 * side * side)


def test_consensus_rescale_truncates():
    # int(224 * 10 / 256) = int(8.75) = 8; int(224 * 20 / 256) = int(17.5) = 17.
    gt = loc.consensus_map([(10, 10, 20, 20)])
    rows, cols = np.nonzero(gt)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 16, 8, 16)


def test_consensus_two_overlapping_boxes():
    gt = loc.consensus_map([(0, 0, 128, 128), (64, 64, 192, 192)], size=256)
    assert gt[10, 10] == 0.5  # one annotator
    assert gt[100, 100] == 1.0  # both annotators
    assert gt[150, 150] == 0.5
    assert gt[200, 200] == 0.0
    assert gt.sum() == pytest.approx(0.5 * 128 * 128 * 2 - 0.5 * 64 * 64 * 2 + 64 * 64)


def test_consensus_three_boxes_clip_at_one():
    gt = loc.consensus_map([(0, 0, 16, 16)] * 3, size=256)
    assert gt.max() == 1.0
    assert set(np.unique(gt)) == {0.0, 1.0}
    assert gt.sum() == 16 * 16


def test_consensus_rejects_no_box():
    with pytest.raises(ValueError, match="at least one"):
        loc.consensus_map([])


def test_union_map_is_binary_and_clips():
    gt = loc.union_map([(0.0, 0.0, 0.5, 0.5), (0.25, 0.25, 1.5, 0.5)], size=4)
    expected = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]], float)
    np.testing.assert_array_equal(gt, expected)
    assert loc.union_map([], size=(2, 3)).shape == (2, 3)


# ----------------------------------------------------------------------------- binarisation


def test_top_half_keeps_exactly_half_of_distinct_values():
    pred = np.arange(16, dtype=float).reshape(4, 4)
    binary = loc.binarize_top_half(pred)
    assert binary.sum() == 8
    assert binary.ravel()[8:].all() and not binary.ravel()[:8].any()


def test_top_half_keeps_every_tie_at_the_threshold():
    pred = np.zeros((4, 4))
    pred[0, :3] = 1.0  # 3 ones, 13 zeros: sorted[8] is 0, so every pixel (>= 0) is kept
    assert loc.binarize_top_half(pred).sum() == 16
    assert loc.binarize_top_fraction(pred, 0.5, "gt").sum() == 3


def test_top_half_of_a_constant_map_keeps_everything():
    assert loc.binarize_top_half(np.full((5, 7), 3.0)).sum() == 35


def test_relative_rule_is_strict():
    pred = np.array([[0.0, 0.05, 0.1, 0.5, 1.0]])
    np.testing.assert_array_equal(loc.binarize_relative(pred, 0.1), [[0, 0, 0, 1, 1]])
    neg = np.array([[-3.0, 0.5, 1.0]])
    np.testing.assert_array_equal(loc.binarize_relative(neg, 0.1, clip_negative=True), [[0, 1, 1]])


def test_absolute_rule_uses_the_fixed_range():
    pred = np.array([[-10.0, 0.0, 5.0, 10.0]])
    np.testing.assert_array_equal(loc.binarize_absolute(pred, (-10.0, 10.0), 0.5), [[0, 1, 1, 1]])
    with pytest.raises(ValueError, match="high > low"):
        loc.binarize_absolute(pred, (1.0, 1.0))


# ----------------------------------------------------------------------------- cIoU


def test_ciou_perfect_empty_and_half_overlap():
    gt = np.zeros((4, 4))
    gt[:, :2] = 1.0  # left half, 8 px
    assert loc.ciou(gt, gt) == 1.0
    assert loc.ciou(np.zeros((4, 4)), gt) == 0.0
    top = np.zeros((4, 4))
    top[:2, :] = 1.0  # top half: 4 px on the GT, 4 px off it
    assert loc.ciou(top, gt) == pytest.approx(4 / (8 + 4))


def test_ciou_weights_consensus_pixels():
    gt = np.zeros((4, 4))
    gt[:, :2] = 0.5  # one annotator only
    gt[:, :1] = 1.0  # two annotators on the first column
    pred = np.zeros((4, 4))
    pred[:, 1:3] = 1.0  # 4 px at 0.5, 4 px outside
    assert loc.ciou(pred, gt) == pytest.approx((4 * 0.5) / (4 * 1.0 + 4 * 0.5 + 4))


def test_ciou_of_an_empty_ground_truth_is_zero():
    # EZ-VSL's cal_CIOU: Σ(P·G) / (ΣG + Σ(P·[G=0])) = 0 / ΣP; and 0, not NaN, for 0 / 0
    assert loc.ciou(np.ones((2, 2)), np.zeros((2, 2))) == 0.0
    assert loc.ciou(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0


def test_ciou_errors():
    with pytest.raises(ValueError, match="shape"):
        loc.ciou(np.ones((2, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        loc.ciou(np.full((2, 2), np.nan), np.ones((2, 2)))


# ----------------------------------------------------------------------------- curve and AUC


def test_thresholds_equal_the_published_list():
    published = [0.05 * i for i in range(21)]
    assert list(loc.SUCCESS_THRESHOLDS) == published
    assert loc.SUCCESS_THRESHOLDS[6] == 0.30000000000000004


def test_success_curve_and_auc_by_hand():
    cious = [0.0, 0.5, 1.0]
    rates = loc.success_curve(cious)
    assert rates[0] == 1.0
    assert rates[1] == pytest.approx(2 / 3) and rates[10] == pytest.approx(2 / 3)
    assert rates[11] == pytest.approx(1 / 3) and rates[20] == pytest.approx(1 / 3)
    # Trapezoids: [0, .05] (1 + 2/3)/2; 9 steps at 2/3; [.5, .55] (2/3 + 1/3)/2; 9 steps at 1/3.
    expected = 0.05 * ((1 + 2 / 3) / 2 + 9 * 2 / 3 + (2 / 3 + 1 / 3) / 2 + 9 / 3)
    assert loc.auc(cious) == pytest.approx(expected)
    assert loc.auc([1.0, 1.0]) == pytest.approx(1.0)
    assert loc.auc([0.0]) == pytest.approx(0.025)  # only the first point is 1


def test_success_at_point_three_follows_the_published_float():
    # DSOL's CIoU@0.3 is results[6] with threshold 0.05 * 6 = 0.30000000000000004.
    assert loc.success_curve([0.3])[6] == 0.0
    assert loc.success_at([0.3], 0.3) == 1.0
    assert loc.success_at([0.49, 0.5, 0.9], 0.5) == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- pointing, NSA, resize


def test_pointing_game_hit_miss_and_tolerance():
    gt = np.zeros((10, 10))
    gt[2:4, 2:4] = 1.0
    pred = np.zeros((10, 10))
    pred[3, 3] = 1.0
    assert loc.pointing_game(pred, gt)
    pred = np.zeros((10, 10))
    pred[6, 3] = 1.0
    assert not loc.pointing_game(pred, gt)
    assert loc.pointing_game(pred, gt, tolerance_px=3)
    # A constant map points at the first pixel in raster order.
    assert not loc.pointing_game(np.ones((10, 10)), gt)


def test_nsa_counts_pixels_at_or_below_threshold():
    assert loc.nsa(np.array([[0.0, 0.1, 0.2, 0.3]])) == 0.75
    assert loc.nsa(np.zeros((3, 3))) == 1.0
    assert loc.nsa(np.ones((3, 3))) == 0.0


def test_resize_modes_by_hand():
    pred = np.array([[0.0, 4.0]])
    half_pixel = loc.resize_map(pred, (1, 4), "bilinear")
    np.testing.assert_allclose(half_pixel, [[0.0, 1.0, 3.0, 4.0]])
    corners = loc.resize_map(pred, (1, 5), "bilinear-align-corners")
    np.testing.assert_allclose(corners, [[0.0, 1.0, 2.0, 3.0, 4.0]])
    square = loc.resize_map(np.array([[0.0, 2.0], [2.0, 4.0]]), 3, "bilinear-align-corners")
    assert square[1, 1] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="resize mode"):
        loc.resize_map(pred, 4, "nearest")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- published arithmetic


def _published_flickr_ciou(xml_path: Path, heatmap: np.ndarray) -> float:
    """The Flickr arithmetic written out step by step from the protocol description."""
    root = ET.parse(xml_path).getroot()
    boxes = []
    for child in root:
        for grandchild in child:
            if grandchild.tag == "bbox":
                boxes.append([int(224 * int(ch.text or "0") / 256) for ch in list(grandchild)[1:]])
    gt_map = np.zeros((224, 224))
    for xmin, ymin, xmax, ymax in boxes:
        temp = np.zeros((224, 224))
        temp[ymin:ymax, xmin:xmax] = 1
        gt_map += temp
    gt_map /= 2
    gt_map[gt_map > 1] = 1
    pred = (heatmap - heatmap.min()) / (heatmap.max() - heatmap.min())
    threshold = np.sort(pred.flatten())[int(224 * 224 * 0.5)]
    infer = np.zeros((224, 224))
    infer[pred >= threshold] = 1
    return float(np.sum(infer * gt_map) / (np.sum(gt_map) + np.sum(infer * (gt_map == 0))))


@pytest.mark.parametrize("xml_name", ["1001.xml", "1002.xml"])
def test_flickr_preset_reproduces_published_arithmetic(xml_name):
    from avloc.data.flickr import read_flickr_boxes
    from avloc.evaluation.protocols import PROTOCOLS
    from avloc.evaluation.runner import score_image

    preset = PROTOCOLS["flickr"]
    path = FIXTURES / "flickr_xml" / xml_name
    gt = loc.consensus_map(read_flickr_boxes(path))
    rng = np.random.default_rng(7)
    for _ in range(5):
        heatmap = rng.random((224, 224)) + np.linspace(0, 1, 224)[None, :]
        ours, _ = score_image(heatmap, gt, preset.rule, 0)  # type: ignore[union-attr]
        assert ours == _published_flickr_ciou(path, heatmap)


def test_flickr_fixture_consensus_by_hand():
    from avloc.data.flickr import read_flickr_boxes

    boxes = read_flickr_boxes(FIXTURES / "flickr_xml" / "1002.xml")
    assert boxes == ((100, 50, 255, 250), (0, 0, 64, 64))
    gt = loc.consensus_map(boxes)
    # Disjoint boxes: every covered pixel is 0.5. Box 1: x 87..222 (int(224*255/256)=223
    # exclusive), y 43..218; box 2: 0..55.
    assert gt.max() == 0.5
    assert gt.sum() == pytest.approx(0.5 * ((223 - 87) * (218 - 43) + 56 * 56))


def test_nsa_needs_maps_in_unit_range():
    assert loc.nsa(np.array([[0.0, 0.2], [0.5, 1.0]])) == 0.5
    with pytest.raises(ValueError, match=r"NSA needs a map in \[0, 1\]"):
        loc.nsa(np.array([[-3.0, 0.1], [2.0, 5.0]]))  # logits
