"""avloc: find which objects in a video make the sound, and separate each one's sound.

Public API only; everything else is imported from its own module.
"""

from __future__ import annotations

from avloc.inference import Pipeline
from avloc.maps import MapOptions
from avloc.models import create_model, list_models
from avloc.pretrained import list_pretrained, load_model
from avloc.sources import Clip
from avloc.version import __version__

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
