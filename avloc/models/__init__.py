"""Self-supervised audio-visual models: ``create_model(name, **overrides)`` and ``list_models()``.

Registered variants live in :mod:`avloc.models.variants`; importing this package registers them.
"""

from __future__ import annotations

from avloc.models import variants as _variants  # noqa: F401  (registers the variants)
from avloc.models._registry import (
    build_model,
    config_from_dict,
    config_to_dict,
    create_model,
    list_models,
    register_model,
)
from avloc.models.avloc_model import AVLocConfig, AVLocModel
from avloc.models.encoders import (
    AudioEncoder,
    AudioEncoderConfig,
    VisualEncoder,
    VisualEncoderConfig,
    load_external_weights,
)
from avloc.models.layers import box_weights, sample_points, weighted_pool
from avloc.models.localizer import AVOLNet, AVOLNetConfig, ClassHeadConfig
from avloc.models.outputs import (
    AudioEmbedding,
    ClassHeadOutput,
    LocalizationOutput,
    SeparationOutput,
    VisualFeatures,
)
from avloc.models.separator import Separator, SeparatorConfig

__all__ = [
    "AVLocConfig",
    "AVLocModel",
    "AVOLNet",
    "AVOLNetConfig",
    "AudioEmbedding",
    "AudioEncoder",
    "AudioEncoderConfig",
    "ClassHeadConfig",
    "ClassHeadOutput",
    "LocalizationOutput",
    "SeparationOutput",
    "Separator",
    "SeparatorConfig",
    "VisualEncoder",
    "VisualEncoderConfig",
    "VisualFeatures",
    "box_weights",
    "build_model",
    "config_from_dict",
    "config_to_dict",
    "create_model",
    "list_models",
    "load_external_weights",
    "register_model",
    "sample_points",
    "weighted_pool",
]
