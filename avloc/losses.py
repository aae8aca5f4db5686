"""Self-supervised objectives, as plain functions. Names end in ``_loss``; lower is better.

Score matrices are indexed ``scores[i, j]`` = audio of clip i against frame of clip j (as
:meth:`avloc.models.AVOLNet.pairwise_scores` returns them); the diagonal holds the true pairs.
Every function checks its shape contract and raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from avloc.models.layers import pool_locations
from avloc.models.separator import with_rest_logit

# Sound-of-Pixels' loss weight: log1p(|mix|) clamped to this range.
_MASK_WEIGHT_RANGE = (1e-3, 10.0)

# How a mask loss weights the spectrogram bins (:func:`mask_weights`).
MaskWeighting = Literal["log1p", "magnitude"]
MASK_WEIGHTINGS: tuple[str, ...] = get_args(MaskWeighting)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_square(scores: Tensor, name: str) -> int:
    _check(
        scores.dim() == 2 and scores.shape[0] == scores.shape[1] and scores.shape[0] >= 1,
        f"{name}: scores must be a square (B, B) matrix, got {tuple(scores.shape)}",
    )
    return scores.shape[0]


def _check_positive(value: float, name: str, what: str) -> None:
    _check(value > 0, f"{name}: {what} must be > 0, got {value}")


def info_nce_loss(scores: Tensor, temperature: float = 0.07) -> Tensor:
    """Symmetric InfoNCE (van den Oord 2018; CLIP's two-way form).

    ``L = ½ [CE(scores / τ, diag) over rows + CE(scoresᵀ / τ, diag) over rows]``: each audio
    must pick its own frame among the batch (audio→visual) and each frame its own audio.

    Args:
        scores: similarities, true pairs on the diagonal.
        temperature: τ > 0.

    Returns:
        Scalar loss; ≈ 0 for a confident diagonal, ``log B`` for uniform scores.

    Shape:
        scores: (B, B) -> ().

    Raises:
        ValueError: ``scores`` not square or ``temperature <= 0``.
    """
    batch = _check_square(scores, "info_nce_loss")
    _check_positive(temperature, "info_nce_loss", "temperature")
    logits = scores.float() / temperature
    targets = torch.arange(batch, device=scores.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def binary_correspondence_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Audio-visual correspondence as binary classification (L³-Net / AVC, Arandjelović 2017).

    ``L = ½ [BCE(pos, 1) + BCE(neg, 0)]`` with BCE on logits, each side averaged on its own so
    unequal counts stay balanced.

    Args:
        pos_scores: logits of matching pairs (e.g. the diagonal of calibrated pairwise scores).
        neg_scores: logits of mismatched pairs.

    Shape:
        pos_scores: (P,), neg_scores: (M,) -> ().

    Raises:
        ValueError: inputs not 1-D or empty.
    """
    for name, value in (("pos_scores", pos_scores), ("neg_scores", neg_scores)):
        _check(
            value.dim() == 1 and value.numel() > 0,
            f"binary_correspondence_loss: {name} must be a non-empty 1-D tensor of logits, got "
            f"{tuple(value.shape)}",
        )
    pos = F.binary_cross_entropy_with_logits(
        pos_scores.float(), torch.ones_like(pos_scores.float())
    )
    neg = F.binary_cross_entropy_with_logits(
        neg_scores.float(), torch.zeros_like(neg_scores.float())
    )
    return 0.5 * (pos + neg)


def avts_loss(scores: Tensor, shifted_scores: Tensor, temperature: float = 0.07) -> Tensor:
    """InfoNCE with temporal hard negatives (AVTS, Korbar et al. 2018).

    Frame j is scored against every audio of the batch *and* against its own clip's audio shifted
    in time (``shifted_scores[j, m]``, M shifts); only the in-sync audio is positive:
    ``L_v = CE([scores[:, j], shifted_scores[j]] / τ, j)``. The audio→visual direction is plain
    InfoNCE over rows. ``L = ½ (L_v + L_a)``.

    Args:
        scores: in-sync audio i vs frame j.
        shifted_scores: frame j vs its own audio shifted in time.
        temperature: τ > 0.

    Shape:
        scores: (B, B), shifted_scores: (B,) or (B, M) -> ().

    Raises:
        ValueError: mismatched shapes or ``temperature <= 0``.
    """
    batch = _check_square(scores, "avts_loss")
    _check_positive(temperature, "avts_loss", "temperature")
    if shifted_scores.dim() == 1:
        shifted_scores = shifted_scores.unsqueeze(1)
    _check(
        shifted_scores.dim() == 2 and shifted_scores.shape[0] == batch,
        f"avts_loss: shifted_scores must be (B,) or (B, M) with B = {batch}, got "
        f"{tuple(shifted_scores.shape)}",
    )
    targets = torch.arange(batch, device=scores.device)
    visual_logits = torch.cat([scores.T, shifted_scores], dim=1).float() / temperature
    audio_logits = scores.float() / temperature
    return 0.5 * (F.cross_entropy(visual_logits, targets) + F.cross_entropy(audio_logits, targets))


def lvs_loss(
    sims: Tensor,
    pos_threshold: float = 0.65,
    neg_threshold: float = 0.4,
    sharpness: float = 0.03,
    temperature: float = 0.07,
) -> Tensor:
    """Localizing Visual Sounds the Hard Way (LVS, Chen et al., CVPR 2021).

    Each true pair's map ``S_ii`` is split by soft thresholds into a positive region
    ``m⁺ = σ((S_ii - ε⁺) / t)`` and a hard-negative background ``m⁻ = 1 - σ((S_ii - ε⁻) / t)``;
    the positive is the mean similarity over ``m⁺``, the hard negative the mean over ``m⁻``
    (the same image's background), and each other frame j is an easy negative scored by the mean
    over its own positive region of ``S_ij``. ``L = CE([P_i, N_i^hard, N_ij (j ≠ i)] / τ, 0)``,
    in the audio→visual direction as in LVS. Pooling over a region rather than at the peak makes
    the map cover the object, and the in-image negative keeps the background dark.

    Args:
        sims: cosines of audio i with every location of frame j.
        pos_threshold: ε⁺ (LVS: 0.65). neg_threshold: ε⁻ (LVS: 0.4), below ε⁺.
        sharpness: t > 0 of the soft thresholds (LVS: 0.03).
        temperature: τ > 0 of the softmax (LVS: 0.07).

    Shape:
        sims: (B, B, N) -> ().

    Raises:
        ValueError: ``sims`` not (B, B, N), or bad thresholds / temperatures.
    """
    _check(
        sims.dim() == 3 and sims.shape[0] == sims.shape[1] and sims.shape[2] >= 1,
        f"lvs_loss: sims must be (B, B, N), got {tuple(sims.shape)}",
    )
    _check(neg_threshold < pos_threshold, "lvs_loss: neg_threshold must be below pos_threshold")
    _check_positive(sharpness, "lvs_loss", "sharpness")
    _check_positive(temperature, "lvs_loss", "temperature")
    sims = sims.float()
    batch = sims.shape[0]
    positive_region = torch.sigmoid((sims - pos_threshold) / sharpness)
    region_scores = (positive_region * sims).sum(-1) / positive_region.sum(-1).clamp(min=1e-6)
    own = sims.diagonal().T  # (B, N)
    background = 1.0 - torch.sigmoid((own - neg_threshold) / sharpness)
    hard = (background * own).sum(-1) / background.sum(-1).clamp(min=1e-6)
    eye = torch.eye(batch, dtype=torch.bool, device=sims.device)
    easy = region_scores.masked_fill(eye, float("-inf"))
    logits = torch.cat([region_scores.diagonal()[:, None], hard[:, None], easy], dim=1)
    targets = torch.zeros(batch, dtype=torch.long, device=sims.device)
    return F.cross_entropy(logits / temperature, targets)


def robust_xid_loss(
    scores: Tensor,
    audio_emb: Tensor,
    visual_emb: Tensor,
    temperature: float = 0.07,
    min_weight: float = 0.25,
    soft_fraction: float = 0.25,
    target_temperature: float = 0.1,
) -> Tensor:
    """Robust cross-modal instance discrimination (Morgado, Misra & Vasconcelos, CVPR 2021).

    Two corrections to two-way InfoNCE, both computed without gradient:

    * Faulty positives: pair i's weight is ``w_i = δ + (1 - δ) Φ((s_ii - μ) / σ)`` with
      ``s_ii`` the positive score, μ, σ their batch mean and std and Φ the standard normal CDF;
      pairs far below the typical positive (likely unrelated audio and video) count less. The
      weights are renormalised to mean 1.
    * Faulty negatives: the one-hot target is mixed with a soft one from within-modality
      similarity, ``t_i = (1 - λ) e_i + λ softmax_j(k_ij / τ_t)`` with
      ``k = ½ (â âᵀ + v̂ v̂ᵀ)`` (cosines of the L2-normalised embeddings), so clips that look and
      sound alike are not pushed apart.

    ``L = ½ Σ_dir mean_i w_i · Σ_j -t_ij log softmax_j(scores_dir[i, j] / τ)``.

    Args:
        scores: cross-modal scores, audio i vs frame j.
        audio_emb: audio embeddings of the clips.
        visual_emb: pooled visual embeddings of the clips.
        temperature: τ > 0 of the contrastive softmax.
        min_weight: δ in [0, 1], the weight floor of a likely faulty positive.
        soft_fraction: λ in [0, 1), the share of the soft target.
        target_temperature: τ_t > 0 of the soft target.

    Shape:
        scores: (B, B), audio_emb: (B, D), visual_emb: (B, D) -> ().

    Raises:
        ValueError: mismatched shapes or out-of-range parameters.
    """
    batch = _check_square(scores, "robust_xid_loss")
    for name, value in (("audio_emb", audio_emb), ("visual_emb", visual_emb)):
        _check(
            value.dim() == 2 and value.shape[0] == batch,
            f"robust_xid_loss: {name} must be (B, D) with B = {batch}, got {tuple(value.shape)}",
        )
    _check(audio_emb.shape == visual_emb.shape, "robust_xid_loss: embeddings must share D")
    _check_positive(temperature, "robust_xid_loss", "temperature")
    _check_positive(target_temperature, "robust_xid_loss", "target_temperature")
    _check(
        0 <= min_weight <= 1 and 0 <= soft_fraction < 1,
        "robust_xid_loss: need 0 <= min_weight <= 1 and 0 <= soft_fraction < 1",
    )
    with torch.no_grad():
        weights = _positive_weights(scores.detach().float().diagonal(), min_weight)
        targets = _soft_targets(audio_emb, visual_emb, soft_fraction, target_temperature)
    logits = scores.float() / temperature
    per_audio = -(targets * logits.log_softmax(dim=1)).sum(dim=1)
    per_visual = -(targets * logits.T.log_softmax(dim=1)).sum(dim=1)
    return 0.5 * ((weights * per_audio).mean() + (weights * per_visual).mean())


def _positive_weights(positive: Tensor, min_weight: float) -> Tensor:
    if positive.numel() < 2:
        return torch.ones_like(positive)
    z = (positive - positive.mean()) / (positive.std() + 1e-6)
    weights = min_weight + (1 - min_weight) * 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    return weights / weights.mean()


def _soft_targets(audio: Tensor, visual: Tensor, fraction: float, temperature: float) -> Tensor:
    a = F.normalize(audio.detach().float(), dim=-1)
    v = F.normalize(visual.detach().float(), dim=-1)
    kinship = 0.5 * (a @ a.T + v @ v.T)
    eye = torch.eye(a.shape[0], device=a.device)
    return (1 - fraction) * eye + fraction * (kinship / temperature).softmax(dim=1)


def _check_class_targets(logits_shape: tuple[int, ...], targets: Tensor, name: str) -> None:
    _check(
        targets.shape == logits_shape[:2] and len(logits_shape) >= 2,
        f"{name}: targets must be (B, K) = {logits_shape[:2]}, got {tuple(targets.shape)}",
    )


def audio_class_loss(audio_logits: Tensor, targets: Tensor) -> Tensor:
    """Multi-label BCE of the audio class logits against pseudo-labels (Qian 2020).

    A mixture may hold several pseudo-classes, so each class is an independent binary target.

    Shape:
        audio_logits: (B, K), targets: (B, K) in [0, 1] -> ().

    Raises:
        ValueError: shapes differ or logits are not 2-D.
    """
    _check(
        audio_logits.dim() == 2,
        f"audio_class_loss: logits must be (B, K), got {tuple(audio_logits.shape)}",
    )
    _check_class_targets(tuple(audio_logits.shape), targets, "audio_class_loss")
    return F.binary_cross_entropy_with_logits(audio_logits.float(), targets.float())


def visual_cam_loss(
    cams: Tensor, targets: Tensor, pooling: str = "max", fraction: float = 0.0
) -> Tensor:
    """BCE of the pooled visual class activation maps against pseudo-labels (DSOL).

    ``L = BCE(pool_{h,w} CAM_k, y_k)``: a present class must fire somewhere, an absent one
    nowhere (the multiple-instance view of a class-labelled frame). ``pooling`` is ``max``
    (DSOL) or ``topk`` (mean of the ``fraction`` best locations: the whole object must fire);
    see :func:`avloc.models.layers.pool_locations`.

    Shape:
        cams: (B, K, h, w) logits, targets: (B, K) in [0, 1] -> ().

    Raises:
        ValueError: wrong shapes or pooling.
    """
    _check(cams.dim() == 4, f"visual_cam_loss: cams must be (B, K, h, w), got {tuple(cams.shape)}")
    _check_class_targets(tuple(cams.shape), targets, "visual_cam_loss")
    pooled = pool_locations(cams.float().flatten(2), pooling, fraction)
    return F.binary_cross_entropy_with_logits(pooled, targets.float())


def class_alignment_loss(
    audio_class_features: Tensor,
    visual_class_features: Tensor,
    weights: Tensor,
    margin: float = 0.2,
) -> Tensor:
    """Align category-specific audio and visual features (DSOL's class-aware alignment).

    For every sample b and class k present with weight ``w_bk``, the audio feature ``a_bk`` must
    be closer (cosine) to its own frame's class feature ``v_bk`` than to any other frame's
    ``v_b'k`` by ``margin``: ``L = Σ w_bk max(0, m - cos(a_bk, v_bk) + max_b'≠b cos(a_bk, v_b'k))
    / Σ w_bk``. With B = 1 there are no negatives and the term is ``max(0, m - cos)``.

    Shape:
        audio_class_features: (B, K, D), visual_class_features: (B, K, D), weights: (B, K) ->
        ().

    Raises:
        ValueError: wrong shapes or negative margin.
    """
    _check(
        audio_class_features.dim() == 3
        and audio_class_features.shape == visual_class_features.shape,
        "class_alignment_loss: audio and visual class features must both be (B, K, D), got "
        f"{tuple(audio_class_features.shape)} and {tuple(visual_class_features.shape)}",
    )
    _check_class_targets(tuple(audio_class_features.shape), weights, "class_alignment_loss")
    _check(margin >= 0, f"class_alignment_loss: margin must be >= 0, got {margin}")
    a = F.normalize(audio_class_features.float(), dim=-1)
    v = F.normalize(visual_class_features.float(), dim=-1)
    cos = torch.einsum("ikd,jkd->kij", a, v)  # (K, B, B): audio i vs frame j, per class
    positive = cos.diagonal(dim1=1, dim2=2)  # (K, B)
    batch = a.shape[0]
    if batch > 1:
        eye = torch.eye(batch, dtype=torch.bool, device=a.device)
        hardest = cos.masked_fill(eye, -2.0).amax(dim=2)
    else:
        hardest = torch.zeros_like(positive)
    hinge = (margin - positive + hardest).clamp(min=0).T  # (B, K)
    w = weights.float()
    return (w * hinge).sum() / w.sum().clamp(min=1e-6)


def _check_masks(pred: Tensor, targets: Tensor, mix_magnitude: Tensor, name: str) -> None:
    _check(
        pred.dim() == 4 and pred.shape == targets.shape,
        f"{name}: predictions and targets must both be (B, S, F, N), got {tuple(pred.shape)} "
        f"and {tuple(targets.shape)}",
    )
    _check(
        mix_magnitude.dim() == 3
        and mix_magnitude.shape[0] == pred.shape[0]
        and mix_magnitude.shape[1:] == pred.shape[2:],
        f"{name}: mix_magnitude must be (B, F, N) = {(pred.shape[0], *pred.shape[2:])}, got "
        f"{tuple(mix_magnitude.shape)}",
    )


def mask_weights(mix_magnitude: Tensor, weighting: MaskWeighting = "log1p") -> Tensor:
    """Per-bin weights of the mask losses.

    "log1p": Sound-of-Pixels' ``clamp(log1p(|mix|), 1e-3, 10)``. "magnitude": ``|mix|``
    divided by its mean over the mixture's bins, so each mixture weighs the same. SDR counts
    errors by energy: on ``avloc synth`` mixtures the loudest 1 % of bins hold ~80 % of it,
    where log1p gives them ~20 % of the weight and magnitude weights most of it.

    Shape:
        mix_magnitude: (B, F, N) -> (B, 1, F, N).

    Raises:
        ValueError: unknown ``weighting``.
    """
    magnitude = mix_magnitude.float()
    if weighting == "log1p":
        weights = torch.log1p(magnitude).clamp(*_MASK_WEIGHT_RANGE)
    elif weighting == "magnitude":
        weights = magnitude / magnitude.mean(dim=(1, 2), keepdim=True).clamp(min=1e-8)
    else:
        raise ValueError(
            f"mask weighting must be one of {', '.join(MASK_WEIGHTINGS)}, got {weighting!r}"
        )
    return weights.unsqueeze(1)


def mask_bce_loss(
    mask_logits: Tensor,
    targets: Tensor,
    mix_magnitude: Tensor,
    weighting: MaskWeighting = "log1p",
) -> Tensor:
    """Sound-of-Pixels' binary-mask loss: BCE weighted per bin by :func:`mask_weights`
    (Sound-of-Pixels: ``clamp(log1p(|mix|), 1e-3, 10)``, the default).

    ``L = mean_{b,s,f,n} w_bfn · BCE(logit_bsfn, y_bsfn)``; loud bins count more, silent ones
    hardly at all.

    Shape:
        mask_logits: (B, S, F, N), targets: (B, S, F, N) in {0, 1}, mix_magnitude: (B, F, N) ->
        ().

    Raises:
        ValueError: shapes disagree.
    """
    _check_masks(mask_logits, targets, mix_magnitude, "mask_bce_loss")
    bce = F.binary_cross_entropy_with_logits(mask_logits.float(), targets.float(), reduction="none")
    return (mask_weights(mix_magnitude, weighting) * bce).mean()


def mask_softmax_loss(
    mask_logits: Tensor,
    targets: Tensor,
    mix_magnitude: Tensor,
    weighting: MaskWeighting = "log1p",
) -> Tensor:
    """Cross-entropy of the objects' softmax masks (``separator.mask_mode="softmax"``),
    weighted like :func:`mask_bce_loss`.

    The softmax runs over the S objects and a fixed zero "rest" logit; a bin's target class is
    the object whose binary target is 1, or the rest where none is.

    Shape:
        mask_logits: (B, S, F, N), targets: (B, S, F, N) in {0, 1} (at most one 1 per bin),
        mix_magnitude: (B, F, N) -> ().

    Raises:
        ValueError: shapes disagree.
    """
    _check_masks(mask_logits, targets, mix_magnitude, "mask_softmax_loss")
    log_probs = F.log_softmax(with_rest_logit(mask_logits.float()), dim=1)
    targets = targets.float()
    rest = (1.0 - targets.sum(dim=1, keepdim=True)).clamp(min=0.0)
    nll = -(torch.cat([targets, rest], dim=1) * log_probs).sum(dim=1, keepdim=True)  # (B,1,F,N)
    return (mask_weights(mix_magnitude, weighting) * nll).mean()


def mask_l1_loss(
    masks: Tensor,
    targets: Tensor,
    mix_magnitude: Tensor,
    weighting: MaskWeighting = "log1p",
) -> Tensor:
    """Sound-of-Pixels' ratio-mask loss: L1 weighted like :func:`mask_bce_loss`.

    Shape:
        masks: (B, S, F, N), targets: (B, S, F, N) ratios (clamped by the caller, SoP: [0, 5]),
        mix_magnitude: (B, F, N) -> ().

    Raises:
        ValueError: shapes disagree.
    """
    _check_masks(masks, targets, mix_magnitude, "mask_l1_loss")
    return (mask_weights(mix_magnitude, weighting) * (masks.float() - targets.float()).abs()).mean()


def negative_snr_loss(estimates: Tensor, references: Tensor, eps: float = 1e-8) -> Tensor:
    """Minus the signal-to-noise ratio in dB of each estimated waveform, averaged.

    ``L = -mean 10 log10((|s|² + eps) / (|s - ŝ|² + eps))``: the error counted by energy, as SDR
    counts it, on the waveforms the masks rebuild with the mixture's phase (gradients pass
    through the iSTFT to the masks).

    Shape:
        estimates: (B, S, T), references: (B, S, T) -> ().

    Raises:
        ValueError: shapes disagree.
    """
    _check(
        estimates.dim() == 3 and estimates.shape == references.shape,
        "negative_snr_loss: estimates and references must both be (B, S, T), got "
        f"{tuple(estimates.shape)} and {tuple(references.shape)}",
    )
    references = references.float()
    signal = references.pow(2).sum(dim=-1)
    noise = (references - estimates.float()).pow(2).sum(dim=-1)
    return -(10.0 * torch.log10((signal + eps) / (noise + eps))).mean()
