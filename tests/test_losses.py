"""Hand-computed values and shape contracts of the self-supervised objectives."""

from __future__ import annotations

import math

import pytest
import torch

from avloc import losses


def test_info_nce_perfect_diagonal_is_zero_and_uniform_is_log_b() -> None:
    perfect = 10.0 * torch.eye(4)
    assert losses.info_nce_loss(perfect, temperature=0.1) < 1e-6
    uniform = torch.zeros(5, 5)
    assert math.isclose(float(losses.info_nce_loss(uniform, 0.07)), math.log(5), rel_tol=1e-6)


def test_info_nce_is_symmetric_in_both_directions() -> None:
    scores = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(losses.info_nce_loss(scores), losses.info_nce_loss(scores.T))
    # One direction by hand: row-wise cross-entropy towards the diagonal.
    logits = scores / 0.5
    rows = -(logits.diagonal() - logits.logsumexp(dim=1)).mean()
    cols = -(logits.diagonal() - logits.logsumexp(dim=0)).mean()
    torch.testing.assert_close(losses.info_nce_loss(scores, 0.5), 0.5 * (rows + cols))


def test_binary_correspondence_hand_values() -> None:
    zeros = torch.zeros(3)
    assert math.isclose(
        float(losses.binary_correspondence_loss(zeros, zeros)), math.log(2), rel_tol=1e-6
    )
    confident = losses.binary_correspondence_loss(torch.full((2,), 20.0), torch.full((7,), -20.0))
    assert confident < 1e-6
    wrong = losses.binary_correspondence_loss(torch.full((2,), -20.0), torch.full((7,), 20.0))
    assert math.isclose(float(wrong), 20.0, rel_tol=1e-4)


def test_avts_reduces_to_info_nce_without_hard_negatives() -> None:
    scores = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    far = torch.full((4, 2), -1e4)
    torch.testing.assert_close(
        losses.avts_loss(scores, far, 0.1), losses.info_nce_loss(scores, 0.1)
    )
    # A shifted copy as similar as the positive costs more than none.
    assert losses.avts_loss(scores, scores.diagonal(), 0.1) > losses.info_nce_loss(scores, 0.1)


def test_robust_xid_reduces_to_info_nce_and_downweights_faulty_positives() -> None:
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(6, 6, generator=gen)
    audio, visual = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    plain = losses.robust_xid_loss(scores, audio, visual, 0.2, min_weight=1.0, soft_fraction=0.0)
    torch.testing.assert_close(plain, losses.info_nce_loss(scores, 0.2))
    # Pair 0 has a very low positive score (a likely faulty positive): it should weigh less,
    # so the robust loss is below plain InfoNCE, which is dominated by that pair.
    scores = 3 * torch.eye(6)
    scores[0, 0] = -3.0
    robust = losses.robust_xid_loss(scores, audio, visual, 0.2, min_weight=0.1, soft_fraction=0.0)
    assert robust < losses.info_nce_loss(scores, 0.2)


