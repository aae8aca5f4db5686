"""Map post-processing: scale fusion, peak-preserving smoothing and map options (avloc.maps)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from avloc.defaults import MAP_HALO
from avloc.maps import HEATMAP_OPTIONS, check_scales, fuse_scales, smooth_maps


def test_map_smoothing_spreads_a_peak_without_moving_it() -> None:
    from scipy.ndimage import gaussian_filter

    maps = torch.zeros(2, 16, 16)
    maps[0, 4, 5] = 0.9  # a sharp peak ...
    maps[0, 10:14, 8:14] = 0.3  # ... beside a wide patch of weaker response
    maps[1] = torch.rand(16, 16, generator=torch.Generator().manual_seed(0))
    out = smooth_maps(maps, 0.19, kernel="gaussian")
    assert out.shape == maps.shape and bool((out >= maps).all())
    for raw, smooth in zip(maps, out, strict=True):
        assert int(smooth.argmax()) == int(raw.argmax()) and float(smooth.max()) == float(raw.max())
    # A plain blur would hand the peak to the patch; the maximum with the map keeps it.
    blurred = gaussian_filter(maps[0].numpy(), 0.19 * 16, mode="nearest", truncate=3.0)
    assert int(blurred.argmax()) != int(maps[0].argmax())
    halo = blurred * MAP_HALO * 0.9 / blurred.max()  # topped at MAP_HALO of the peak
    np.testing.assert_allclose(out[0].numpy(), np.maximum(maps[0].numpy(), halo), atol=1e-5)
    assert float(out[0, 4, 7]) > 0.02 and float(maps[0, 4, 7]) == 0.0  # the peak's neighbours rise
    # A one-cell peak gets the same halo relative to its height as a wide one does.
    lone = torch.zeros(1, 16, 16)
    lone[0, 8, 8] = 0.8
    assert float(smooth_maps(lone, 0.19, kernel="gaussian").max()) == pytest.approx(0.8)
    # One cell off the Gaussian's top:
    neighbour = 0.8 * MAP_HALO * np.exp(-0.5 / (0.19 * 16) ** 2)
    assert float(smooth_maps(lone, 0.19, kernel="gaussian")[0, 8, 9]) == pytest.approx(
        neighbour, rel=0.01
    )
    assert torch.equal(smooth_maps(maps, 0.0), maps)
    with pytest.raises(ValueError, match="map smoothing"):
        smooth_maps(maps, -0.1)
    with pytest.raises(ValueError, match=r"\(B, h, w\)"):
        smooth_maps(maps[0], 0.1)
    with pytest.raises(ValueError, match="halo"):
        smooth_maps(maps, 0.1, halo=1.0)
    # (B, K, h, w): every class map on its own.
    stacked = smooth_maps(torch.stack([maps, maps.flip(0)], 1), 0.19, kernel="gaussian")
    torch.testing.assert_close(stacked[:, 0], out)
    torch.testing.assert_close(stacked[:, 1], out.flip(0))


def test_a_box_blur_has_the_gaussians_deviation_and_square_level_sets() -> None:
    from scipy.ndimage import uniform_filter

    lone = torch.zeros(1, 24, 24)
    lone[0, 12, 12] = 0.8
    out = smooth_maps(lone, 0.19, 0.15, "box")
    radius = round(np.sqrt(3) * 0.19 * 24)  # 8 cells: a uniform filter of the same deviation
    assert radius == 8 and float(out.max()) == pytest.approx(0.8) and int(out.argmax()) == 300
    # A flat square of the halo's height, 2r + 1 cells wide, around the peak; nothing beyond.
    square = np.zeros((24, 24), bool)
    square[12 - radius : 12 + radius + 1, 12 - radius : 12 + radius + 1] = True
    square[12, 12] = False
    np.testing.assert_allclose(out[0].numpy()[square], 0.8 * 0.15, rtol=1e-5)
    assert float(out[0].numpy()[~square].max()) == pytest.approx(0.8)  # the peak alone
    assert float(out[0, 12, 12 + radius + 1]) == 0.0 and float(out[0, 4, 4]) > 0.0  # corner in
    # Any map: max(map, the uniform filter rescaled to the halo), edges repeated.
    maps = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    blurred = np.stack([uniform_filter(m, 2 * 5 + 1, mode="nearest") for m in maps.numpy()])
    scale = 0.15 * maps.numpy().max((1, 2)) / blurred.max((1, 2))
    expected = np.maximum(maps.numpy(), blurred * scale[:, None, None])
    np.testing.assert_allclose(smooth_maps(maps, 0.19, 0.15, "box").numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="kernel must be one of gaussian, box"):
        smooth_maps(maps, 0.19, 0.15, "disc")  # type: ignore[arg-type]


def test_fuse_scales_keeps_each_cells_highest_value_on_the_finest_grid() -> None:
    coarse = torch.zeros(2, 3, 4, 4)
    coarse[0, 1, 1, 1] = 0.8  # an object the coarse scale sees ...
    fine = torch.zeros(2, 3, 6, 6)
    fine[0, 2, 4, 4] = 0.6  # ... and another only the fine scale sees
    fused = fuse_scales([coarse, fine])
    assert fused.shape == (2, 3, 6, 6)
    up = torch.nn.functional.interpolate(
        coarse.flatten(0, 1)[:, None], size=(6, 6), mode="bilinear"
    )
    torch.testing.assert_close(fused, torch.maximum(up[:, 0].view(2, 3, 6, 6), fine))
    assert float(fused[0, 2, 4, 4]) == pytest.approx(0.6) and float(fused[0, 1].max()) > 0.3
    torch.testing.assert_close(fuse_scales([fine[:, 0]]), fine[:, 0])  # (B, h, w), one scale
    with pytest.raises(ValueError, match="at least one"):
        fuse_scales([])


def test_check_scales_sorts_and_rejects_bad_factors() -> None:
    assert check_scales([1.5, 1, 1.0]) == (1.0, 1.5)
    for bad in ([], [0.0], [-1.0], [5.0]):
        with pytest.raises(ValueError, match=r"scales must be one or more factors in \(0, 4\]"):
            check_scales(bad)


def test_map_options_reject_values_out_of_range_naming_the_field() -> None:
    assert HEATMAP_OPTIONS.smooth(torch.ones(1, 4, 4)).shape == (1, 4, 4)
    for field, bad in (
        ("smoothing", -1.0),
        ("smoothing", float("nan")),
        ("halo", 1.0),
        ("halo", -0.1),
        ("offset", float("inf")),
        ("offset", float("nan")),
        ("offset", 100.0),
        ("kernel", "disc"),
    ):
        with pytest.raises(ValueError, match=f"^{field} must be"):
            dataclasses.replace(HEATMAP_OPTIONS, **{field: bad})


def test_class_guidance_weights_each_heatmap_toward_the_classes_heard() -> None:
    from avloc.maps import guide_by_classes

    maps = np.full((3, 2, 2), 0.8, np.float32)
    maps[:, 0, 0] = 1.0
    class_maps = np.zeros((3, 3, 2, 2), np.float32)
    class_maps[:, 0, 1, 1] = 0.5  # class 0 is seen at the bottom right
    class_maps[:, 1, 0, 1] = 1.0  # class 1 at the top right
    class_maps[:, 2, 0, 0] = 1.0  # class 2 (say, heard in silence) at the top left
    presence = np.array([[0.8, 0.2, 0.9], [0.0, 0.0, 0.9], [0.5, 0.5, 0.0]], np.float32)
    guided = guide_by_classes(maps, class_maps, presence, 0.6, ignore=[2])
    # frame 0: guide = (0.8 * 0.5 at (1, 1), 0.2 * 1 at (0, 1)) / peak 0.4 -> 1 and 0.5
    guide = np.array([[0.0, 0.5], [0.0, 1.0]], np.float32)
    np.testing.assert_allclose(guided[0], maps[0] * (0.4 + 0.6 * guide), rtol=1e-6)
    assert np.unravel_index(guided[0].argmax(), (2, 2)) == (1, 1)  # the peak moved to class 0
    np.testing.assert_array_equal(guided[1], maps[1])  # only an ignored class heard: as it was
    guide = np.array([[0.0, 1.0], [0.0, 0.5]], np.float32)  # frame 2: 0.5 * 0.5 and 0.5 * 1
    np.testing.assert_allclose(guided[2], maps[2] * (0.4 + 0.6 * guide), rtol=1e-6)
    np.testing.assert_array_equal(guide_by_classes(maps, class_maps, presence, 0.0), maps)
    no_classes = guide_by_classes(maps, class_maps[:, :0], presence[:, :0], 0.6)
    np.testing.assert_array_equal(no_classes, maps)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="class guidance weight must be in"):
            guide_by_classes(maps, class_maps, presence, bad)
