"""One small class per training stage: what it trains, its loss on a batch, its validation.

The loop in ``training.train`` knows nothing about audio or video: it asks a ``Stage`` for its
dataset, its trainable parameters and ``loss(model, batch)``. A stage with ``num_steps == 0``
runs once through ``run_offline`` instead (the k-means pseudo-classes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from avloc.models.layers import pool_locations


@dataclass(frozen=True)
class StepOutput:
    """What one training step of a stage produced.

    Attributes:
        loss: scalar tensor to minimise (graph attached).
        metrics: extra detached numbers to log (means over the log interval are written).
    """

    loss: Tensor
    metrics: Mapping[str, float] = field(default_factory=dict)


class Stage:
    """Base class of a training stage; subclasses override what they need.

    Attributes:
        name: the stage name written to logs and checkpoints.
        num_steps: optimisation steps; 0 means the stage runs ``run_offline`` once instead.
        lr_scale: this stage's learning rate relative to ``optim.lr``.
        dataset: the per-process training samples (None for an offline stage).
        batch_size: samples per step and process; None: the run's ``data.batch_size``.
    """

    name: str = "stage"
    num_steps: int = 0
    lr_scale: float = 1.0
    dataset: Dataset[Any] | None = None
    batch_size: int | None = None

    def collate(self, items: Sequence[Any]) -> Any:
        """Batch dataset items (default: ``torch.utils.data.default_collate``)."""
        return torch.utils.data.default_collate(list(items))

    def to_device(self, batch: Any, device: torch.device) -> Any:
        """Move a batch to ``device``: objects with ``.to``, tensors, tuples and lists."""
        if hasattr(batch, "to"):
            return batch.to(device)
        if isinstance(batch, tuple | list):
            return type(batch)(self.to_device(item, device) for item in batch)
        return batch

    def trainable(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters this stage optimises (default: all of them)."""
        return list(model.parameters())

    def train_mode(self, model: nn.Module) -> None:
        """Put ``model`` in this stage's training mode (default: ``model.train()``)."""
        model.train()

    def loss(self, model: nn.Module, batch: Any) -> StepOutput:
        """The training loss of one batch; called inside autocast by the loop."""
        raise NotImplementedError(f"stage {self.name!r} has no training loss")

    def run_offline(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Run a stage that has no optimisation steps; returns numbers to log."""
        raise NotImplementedError(f"stage {self.name!r} has no offline step")

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation metrics of ``model`` (in eval mode, no grad); default: none."""
        return {}


StageBuilder = Callable[..., Stage]


# --- the avloc stages --------------------------------------------------------------------------
# They read ``AVBatch``-like batches: frames (B, N, 3, H, W) normalised, audio (B, T),
# clip_index (B,), start_s (B,) (avloc.data.datasets), and an ``AVLocModel``.


class _ClipStage(Stage):
    """An optimised stage over the training clips: its settings are the config section named
    like the stage, and it trains the model's sub-modules listed in ``modules``.
    """

    modules: tuple[str, ...] = ()

    def __init__(self, config: Any, data: Any) -> None:
        self.cfg = getattr(config, self.name)
        self.num_steps = self.cfg.steps
        self.lr_scale = self.cfg.lr_scale
        self.data = data
        self.dataset = data.train

    def collate(self, items: Sequence[Any]) -> Any:
        return self.data.collate(items)

    def trainable(self, model: Any) -> list[nn.Parameter]:
        return _modules_params(model, self.modules)


def _centre_frames(batch: Any) -> Tensor:
    """The middle frame of each sample. Shape: (B, N, 3, H, W) -> (B, 3, H, W)."""
    frames: Tensor = batch.frames
    return frames[:, frames.shape[1] // 2]


def _modules_params(model: Any, names: Sequence[str]) -> list[nn.Parameter]:
    params: list[nn.Parameter] = []
    for name in names:
        params.extend(getattr(model, name).parameters())
    return params


def _train_only(model: Any, names: Sequence[str]) -> None:
    """Frozen parts in eval mode (their batch norms must not drift), trained parts in train."""
    model.eval()
    for name in names:
        getattr(model, name).train()


def partners(labels: Tensor) -> Tensor:
    """For each sample, a random other sample of a different pseudo-class to mix with.

    Falls back to the next sample when the batch holds one class only.

    Shape:
        labels: (B,) -> (B,) int64 indices.
    """
    batch = labels.shape[0]
    scores = torch.rand(batch, batch, device=labels.device)
    different = labels[:, None] != labels[None, :]
    scores = scores.masked_fill(~different, -1.0)
    choice = scores.argmax(dim=1)
    fallback = (torch.arange(batch, device=labels.device) + 1) % batch
    return torch.where(different.any(dim=1), choice, fallback)


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """Shape: (B,) -> (B, K) float."""
    return torch.nn.functional.one_hot(labels, num_classes).float()


class CorrespondenceStage(_ClipStage):
    """Stage 1 (AVOL-Net, Arandjelović & Zisserman 2018): max-over-locations MIL scores.

    ``infonce`` (both directions), ``avc`` (L3 binary correspondence on calibrated scores),
    ``avts`` (InfoNCE with the same window's audio circularly shifted in time as hard negatives;
    Korbar 2018 shifts within the clip, we shift within the sampled window), ``rxid``
    (Robust xID, Morgado 2021) or ``lvs`` (LVS, Chen 2021: region-pooled positives and the
    image's own background as a hard negative). ``pooling`` turns each pair's map into its
    score for all but ``lvs`` (max: AVOL's MIL; topk: the mean of the best locations). For
    every objective but ``avc`` the AVOL calibration (scale, bias of the sigmoid map) is fitted
    on detached scores with the binary loss, so the maps stay calibrated without changing the
    representation objective.
    """

    name = "correspondence"

    modules = ("visual", "audio", "avol")

    def trainable(self, model: Any) -> list[nn.Parameter]:
        params = super().trainable(model)
        if not self.cfg.freeze_visual:
            return params
        frozen = {id(p) for m in (model.visual, model.avol.visual_proj) for p in m.parameters()}
        return [p for p in params if id(p) not in frozen]

    def train_mode(self, model: Any) -> None:
        model.train()
        if self.cfg.freeze_visual:  # batch-norm statistics stay those the maps were made with
            model.visual.eval()
            model.avol.visual_proj.eval()

    def loss(self, model: Any, batch: Any) -> StepOutput:
        from avloc import losses

        visual = model.encode_frames(_centre_frames(batch))
        audio = model.encode_audio(batch.audio)
        sims = model.pairwise_similarity(audio.embedding, visual.grid)
        scores = pool_locations(sims, self.cfg.pooling, self.cfg.pooling_fraction)
        temperature = self.cfg.temperature
        objective = self.cfg.objective
        off_diagonal = ~torch.eye(len(scores), dtype=torch.bool, device=scores.device)
        if objective == "avc":
            calibrated = model.calibrate(scores)
            loss = losses.binary_correspondence_loss(
                calibrated.diagonal(), calibrated[off_diagonal]
            )
            return StepOutput(loss)
        if objective == "infonce":
            loss = losses.info_nce_loss(scores, temperature)
        elif objective == "avts":
            loss = losses.avts_loss(scores, self._shifted_scores(model, batch, visual), temperature)
        elif objective == "lvs":
            loss = losses.lvs_loss(sims, temperature=temperature)
        else:
            pooled = torch.nn.functional.normalize(visual.grid.float().mean(dim=(2, 3)), dim=1)
            loss = losses.robust_xid_loss(scores, audio.embedding, pooled, temperature)
        calibrated = model.calibrate(scores.detach())
        calibration = losses.binary_correspondence_loss(
            calibrated.diagonal(), calibrated[off_diagonal]
        )
        return StepOutput(loss + 0.1 * calibration, {"calibration": calibration.item()})

    def _shifted_scores(self, model: Any, batch: Any, visual: Any) -> Tensor:
        audio: Tensor = batch.audio
        length = audio.shape[1]
        shift = int(torch.randint(length // 4, 3 * length // 4 + 1, (1,)))
        shifted = model.encode_audio(torch.roll(audio, shift, dims=1))
        sims = torch.einsum("bd,bdhw->bhw", shifted.embedding.float(), visual.grid.float())
        return pool_locations(sims.flatten(1), self.cfg.pooling, self.cfg.pooling_fraction)

    def validate(self, model: Any, device: torch.device) -> dict[str, float]:
        return self.data.validate_localization(model, device)


class WarmupStage(CorrespondenceStage):
    """Stage 0: stage 1's objective with the warm-up's pooling, on the warm-up's own clips
    (one sprite style, plain augmentation: ``training.config.WarmupConfig``)."""

    name = "warmup"

    def __init__(self, config: Any, data: Any) -> None:
        super().__init__(config, data)  # the warm-up's steps and learning rate
        warmup = self.cfg
        self.cfg = dataclasses.replace(
            config.correspondence,
            steps=warmup.steps,
            pooling=warmup.pooling,
            pooling_fraction=warmup.pooling_fraction,
            lr_scale=warmup.lr_scale,
            freeze_visual=False,  # the warm-up learns to see
        )
        if data.warmup is None:
            raise ValueError("the warmup stage needs warm-up clips (training.data.load_data)")
        self.dataset = data.warmup


class PseudoClassStage(Stage):
    """Stage 2: k-means on the solo training clips' audio embeddings -> K pseudo-classes.

    The centroids go to ``model.class_head.centroids``. With ``init_heads``, the audio
    classifier row k is the (centred, normalised) mean pooled audio feature of cluster k and the
    visual CAM filter k the mean visual feature under the stage-1 map of cluster k's clips, so
    stage 3 starts from the clusters instead of from noise (Qian 2020 initialise their
    classifier from the cluster assignment the same way).
    """

    name = "pseudo_classes"

    def __init__(self, config: Any, data: Any) -> None:
        self.cfg = config.pseudo_classes
        self.seed = config.seed
        self.data = data

    def run_offline(self, model: Any, device: torch.device) -> dict[str, float]:
        from training.clustering import kmeans

        head = model.class_head
        num_classes = int(head.centroids.shape[0])
        was_training = model.training
        model.eval()
        try:
            feats = self.data.encode_clips(model, device, self.cfg.max_clips)
        finally:
            model.train(was_training)
        result = kmeans(
            feats.embedding, num_classes, self.cfg.iterations, self.cfg.restarts, self.seed
        )
        head.set_centroids(result.centroids.to(device))
        if self.cfg.init_heads:
            _init_class_head(head, feats, result.labels, device)
        used = int((result.sizes > 0).sum())
        return {"inertia": result.inertia, "clusters_used": float(used)}


def _class_weights(values: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """A linear classifier scoring ``x`` by how far it sits toward its cluster's mean.

    ``logit_k(x) = s * u_k . (x - mu) / sigma - s / 2`` with ``u_k`` the unit direction from the
    overall mean ``mu`` to cluster k's mean and ``sigma`` the mean distance to ``mu``: about
    ``+s/2`` at cluster k's mean and ``-s/2`` at the overall mean.

    Shape:
        values: (N, C), labels: (N,) -> weight (K, C), bias (K,).
    """
    scale = 4.0
    values = values.float()
    mean = values.mean(dim=0)
    centred = values - mean
    sums = torch.zeros(num_classes, values.shape[1]).index_add_(0, labels, centred)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1)[:, None]
    directions = torch.nn.functional.normalize(sums / counts, dim=1)
    sigma = centred.norm(dim=1).mean().clamp(min=1e-6)
    weight = scale * directions / sigma
    return weight, -(weight @ mean) - scale / 2


def _init_class_head(head: Any, feats: Any, labels: Tensor, device: torch.device) -> None:
    num_classes = int(head.centroids.shape[0])
    audio_w, audio_b = _class_weights(feats.audio_pooled, labels, num_classes)
    visual_w, visual_b = _class_weights(feats.visual_pooled, labels, num_classes)
    with torch.no_grad():
        head.audio_classifier.weight.copy_(audio_w.to(device))
        head.audio_classifier.bias.copy_(audio_b.to(device))
        head.visual_cam.weight.copy_(visual_w.to(device).reshape(head.visual_cam.weight.shape))
        head.visual_cam.bias.copy_(visual_b.to(device))


class ClassAwareStage(_ClipStage):
    """Stage 3: class-aware localisation (Qian 2020 coarse-to-fine; DSOL, Hu 2020).

    Encoders stay frozen (they define the pseudo-classes and the stage-1 maps); the class head
    learns (a) the multi-label audio classifier on solo clips and 2-source mixtures of clips of
    different pseudo-classes (targets = union of their clusters), (b) the visual CAMs by MIL on
    solo frames, max-pooled after adding ``prior_weight * log(stage-1 map)`` so the sounding
    region is where the class must fire, and (c) DSOL's category-specific alignment.
    """

    name = "class_aware"

    modules = ("class_head",)

    def train_mode(self, model: Any) -> None:
        _train_only(model, self.modules)

    def loss(self, model: Any, batch: Any) -> StepOutput:
        from avloc import losses
        from avloc.data.mixing import mix_sources, random_gains

        cfg = self.cfg
        with torch.no_grad():
            visual = model.encode_frames(_centre_frames(batch))
            solo = model.encode_audio(batch.audio)
            prior = model.localize_from(visual, solo).maps.float()
            labels = model.class_head.nearest_centroid(solo.embedding)
            partner = partners(labels)
            sources = torch.stack([batch.audio, batch.audio[partner]], dim=1)
            gains = random_gains(len(labels), 2).to(sources.device)
            mixed = model.encode_audio(mix_sources(sources, gains).mixture)
        num_classes = model.class_head.config.num_classes
        solo_targets = one_hot(labels, num_classes)
        mix_targets = torch.maximum(solo_targets, solo_targets[partner])
        head = model.class_head(visual, solo)
        head_mix = model.class_head(visual, mixed)
        audio_loss = losses.audio_class_loss(
            torch.cat([head.audio_logits, head_mix.audio_logits]),
            torch.cat([solo_targets, mix_targets]),
        )
        prior = prior / prior.flatten(1).amax(dim=1).clamp(min=1e-6)[:, None, None]
        cams = head.cams + cfg.prior_weight * torch.log(prior.clamp(min=1e-3))[:, None]
        visual_loss = losses.visual_cam_loss(cams, solo_targets, cfg.pooling, cfg.pooling_fraction)
        align_loss = losses.class_alignment_loss(
            head.audio_class_features, head.visual_class_features, solo_targets
        )
        loss = (
            cfg.audio_class_weight * audio_loss
            + cfg.visual_class_weight * visual_loss
            + cfg.align_weight * align_loss
        )
        metrics = {"audio_cls": audio_loss.item(), "visual_cam": visual_loss.item()}
        return StepOutput(loss, {**metrics, "align": align_loss.item()})

    def validate(self, model: Any, device: torch.device) -> dict[str, float]:
        return self.data.validate_localization(model, device, class_maps=True)


class SeparationStage(_ClipStage):
    """Stage 4: Sound-of-Pixels mix-and-separate (Zhao 2018) on pairs of solo clips.

    Two clips of different pseudo-classes are mixed with random gains; each source's visual
    vector is its frame's encoder features pooled where ``model.source_weights`` finds its
    object *with the mixture's sound* (the stage-1 map, or class maps of distinct classes;
    encoders frozen) — what inference can compute, since only the mixture is heard there;
    pooling under each clip's own-sound map instead left the separator at ~2 dB SDR on
    held-out mixtures at inference. The separator learns binary masks with weighted BCE, ratio
    masks with weighted L1, or softmax masks (the sources compete) with weighted cross-entropy
    (``separator.mask_mode``); the bins weigh log1p(|mix|) as in Sound-of-Pixels, or |mix|
    (``separation.loss_weighting``). Minus the SNR of the waveforms the masks rebuild may be
    added (``separation.snr_loss_weight``). Some mixtures' second source may be heard but not
    seen (``separation.hidden_fraction``, softmax masks), and some mixtures may hear a sound
    that no object makes (``separation.offscreen_fraction``): the bins either dominates are no
    seen source's. The stage may read longer windows, other batches and milder augmentation
    than stages 1-3 (``separation.clip_duration_s``, ``batch_size``, ``augment``).
    """

    name = "separation"

    modules = ("separator", "visual_to_separator")

    def __init__(self, config: Any, data: Any) -> None:
        super().__init__(config, data)
        self.dataset = data.train_view(self.cfg.clip_duration_s, self.cfg.augment)
        self.batch_size = self.cfg.batch_size

    def train_mode(self, model: Any) -> None:
        _train_only(model, self.modules)

    def loss(self, model: Any, batch: Any) -> StepOutput:
        from avloc import losses
        from avloc.audio import stft
        from avloc.data.mixing import mix_sources, random_gains
        from avloc.masks import binary_mask_targets, ratio_mask_targets
        from avloc.models.separator import leave_out_absent

        with torch.no_grad():
            visual = model.encode_frames(_centre_frames(batch))
            audio = model.encode_audio(batch.audio)
            labels = model.class_head.nearest_centroid(audio.embedding)
            partner = partners(labels)
            low, high = self.cfg.gain_range
            gains = random_gains(len(labels), 2, low, high).to(batch.audio.device)
            mix = mix_sources(torch.stack([batch.audio, batch.audio[partner]], dim=1), gains)
            if self.cfg.offscreen_fraction > 0:  # sound from off screen that no object makes
                mix = self._with_offscreen_sound(mix, model.config.sample_rate)
            mixed = model.encode_audio(mix.mixture)
            other = type(visual)(features=visual.features[partner], grid=visual.grid[partner])
            heard = [model.localize_from(visual, mixed), model.localize_from(other, mixed)]
            regions = model.source_weights(
                torch.stack([out.maps for out in heard], dim=1),
                torch.stack([out.class_maps for out in heard], dim=1),
            )
        vectors = torch.cat(
            [
                model.visual_vectors(visual, regions[:, :1]),
                model.visual_vectors(other, regions[:, 1:]),
            ],
            dim=1,
        )
        sep = model.separator.config
        # The second source of some mixtures is heard but not seen: its bins are the rest's
        # (softmax masks only: binary and ratio masks each hear their own vector alone).
        seen = torch.ones(len(labels), 2, dtype=torch.bool, device=vectors.device)
        if self.cfg.hidden_fraction > 0 and sep.mask_mode == "softmax":
            seen[:, 1] = torch.rand(len(labels)) >= self.cfg.hidden_fraction
        out = model.separate(mix.mixture, vectors, active=seen)
        weighting = self.cfg.loss_weighting  # checked against MASK_WEIGHTINGS by SeparationConfig
        with torch.no_grad():
            source_mags = stft(mix.sources.float(), sep.n_fft, sep.hop_length).abs()
        if sep.mask_mode == "softmax":  # an unseen source leaves the softmax, as in activate()
            unseen = ~seen[:, :, None, None]
            targets = binary_mask_targets(source_mags, out.mix_magnitude).masked_fill(unseen, 0)
            logits = leave_out_absent(out.mask_logits, seen)
            loss = losses.mask_softmax_loss(logits, targets, out.mix_magnitude, weighting)
        elif sep.mask_mode == "binary":
            targets = binary_mask_targets(source_mags, out.mix_magnitude)
            loss = losses.mask_bce_loss(out.mask_logits, targets, out.mix_magnitude, weighting)
        else:
            targets = ratio_mask_targets(source_mags, out.mix_magnitude, sep.max_ratio)
            loss = losses.mask_l1_loss(out.masks, targets, out.mix_magnitude, weighting)
        if self.cfg.snr_loss_weight > 0:  # the seen sources' waveforms
            snr_loss = losses.negative_snr_loss(
                out.waveforms[seen].unsqueeze(1), mix.sources[seen].unsqueeze(1)
            )
            return StepOutput(
                loss + self.cfg.snr_loss_weight * snr_loss,
                {"mask": loss.item(), "neg_snr": snr_loss.item()},
            )
        return StepOutput(loss)

    def _with_offscreen_sound(self, mix: Any, sample_rate: int) -> Any:
        """``mix`` with off-screen sound in ``offscreen_fraction`` of its mixtures."""
        from avloc.data.mixing import add_offscreen_sound, offscreen_sound

        num, length = mix.mixture.shape
        low, high = self.cfg.offscreen_snr_db
        snr_db = low + (high - low) * torch.rand(num)
        snr_db[torch.rand(num) >= self.cfg.offscreen_fraction] = math.inf
        tones = self.cfg.offscreen_tone_fraction
        sound = offscreen_sound(num, length, sample_rate, tones).to(mix.mixture.device)
        return add_offscreen_sound(mix, sound, snr_db.to(mix.mixture.device))

    def validate(self, model: Any, device: torch.device) -> dict[str, float]:
        return self.data.validate_separation(
            model, device, self.cfg.max_val_mixtures, self.cfg.clip_duration_s
        )


STAGE_BUILDERS: dict[str, StageBuilder] = {
    "warmup": WarmupStage,
    "correspondence": CorrespondenceStage,
    "pseudo_classes": PseudoClassStage,
    "class_aware": ClassAwareStage,
    "separation": SeparationStage,
}

_NEEDS = {"pseudo_classes": "class_head", "class_aware": "class_head", "separation": "separator"}


def build_stages(config: Any, model: Any, data: Any) -> list[Stage]:
    """The stages ``config.stages`` names, in order, over ``data`` (``training.data``).

    Raises:
        ValueError: a stage needs a head the model lacks (e.g. separation on avol-net-small).
    """
    names = active_stages(config)
    for name in names:
        needed = _NEEDS.get(name)
        if needed is not None and not hasattr(model, needed):
            raise ValueError(
                f"stage {name!r} needs a model with a {needed}; {config.model!r} has none "
                "(use avloc-small, or drop the stage with --set stages=...)"
            )
    return [STAGE_BUILDERS[name](config, data) for name in names]


def active_stages(config: Any) -> list[str]:
    """The stages ``config.stages`` names that have work to do: all but the trained ones set
    to 0 steps (``--set separation.steps=0`` leaves separation out, as ``stages=`` would)."""
    trained = ("warmup", "correspondence", "class_aware", "separation")
    return [n for n in config.stages if n not in trained or getattr(config, n).steps > 0]
