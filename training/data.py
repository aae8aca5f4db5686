"""Training and validation sets: ``avloc synth`` clips generated into a cache, or a manifest.

Generated sets live in ``data.cache_dir/<scene>-n<N>-seed<S>-<D>s-<P>px-f<F>/`` and are reused
when their manifest lists all N clips; ``F`` (:data:`SYNTH_FORMAT`) names what ``avloc synth``
writes for the same arguments, so a cache from an older avloc is never mistaken for today's;
the other settings follow (:meth:`SynthSet.folder`), a soundfont or sprite folder of the user's
with a digest of its contents.
Training seeds are >= 1000 and evaluation seeds 1-999 (``training.config.MIN_TRAIN_SEED``).
Under DDP rank 0 generates and the others wait; on several machines, a machine that does not
see rank 0's cache then makes its own copy.

``TrainData`` also holds the validation code shared by the stages: localisation on held-out
solo clips (cIoU at the top-50 % rule, AP50 and the pointing game, from
``avloc.metrics.localization``) and SDR on a few 2-source mixtures (``avloc.metrics.separation``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from avloc.data.manifest import SceneClip, read_manifest
from avloc.synth.build import SYNTH_FORMAT

VAL_BATCH_SIZE = 16


@dataclass(frozen=True, eq=False)
class ClipFeatures:
    """Encodings of a set of clips (for k-means and the class-head initialisation).

    Shape:
        embedding: (N, D). audio_pooled: (N, C_a). visual_pooled: (N, C_v), the visual
        encoder features pooled under each clip's stage-1 map.
    """

    embedding: Tensor
    audio_pooled: Tensor
    visual_pooled: Tensor


@dataclass(frozen=True)
class SynthSet:
    """One generated ``avloc synth`` set: its settings, which also name its cache folder."""

    scene: str
    num_clips: int
    seed: int
    duration_s: float
    size: int
    sprites: str | None = None  # a bundled style name or a sprite folder; None: the default
    vary_timbre: bool = False  # avloc synth --vary-timbre
    sprite_warp: float = 0.0  # avloc synth --sprite-warp
    soundfont: str | None = None  # avloc synth --soundfont; None: TimGM6mb

    def folder(self, cache_dir: str | Path) -> Path:
        """The set's cache folder. A soundfont file or a sprite folder of the user's is named
        by its stem and a digest of its contents, so two of one name never share a cache.

        Raises:
            ValueError: the soundfont is not a file.
        """
        style = "" if self.sprites is None else f"-{_sprites_name(self.sprites)}"
        timbre = "-timbres" if self.vary_timbre else ""
        warp = f"-warp{self.sprite_warp:g}" if self.sprite_warp else ""
        sound = "" if self.soundfont is None else f"-sf-{_soundfont_name(self.soundfont)}"
        name = f"{self.scene}-n{self.num_clips}-seed{self.seed}-{self.duration_s:g}s-{self.size}px"
        return Path(cache_dir) / f"{name}-f{SYNTH_FORMAT}{style}{timbre}{warp}{sound}"


def _soundfont_name(soundfont: str) -> str:
    path = Path(soundfont)
    if not path.is_file():
        raise ValueError(f"data.soundfonts: {soundfont} is not a file")
    stat = path.stat()  # a soundfont can be 100+ MB: digested once while it is unchanged
    return f"{path.stem}-{_file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)}"


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # only in the cache's key: a changed file is digested again
    return _digest([Path(path)])


def _sprites_name(sprites: str) -> str:
    """A bundled style by its name alone (the names its caches have always had); a folder of
    the user's (``find_sprites`` takes a folder first) by its name and its PNGs' digest."""
    folder = Path(sprites)
    if not folder.is_dir():
        return folder.name
    return f"{folder.name}-{_digest(sorted(folder.rglob('*.png')), relative_to=folder)}"


def _digest(files: Sequence[Path], relative_to: Path | None = None) -> str:
    """The first 8 hex digits of the SHA-256 of the files' bytes (and of their paths under
    ``relative_to``, so a renamed sprite is another set)."""
    digest = hashlib.sha256()
    for path in files:
        if relative_to is not None:
            digest.update(path.relative_to(relative_to).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:8]


def _complete(folder: Path, num_clips: int) -> bool:
    try:
        return len(read_manifest(folder)) == num_clips
    except (FileNotFoundError, ValueError):
        return False


def ensure_synth(
    cache_dir: str | Path, synth_set: SynthSet, workers: int = 2, progress: bool = True
) -> Path:
    """Generate an ``avloc synth`` set unless the cache already holds it; returns its folder.

    Raises:
        ValueError: bad synth settings or sprite style, or generation stopped before all clips
            were written.
    """
    from avloc.synth import SynthConfig, generate
    from avloc.synth.sprites import find_sprites

    folder = synth_set.folder(cache_dir)  # checks the soundfont
    num_clips = synth_set.num_clips
    if _complete(folder, num_clips):
        return folder
    settings = SynthConfig(
        scene=synth_set.scene,
        num_clips=num_clips,
        duration_s=synth_set.duration_s,
        size=synth_set.size,
        seed=synth_set.seed,
        workers=workers,
        sprites=None if synth_set.sprites is None else find_sprites(synth_set.sprites),
        vary_timbre=synth_set.vary_timbre,
        sprite_warp=synth_set.sprite_warp,
        soundfont=None if synth_set.soundfont is None else Path(synth_set.soundfont),
    )
    generate(settings, folder, progress=progress, resume=True)  # after a Ctrl-C: the rest
    if not _complete(folder, num_clips):
        raise ValueError(f"{folder}: avloc synth wrote fewer than {num_clips} clips")
    return folder


class TrainData:
    """The datasets every stage reads, plus the validation that uses them.

    Args:
        train: training samples (random windows, augmented).
        features: the clips k-means clusters (the training set itself by default).
        val: held-out samples (centred windows) of ``val_clips``, in order.
        val_clips: the manifest entries of the validation clips (boxes, classes).
        collate: batches samples into an ``AVBatch``-like object (``frames``, ``audio``,
            ``clip_index``, ``start_s``, ``.to``).
        window_s: audio seconds per sample (the frame sits at the window centre).
        warmup: the warm-up stage's samples (its own clips and augmentation), or None.
    """

    def __init__(
        self,
        train: Dataset[Any],
        features: Dataset[Any],
        val: Dataset[Any],
        val_clips: Sequence[SceneClip],
        collate: Callable[[Sequence[Any]], Any],
        window_s: float,
        warmup: Dataset[Any] | None = None,
    ) -> None:
        self.train = train
        self.warmup = warmup
        self.features = features
        self.val = val
        self.val_clips = list(val_clips)
        self.collate = collate
        self.window_s = window_s

    def train_view(self, window_s: float | None, augment: Any | None) -> Dataset[Any]:
        """The training samples with another audio window and/or augmentation (an
        ``AugmentConfig``), read from the same decoded clips; None keeps the run's."""
        return self._view(self.train, window_s, augment)

    def _view(
        self, dataset: Dataset[Any], window_s: float | None, augment: Any | None = None
    ) -> Dataset[Any]:
        if window_s in (None, self.window_s) and augment is None:
            return dataset
        view = getattr(dataset, "view", None)
        if view is None:
            raise ValueError(
                f"{type(dataset).__name__} has no other windows or augmentation; leave the "
                "stage's clip_duration_s and augment unset"
            )
        return view(window_s, augment)

    def _batches(
        self, dataset: Dataset[Any], device: torch.device, limit: int | None = None
    ) -> Any:
        loader = DataLoader(dataset, batch_size=VAL_BATCH_SIZE, collate_fn=self.collate)
        seen = 0
        for batch in loader:
            if limit is not None and seen >= limit:
                return
            seen += len(batch.clip_index)
            yield batch.to(device)

    def encode_clips(self, model: Any, device: torch.device, max_clips: int) -> ClipFeatures:
        """Audio embeddings, pooled audio and map-pooled visual features of the training clips."""
        from avloc.models import weighted_pool

        parts: list[tuple[Tensor, Tensor, Tensor]] = []
        for batch in self._batches(self.features, device, max_clips):
            frames = batch.frames[:, batch.frames.shape[1] // 2]
            visual = model.encode_frames(frames)
            audio = model.encode_audio(batch.audio)
            maps = model.localize_from(visual, audio).maps.float()
            pooled = weighted_pool(visual.features.float(), maps[:, None])[:, 0]
            parts.append((audio.embedding.float(), audio.pooled.float(), pooled))
        cat = [torch.cat([p[i] for p in parts])[:max_clips].cpu() for i in range(3)]
        return ClipFeatures(embedding=cat[0], audio_pooled=cat[1], visual_pooled=cat[2])

    def _box(self, clip_index: int, start_s: float) -> tuple[float, float, float, float] | None:
        clip = self.val_clips[clip_index]
        if len(clip.sounding) != 1:
            return None
        box = clip.sounding[0].box_at(start_s + self.window_s / 2)
        return (box.x0, box.y0, box.x1, box.y1)

    def validate_localization(
        self, model: Any, device: torch.device, class_maps: bool = False
    ) -> dict[str, float]:
        """cIoU (top-50 % rule), AP50 and pointing game on the held-out solo clips.

        The audio-visual and class maps are drawn as inference draws them (logit offset and
        smoothing: :data:`avloc.maps.HEATMAP_OPTIONS`, :data:`avloc.maps.CLASS_MAP_OPTIONS`),
        so the numbers follow ``avloc evaluate``'s. With ``class_maps`` the same numbers are added
        for the map of the most probable pseudo-class (``class_ciou``, ``class_pointing``).
        """
        from avloc.maps import CLASS_MAP_OPTIONS, HEATMAP_OPTIONS
        from avloc.metrics import localization as metrics

        scores: dict[str, list[float]] = {"ciou": [], "pointing": []}
        if class_maps:
            scores.update({"class_ciou": [], "class_pointing": []})
        for batch in self._batches(self.val, device):
            frames = batch.frames[:, batch.frames.shape[1] // 2]
            out = model.localize(frames, batch.audio)
            heatmaps = HEATMAP_OPTIONS.smooth(out.shifted_maps(HEATMAP_OPTIONS.offset))
            drawn = out.shifted_class_maps(CLASS_MAP_OPTIONS.offset) if class_maps else None
            if drawn is not None:
                rows = torch.arange(len(drawn), device=drawn.device)
                best = drawn[rows, out.class_probs.argmax(dim=1)]
                best_class_maps = CLASS_MAP_OPTIONS.smooth(best)
            for i, (index, start) in enumerate(zip(batch.clip_index, batch.start_s, strict=True)):
                box = self._box(int(index), float(start))
                if box is None:
                    continue
                gt = metrics.union_map([box])
                named = [("", heatmaps[i])]
                if drawn is not None:
                    named.append(("class_", best_class_maps[i]))
                for prefix, pred in named:
                    resized = metrics.resize_map(pred.float().cpu().numpy())
                    scores[f"{prefix}ciou"].append(
                        metrics.ciou(metrics.binarize_top_half(resized), gt)
                    )
                    scores[f"{prefix}pointing"].append(float(metrics.pointing_game(resized, gt)))
        result = {k: float(np.mean(v)) for k, v in scores.items() if v}
        if scores["ciou"]:
            result["ap50"] = metrics.success_at(scores["ciou"], 0.5)
        return result

    def validate_separation(
        self,
        model: Any,
        device: torch.device,
        max_mixtures: int,
        window_s: float | None = None,
    ) -> dict[str, float]:
        """SDR / SI-SDR / NSDR of 2-source mixtures of held-out clips of different classes.

        ``window_s``: the mixtures' seconds (the separation stage's; None keeps the run's).
        Mixtures as long as training's and evaluation's matter: 1-s windows often catch a
        source between notes, and such near-silent sources make SDR and NSDR meaningless.
        """
        from avloc.data.mixing import mix_sources
        from avloc.metrics.separation import score_mixture

        val = self._view(self.val, window_s)
        samples = [val[i] for i in range(len(self.val_clips))]
        names = [c.sounding[0].class_name if c.sounding else "" for c in self.val_clips]
        # Neighbours first ((0, 1), (1, 2), ... then (0, 2), ...) so that the first mixtures
        # spread over every clip instead of all sharing clip 0.
        pairs = sorted(
            (
                (i, j)
                for i in range(len(samples))
                for j in range(i + 1, len(samples))
                if names[i] != names[j]
            ),
            key=lambda pair: (pair[1] - pair[0], pair[0]),
        )[:max_mixtures]
        if not pairs:
            return {}
        batch = self.collate([samples[k] for pair in pairs for k in pair]).to(device)
        visual = model.encode_frames(batch.frames[:, batch.frames.shape[1] // 2])
        mix = mix_sources(batch.audio.reshape(len(pairs), 2, -1).float())
        # Each source's frame with its mixture's sound, as at inference (and in training).
        heard = model.encode_audio(mix.mixture.repeat_interleave(2, dim=0))
        vectors = model.mixture_vectors(visual, model.localize_from(visual, heard), 2)
        out = model.separate(mix.mixture, vectors)  # soft masks, as inference uses
        results = [
            score_mixture(
                mix.sources[p].cpu(), out.waveforms[p].float().cpu(), mix.mixture[p].cpu()
            )
            for p in range(len(pairs))
        ]
        kept = [r for r in results if r is not None]
        if not kept:
            return {}
        return {
            "sdr": float(np.mean([r.sdr for r in kept])),
            "si_sdr": float(np.mean([r.si_sdr for r in kept])),
            "nsdr": float(np.mean([r.nsdr for r in kept])),
        }


def _clips(source: str | Path) -> list[SceneClip]:
    clips = read_manifest(source)
    if not clips:
        raise ValueError(f"{source}: the manifest holds no clip")
    return clips


def train_sets(data: Any) -> list[SynthSet]:
    """The generated training sets: one per sprite style and soundfont (styles outermost), the
    clips split evenly (the first sets take the remainder), set i drawn with seed
    ``seed + 1000 i`` so no two sets share melodies or layouts."""
    styles = list(data.sprite_styles) or [None]
    soundfonts = [None if f == "default" else f for f in data.soundfonts] or [None]
    combos = [(style, font) for style in styles for font in soundfonts]
    count, extra = divmod(data.num_clips, len(combos))
    return [
        SynthSet(
            data.scene,
            count + (i < extra),
            data.seed + 1000 * i,
            data.duration_s,
            data.size,
            style,
            data.vary_timbre,
            data.sprite_warp,
            font,
        )
        for i, (style, font) in enumerate(combos)
    ]


def warmup_sets(config: Any) -> list[SynthSet]:
    """The warm-up stage's generated sets (none when it is left out): the training set's
    settings with the warm-up's styles and clip count (:class:`training.config.WarmupConfig`)."""
    from training.objectives import active_stages

    if "warmup" not in active_stages(config):
        return []
    warmup = config.warmup
    return train_sets(
        dataclasses.replace(
            config.data, sprite_styles=warmup.sprite_styles, num_clips=warmup.num_clips
        )
    )


def _generated(config: Any, runtime: Any, progress: bool) -> tuple[list[Path], list[Path], Path]:
    """Folders of the generated train, warm-up and val sets (made by rank 0, others wait).

    On several machines, the first process of a machine that does not see rank 0's cache
    (no shared filesystem) then makes its own copy: the same clips, as generation is
    deterministic. Where the cache is shared, every machine sees it complete by then, so no two
    processes ever write one folder.
    """
    data = config.data
    val_set = SynthSet("solo", data.num_val_clips, data.val_seed, data.duration_s, data.size)
    wanted = [] if data.manifest is not None else train_sets(data)
    warmup = warmup_sets(config)
    needed = wanted + warmup + ([val_set] if data.val_manifest is None else [])
    for synth_set in needed:  # a missing soundfont stops the run before any set is made
        synth_set.folder(data.cache_dir)
    if runtime.is_main:
        for synth_set in needed:
            ensure_synth(data.cache_dir, synth_set, data.synth_workers, progress)
    if runtime.distributed:
        dist.barrier()
        if runtime.local_rank == 0 and not runtime.is_main:
            for synth_set in needed:
                ensure_synth(data.cache_dir, synth_set, data.synth_workers, progress=False)
        dist.barrier()

    def folders(sets: list[SynthSet]) -> list[Path]:
        return [s.folder(data.cache_dir) for s in sets]

    return folders(wanted), folders(warmup), val_set.folder(data.cache_dir)


def load_data(config: Any, model: Any, runtime: Any, progress: bool = True) -> TrainData:
    """Build the training/validation sets of ``config.data`` for ``model``'s contract.

    The training clips are decoded once into memory (``ClipDataset.preload``) before the
    DataLoader workers fork, so every epoch reads them from RAM.

    Raises:
        FileNotFoundError: a given manifest does not exist.
        ValueError: a manifest holds no clip.
    """
    from avloc.data.datasets import ClipDataset, SampleConfig, collate_av

    data = config.data
    train_dirs, warmup_dirs, val_dir = _generated(config, runtime, progress)
    sources = [data.manifest] if data.manifest is not None else train_dirs
    train_clips = [clip for source in sources for clip in _clips(source)]
    val_clips = _clips(data.val_manifest if data.val_manifest is not None else val_dir)
    mc = model.config
    sample = SampleConfig(
        frame_size=mc.visual.input_size,
        num_frames=data.num_frames,
        fps=mc.fps,
        sample_rate=mc.sample_rate,
        audio_duration_s=data.clip_duration_s,
        mean=mc.mean,
        std=mc.std,
    )

    def preloaded(clips: list[SceneClip], augment: Any) -> ClipDataset:
        dataset = ClipDataset.from_manifest(
            clips, sample, train=True, seed=config.seed, augment=augment, cache=True
        )
        dataset.preload()
        return dataset

    train = preloaded(train_clips, data.augment)
    warmup = None
    if warmup_dirs:
        warmup_clips = [clip for folder in warmup_dirs for clip in _clips(folder)]
        warmup = preloaded(warmup_clips, config.warmup.augment)
    val = ClipDataset.from_manifest(val_clips, sample, train=False, seed=config.seed, cache=True)
    return TrainData(
        train, train, val, val_clips, collate_av, window_s=data.clip_duration_s, warmup=warmup
    )
