"""Visual and audio encoders, and loading of local torchvision-named weights.

The visual encoder is one ResNet-style class configured two ways: a small CNN for CPU (128 px,
output stride 8 → a 16×16 grid) and ResNet-18 (224 px, layer4 dilated as in Sound-of-Pixels'
dilated ResNet, output stride 16 → 14×14) with torchvision's parameter names. The audio encoder
is a VGG-style CNN on a 1-s log-mel spectrogram (DSOL's audio input: 64 log-mel bins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avloc.audio import log_mel_spectrogram
from avloc.models.layers import conv_bn_relu, make_stage


@dataclass(frozen=True)
class VisualEncoderConfig:
    """A ResNet-style image encoder."""

    # Frames are resized to input_size × input_size before encoding (the preprocessing contract).
    input_size: int = 128
    # "small": 3×3 stride-2 conv (CPU); "imagenet": 7×7 stride-2 conv + 3×3 stride-2 max-pool.
    stem: Literal["small", "imagenet"] = "small"
    # Channels after the stem.
    stem_channels: int = 32
    # Per stage (torchvision's layer1, layer2, ...): output channels, blocks, stride, dilation.
    widths: tuple[int, ...] = (48, 96, 128)
    blocks: tuple[int, ...] = (1, 2, 1)
    strides: tuple[int, ...] = (2, 2, 1)
    dilations: tuple[int, ...] = (1, 1, 2)

    def __post_init__(self) -> None:
        if self.stem not in ("small", "imagenet"):
            raise ValueError(
                f"VisualEncoderConfig.stem must be 'small' or 'imagenet', got {self.stem!r}"
            )
        lengths = {len(self.widths), len(self.blocks), len(self.strides), len(self.dilations)}
        if len(lengths) != 1 or not self.widths:
            raise ValueError(
                "VisualEncoderConfig: widths, blocks, strides and dilations need one entry per "
                f"stage, got {self.widths}, {self.blocks}, {self.strides}, {self.dilations}"
            )
        if min(self.widths + self.blocks + self.strides + self.dilations) < 1:
            raise ValueError("VisualEncoderConfig: widths, blocks, strides, dilations must be >= 1")
        if self.input_size < 32 or self.input_size % self.output_stride:
            raise ValueError(
                f"VisualEncoderConfig.input_size={self.input_size} must be >= 32 and divisible "
                f"by the output stride {self.output_stride}"
            )

    @property
    def output_stride(self) -> int:
        """Input pixels per grid cell."""
        return (2 if self.stem == "small" else 4) * math.prod(self.strides)

    @property
    def grid_size(self) -> int:
        """Side of the output feature grid at ``input_size``."""
        return self.input_size // self.output_stride

    @property
    def out_channels(self) -> int:
        return self.widths[-1]


class VisualEncoder(nn.Module):
    """ResNet-style CNN: frames → a C-channel feature grid.

    Shape:
        frames: (B, 3, H, W) normalised with the model's mean/std -> (B, C, H/s, W/s), s the
        output stride.
    """

    config_class = VisualEncoderConfig

    def __init__(self, config: VisualEncoderConfig):
        super().__init__()
        self.config = config
        width = config.stem_channels
        if config.stem == "small":
            self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        in_channels = width
        for index, (out, num, stride, dilation) in enumerate(
            zip(config.widths, config.blocks, config.strides, config.dilations, strict=True)
        ):
            self.add_module(
                f"layer{index + 1}", make_stage(in_channels, out, num, stride, dilation)
            )
            in_channels = out

    def forward(self, frames: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(frames))))
        for index in range(len(self.config.widths)):
            x = getattr(self, f"layer{index + 1}")(x)
        return x


@dataclass(frozen=True)
class AudioEncoderConfig:
    """A VGG-style CNN on a log-mel spectrogram; the mel settings are part of the contract."""

    # Audio sample rate in Hz the model expects.
    sample_rate: int = 11025
    # Log-mel STFT size and hop (in samples) and number of mel bands.
    n_fft: int = 512
    hop_length: int = 128
    num_mels: int = 64
    # Seconds of audio per embedding (inference windows the soundtrack this long).
    window_s: float = 1.0
    # Output channels per conv stage; each stage but the last halves the time-frequency grid.
    channels: tuple[int, ...] = (32, 64, 128, 128)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.window_s <= 0:
            raise ValueError("AudioEncoderConfig: sample_rate and window_s must be positive")
        if not 1 <= self.hop_length <= self.n_fft:
            raise ValueError(
                f"AudioEncoderConfig: need 1 <= hop_length <= n_fft, got {self.hop_length}, {self.n_fft}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"AudioEncoderConfig.channels must be positive, got {self.channels}")
        if self.num_mels < 2 ** (len(self.channels) - 1):
            raise ValueError(
                f"AudioEncoderConfig: num_mels={self.num_mels} is too few for "
                f"{len(self.channels) - 1} halvings"
            )

    @property
    def out_channels(self) -> int:
        return self.channels[-1]


class AudioEncoder(nn.Module):
    """Waveform → log-mel → CNN → time-frequency features and a pooled vector.

    The log-mel is computed in float32 with autocast off (it is signal processing, not
    learning); a batch norm over the single input channel standardises it (as PANNs' ``bn0``).
    """

    config_class = AudioEncoderConfig

    def __init__(self, config: AudioEncoderConfig):
        super().__init__()
        self.config = config
        self.bn0 = nn.BatchNorm2d(1)
        stages = []
        in_channels = 1
        for out in config.channels:
            stages.append(conv_bn_relu(in_channels, out))
            in_channels = out
        self.stages = nn.ModuleList(stages)

    def log_mel(self, wave: Tensor) -> Tensor:
        """Shape: wave (B, T) -> (B, 1, M, N) float32."""
        cfg = self.config
        with torch.autocast(device_type=wave.device.type, enabled=False):
            mel = log_mel_spectrogram(
                wave.float(), cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.num_mels
            )
        return mel.unsqueeze(1)

    def forward(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """Encode a batch of waveforms.

        Returns:
            ``(features, pooled)``: the last stage's time-frequency features and their
            mean + max pool over time and frequency.

        Shape:
            wave: (B, T) -> features (B, C, M', N'), pooled (B, C).
        """
        x = self.bn0(self.log_mel(wave))
        last = len(self.stages) - 1
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index < last:
                x = F.max_pool2d(x, 2, ceil_mode=True)
        pooled = x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))
        return x, pooled


def load_external_weights(
    module: nn.Module, path: str | Path, ignore_prefixes: tuple[str, ...] = ("fc.",)
) -> list[str]:
    """Load a local torchvision-named state dict (``.pth``/``.pt`` or ``.safetensors``).

    Never downloads: ``path`` must be a file on disk. ``.pth`` files are read with
    ``torch.load(weights_only=True)`` (no pickled code runs). Keys under ``ignore_prefixes``
    (torchvision's classifier ``fc.``) are skipped; every other key must match ``module``'s
    names and shapes exactly, and every parameter of ``module`` must be provided.

    Args:
        module: e.g. ``model.visual`` of an ``"avloc-resnet18"`` model.
        path: the weights file.
        ignore_prefixes: key prefixes in the file to skip.

    Returns:
        The keys of the file that were skipped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be read as a state dict, or keys/shapes do not match.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    state = _read_state_dict(path)
    skipped = sorted(k for k in state if k.startswith(ignore_prefixes))
    state = {k: v for k, v in state.items() if k not in skipped}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: weights do not match {type(module).__name__}: missing {missing[:8]}, "
            f"unexpected {unexpected[:8]}, wrong shape {wrong[:8]} (expected torchvision names "
            "such as conv1.weight, layer1.0.conv1.weight)"
        )
    module.load_state_dict(state, strict=True)
    return skipped


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the readers raise many types; the cause is kept
        # (torch's own text may suggest weights_only=False: unsafe for a file of unknown origin)
        raise ValueError(
            f"{path}: cannot read a state dict: not a torch .pt/.pth or .safetensors weights "
            f"file, or damaged ({type(error).__name__})"
        ) from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a flat dict of tensors (a state dict)")
    return state
