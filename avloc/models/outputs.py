"""Typed outputs of the models (frozen dataclasses of tensors, never tuples or dicts)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class VisualFeatures:
    """What ``encode_frames`` returns; cache it to localise several audio windows cheaply.

    Shape:
        features: (B, C, h, w) encoder features (class head and separator read these).
        grid: (B, D, h, w) projected, L2-normalised over D (AVOL similarity reads this).
    """

    features: Tensor
    grid: Tensor


@dataclass(frozen=True, eq=False)
class AudioEmbedding:
    """What ``encode_audio`` returns.

    Shape:
        embedding: (B, D) projected, L2-normalised.
        pooled: (B, C) pooled encoder features (the class head reads these).
        features: (B, C, M', N') pre-pool time-frequency features.
    """

    embedding: Tensor
    pooled: Tensor
    features: Tensor


@dataclass(frozen=True, eq=False)
class ClassHeadOutput:
    """Everything the class-aware losses need (Qian 2020; DSOL, Hu 2020).

    Shape:
        audio_logits: (B, K) multi-label logits of which pseudo-classes sound.
        cams: (B, K, h, w) visual class activation logits.
        audio_class_features: (B, K, D) class-specific audio features, L2-normalised.
        visual_class_features: (B, K, D) CAM-pooled visual features, L2-normalised.
    """

    audio_logits: Tensor
    cams: Tensor
    audio_class_features: Tensor
    visual_class_features: Tensor


@dataclass(frozen=True, eq=False)
class LocalizationOutput:
    """Where the sound comes from.

    Shape:
        maps: (B, h, w) in [0, 1] = sigmoid(logits): calibrated probability that the cell makes
            the sound (AVOL-Net's calibrated sigmoid).
        logits: (B, h, w) calibrated similarity ``scale * cos + bias``.
        scores: (B,) clip-level correspondence logit = max of ``logits`` over locations (MIL).
        class_maps: (B, K, h, w) in [0, 1] = sigmoid(CAM_k) * class_probs_k, or None for
            models without a class head.
        class_probs: (B, K) in [0, 1], probability that pseudo-class k sounds, or None.
        class_head: the raw class-head outputs for training, or None.
    """

    maps: Tensor
    logits: Tensor
    scores: Tensor
    class_maps: Tensor | None = None
    class_probs: Tensor | None = None
    class_head: ClassHeadOutput | None = None

    def shifted_maps(self, offset: float) -> Tensor:
        """``sigmoid(logits + offset)`` in float32: the maps with their logits shifted (0:
        ``maps``); how inference draws its heatmaps (:class:`avloc.maps.MapOptions`)."""
        return torch.sigmoid(self.logits.float() + offset)

    def shifted_class_maps(self, offset: float) -> Tensor | None:
        """``sigmoid(CAM_k + offset) * class_probs_k`` in float32, in [0, 1]: the class maps
        with their CAMs shifted (``class_maps`` when ``offset`` is 0 or the raw CAMs are
        missing; None without a class head)."""
        if self.class_maps is None or self.class_probs is None:
            return None
        if self.class_head is None or offset == 0.0:
            return self.class_maps.float().clamp(0.0, 1.0)
        probs = self.class_probs.float().clamp(0.0, 1.0)
        return torch.sigmoid(self.class_head.cams.float() + offset) * probs[:, :, None, None]


@dataclass(frozen=True, eq=False)
class SeparationOutput:
    """One mask and one waveform per object, on the mixture's linear-frequency STFT.

    Shape:
        masks: (B, S, F, N) in [0, 1] (binary mode) or [0, max_ratio] (ratio mode).
        mask_logits: (B, S, F, N) pre-activation masks (train binary masks on these with
            :func:`avloc.losses.mask_bce_loss`).
        waveforms: (B, S, T) iSTFT of ``masks * mixture STFT`` (mixture phase).
        mix_magnitude: (B, F, N) |STFT| of the mixture (the loss weights use it).
    """

    masks: Tensor
    mask_logits: Tensor
    waveforms: Tensor
    mix_magnitude: Tensor
