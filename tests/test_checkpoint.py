"""Bundle format, versioning, strict loading, and the pretrained-name table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from avloc import checkpoint
from avloc.assets import assets_dir
from avloc.checkpoint import (
    FORMAT_VERSION,
    bundle_sha256,
    load_bundle,
    read_bundle_metadata,
    save_bundle,
)
from avloc.models import AVLocModel, config_to_dict, create_model
from avloc.pretrained import PRETRAINED, PretrainedEntry, list_pretrained, load_model, resolve


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_bundle(
        create_model("avloc-tiny"), tmp_path / "tiny.safetensors", {"recipe": "unit"}
    )


def _rewrite(source: Path, destination: Path, **changes: str | None) -> Path:
    """Copy a bundle changing (or with None: dropping) metadata keys."""
    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata())
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    save_file(load_file(str(source)), str(destination), metadata=metadata)
    return destination


def test_metadata_holds_format_architecture_config_and_contract(bundle: Path) -> None:
    with safe_open(str(bundle), framework="pt") as handle:
        raw = handle.metadata()
    assert raw["format"] == "avloc-bundle" and raw["format_version"] == str(FORMAT_VERSION)
    assert raw["architecture"] == "avloc-tiny" and raw["avloc_version"]
    info = read_bundle_metadata(bundle)
    assert (
        info.config
        == json.loads(raw["config"])
        == config_to_dict(create_model("avloc-tiny").config)
    )
    assert info.preprocessing["sample_rate"] == 11025 and info.preprocessing["frame_size"] == [
        64,
        64,
    ]
    assert info.preprocessing["separation_stft"] == {"n_fft": 1022, "hop_length": 256}
    assert info.extra == {"recipe": "unit"}


def test_load_bundle_rebuilds_in_eval_mode(bundle: Path) -> None:
    model = load_bundle(bundle)
    assert isinstance(model, AVLocModel) and not model.training
    assert model.registry_name == "avloc-tiny"
    reference = create_model("avloc-tiny")
    reference.load_state_dict(load_file(str(bundle)))
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name


def test_equal_models_give_byte_identical_bundles(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model("avloc-tiny")
    first = bundle_sha256(save_bundle(model, tmp_path / "a.safetensors"))
    second = bundle_sha256(save_bundle(model, tmp_path / "b.safetensors"))
    assert first == second and len(first) == 64
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.tmp"))


def test_unknown_format_version_raises(bundle: Path, tmp_path: Path) -> None:
    future = _rewrite(bundle, tmp_path / "future.safetensors", format_version="99")
    with pytest.raises(ValueError, match=r"future.safetensors.*format_version 99 is not supported"):
        load_bundle(future)
    with pytest.raises(ValueError, match="format_version"):
        read_bundle_metadata(_rewrite(bundle, tmp_path / "bad.safetensors", format_version="one"))


def test_old_versions_go_through_upgrade_hooks(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_json = json.dumps(config_to_dict(create_model("avloc-tiny").config))
    old = _rewrite(
        bundle, tmp_path / "v0.safetensors", format_version="0", config=None, v0_config=config_json
    )
    with pytest.raises(ValueError, match="format_version 0"):
        load_bundle(old)

    def _upgrade_v0(metadata: dict, tensors: dict) -> tuple[dict, dict]:
        metadata["config"] = metadata.pop("v0_config")  # a renamed key, say
        return metadata, tensors

    monkeypatch.setitem(checkpoint._UPGRADES, 0, _upgrade_v0)
    assert isinstance(load_bundle(old), AVLocModel)
    assert read_bundle_metadata(old).format_version == FORMAT_VERSION


def test_strict_loading_fails_on_mismatched_weights(bundle: Path, tmp_path: Path) -> None:
    tensors = load_file(str(bundle))
    with safe_open(str(bundle), framework="pt") as handle:
        metadata = handle.metadata()
    del tensors["avol.logit_bias"]
    tensors["extra.weight"] = torch.zeros(1)
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata=metadata)
    with pytest.raises(ValueError, match=r"broken.safetensors.*avol.logit_bias"):
        load_bundle(tmp_path / "broken.safetensors")
    other = _rewrite(bundle, tmp_path / "other.safetensors", architecture="avol-net-small")
    with pytest.raises(ValueError, match=r"other.safetensors: cannot rebuild"):
        load_bundle(other)  # an AVLocConfig is not an AVOLNet config


def test_bad_files_raise_errors_naming_them(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent.safetensors"):
        load_bundle(tmp_path / "absent.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"junk.safetensors: not a readable"):
        load_bundle(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match=r"plain.safetensors: not an avloc bundle"):
        load_bundle(plain)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        load_bundle(_rewrite(bundle, tmp_path / "arch.safetensors", architecture="nope"))
    with pytest.raises(ValueError, match="misses 'config'"):
        load_bundle(_rewrite(bundle, tmp_path / "noconf.safetensors", config=None))


def test_non_finite_weights_are_refused_on_load_and_export(bundle: Path, tmp_path: Path) -> None:
    # a damaged file whose header still parses: the weights decode to NaN
    with safe_open(str(bundle), framework="pt") as handle:
        metadata = dict(handle.metadata())
    tensors = load_file(str(bundle))
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    damaged = tmp_path / "damaged.safetensors"
    save_file(tensors, str(damaged), metadata=metadata)
    with pytest.raises(ValueError, match=rf"damaged.safetensors: weights hold NaN.*{name}"):
        load_bundle(damaged)

    model = load_bundle(bundle)
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    with pytest.raises(ValueError, match="diverged"):
        save_bundle(model, tmp_path / "diverged.safetensors")
    assert not (tmp_path / "diverged.safetensors").exists()


def test_save_bundle_rejects_unregistered_models_and_bad_metadata(tmp_path: Path) -> None:
    model = create_model("avloc-tiny")
    bare = AVLocModel(model.config)
    with pytest.raises(ValueError, match="registry name"):
        save_bundle(bare, tmp_path / "bare.safetensors")
    with pytest.raises(ValueError, match=r"reserved|avoid"):
        save_bundle(model, tmp_path / "x.safetensors", {"config": "{}"})
    with pytest.raises(ValueError, match="str to str"):
        save_bundle(model, tmp_path / "x.safetensors", {"epoch": 3})  # type: ignore[dict-item]


def test_pretrained_table_lists_default_and_test_bundle() -> None:
    assert {"default", "avloc-tiny-test"} <= set(list_pretrained())
    assert PRETRAINED["default"].file == "models/avloc-small.safetensors"


def test_resolve_by_name_and_by_path(bundle: Path) -> None:
    path = resolve("avloc-tiny-test")
    assert path == assets_dir() / "models" / "avloc-tiny-test.safetensors"
    assert path.stat().st_size < 1_000_000
    assert resolve(str(bundle)) == bundle and resolve(bundle) == bundle
    model = load_model("avloc-tiny-test")
    assert isinstance(model, AVLocModel) and model.config == create_model("avloc-tiny").config


def test_committed_test_bundle_matches_its_generator(tmp_path: Path) -> None:
    from make_test_bundle import make_test_bundle

    fresh = load_file(str(make_test_bundle(tmp_path / "fresh.safetensors")))
    committed = load_file(str(resolve("avloc-tiny-test")))
    assert fresh.keys() == committed.keys()
    assert all(torch.equal(fresh[key], committed[key]) for key in fresh)


def test_missing_names_and_files_raise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"known names: .*avloc-tiny-test"):
        resolve("no-such-model")
    monkeypatch.setitem(
        PRETRAINED, "untrained", PretrainedEntry("models/not-yet.safetensors", None, "missing")
    )
    with pytest.raises(FileNotFoundError, match="'untrained' is not in this checkout"):
        load_model("untrained")
    default = assets_dir() / PRETRAINED["default"].file
    if not default.exists():  # until the bundled model is trained
        with pytest.raises(FileNotFoundError, match="'default' is not in this checkout"):
            load_model("default")


def test_sha_mismatch_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = PRETRAINED["avloc-tiny-test"]
    monkeypatch.setitem(PRETRAINED, "tampered", PretrainedEntry(entry.file, "0" * 64, "bad sha"))
    with pytest.raises(ValueError, match="does not match the expected 0000"):
        resolve("tampered")
    monkeypatch.setitem(PRETRAINED, "unrecorded", PretrainedEntry(entry.file, None, "no sha"))
    with pytest.raises(ValueError, match="no sha256 recorded"):
        resolve("unrecorded")