def test_robust_xid_soft_targets_forgive_lookalike_negatives() -> None:
    audio = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # clips 0 and 1 look and sound alike
    scores = torch.tensor([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    pushes = []
    for fraction in (0.0, 0.5):
        leaf = scores.clone().requires_grad_(True)
        losses.robust_xid_loss(
            leaf, audio, audio, 0.1, min_weight=1.0, soft_fraction=fraction
        ).backward()
        assert leaf.grad is not None
        pushes.append(float(leaf.grad[0, 1]))  # > 0: the loss pushes the lookalike pair apart
    hard_push, soft_push = pushes
    assert 0 < soft_push < 0.6 * hard_push


def test_class_losses_hand_values() -> None:
    targets = torch.tensor([[1.0, 0.0]])
    logits = torch.tensor([[30.0, -30.0]])
    assert losses.audio_class_loss(logits, targets) < 1e-6
    cams = torch.full((1, 2, 3, 3), -30.0)
    cams[0, 0, 1, 1] = 30.0  # one cell fires for the present class: enough (max pooling)
    assert losses.visual_cam_loss(cams, targets) < 1e-6
    assert math.isclose(
        float(losses.visual_cam_loss(torch.zeros(1, 2, 3, 3), targets)), math.log(2), rel_tol=1e-6
    )


def test_class_alignment_loss() -> None:
    eye = torch.eye(2).unsqueeze(1)  # (B=2, K=1, D=2): each sample's class feature is distinct
    weights = torch.ones(2, 1)
    assert losses.class_alignment_loss(eye, eye, weights, margin=0.2) == 0.0
    swapped = eye.flip(0)
    # cos(own) = 0 and cos(other) = 1: hinge = 0.2 - 0 + 1.
    assert math.isclose(
        float(losses.class_alignment_loss(eye, swapped, weights, 0.2)), 1.2, rel_tol=1e-6
    )
    assert losses.class_alignment_loss(eye, swapped, torch.zeros(2, 1)) == 0.0  # absent classes


def test_mask_losses_use_sop_weights() -> None:
    mix = torch.full((1, 2, 3), math.e - 1)  # log1p = 1
    targets = torch.ones(1, 1, 2, 3)
    logits = torch.zeros(1, 1, 2, 3)
    assert math.isclose(
        float(losses.mask_bce_loss(logits, targets, mix)), math.log(2), rel_tol=1e-6
    )
    loud = torch.full((1, 2, 3), 1e6)  # weight clamps at 10
    assert math.isclose(
        float(losses.mask_bce_loss(logits, targets, loud)), 10 * math.log(2), rel_tol=1e-5
    )
    masks = torch.full((1, 1, 2, 3), 0.25)
    assert math.isclose(float(losses.mask_l1_loss(masks, targets, mix)), 0.75, rel_tol=1e-6)


def test_magnitude_mask_weights_follow_each_mixtures_magnitude() -> None:
    quiet = torch.tensor([[[0.0, 1.0, 3.0]]])  # (B=1, F=1, N=3): mean 4/3
    weights = losses.mask_weights(torch.cat([quiet, 100 * quiet]), "magnitude")
    assert weights.shape == (2, 1, 1, 3)
    # Proportional to |mix|, mean 1 per mixture: a loud mixture weighs as much as a quiet one.
    torch.testing.assert_close(weights[0, 0, 0], torch.tensor([0.0, 0.75, 2.25]))
    torch.testing.assert_close(weights[1], weights[0])
    silent = losses.mask_weights(torch.zeros(1, 2, 2), "magnitude")
    assert torch.equal(silent, torch.zeros(1, 1, 2, 2))  # silence: no weight, and no NaN
    targets, logits = torch.ones(1, 1, 1, 3), torch.zeros(1, 1, 1, 3)
    # BCE is log 2 in every bin; the weights average to 1.
    assert math.isclose(
        float(losses.mask_bce_loss(logits, targets, quiet, "magnitude")), math.log(2), rel_tol=1e-6
    )
    with pytest.raises(ValueError, match="weighting"):
        losses.mask_weights(quiet, "energy")  # type: ignore[arg-type]


def test_mask_softmax_loss_is_cross_entropy_with_a_rest_class() -> None:
    mix = torch.rand(2, 4, 5) * 3
    logits = torch.randn(2, 1, 4, 5)
    targets = (torch.rand(2, 1, 4, 5) > 0.5).float()
    # One object against the zero "rest" logit: softmax = sigmoid, so the loss is the BCE.
    torch.testing.assert_close(
        losses.mask_softmax_loss(logits, targets, mix), losses.mask_bce_loss(logits, targets, mix)
    )
    two = torch.randn(1, 2, 1, 3)
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])[None, :, None]  # bin 3: the rest
    weights = torch.full((1, 1, 3), math.e - 1)  # log1p = 1
    log_p = torch.log_softmax(torch.cat([two, torch.zeros(1, 1, 1, 3)], dim=1), dim=1)
    expected = -(log_p[0, 0, 0, 0] + log_p[0, 1, 0, 1] + log_p[0, 2, 0, 2]) / 3
    assert math.isclose(
        float(losses.mask_softmax_loss(two, one_hot, weights)), float(expected), rel_tol=1e-5
    )


def test_negative_snr_loss_hand_values_and_gradient() -> None:
    reference = torch.tensor([[[1.0, -1.0, 1.0, -1.0]]])
    # Noise at a tenth of the signal's energy: SNR 10 dB.
    noisy = reference * (1 + math.sqrt(0.1))
    assert math.isclose(float(losses.negative_snr_loss(noisy, reference)), -10.0, rel_tol=1e-5)
    # Two sources average their SNRs (10 and 20 dB).
    pair = torch.cat([noisy, reference * (1 + 0.1)], dim=1)
    assert math.isclose(
        float(losses.negative_snr_loss(pair, torch.cat([reference, reference], dim=1))),
        -15.0,
        rel_tol=1e-5,
    )
    estimate = torch.zeros(1, 1, 4, requires_grad=True)
    losses.negative_snr_loss(estimate, reference).backward()
    assert estimate.grad is not None
    assert torch.all(estimate.grad * reference < 0)  # moving towards the reference lowers it
    with pytest.raises(ValueError, match="negative_snr_loss"):
        losses.negative_snr_loss(torch.zeros(1, 2, 4), torch.zeros(1, 1, 4))


