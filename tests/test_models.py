"""Contract tests over every registered model, plus the encoders, heads and helpers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from avloc import losses
from avloc.checkpoint import load_bundle, save_bundle
from avloc.models import (
    AVLocModel,
    AVOLNet,
    SeparatorConfig,
    VisualEncoder,
    VisualEncoderConfig,
    box_weights,
    create_model,
    list_models,
    load_external_weights,
    register_model,
    sample_points,
    weighted_pool,
)
from avloc.models._registry import get_entry
from avloc.models.avloc_model import AVLocConfig, assign_distinct_classes

SAMPLE_RATE = 11025
FRAME = 64  # every model encodes any frame size; 64 px keeps the contract tests fast
AUDIO_SAMPLES = SAMPLE_RATE // 2


def _inputs(batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    frames = torch.randn(batch, 3, FRAME, FRAME, generator=gen)
    audio = 0.1 * torch.randn(batch, AUDIO_SAMPLES, generator=gen)
    return frames, audio


def _tiny_overrides(name: str) -> dict:
    """Shrink every width of a variant, keeping its structure (stems, stages, strides, levels)."""
    config = get_entry(name).default_config()
    overrides: dict = {
        "visual": {
            "stem_channels": 8,
            "widths": tuple(min(width, 16) for width in config.visual.widths),
        },
        "audio": {"channels": tuple(min(c, 16) for c in config.audio.channels)},
        "embed_dim": 16,
    }
    if isinstance(config, AVLocConfig):
        overrides["class_head"] = {"num_classes": 4}
        overrides["separator"] = {"base_channels": 4, "max_channels": 16, "num_feature_channels": 4}
    return overrides


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, **_tiny_overrides(name))


def _training_loss(
    model: torch.nn.Module, frames: torch.Tensor, audio: torch.Tensor
) -> torch.Tensor:
    """The objectives a recipe combines; together they touch every parameter."""
    visual, audio_emb = model.encode_frames(frames), model.encode_audio(audio)
    pairwise = model.pairwise_scores(audio_emb.embedding, visual.grid)
    calibrated = model.calibrate(pairwise)
    off_diagonal = ~torch.eye(len(frames), dtype=torch.bool)
    total = losses.info_nce_loss(calibrated, temperature=1.0) + losses.binary_correspondence_loss(
        calibrated.diagonal(), calibrated[off_diagonal]
    )
    if isinstance(model, AVLocModel):
        out = model.localize_from(visual, audio_emb)
        head = out.class_head
        targets = torch.zeros_like(head.audio_logits)
        targets[:, 0] = 1.0
        total = total + losses.audio_class_loss(head.audio_logits, targets)
        total = total + losses.visual_cam_loss(head.cams, targets)
        total = total + losses.class_alignment_loss(
            head.audio_class_features, head.visual_class_features, targets
        )
        vectors = model.visual_vectors(visual, out.maps.unsqueeze(1))
        sep = model.separate(audio, torch.cat([vectors, 1 - vectors], dim=1))
        targets_tf = (torch.rand_like(sep.masks) > 0.5).float()
        total = total + losses.mask_bce_loss(sep.mask_logits, targets_tf, sep.mix_magnitude)
    return total


def test_registry_has_the_documented_variants() -> None:
    assert {"avloc-tiny", "avloc-small", "avloc-resnet18", "avol-net-small"} <= set(list_models())
    assert list_models() == sorted(list_models())


def test_registry_rejects_duplicates_unknown_names_and_keys() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("avloc-small", AVLocModel)(AVLocConfig)
    with pytest.raises(ValueError, match="registered models"):
        create_model("no-such-model")
    with pytest.raises(ValueError, match="unknown config field 'nope'"):
        create_model("avloc-tiny", nope=1)
    with pytest.raises(ValueError, match=r"visual.*unknown config field 'width'"):
        create_model("avloc-tiny", visual={"width": 3})


def test_overrides_merge_into_nested_configs() -> None:
    model = create_model("avloc-tiny", visual={"input_size": 96}, class_head={"num_classes": 3})
    assert model.config.frame_size == (96, 96)
    assert model.config.class_head.num_classes == 3
    assert model.config.visual.widths == (8, 16)  # untouched fields keep the variant's values
    assert model.registry_name == "avloc-tiny"


@pytest.mark.parametrize(
    ("config_class", "kwargs"),
    [
        (VisualEncoderConfig, {"input_size": 100}),
        (VisualEncoderConfig, {"widths": (8,), "blocks": (1, 1)}),
        (VisualEncoderConfig, {"stem": "vit"}),
        (SeparatorConfig, {"num_levels": 9}),
        (SeparatorConfig, {"mask_mode": "soft"}),
        (AVLocConfig, {"embed_dim": 0}),
    ],
)
def test_invalid_configs_raise(config_class: type, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=config_class.__name__):
        config_class(**kwargs)


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        create_model("avloc-tiny").config.embed_dim = 3  # type: ignore[misc]


def test_small_variant_grid_matches_the_contract() -> None:
    config = create_model("avloc-small").config
    assert config.frame_size == (128, 128) and config.grid_size == (16, 16)
    assert config.sample_rate == 11025 and config.audio_window_s == 1.0
    assert create_model("avloc-resnet18").config.grid_size == (14, 14)


@pytest.mark.parametrize("name", list_models())
def test_contract_shapes_finite_and_gradients(name: str) -> None:
    model = _model(name).train()
    frames, audio = _inputs()
    out = model(frames, audio)
    grid = FRAME // model.config.visual.output_stride
    assert out.maps.shape == out.logits.shape == (2, grid, grid)
    assert out.scores.shape == (2,)
    assert bool(((out.maps >= 0) & (out.maps <= 1)).all()) and bool(out.logits.isfinite().all())
    if isinstance(model, AVLocModel):
        num_classes = model.config.class_head.num_classes
        assert out.class_maps is not None and out.class_probs is not None
        assert out.class_maps.shape == (2, num_classes, grid, grid)
        assert out.class_probs.shape == (2, num_classes)
    model.zero_grad()
    loss = _training_loss(model, frames, audio)
    assert loss.isfinite()
    loss.backward()
    no_grad = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert no_grad == []


@pytest.mark.parametrize("name", list_models())
def test_eval_determinism_and_bundle_round_trip(name: str, tmp_path: Path) -> None:
    model = _model(name).eval()
    frames, audio = _inputs(seed=1)
    with torch.no_grad():
        first, second = model(frames, audio), model(frames, audio)
    assert torch.equal(first.maps, second.maps)
    path = save_bundle(model, tmp_path / f"{name}.safetensors")
    loaded = load_bundle(path)
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    with torch.no_grad():
        again = loaded(frames, audio)
    torch.testing.assert_close(again.maps, first.maps, rtol=0, atol=0)
    if first.class_maps is not None:
        torch.testing.assert_close(again.class_maps, first.class_maps, rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models())
def test_bf16_autocast_runs_and_stays_close(name: str) -> None:
    model = _model(name).eval()
    frames, audio = _inputs(seed=2)
    with torch.no_grad():
        reference = model(frames, audio)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(frames, audio)
    assert low.maps.dtype == torch.float32
    assert (low.maps - reference.maps).abs().max() < 0.1
    if isinstance(model, AVLocModel):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            vectors = model.visual_vectors(model.encode_frames(frames))
            sep = model.separate(audio, vectors)
        assert bool(sep.waveforms.isfinite().all())


def test_pairwise_scores_match_similarity_on_the_diagonal() -> None:
    model = _model("avol-net-small").eval()
    frames, audio = _inputs(batch=3)
    with torch.no_grad():
        visual, audio_emb = model.encode_frames(frames), model.encode_audio(audio)
        pairwise = model.pairwise_scores(audio_emb.embedding, visual.grid)
        sim = model.similarity(audio_emb.embedding, visual.grid)
    assert pairwise.shape == (3, 3)
    torch.testing.assert_close(pairwise.diagonal(), sim.flatten(1).amax(dim=1))
    assert bool((sim.abs() <= 1 + 1e-5).all())
    cross = model.similarity(audio_emb.embedding[[1]], visual.grid[[2]]).max()
    torch.testing.assert_close(pairwise[1, 2], cross)


def test_class_maps_are_gated_by_audio_class_probability() -> None:
    model = _model("avloc-tiny").eval()
    with torch.no_grad():
        model.class_head.audio_classifier.bias.fill_(-30.0)  # every class silent
        model.class_head.audio_classifier.weight.zero_()
        out = model(*_inputs())
    assert out.class_maps is not None and out.class_maps.max() < 1e-6
    assert out.class_head is not None
    expected = torch.sigmoid(out.class_head.cams) * out.class_probs[:, :, None, None]
    torch.testing.assert_close(out.class_maps, expected)


def test_centroids_are_settable_and_label_embeddings() -> None:
    model = _model("avloc-tiny")
    centroids = torch.eye(4, model.config.embed_dim)
    model.class_head.set_centroids(3 * centroids)
    labels = model.class_head.nearest_centroid(centroids[[2, 0]] + 0.01)
    assert labels.tolist() == [2, 0]
    assert "class_head.centroids" in model.state_dict()
    with pytest.raises(ValueError, match="set_centroids"):
        model.class_head.set_centroids(torch.zeros(3, 3))


def test_separator_full_mask_reconstructs_the_mixture() -> None:
    model = _model("avloc-tiny").eval()
    frames, audio = _inputs()
    with torch.no_grad():
        model.separator.mask_bias.fill_(40.0)  # σ(40) = 1: every source gets the whole mixture
        vectors = model.visual_vectors(model.encode_frames(frames), torch.ones(2, 3, 8, 8))
        out = model.separate(audio, vectors)
    freqs = model.config.separator.num_freqs
    assert out.masks.shape[:3] == (2, 3, freqs) and out.waveforms.shape == (2, 3, AUDIO_SAMPLES)
    torch.testing.assert_close(out.waveforms, audio[:, None].expand(-1, 3, -1), atol=1e-4, rtol=0)
    hard = model.separate(audio, vectors, hard=True)
    assert set(hard.masks.unique().tolist()) <= {0.0, 1.0}


def test_mask_rules_share_the_mixture_among_the_active_sources() -> None:
    model = _model("avloc-tiny").eval()
    _, audio = _inputs()
    vectors = torch.rand(2, 3, model.config.separator.num_feature_channels)
    with torch.no_grad():
        shared = model.separate(audio, vectors, rule="share")
        # Shared masks sum to one: the sources add up to the mixture.
        torch.testing.assert_close(shared.waveforms.sum(1), audio, atol=1e-4, rtol=0)
        winner = model.separate(audio, vectors, rule="winner")
        assert set(winner.masks.unique().tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(winner.masks.sum(1), torch.ones_like(winner.masks[:, 0]))
        # An absent object gets nothing and takes nothing from the others.
        active = torch.tensor([[True, True, False], [True, False, False]])
        out = model.separate(audio, vectors, rule="share", active=active)
        assert out.waveforms[0, 2].abs().max() == 0 and out.waveforms[1, 1:].abs().max() == 0
        torch.testing.assert_close(out.waveforms[1, 0], audio[1], atol=1e-4, rtol=0)
        torch.testing.assert_close(out.waveforms.sum(1), audio, atol=1e-4, rtol=0)


def test_softmax_mode_masks_compete_and_one_object_is_a_sigmoid() -> None:
    model = create_model("avloc-tiny", separator={"mask_mode": "softmax"}).eval()
    _, audio = _inputs()
    with torch.no_grad():
        out = model.separate(audio, torch.rand(2, 3, 4))
        assert (out.masks.sum(1) <= 1 + 1e-6).all() and (out.masks > 0).all()
        alone = model.separate(audio, torch.rand(2, 1, 4))
        torch.testing.assert_close(alone.masks, torch.sigmoid(alone.mask_logits))
        hard = model.separate(audio, torch.rand(2, 3, 4), hard=True)
    assert set(hard.masks.unique().tolist()) <= {0.0, 1.0}
    # An absent object leaves the softmax: the others compete as if it were never given.
    vectors = torch.rand(2, 3, 4)
    with torch.no_grad():
        absent = model.separate(audio, vectors, active=torch.tensor([[True, False, True]] * 2))
        without = model.separate(audio, vectors[:, [0, 2]])
    assert absent.masks[:, 1].abs().max() == 0
    torch.testing.assert_close(absent.masks[:, [0, 2]], without.masks)
    with pytest.raises(ValueError, match="softmax"):
        create_model("avloc-tiny", separator={"mask_mode": "max"})


def test_ratio_mode_masks_reach_max_ratio() -> None:
    model = create_model("avloc-tiny", separator={"mask_mode": "ratio", "max_ratio": 3.0}).eval()
    with torch.no_grad():
        model.separator.mask_bias.fill_(40.0)
        vectors = torch.full((2, 1, 4), 0.5)
        out = model.separate(_inputs()[1], vectors)
    torch.testing.assert_close(out.masks, torch.full_like(out.masks, 3.0))


def test_bad_inputs_raise_clear_errors() -> None:
    model = _model("avloc-tiny").eval()
    frames, audio = _inputs()
    with pytest.raises(ValueError, match=r"frames must be float \(B, 3, H, W\)"):
        model.encode_frames(frames.permute(0, 2, 3, 1))
    with pytest.raises(TypeError, match=r"frames must be a torch.Tensor"):
        model.encode_frames(frames.numpy())
    with pytest.raises(ValueError, match=r"audio must be a float \(B, T\)"):
        model.encode_audio(audio[0])
    with pytest.raises(ValueError, match="samples"):
        model.encode_audio(audio[:, :100])
    with pytest.raises(ValueError, match="K_s"):
        model.separate(audio, torch.rand(2, 1, 7))
    with pytest.raises(ValueError, match="batch"):
        model.localize(frames, audio[:1])


def test_pooling_helpers() -> None:
    features = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    torch.testing.assert_close(weighted_pool(features, None)[:, 0], features.mean(dim=(2, 3)))
    one_cell = torch.zeros(2, 1, 4, 4)
    one_cell[:, :, 1, 2] = 1.0
    torch.testing.assert_close(
        weighted_pool(features, one_cell)[:, 0], features[:, :, 1, 2], atol=1e-4, rtol=0
    )
    centre = torch.tensor([[[2.5 / 4, 1.5 / 4]]]).expand(2, 1, 2)  # (x, y) of cell row 1, col 2
    torch.testing.assert_close(sample_points(features, centre)[:, 0], features[:, :, 1, 2])
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 0.61, 0.61]]])
    masks = box_weights(boxes, 4, 4)
    assert masks[0, 0].sum() == 4 and masks[0, 0, :2, :2].all()
    assert masks[0, 1].sum() == 1 and masks[0, 1, 2, 2] == 1  # sub-cell box keeps its cell
    with pytest.raises(ValueError, match="non-negative"):
        weighted_pool(features, -one_cell)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sample_points(features, centre + 1)


def test_assign_distinct_classes_maximises_the_summed_scores() -> None:
    # Both sources like class 0 best; the best distinct pair is (0, 1): 0.9 + 0.7 > 0.8 + 0.1.
    scores = torch.tensor([[[0.9, 0.1, 0.0], [0.8, 0.7, 0.0]], [[0.0, 0.2, 0.3], [0.1, 0.9, 0.2]]])
    assert assign_distinct_classes(scores).tolist() == [[0, 1], [2, 1]]
    more_sources_than_classes = torch.tensor([[[0.9, 0.1], [0.8, 0.7], [0.6, 0.1]]])
    assert assign_distinct_classes(more_sources_than_classes).tolist() == [[0, 0, 0]]


def test_source_weights_follow_the_separator_configs_source_map() -> None:
    """``separator.source_map="class"``: the sources' objects are their class maps of distinct
    pseudo-classes with the highest summed peaks; ``"map"``: the audio-visual maps."""
    torch.manual_seed(0)
    by_map = create_model("avloc-tiny")
    by_class = create_model("avloc-tiny", separator={"source_map": "class"})
    maps, class_maps = torch.rand(3, 2, 5, 5), torch.rand(3, 2, 4, 5, 5)
    torch.testing.assert_close(by_map.source_weights(maps, class_maps), maps)
    chosen = by_class.source_weights(maps, class_maps)
    assert chosen.shape == maps.shape
    peaks = class_maps.flatten(3).amax(-1)
    for b in range(3):
        pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
        i, j = max(pairs, key=lambda p: float(peaks[b, 0, p[0]] + peaks[b, 1, p[1]]))
        torch.testing.assert_close(
            chosen[b], torch.stack([class_maps[b, 0, i], class_maps[b, 1, j]])
        )
    torch.testing.assert_close(by_class.source_weights(maps, None), maps)
    with pytest.raises(ValueError, match="source_map"):
        create_model("avloc-tiny", separator={"source_map": "peak"})


def test_pixel_visual_vectors_shape() -> None:
    model = _model("avloc-tiny").eval()
    with torch.no_grad():
        visual = model.encode_frames(_inputs()[0])
        vectors = model.pixel_visual_vectors(visual, torch.rand(2, 5, 2))
    assert vectors.shape == (2, 5, 4) and bool(((vectors > 0) & (vectors < 1)).all())


def _resnet18_encoder() -> VisualEncoder:
    return VisualEncoder(get_entry("avloc-resnet18").default_config().visual)


def test_resnet18_uses_torchvision_names() -> None:
    state = _resnet18_encoder().state_dict()
    assert len(state) == 120  # torchvision resnet18 has 122 keys, minus fc.weight and fc.bias
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert state["layer4.1.conv2.weight"].shape == (512, 512, 3, 3)
    assert "layer4.1.bn2.num_batches_tracked" in state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_load_external_weights(suffix: str, tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = {
        k: torch.randn_like(v.float()).to(v.dtype)
        for k, v in _resnet18_encoder().state_dict().items()
    }
    source |= {"fc.weight": torch.randn(1000, 512), "fc.bias": torch.randn(1000)}
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(source, path)
    else:
        from safetensors.torch import save_file

        save_file(source, str(path))
    encoder = _resnet18_encoder()
    assert load_external_weights(encoder, path) == ["fc.bias", "fc.weight"]
    torch.testing.assert_close(
        encoder.state_dict()["layer3.1.conv1.weight"], source["layer3.1.conv1.weight"]
    )
    broken = dict(source)
    del broken["layer1.0.bn1.weight"]
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"broken.pth.*missing \['layer1.0.bn1.weight'\]"):
        load_external_weights(encoder, tmp_path / "broken.pth")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_external_weights(encoder, tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_text("not weights")
    with pytest.raises(ValueError, match=r"junk\.pth: cannot read a state dict: not a torch"):
        load_external_weights(encoder, tmp_path / "junk.pth")


def test_avolnet_has_no_class_outputs() -> None:
    out = _model("avol-net-small").eval()(*_inputs())
    assert isinstance(_model("avol-net-small"), AVOLNet)
    assert out.class_maps is None and out.class_probs is None and out.class_head is None
