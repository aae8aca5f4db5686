"""``AVLocModel``: AVOL-Net localisation + class-aware head + Sound-of-Pixels separator.

One model behind the bundled checkpoint: :meth:`AVLocModel.localize` paints where the sound
comes from (one map for the clip, one per pseudo-class), :meth:`AVLocModel.separate` splits the
soundtrack into one waveform per object, given each object's visual vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from avloc.defaults import MaskRule
from avloc.models.layers import sample_points, weighted_pool
from avloc.models.localizer import AVOLNet, AVOLNetConfig, ClassHead, ClassHeadConfig, check_wave
from avloc.models.outputs import (
    AudioEmbedding,
    LocalizationOutput,
    SeparationOutput,
    VisualFeatures,
)
from avloc.models.separator import Separator, SeparatorConfig


@dataclass(frozen=True)
class AVLocConfig(AVOLNetConfig):
    """AVOL-Net's config (encoders, embedding, preprocessing) plus the two extra heads."""

    class_head: ClassHeadConfig = field(default_factory=ClassHeadConfig)
    separator: SeparatorConfig = field(default_factory=SeparatorConfig)

    @property
    def separation_window_s(self) -> float:
        """Seconds of mixture the separator is run on at a time."""
        return self.separator.window_s


def assign_distinct_classes(scores: Tensor) -> Tensor:
    """One class per source, pairwise distinct, maximising the summed scores (the Hungarian
    algorithm); with more sources than classes each source takes its own best class.

    Shape:
        scores: (B, S, K) -> (B, S) int64.
    """
    from scipy.optimize import linear_sum_assignment

    best = scores.argmax(dim=-1)
    if scores.shape[1] > scores.shape[2]:
        return best
    chosen = best.cpu().clone()
    for b, table in enumerate(scores.detach().float().cpu().numpy()):
        rows, cols = linear_sum_assignment(table, maximize=True)
        chosen[b, torch.from_numpy(rows)] = torch.from_numpy(cols)
    return chosen.to(scores.device)


class AVLocModel(AVOLNet):
    """The full model; ``forward(frames, audio)`` is :meth:`localize`."""

    config_class: type = AVLocConfig
    config: AVLocConfig

    def __init__(self, config: AVLocConfig):
        super().__init__(config)
        self.class_head = ClassHead(
            config.class_head,
            config.visual.out_channels,
            config.audio.out_channels,
            config.embed_dim,
        )
        self.separator = Separator(config.separator)
        # SoP's visual vector: encoder features → K_s, sigmoid.
        self.visual_to_separator = nn.Linear(
            config.visual.out_channels, config.separator.num_feature_channels
        )

    def localize_from(self, visual: VisualFeatures, audio: AudioEmbedding) -> LocalizationOutput:
        """Localise from cached encodings, with class-aware maps (see :class:`LocalizationOutput`).

        Shape:
            maps (B, h, w); class_maps (B, K, h, w); class_probs (B, K).
        """
        base = super().localize_from(visual, audio)
        head = self.class_head(visual, audio)
        class_probs = torch.sigmoid(head.audio_logits)
        class_maps = torch.sigmoid(head.cams) * class_probs[:, :, None, None]
        return LocalizationOutput(
            maps=base.maps,
            logits=base.logits,
            scores=base.scores,
            class_maps=class_maps,
            class_probs=class_probs,
            class_head=head,
        )

    def visual_vectors(self, visual: VisualFeatures, weights: Tensor | None = None) -> Tensor:
        """One separator vector per object, pooled over its region.

        Args:
            visual: output of :meth:`encode_frames`.
            weights: per-object non-negative maps on the grid (a localisation or class map, or
                :func:`avloc.models.layers.box_weights`); None pools the whole frame (S = 1).

        Shape:
            weights: (B, S, h, w) -> (B, S, K_s) in [0, 1].
        """
        pooled = weighted_pool(visual.features.float(), weights)
        return torch.sigmoid(self.visual_to_separator(pooled))

    def source_weights(self, maps: Tensor, class_maps: Tensor | None) -> Tensor:
        """Where each source's object is in its own frame while their mixture plays.

        ``maps``/``class_maps`` are each source's frame localised under the mixture's sound.
        With the separator config's ``source_map="map"`` the answer is the audio-visual map;
        with ``"class"`` the sources get pairwise-distinct pseudo-classes, the assignment that
        maximises the summed peaks of their class maps, and those class maps answer. (The
        sources are different objects; alone, each frame's best class map often names the
        louder source's class in both frames.)

        Shape:
            maps: (B, S, h, w); class_maps: (B, S, K, h, w) -> (B, S, h, w) in [0, 1].
        """
        if self.config.separator.source_map == "class" and class_maps is not None:
            class_maps = class_maps.float().clamp(0.0, 1.0)
            chosen = assign_distinct_classes(class_maps.flatten(3).amax(dim=-1))
            index = chosen[..., None, None, None].expand(-1, -1, 1, *class_maps.shape[3:])
            return class_maps.gather(2, index)[:, :, 0]
        return maps.float().clamp(0.0, 1.0)

    def mixture_vectors(
        self, visual: VisualFeatures, located: LocalizationOutput, num_sources: int
    ) -> Tensor:
        """Separator vectors of the objects of sources heard together: frames of the sources of
        one mixture sit next to each other (b0s0, b0s1, ..., b1s0, ...), each localised under its
        mixture's sound; :meth:`source_weights` finds each object.

        Shape:
            visual/located: B·S frames -> (B, S, K_s).
        """
        grid = located.maps.shape[1:]
        class_maps = located.class_maps
        if class_maps is not None:
            class_maps = class_maps.reshape(-1, num_sources, *class_maps.shape[1:])
        regions = self.source_weights(located.maps.reshape(-1, num_sources, *grid), class_maps)
        vectors = self.visual_vectors(visual, regions.reshape(-1, 1, *grid))
        return vectors.reshape(-1, num_sources, vectors.shape[-1])

    def pixel_visual_vectors(self, visual: VisualFeatures, points: Tensor) -> Tensor:
        """Pixel-wise separation: the separator vector at given frame positions (SoP).

        Shape:
            points: (B, S, 2) normalised (x, y) in [0, 1] -> (B, S, K_s) in [0, 1].
        """
        return torch.sigmoid(
            self.visual_to_separator(sample_points(visual.features.float(), points))
        )

    def separate(
        self,
        mixture: Tensor,
        visual_vectors: Tensor,
        hard: bool = False,
        rule: MaskRule = "independent",
        active: Tensor | None = None,
    ) -> SeparationOutput:
        """Separate one source per visual vector from the mixture.

        Args:
            mixture: mono mixture at ``config.sample_rate``.
            visual_vectors: from :meth:`visual_vectors` or :meth:`pixel_visual_vectors`.
            hard: threshold binary masks at 0.5 (SoP's evaluation rule).
            rule: how the objects' masks share the mixture (:func:`avloc.masks.combine_masks`).
            active: (B, S) bool, the objects present in each mixture (None: all).

        Shape:
            mixture: (B, T), visual_vectors: (B, S, K_s) -> masks (B, S, F, N), waveforms
            (B, S, T).

        Raises:
            TypeError / ValueError: bad shapes or a too-short mixture.
        """
        check_wave(mixture, self.config.separator.n_fft, name="mixture")
        return self.separator(mixture, visual_vectors, hard=hard, rule=rule, active=active)
