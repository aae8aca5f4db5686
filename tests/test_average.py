"""``training.average``: weight averages of bundles (model soups, WiSE-FT)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avloc.checkpoint import bundle_sha256, load_bundle, read_bundle_metadata, save_bundle
from avloc.models import create_model
from training.average import WeightedBundle, average_bundles, main, parse_weighted


def _bundle(path: Path, seed: int, **overrides: object) -> Path:
    """An avloc-tiny bundle whose every tensor, batch-norm statistics and step counts
    included, depends on ``seed``."""
    torch.manual_seed(seed)
    model = create_model("avloc-tiny", **overrides)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)  # positive: valid BN variances
            else:
                tensor.fill_(seed)
    return save_bundle(model, path, extra_metadata={"training_step": str(seed)})


@pytest.fixture
def two_bundles(tmp_path: Path) -> tuple[Path, Path]:
    return _bundle(tmp_path / "base.safetensors", 1), _bundle(tmp_path / "tuned.safetensors", 2)


def test_every_float_tensor_is_the_weighted_mean_and_step_counts_are_the_first_inputs(
    tmp_path: Path, two_bundles: tuple[Path, Path]
) -> None:
    base, tuned = two_bundles
    out = tmp_path / "wise.safetensors"
    assert main([str(out), f"{base}:0.75", f"{tuned}:0.25"]) == 0
    a, b = load_bundle(base).state_dict(), load_bundle(tuned).state_dict()
    mixed = load_bundle(out).state_dict()
    floats = [name for name, t in a.items() if t.is_floating_point()]
    counts = [name for name, t in a.items() if not t.is_floating_point()]
    assert floats and counts and any("running_var" in name for name in floats)
    for name in floats:
        torch.testing.assert_close(mixed[name], 0.75 * a[name] + 0.25 * b[name])
        assert not torch.equal(mixed[name], a[name])
    assert all(torch.equal(mixed[name], a[name]) for name in counts)

    sources = json.loads(read_bundle_metadata(out).extra["averaged_from"])
    assert [(s["file"], s["weight"], s["training_step"]) for s in sources] == [
        ("base.safetensors", 0.75, "1"),
        ("tuned.safetensors", 0.25, "2"),
    ]
    assert sources[1]["sha256"] == bundle_sha256(tuned)


def test_a_pretrained_name_stands_for_its_file(tmp_path: Path) -> None:
    from avloc.pretrained import resolve

    out = tmp_path / "same.safetensors"
    assert main([str(out), "default:0.5", f"{resolve('default')}:0.5"]) == 0
    sources = json.loads(read_bundle_metadata(out).extra["averaged_from"])
    assert {s["file"] for s in sources} == {"avloc-small.safetensors"}
    original = load_bundle(resolve("default")).state_dict()
    assert all(torch.equal(t, original[n]) for n, t in load_bundle(out).state_dict().items())


def test_a_bundle_averaged_with_itself_is_unchanged(tmp_path: Path) -> None:
    base = _bundle(tmp_path / "base.safetensors", 3)
    model, _ = average_bundles([WeightedBundle(base, 0.5), WeightedBundle(base, 0.5)])
    original = load_bundle(base).state_dict()
    assert all(torch.equal(t, original[name]) for name, t in model.state_dict().items())


@pytest.mark.parametrize(
    "text",
    [
        "model.safetensors",
        "model.safetensors:",
        ":0.5",
        "m.safetensors:half",
        "m:-0.5",
        "m:0",
        "m:nan",
    ],
)
def test_an_input_without_a_positive_weight_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="FILE:WEIGHT"):
        parse_weighted(text)


def test_a_path_with_colons_keeps_them() -> None:
    assert parse_weighted("C:/runs/a.safetensors:0.5") == WeightedBundle(
        Path("C:/runs/a.safetensors"), 0.5
    )


def test_bad_averages_are_explained_and_write_nothing(
    tmp_path: Path, two_bundles: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, tuned = two_bundles
    other = _bundle(tmp_path / "other.safetensors", 4, embed_dim=24)
    out = tmp_path / "out.safetensors"
    cases = {
        "weights add to 0.9": [f"{base}:0.5", f"{tuned}:0.4"],
        "at least two": [f"{base}:1"],
        "other.safetensors: a different model": [f"{base}:0.5", f"{other}:0.5"],
        "missing.safetensors": [f"{base}:0.5", f"{tmp_path / 'missing.safetensors'}:0.5"],
        "FILE:WEIGHT": [f"{base}:0.5", f"{tuned}:half"],
    }
    for message, inputs in cases.items():
        assert main([str(out), *inputs]) == 2
        assert message in capsys.readouterr().err
    assert not out.exists()
    before = base.read_bytes()
    assert main([str(base), f"{base}:0.5", f"{tuned}:0.5"]) == 2
    assert "one of the inputs" in capsys.readouterr().err
    assert base.read_bytes() == before
