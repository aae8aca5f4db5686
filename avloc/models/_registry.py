"""The model registry: registered names -> (model class, default config).

``register_model`` fills an explicit dict that raises on a duplicate name (timm's pattern without
import-time magic beyond the decorators in :mod:`avloc.models.variants`). ``create_model`` and
``list_models`` are the only entry points; :mod:`avloc.checkpoint` rebuilds models through
:func:`build_model` from the config JSON stored in a bundle.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

ConfigFactory = Callable[[], Any]
_F = TypeVar("_F", bound=ConfigFactory)


@dataclass(frozen=True)
class ModelEntry:
    """One registered variant: the module class and a factory for its default config."""

    name: str
    model_class: type[nn.Module]
    config_class: type
    default_config: ConfigFactory


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, model_class: type[nn.Module]) -> Callable[[_F], _F]:
    """Register a zero-argument function returning the default config of variant ``name``.

    Args:
        name: registry name, e.g. ``"avloc-small"``.
        model_class: the ``nn.Module`` built from the config; it must define ``config_class``.

    Raises:
        ValueError: ``name`` is already registered, or the factory returns the wrong config type.
    """

    def decorator(factory: _F) -> _F:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered; pick a new name")
        config_class = getattr(model_class, "config_class", None)
        if config_class is None or not isinstance(factory(), config_class):
            raise ValueError(
                f"register_model({name!r}): the factory must return a {config_class} "
                f"(the config_class of {model_class.__name__})"
            )
        _REGISTRY[name] = ModelEntry(name, model_class, config_class, factory)
        return factory

    return decorator


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``.

    Raises:
        ValueError: unknown name (the message lists the registered names).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build registered variant ``name`` with optional config overrides.

    A nested config field may be overridden with a mapping of its own fields, e.g.
    ``create_model("avloc-small", visual={"input_size": 160}, embed_dim=64)``.

    Args:
        name: a name from :func:`list_models`.
        **overrides: config fields to replace.

    Returns:
        The model (in training mode, freshly initialised), with ``registry_name`` set.

    Raises:
        ValueError: unknown name, unknown override key, or an invalid resulting config.
    """
    entry = get_entry(name)
    config = replace_config(entry.default_config(), overrides, where=f"create_model({name!r})")
    return build_model(name, config)


def build_model(name: str, config: Any) -> nn.Module:
    """Build the registered class of ``name`` from a full config (used by checkpoints).

    Raises:
        ValueError: unknown name. TypeError: ``config`` is not that class's config type.
    """
    entry = get_entry(name)
    if not isinstance(config, entry.config_class):
        raise TypeError(
            f"model {name!r} needs a {entry.config_class.__name__}, got {type(config).__name__}"
        )
    model = entry.model_class(config)
    # A plain str attribute; nn.Module's __setattr__ is typed for tensors and modules only.
    setattr(model, "registry_name", name)  # noqa: B010
    return model


def replace_config(config: Any, overrides: Mapping[str, Any], where: str = "config") -> Any:
    """``dataclasses.replace`` that merges mappings into nested dataclass fields.

    Raises:
        ValueError: a key that is not a field of the config (named with ``where``).
    """
    names = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            raise ValueError(
                f"{where}: unknown config field {key!r} for {type(config).__name__}; "
                f"known fields: {', '.join(sorted(names))}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            value = replace_config(current, value, where=f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(config, **changes)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(config_class: type, data: Mapping[str, Any], where: str = "config") -> Any:
    """Rebuild a nested config dataclass from :func:`config_to_dict` output.

    Lists become tuples for tuple-typed fields; missing keys take the class defaults.

    Raises:
        ValueError: unknown keys or values the config rejects (named with ``where``).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a JSON object for {config_class.__name__}")
    hints = typing.get_type_hints(config_class)
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} for {config_class.__name__}")
    kwargs = {key: _from_json(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return config_class(**kwargs)


def _from_json(hint: Any, value: Any, where: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return None if value is None else _from_json(inner[0], value, where)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value
