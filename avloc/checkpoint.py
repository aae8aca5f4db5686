"""Model bundles: one ``.safetensors`` file = weights + everything needed to rebuild the model.

The header metadata (all strings) holds ``format`` ("avloc-bundle"), ``format_version``,
``avloc_version``, ``architecture`` (the registry name), ``config`` (the config dataclass as
JSON, which carries the preprocessing contract) and ``preprocessing`` (the contract again as a
flat JSON object, for tools that do not know the config classes). Extra string metadata may be
added. Nothing is pickled.

Format changes bump :data:`FORMAT_VERSION`; a bundle of an older version is converted by the
chain of ``_upgrade_vN`` functions registered in :data:`_UPGRADES` (N → N + 1), each a pure
function ``(metadata, tensors) -> (metadata, tensors)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from avloc.version import __version__

FORMAT = "avloc-bundle"
FORMAT_VERSION = 1
_RESERVED = ("format", "format_version", "avloc_version", "architecture", "config", "preprocessing")

Upgrade = Callable[[dict[str, str], dict[str, Tensor]], tuple[dict[str, str], dict[str, Tensor]]]
# version N -> function turning a version-N bundle into version N + 1 (none yet: v1 is the first).
_UPGRADES: dict[int, Upgrade] = {}


@dataclass(frozen=True)
class BundleMetadata:
    """The parsed header of a bundle (after upgrades to the current format)."""

    format_version: int
    avloc_version: str
    architecture: str
    config: dict[str, Any]
    preprocessing: dict[str, Any]
    extra: dict[str, str] = field(default_factory=dict)


def preprocessing_contract(config: Any) -> dict[str, Any]:
    """The flat preprocessing contract of a model config (what inference must feed it)."""
    contract: dict[str, Any] = {
        "sample_rate": config.sample_rate,
        "fps": config.fps,
        "frame_size": list(config.frame_size),
        "mean": list(config.mean),
        "std": list(config.std),
        "audio_window_s": config.audio_window_s,
        "mel": {
            "n_fft": config.audio.n_fft,
            "hop_length": config.audio.hop_length,
            "num_mels": config.audio.num_mels,
        },
    }
    separator = getattr(config, "separator", None)
    if separator is not None:
        contract["separation_stft"] = {"n_fft": separator.n_fft, "hop_length": separator.hop_length}
        contract["separation_window_s"] = separator.window_s
    return contract


def save_bundle(
    model: nn.Module, path: str | Path, extra_metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``model`` as a bundle (atomically: a partial file never has the final name).

    Save the unwrapped model (not a DDP/compiled wrapper) so parameter names stay clean.

    Args:
        model: a model built by :func:`avloc.models.create_model` (or loaded from a bundle).
        path: destination, conventionally ``*.safetensors``.
        extra_metadata: additional string metadata (e.g. the training recipe, data hash).

    Returns:
        The written path.

    Raises:
        ValueError: the model was not built through the registry, extra metadata is not
            str → str or uses a reserved key, or ``path`` is a folder.
        OSError: the file could not be written (it names ``path``; nothing is left behind).
    """
    from safetensors.torch import save_file

    from avloc.models import config_to_dict, list_models

    name = getattr(model, "registry_name", None)
    if name not in list_models():
        raise ValueError(
            f"save_bundle({path}): the model has no registry name; build it with "
            "avloc.models.create_model(name) or load_bundle so its architecture is known"
        )
    extra = dict(extra_metadata or {})
    bad = [k for k, v in extra.items() if not isinstance(k, str) or not isinstance(v, str)]
    clash = [k for k in extra if k in _RESERVED]
    if bad or clash:
        raise ValueError(
            f"save_bundle({path}): extra metadata must map str to str and avoid {_RESERVED}; "
            f"bad: {bad + clash}"
        )
    metadata = {
        **extra,
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "avloc_version": __version__,
        "architecture": str(name),
        "config": json.dumps(config_to_dict(model.config)),
        "preprocessing": json.dumps(preprocessing_contract(model.config)),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    if broken := _non_finite(tensors):
        raise ValueError(
            f"save_bundle({path}): weights hold NaN or infinite values ({broken[:4]}); "
            "the training run diverged"
        )
    if path.is_dir() or not path.name:
        raise ValueError(f"save_bundle({path}): the destination is a folder; name a file")
    from safetensors import SafetensorError

    partial = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(partial), metadata=metadata)
        _write_canonical(partial, path)
    except (OSError, SafetensorError) as error:  # full disk, read-only folder, ...
        raise OSError(f"{path}: could not write the bundle ({error})") from error
    finally:  # no half-written file is left beside the destination (if the folder allows)
        for leftover in (partial, path.with_name(path.name + ".tmp")):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
    return path