def test_lvs_loss_hand_value_and_region_pooling() -> None:
    # Two clips, four locations. Clip 0's audio matches two cells of its frame (cos 0.9), the
    # rest is background (cos 0.0); clip 1 likewise; cross pairs are uniform 0.2.
    sims = torch.full((2, 2, 4), 0.2)
    sims[0, 0] = torch.tensor([0.9, 0.9, 0.0, 0.0])
    sims[1, 1] = torch.tensor([0.0, 0.9, 0.9, 0.0])
    eps = 1e-12
    # Sharp thresholds: positive = mean over cells > 0.65 = 0.9, hard negative = mean over
    # cells < 0.4 = 0.0, easy negative = 0.2 (no cell above 0.65: the soft region's weighted
    # mean of a constant map is that constant).
    logits = torch.tensor([0.9, 0.0, 0.2]) / 0.07
    expected = -(logits[0] - logits.logsumexp(0))
    got = losses.lvs_loss(sims, sharpness=1e-3)
    assert abs(float(got) - float(expected)) < 1e-4 + eps
    # A map that lights the whole object beats one that lights a single cell of it.
    wide = sims.clone()
    narrow = sims.clone()
    narrow[0, 0] = torch.tensor([0.9, 0.5, 0.0, 0.0])
    assert losses.lvs_loss(wide) < losses.lvs_loss(narrow)


def test_topk_pooling_rewards_extent_where_max_cannot() -> None:
    from avloc.models.layers import pool_locations

    peak = torch.tensor([1.0, 0.0, 0.0, 0.0])
    blob = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert pool_locations(peak, "max") == pool_locations(blob, "max")
    assert float(pool_locations(peak, "topk", 0.5)) == 0.5
    assert float(pool_locations(blob, "topk", 0.5)) == 1.0
    assert float(pool_locations(peak, "topk", 0.01)) == 1.0  # at least one location
    with pytest.raises(ValueError, match="fraction"):
        pool_locations(peak, "topk", 0.0)
    with pytest.raises(ValueError, match="unknown pooling"):
        pool_locations(peak, "mean")
    cams = torch.tensor([[[[4.0, -4.0], [-4.0, -4.0]]]])
    targets = torch.ones(1, 1)
    assert losses.visual_cam_loss(cams, targets, "topk", 0.5) > losses.visual_cam_loss(
        cams, targets
    )


def test_losses_backpropagate() -> None:
    scores = torch.randn(3, 3, requires_grad=True)
    (losses.info_nce_loss(scores) + losses.avts_loss(scores, torch.randn(3, 2))).backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: losses.info_nce_loss(torch.zeros(3, 4)), "square"),
        (lambda: losses.info_nce_loss(torch.zeros(3, 3), temperature=0.0), "temperature"),
        (
            lambda: losses.binary_correspondence_loss(torch.zeros(2, 2), torch.zeros(2)),
            "pos_scores",
        ),
        (lambda: losses.binary_correspondence_loss(torch.zeros(2), torch.zeros(0)), "neg_scores"),
        (lambda: losses.avts_loss(torch.zeros(3, 3), torch.zeros(4, 2)), "shifted_scores"),
        (
            lambda: losses.robust_xid_loss(torch.zeros(3, 3), torch.zeros(2, 4), torch.zeros(3, 4)),
            "audio_emb",
        ),
        (
            lambda: losses.robust_xid_loss(torch.zeros(3, 3), torch.zeros(3, 4), torch.zeros(3, 5)),
            "share D",
        ),
        (lambda: losses.audio_class_loss(torch.zeros(2, 3), torch.zeros(2, 4)), "targets"),
        (lambda: losses.visual_cam_loss(torch.zeros(2, 3), torch.zeros(2, 3)), "cams"),
        (lambda: losses.lvs_loss(torch.zeros(2, 3, 4)), r"\(B, B, N\)"),
        (lambda: losses.lvs_loss(torch.zeros(2, 2, 4), 0.3, 0.4), "neg_threshold"),
        (
            lambda: losses.class_alignment_loss(
                torch.zeros(2, 3, 4), torch.zeros(2, 3, 5), torch.zeros(2, 3)
            ),
            "class features",
        ),
        (
            lambda: losses.mask_bce_loss(
                torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 5), torch.zeros(1, 3, 4)
            ),
            "targets",
        ),
        (
            lambda: losses.mask_l1_loss(
                torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4), torch.zeros(1, 4, 3)
            ),
            "mix_magnitude",
        ),
    ],
)
def test_wrong_shapes_raise(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
