"""avloc: find which objects in a video make the sound, and separate each one's sound.

Public API only; everything else is imported from its own module. The names are resolved on
first use (PEP 562), so ``import avloc`` and the command line's start do not wait for torch:
``avloc --help`` answers at once, and Ctrl-C during a command's start reaches its handler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from avloc.version import __version__

if TYPE_CHECKING:
    from avloc.inference import Pipeline
    from avloc.maps import MapOptions
    from avloc.models import create_model, list_models
    from avloc.pretrained import list_pretrained, load_model
    from avloc.sources import Clip

_PUBLIC = {
    "Clip": "avloc.sources",
    "MapOptions": "avloc.maps",
    "Pipeline": "avloc.inference",
    "create_model": "avloc.models",
    "list_models": "avloc.models",
    "list_pretrained": "avloc.pretrained",
    "load_model": "avloc.pretrained",
}

__all__ = [
    "Clip",
    "MapOptions",
    "Pipeline",
    "__version__",
    "create_model",
    "list_models",
    "list_pretrained",
    "load_model",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'avloc' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