def _write_canonical(source: Path, destination: Path) -> None:
    """Copy a safetensors file with its JSON header key-sorted, so equal bundles hash equal.

    safetensors serialises its header from a hash map, so key order (and thus the file's
    SHA-256) changes from run to run; the data section and every offset stay the same.
    """
    with source.open("rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # the format aligns the data section to 8 bytes
        tmp = destination.with_name(destination.name + ".tmp")
        with tmp.open("wb") as out:
            out.write(struct.pack("<Q", len(text)))
            out.write(text)
            shutil.copyfileobj(handle, out)
    os.replace(tmp, destination)


def _read(path: Path) -> tuple[dict[str, str], dict[str, Tensor]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"no model bundle at {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .safetensors bundle ({error})") from error
    return metadata, tensors


def _parse_version(metadata: Mapping[str, str], path: Path) -> int:
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not an avloc bundle (metadata format={metadata.get('format')!r}, expected "
            f"{FORMAT!r}); export training checkpoints with training/export.py"
        )
    raw = metadata.get("format_version", "")
    if not raw.isdigit():
        raise ValueError(f"{path}: bad format_version {raw!r} (expected an integer)")
    return int(raw)


def _upgrade(
    metadata: dict[str, str], tensors: dict[str, Tensor], path: Path
) -> tuple[dict[str, str], dict[str, Tensor]]:
    version = _parse_version(metadata, path)
    while version != FORMAT_VERSION:
        if version not in _UPGRADES:
            raise ValueError(
                f"{path}: bundle format_version {version} is not supported by avloc {__version__} "
                f"(it reads version {FORMAT_VERSION}"
                + (f" and upgrades {sorted(_UPGRADES)}" if _UPGRADES else "")
                + "); upgrade avloc or re-export the bundle"
            )
        metadata, tensors = _UPGRADES[version](dict(metadata), dict(tensors))
        version += 1
        metadata["format_version"] = str(version)
    return metadata, tensors


def _parse_metadata(metadata: Mapping[str, str], path: Path) -> BundleMetadata:
    try:
        config = json.loads(metadata["config"])
        preprocessing = json.loads(metadata.get("preprocessing", "{}"))
        return BundleMetadata(
            format_version=int(metadata["format_version"]),
            avloc_version=metadata.get("avloc_version", "unknown"),
            architecture=metadata["architecture"],
            config=config,
            preprocessing=preprocessing,
            extra={k: v for k, v in metadata.items() if k not in _RESERVED},
        )
    except KeyError as error:
        raise ValueError(f"{path}: bundle metadata misses {error}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: bundle config is not valid JSON ({error.msg})") from error


def read_bundle_metadata(path: str | Path) -> BundleMetadata:
    """Read and validate a bundle's header (upgraded to the current format).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a bundle, unknown ``format_version``, or malformed metadata.
    """
    path = Path(path)
    metadata, _tensors = _upgrade(*_read(path), path)
    return _parse_metadata(metadata, path)


def read_bundle_weights(path: str | Path) -> dict[str, Tensor]:
    """A bundle's weights by name (upgraded to the current format), with no model built: for
    starting another config's model from some of them (training's ``init_from``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a bundle, unknown ``format_version``, or NaN/infinite weights.
    """
    path = Path(path)
    _metadata, tensors = _upgrade(*_read(path), path)
    _check_finite(tensors, path)
    return tensors


def check_device(device: str | None, name: str = "device") -> str | None:
    """``device`` if this torch can run a model on it (None stays None: the model's own).

    Called before any work: torch reports an unusable device late, as an ``AssertionError``
    ("Torch not compiled with CUDA enabled") or a ``RuntimeError`` deep in model loading.

    Raises:
        ValueError: not a torch device, or one this machine or build lacks (the message
            starts with ``name`` and the device).
    """
    if device is None:
        return None
    where = f"{name} {device}"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{where}: not a torch device (e.g. cpu, cuda, cuda:1, mps)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{where}: this torch has no CUDA (torch.cuda.is_available() is False)"
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{where}: this machine has {count} CUDA device(s), cuda:0 first")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"{where}: this torch has no MPS (torch.backends.mps.is_available() is False)"
        )
    elif parsed.type == "meta":
        raise ValueError(f"{where}: holds no data, a model cannot run on it")
    try:  # any other backend this build lacks fails here, each in its own way
        torch.empty(0, device=parsed)
    except Exception as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{where}: this torch cannot use it ({reason})") from None
    return device


def load_bundle(path: str | Path, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild the model of a bundle through the registry, load it strictly, ``eval()`` it.

    Args:
        path: the ``.safetensors`` bundle.
        device: where to put the model (default CPU).

    Returns:
        The model in eval mode, with ``registry_name`` set.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a bundle, unknown ``format_version``, unknown architecture, a config the
            model rejects, or weights that do not match the architecture exactly.
    """
    from avloc.models import build_model, config_from_dict
    from avloc.models._registry import get_entry

    path = Path(path)
    metadata, tensors = _upgrade(*_read(path), path)
    info = _parse_metadata(metadata, path)
    try:
        entry = get_entry(info.architecture)
        config = config_from_dict(entry.config_class, info.config, where=f"{path}: config")
        model = build_model(info.architecture, config)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: cannot rebuild the model: {error}") from error
    _check_state(model, tensors, path, info.architecture)
    model.load_state_dict(tensors, strict=True)
    check_device(None if device is None else str(device))
    return model.to(device or "cpu").eval()


def _check_state(model: nn.Module, tensors: Mapping[str, Tensor], path: Path, name: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: weights do not match architecture {name!r} and its config: missing "
            f"{missing[:8]}, unexpected {unexpected[:8]}, wrong shape {wrong[:8]}"
        )
    _check_finite(tensors, path)


def _check_finite(tensors: Mapping[str, Tensor], path: Path) -> None:
    # safetensors has no checksum: a damaged file loads, then every map and stem is NaN
    # (bundles named in the pretrained table are also sha256-checked; files given by path not).
    if broken := _non_finite(tensors):
        raise ValueError(
            f"{path}: weights hold NaN or infinite values ({broken[:4]}); the file is damaged "
            "or was exported from a diverged run"
        )


def _non_finite(tensors: Mapping[str, Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return sorted(
        k for k, v in tensors.items() if v.is_floating_point() and not bool(v.isfinite().all())
    )


def bundle_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the bundle file (what :mod:`avloc.pretrained` checks).

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model bundle at {path}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
