"""The registered model variants (their defaults are the documented recipes)."""

from __future__ import annotations

from avloc.models._registry import register_model
from avloc.models.avloc_model import AVLocConfig, AVLocModel
from avloc.models.encoders import AudioEncoderConfig, VisualEncoderConfig
from avloc.models.localizer import AVOLNet, AVOLNetConfig, ClassHeadConfig
from avloc.models.separator import SeparatorConfig


@register_model("avloc-tiny", AVLocModel)
def avloc_tiny() -> AVLocConfig:
    """A few thousand parameters, 64 px: for tests and the committed test bundle."""
    return AVLocConfig(
        visual=VisualEncoderConfig(
            input_size=64,
            stem_channels=8,
            widths=(8, 16),
            blocks=(1, 1),
            strides=(2, 2),
            dilations=(1, 1),
        ),
        audio=AudioEncoderConfig(num_mels=32, channels=(8, 16)),
        embed_dim=16,
        class_head=ClassHeadConfig(num_classes=4),
        separator=SeparatorConfig(num_levels=3, base_channels=4, num_feature_channels=4),
    )


@register_model("avloc-small", AVLocModel)
def avloc_small() -> AVLocConfig:
    """The bundled CPU model: 128 px frames → 16×16 maps, 1-s log-mel audio, 5-level U-Net
    whose sources are found by distinct class maps (``SeparatorConfig.source_map``)."""
    return AVLocConfig(separator=SeparatorConfig(source_map="class"))


@register_model("avloc-resnet18", AVLocModel)
def avloc_resnet18() -> AVLocConfig:
    """GPU model: dilated ResNet-18 at 224 px (→ 14×14, torchvision names), SoP's 7-level U-Net."""
    return AVLocConfig(
        visual=VisualEncoderConfig(
            input_size=224,
            stem="imagenet",
            stem_channels=64,
            widths=(64, 128, 256, 512),
            blocks=(2, 2, 2, 2),
            strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 2),
        ),
        audio=AudioEncoderConfig(channels=(64, 128, 256, 512)),
        embed_dim=128,
        class_head=ClassHeadConfig(num_classes=20),
        separator=SeparatorConfig(
            num_levels=7,
            base_channels=32,
            max_channels=512,
            num_feature_channels=32,
            source_map="class",
        ),
    )


@register_model("avol-net-small", AVOLNet)
def avol_net_small() -> AVOLNetConfig:
    """AVOL-Net alone (no class head, no separator) with avloc-small's encoders."""
    return AVOLNetConfig()
