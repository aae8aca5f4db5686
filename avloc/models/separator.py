"""Sound-of-Pixels separator (Zhao et al., ECCV 2018; ``protocols.md`` §4).

A U-Net on the log magnitude of the mixture STFT, warped to 256 log-frequency bins, produces K_s
feature channels. Each object contributes a visual vector v (B, S, K_s); its mask is
``σ(Σ_k s_k · v_k · a_k + b)`` in log frequency, unwarped to linear frequency; the waveform is
the iSTFT of ``mask · mixture`` with the mixture's phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avloc.audio import log_frequency_unwarp, log_frequency_warp, stft
from avloc.defaults import MaskRule
from avloc.masks import apply_masks, combine_masks
from avloc.models.outputs import SeparationOutput

# Added to |STFT| before the log (silence floors at ln(1e-4) ≈ -9.2).
_LOG_FLOOR = 1e-4


@dataclass(frozen=True)
class SeparatorConfig:
    """Mask-predicting U-Net; the STFT settings are part of the preprocessing contract."""

    # Separation STFT at the model's sample rate (Sound-of-Pixels: 1022 / 256 at 11025 Hz).
    n_fft: int = 1022
    hop_length: int = 256
    # Seconds of mixture per separation window at inference (the training mixtures' length).
    window_s: float = 3.0
    # Log-frequency rows the U-Net sees (SoP: 256).
    num_log_freqs: int = 256
    # U-Net depth (SoP: 7) and channels at the first level (doubling, capped at max_channels).
    num_levels: int = 5
    base_channels: int = 16
    max_channels: int = 256
    # K_s: audio feature channels = visual vector size (SoP: 32).
    num_feature_channels: int = 16
    # "binary": mask = σ(logit), trained with BCE on binary targets; "ratio": mask =
    # max_ratio · σ(logit), trained with weighted L1 on ratio targets; "softmax": the masks of
    # the objects heard together are a softmax over their logits and a fixed zero "rest" logit
    # (one object alone: σ(logit), as "binary"), trained with cross-entropy on the binary
    # targets, so the sources compete for each bin in training as well.
    mask_mode: Literal["binary", "ratio", "softmax"] = "binary"
    max_ratio: float = 2.0
    # Which map says where each source's object is in its frames while the mixture plays (the
    # region its visual vector is pooled from; ``AVLocModel.source_weights``): "map", the
    # audio-visual map with the mixture's sound; "class", class maps (pseudo-class CAMs gated by
    # whether the mixture holds the class) of distinct classes, one per source. Under a
    # mixture, broad audio-visual maps often light a silent distractor instead.
    source_map: Literal["map", "class"] = "map"

    def __post_init__(self) -> None:
        if not 1 <= self.hop_length <= self.n_fft or self.n_fft < 4:
            raise ValueError(f"SeparatorConfig: bad STFT n_fft={self.n_fft} hop={self.hop_length}")
        if not 1 <= self.num_levels <= 8 or self.num_log_freqs % (2**self.num_levels):
            raise ValueError(
                f"SeparatorConfig: num_levels={self.num_levels} must be in 1..8 and "
                f"num_log_freqs={self.num_log_freqs} divisible by 2**num_levels"
            )
        if self.window_s <= 0:
            raise ValueError(f"SeparatorConfig.window_s must be > 0, got {self.window_s}")
        if min(self.base_channels, self.max_channels, self.num_feature_channels) < 1:
            raise ValueError("SeparatorConfig: channel counts must be >= 1")
        if self.mask_mode not in ("binary", "ratio", "softmax") or self.max_ratio <= 0:
            raise ValueError(
                "SeparatorConfig: mask_mode must be 'binary', 'ratio' or 'softmax' and "
                f"max_ratio > 0, got {self.mask_mode!r}, {self.max_ratio}"
            )
        if self.source_map not in ("map", "class"):
            raise ValueError(
                f"SeparatorConfig.source_map must be 'map' or 'class', got {self.source_map!r}"
            )

    @property
    def num_freqs(self) -> int:
        """Linear-frequency bins F of the separation STFT."""
        return self.n_fft // 2 + 1


# The logit of an object absent from a mixture: its softmax share is exactly 0 (exp underflows),
# yet finite, so a cross-entropy's 0 · log-probability stays 0 (with -inf it would be NaN).
ABSENT_LOGIT = -1e4


def leave_out_absent(mask_logits: Tensor, active: Tensor) -> Tensor:
    """The objects' logits with each absent one (``active`` False) set to :data:`ABSENT_LOGIT`,
    so that it takes no part in a softmax over the objects and the rest.

    Shape:
        mask_logits: (B, S, F, N), active: (B, S) bool -> (B, S, F, N).
    """
    absent = ~active.to(device=mask_logits.device, dtype=torch.bool)[:, :, None, None]
    return mask_logits.masked_fill(absent, ABSENT_LOGIT)


def with_rest_logit(mask_logits: Tensor) -> Tensor:
    """Append the fixed zero logit of "the rest of the sound" after the objects' logits.

    Shape:
        mask_logits: (B, S, F, N) -> (B, S + 1, F, N).
    """
    rest = torch.zeros_like(mask_logits[:, :1])
    return torch.cat([mask_logits, rest], dim=1)


class UNet(nn.Module):
    """U-Net (Ronneberger 2015) as in SoP: stride-2 4×4 convs down, upsample + 3×3 convs up.

    Upsample-then-conv replaces SoP's transposed convs (no checkerboard artefacts).

    Shape:
        x: (B, 1, F', N') with F', N' divisible by 2**num_levels -> (B, K_s, F', N').
    """

    def __init__(self, config: SeparatorConfig):
        super().__init__()
        widths = [
            min(config.base_channels * 2**i, config.max_channels) for i in range(config.num_levels)
        ]
        self.down = nn.ModuleList()
        in_channels = 1
        for width in widths:
            self.down.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, width, 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            in_channels = width
        self.up = nn.ModuleList()
        for level in reversed(range(config.num_levels)):
            skip = widths[level - 1] if level > 0 else 0
            out = widths[level - 1] if level > 0 else config.base_channels
            self.up.append(
                nn.Sequential(
                    nn.Conv2d(in_channels + skip, out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                )
            )
            in_channels = out
        self.head = nn.Conv2d(in_channels, config.num_feature_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for block in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x)
        return self.head(x)


class Separator(nn.Module):
    """Mixture waveform + one visual vector per object → masks and separated waveforms."""

    config_class = SeparatorConfig

    def __init__(self, config: SeparatorConfig):
        super().__init__()
        self.config = config
        self.bn0 = nn.BatchNorm2d(1)
        self.unet = UNet(config)
        # SoP's per-channel scale s_k and bias b of σ(Σ_k s_k v_k a_k + b).
        self.channel_scale = nn.Parameter(torch.ones(config.num_feature_channels))
        self.mask_bias = nn.Parameter(torch.zeros(()))

    def audio_features(self, mix_magnitude: Tensor) -> Tensor:
        """U-Net features of the log-frequency log magnitude.

        Shape:
            mix_magnitude: (B, F, N) -> (B, K_s, num_log_freqs, N).
        """
        cfg = self.config
        num_frames = mix_magnitude.shape[-1]
        with torch.autocast(device_type=mix_magnitude.device.type, enabled=False):
            warped = log_frequency_warp(mix_magnitude.float().unsqueeze(1), cfg.num_log_freqs)
            x = self.bn0(torch.log(warped.clamp(min=0) + _LOG_FLOOR))
        multiple = 2**cfg.num_levels
        pad = (-num_frames) % multiple
        # Zero after normalisation = average level, so padding does not look like silence.
        features = self.unet(F.pad(x, (0, pad)))
        return features[..., :num_frames]

    def mask_logits(self, features: Tensor, visual_vectors: Tensor) -> Tensor:
        """Linear-frequency mask logits ``unwarp(Σ_k s_k v_k a_k + b)``.

        Shape:
            features: (B, K_s, F', N), visual_vectors: (B, S, K_s) -> (B, S, F, N).
        """
        weighted = visual_vectors.float() * self.channel_scale.float()
        logits = torch.einsum("bsk,bkfn->bsfn", weighted, features.float()) + self.mask_bias
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return log_frequency_unwarp(logits.float(), self.config.num_freqs)

    def activate(self, mask_logits: Tensor, active: Tensor | None = None) -> Tensor:
        """Masks from logits (B, S, F, N): σ for binary mode, ``max_ratio · σ`` for ratio mode,
        a softmax over the S objects and a zero "rest" logit for softmax mode.

        ``active`` (B, S) bool: objects absent from a mixture get zero masks. In softmax mode
        they also take no part in the softmax, so their bins go to the present objects or to
        the rest, as the separator decides (trained so with ``separation.hidden_fraction``).
        """
        if self.config.mask_mode == "softmax":
            if active is not None:
                mask_logits = leave_out_absent(mask_logits, active)
            return with_rest_logit(mask_logits).softmax(dim=1)[:, :-1]
        masks = torch.sigmoid(mask_logits)
        masks = masks * self.config.max_ratio if self.config.mask_mode == "ratio" else masks
        return masks if active is None else masks * active.to(masks.dtype)[:, :, None, None]

    def forward(
        self,
        mixture: Tensor,
        visual_vectors: Tensor,
        hard: bool = False,
        rule: MaskRule = "independent",
        active: Tensor | None = None,
    ) -> SeparationOutput:
        """Separate one source per visual vector.

        Args:
            mixture: mono mixture at the model's sample rate.
            visual_vectors: one K_s-vector per object, values in [0, 1].
            hard: threshold binary masks at 0.5 (SoP's evaluation) instead of soft masks.
            rule: how the objects' masks share the mixture (:func:`avloc.masks.combine_masks`).
            active: (B, S) bool, objects present in each mixture; the others get zero masks
                and take no part in the softmax (softmax mode) or in ``rule``. None: all.

        Shape:
            mixture: (B, T), visual_vectors: (B, S, K_s) -> masks (B, S, F, N), waveforms
            (B, S, T).

        Raises:
            ValueError: wrong shapes.
        """
        cfg = self.config
        if visual_vectors.dim() != 3 or visual_vectors.shape[0] != mixture.shape[0]:
            raise ValueError(
                f"separate: visual_vectors must be (B, S, K_s) with B = {mixture.shape[0]}, got "
                f"{tuple(visual_vectors.shape)}"
            )
        if visual_vectors.shape[2] != cfg.num_feature_channels:
            raise ValueError(
                f"separate: visual vectors have {visual_vectors.shape[2]} channels, the "
                f"separator expects K_s = {cfg.num_feature_channels}"
            )
        with torch.autocast(device_type=mixture.device.type, enabled=False):
            mix_spec = stft(mixture.float(), cfg.n_fft, cfg.hop_length)
        mix_magnitude = mix_spec.abs()
        logits = self.mask_logits(self.audio_features(mix_magnitude), visual_vectors)
        masks = self.activate(logits, active)
        if hard and cfg.mask_mode in ("binary", "softmax"):
            masks = (masks > 0.5).float()
        masks = combine_masks(masks, rule)
        with torch.autocast(device_type=mixture.device.type, enabled=False):
            waves = apply_masks(
                masks.float(), mix_spec, cfg.n_fft, cfg.hop_length, mixture.shape[-1]
            )
        return SeparationOutput(
            masks=masks, mask_logits=logits, waveforms=waves, mix_magnitude=mix_magnitude
        )
