"""Localisation heads and the AVOL-Net model.

- :class:`AVOLHead` follows Objects-that-Sound (Arandjelović & Zisserman, ECCV 2018): visual grid
  and audio embedding projected to a shared D-dim space, L2-normalised; the localisation map is
  the cosine similarity at every location, calibrated by a learnt scale and bias and squashed by
  a sigmoid; the clip-level correspondence is the max over locations (multiple-instance
  learning).
- :class:`ClassHead` follows Qian et al. (ECCV 2020) and DSOL (Hu et al., NeurIPS 2020): K
  pseudo-classes, visual class activation maps, multi-label audio class logits, and class-aware
  maps gated by the audio class probability so that silent objects stay dark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avloc.models.encoders import (
    AudioEncoder,
    AudioEncoderConfig,
    VisualEncoder,
    VisualEncoderConfig,
)
from avloc.models.layers import pool_locations
from avloc.models.outputs import AudioEmbedding, ClassHeadOutput, LocalizationOutput, VisualFeatures

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# CLIP's cap on the learnt logit scale, for numerical stability.
_MAX_LOGIT_SCALE = 100.0


class AVOLHead(nn.Module):
    """Projections to the shared space, cosine similarity and its calibration."""

    def __init__(
        self, visual_channels: int, audio_channels: int, embed_dim: int, scale: float, bias: float
    ):
        super().__init__()
        # Two 1×1 convs / two linear layers, as AVOL-Net's fusion towers, with batch norms as
        # in SimCLR / MoCo-v3 projection heads: without the last (affine-free) one the
        # embeddings of all clips share one dominant direction at initialisation (pairwise
        # cosine ~0.9), the contrastive gradients are tiny and training sits at chance.
        self.visual_proj = nn.Sequential(
            nn.Conv2d(visual_channels, visual_channels, 1, bias=False),
            nn.BatchNorm2d(visual_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(visual_channels, embed_dim, 1, bias=False),
            nn.BatchNorm2d(embed_dim, affine=False),
        )
        self.audio_proj = nn.Sequential(
            nn.Linear(audio_channels, audio_channels, bias=False),
            nn.BatchNorm1d(audio_channels),
            nn.ReLU(inplace=True),
            nn.Linear(audio_channels, embed_dim, bias=False),
            nn.BatchNorm1d(embed_dim, affine=False),
        )
        # log-parameterised so the scale stays positive.
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.logit_bias = nn.Parameter(torch.tensor(float(bias)))

    def calibrate(self, similarity: Tensor) -> Tensor:
        """``scale * similarity + bias`` (any shape), computed in float32."""
        scale = self.log_logit_scale.float().exp().clamp(max=_MAX_LOGIT_SCALE)
        return similarity.float() * scale + self.logit_bias.float()


@dataclass(frozen=True)
class ClassHeadConfig:
    """The class-aware head (pseudo-classes learnt by clustering, Qian 2020 / DSOL)."""

    # Number of pseudo-classes K (more clusters than true classes helps, as DSOL's 20 for 11).
    num_classes: int = 16

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"ClassHeadConfig.num_classes must be >= 1, got {self.num_classes}")


class ClassHead(nn.Module):
    """Visual CAMs, audio class logits, class-specific features and pseudo-class centroids."""

    def __init__(
        self, config: ClassHeadConfig, visual_channels: int, audio_channels: int, embed_dim: int
    ):
        super().__init__()
        self.config = config
        num_classes = config.num_classes
        self.visual_cam = nn.Conv2d(visual_channels, num_classes, 1)
        self.audio_classifier = nn.Linear(audio_channels, num_classes)
        # Audio CAM over time-frequency: where in the spectrogram each class lives.
        self.audio_cam = nn.Conv2d(audio_channels, num_classes, 1)
        self.audio_class_proj = nn.Linear(audio_channels, embed_dim)
        # Cluster centres in the D-dim embedding space; filled by training (k-means), saved in
        # the bundle so pseudo-labels can be recomputed.
        self.register_buffer("centroids", torch.zeros(num_classes, embed_dim))

    def forward(self, visual: VisualFeatures, audio: AudioEmbedding) -> ClassHeadOutput:
        cams = self.visual_cam(visual.features)
        attention = cams.flatten(2).float().softmax(dim=-1)  # (B, K, hw)
        visual_class = torch.einsum("bkn,bdn->bkd", attention, visual.grid.flatten(2).float())
        audio_attention = self.audio_cam(audio.features).flatten(2).float().softmax(dim=-1)
        audio_pooled = torch.einsum(
            "bkn,bcn->bkc", audio_attention, audio.features.flatten(2).float()
        )
        audio_class = self.audio_class_proj(audio_pooled)
        return ClassHeadOutput(
            audio_logits=self.audio_classifier(audio.pooled).float(),
            cams=cams.float(),
            audio_class_features=F.normalize(audio_class.float(), dim=-1),
            visual_class_features=F.normalize(visual_class, dim=-1),
        )

    def set_centroids(self, centroids: Tensor) -> None:
        """Store k-means centres of shape (K, D) (copied, L2-normalised).

        Raises:
            ValueError: wrong shape.
        """
        buffer: Tensor = self.centroids  # type: ignore[assignment]
        if centroids.shape != buffer.shape:
            raise ValueError(
                f"set_centroids: expected shape {tuple(buffer.shape)} (K, D), got "
                f"{tuple(centroids.shape)}"
            )
        with torch.no_grad():
            buffer.copy_(F.normalize(centroids.float(), dim=-1))

    def nearest_centroid(self, embeddings: Tensor) -> Tensor:
        """Pseudo-label of each embedding: index of the most cosine-similar centroid.

        Shape:
            embeddings: (B, D) -> (B,) int64.
        """
        buffer: Tensor = self.centroids  # type: ignore[assignment]
        return (F.normalize(embeddings.float(), dim=-1) @ buffer.T).argmax(dim=-1)


@dataclass(frozen=True)
class AVOLNetConfig:
    """AVOL-Net: encoders + shared-space similarity head, with the preprocessing contract."""

    visual: VisualEncoderConfig = field(default_factory=VisualEncoderConfig)
    audio: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    # Shared embedding dimension D.
    embed_dim: int = 128
    # Video frames per second the model is trained and evaluated at.
    fps: float = 8.0
    # Per-channel RGB normalisation applied to frames scaled to [0, 1].
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Initial calibration logit = scale * cosine + bias (AVOL's calibrated sigmoid).
    init_logit_scale: float = 10.0
    init_logit_bias: float = -5.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.embed_dim < 1 or self.fps <= 0:
            raise ValueError(f"{name}: embed_dim must be >= 1 and fps > 0")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"{name}: mean and std need 3 values, std > 0")
        if self.init_logit_scale <= 0:
            raise ValueError(f"{name}.init_logit_scale must be > 0")

    @property
    def sample_rate(self) -> int:
        """Audio sample rate in Hz (from the audio encoder's contract)."""
        return self.audio.sample_rate

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) frames are resized to."""
        return (self.visual.input_size, self.visual.input_size)

    @property
    def audio_window_s(self) -> float:
        """Seconds of audio per embedding."""
        return self.audio.window_s

    @property
    def grid_size(self) -> tuple[int, int]:
        """(h, w) of the localisation maps at ``frame_size``."""
        return (self.visual.grid_size, self.visual.grid_size)


def check_frames(frames: Tensor) -> None:
    """Raise a clear error unless ``frames`` is a float (B, 3, H, W) tensor."""
    if not isinstance(frames, Tensor):
        raise TypeError(f"frames must be a torch.Tensor, got {type(frames).__name__}")
    if frames.dim() != 4 or frames.shape[1] != 3 or not frames.is_floating_point():
        raise ValueError(
            f"frames must be float (B, 3, H, W), normalised with the model's mean/std; got "
            f"dtype {frames.dtype} shape {tuple(frames.shape)}"
        )


def check_wave(wave: Tensor, n_fft: int, name: str = "audio") -> None:
    """Raise a clear error unless ``wave`` is a float (B, T) tensor long enough for the STFT."""
    if not isinstance(wave, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(wave).__name__}")
    if wave.dim() != 2 or not wave.is_floating_point():
        raise ValueError(
            f"{name} must be a float (B, T) mono waveform; got dtype {wave.dtype} shape "
            f"{tuple(wave.shape)}"
        )
    if wave.shape[1] <= n_fft // 2:
        raise ValueError(f"{name} has {wave.shape[1]} samples; need more than {n_fft // 2}")


class AVOLNet(nn.Module):
    """Objects-that-Sound AVOL-Net (Arandjelović & Zisserman 2018).

    ``forward(frames, audio)`` is :meth:`localize`.
    """

    config_class: type = AVOLNetConfig

    def __init__(self, config: AVOLNetConfig):
        super().__init__()
        self.config = config
        self.visual = VisualEncoder(config.visual)
        self.audio = AudioEncoder(config.audio)
        self.avol = AVOLHead(
            config.visual.out_channels,
            config.audio.out_channels,
            config.embed_dim,
            config.init_logit_scale,
            config.init_logit_bias,
        )

    def encode_frames(self, frames: Tensor) -> VisualFeatures:
        """Encode normalised frames.

        Shape:
            frames: (B, 3, H, W) -> features (B, C, h, w), grid (B, D, h, w).

        Raises:
            TypeError / ValueError: ``frames`` is not a float (B, 3, H, W) tensor.
        """
        check_frames(frames)
        features = self.visual(frames)
        grid = F.normalize(self.avol.visual_proj(features).float(), dim=1)
        return VisualFeatures(features=features, grid=grid)

    def encode_audio(self, audio: Tensor) -> AudioEmbedding:
        """Encode mono waveforms at ``config.sample_rate`` (``audio_window_s`` long by contract).

        Shape:
            audio: (B, T) -> embedding (B, D), pooled (B, C), features (B, C, M', N').

        Raises:
            TypeError / ValueError: ``audio`` is not a float (B, T) tensor, or too short.
        """
        check_wave(audio, self.config.audio.n_fft)
        features, pooled = self.audio(audio)
        embedding = F.normalize(self.avol.audio_proj(pooled).float(), dim=-1)
        return AudioEmbedding(embedding=embedding, pooled=pooled, features=features)

    def similarity(self, audio_emb: Tensor, visual_grid: Tensor) -> Tensor:
        """Cosine similarity of each clip's audio with every location of its own frame.

        Shape:
            audio_emb: (B, D), visual_grid: (B, D, h, w) -> (B, h, w) in [-1, 1].
        """
        return torch.einsum("bd,bdhw->bhw", audio_emb.float(), visual_grid.float())

    def pairwise_similarity(self, audio_emb: Tensor, visual_grid: Tensor) -> Tensor:
        """Cosine of every audio with every location of every frame.

        Shape:
            audio_emb: (B, D), visual_grid: (B, D, h, w) -> (B, B, h*w); ``[i, j]`` = audio i vs
            the locations of frame j.
        """
        sims = torch.einsum("id,jdhw->ijhw", audio_emb.float(), visual_grid.float())
        return sims.flatten(2)

    def pairwise_scores(
        self, audio_emb: Tensor, visual_grid: Tensor, pooling: str = "max", fraction: float = 0.0
    ) -> Tensor:
        """Pooled-over-locations cosine for every audio/frame pair (InfoNCE logits before
        scaling); see :func:`pool_locations` for ``pooling`` and ``fraction``.

        Shape:
            audio_emb: (B, D), visual_grid: (B, D, h, w) -> (B, B); ``[i, j]`` = audio i vs
            frame j.
        """
        return pool_locations(self.pairwise_similarity(audio_emb, visual_grid), pooling, fraction)

    def calibrate(self, similarity: Tensor) -> Tensor:
        """Calibrated logits ``scale * similarity + bias`` (learnt scale and bias)."""
        return self.avol.calibrate(similarity)

    def localize_from(self, visual: VisualFeatures, audio: AudioEmbedding) -> LocalizationOutput:
        """Localise from cached encodings (see :class:`LocalizationOutput` for shapes).

        Raises:
            ValueError: the frames and the audio have different batch sizes.
        """
        if audio.embedding.shape[0] != visual.grid.shape[0]:
            raise ValueError(
                f"localize: frames and audio need the same batch size B, got "
                f"{visual.grid.shape[0]} frames and {audio.embedding.shape[0]} audio clips"
            )
        logits = self.calibrate(self.similarity(audio.embedding, visual.grid))
        return LocalizationOutput(
            maps=torch.sigmoid(logits), logits=logits, scores=logits.flatten(1).amax(dim=-1)
        )

    def localize(self, frames: Tensor, audio: Tensor) -> LocalizationOutput:
        """Localise each clip's audio in its frame.

        Shape:
            frames: (B, 3, H, W), audio: (B, T) -> maps (B, h, w) in [0, 1].
        """
        return self.localize_from(self.encode_frames(frames), self.encode_audio(audio))

    def forward(self, frames: Tensor, audio: Tensor) -> LocalizationOutput:
        return self.localize(frames, audio)
