"""``generate``: write a folder of synthetic scenes (clips + stems + manifest, or a Flickr set).

Scene ``i`` of a run is a pure function of ``(config, i)``: workers only change the speed. On
Ctrl-C the manifest (or ``flickr_test.csv``) is written from the scenes that finished.
"""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from avloc.data.manifest import BoxAt, SceneClip, SceneObject, write_manifest
from avloc.synth.flickr import flickr_id, write_flickr_item, write_test_list
from avloc.synth.instruments import BUILTIN_INSTRUMENTS, load_program_map, resolve_instruments
from avloc.synth.scenes import SCENE_TYPES, Scene, SceneSpec, render_scene
from avloc.synth.sound import default_soundfont
from avloc.synth.sprites import SpriteBank, available_classes, bundled_sprites_dir, load_sprite_bank

# Bumped whenever generate writes other bytes for the same arguments, so caches of sets (the
# training sets, benchmarks' sets) made by an older avloc are made again. 2: deterministic x264
# encoding (one thread, no macroblock tree). 3: stems high-passed at 20 Hz, and keys a preset
# leaves silent played on the nearest that sounds (avloc.synth.sound).
SYNTH_FORMAT = 3

LAYOUTS = ("clips", "flickr")
SOUND_FROM = ("sounding", "distractor")


MIN_SIZE, MAX_SIZE = 32, 2048  # frames below hold no recognisable sprite; above, memory runs out


@dataclass(frozen=True)
class SynthConfig:
    """Settings of one ``avloc synth`` run; the defaults are the documented data settings."""

    scene: str = "solo"  # solo | duet | grid
    num_clips: int = 16  # scenes (clips, or images in the Flickr layout)
    duration_s: float = 3.0  # clip (and sound) length
    fps: float = 8.0  # video frame rate
    sample_rate: int = 11025  # audio rate, Hz
    size: int = 224  # frame height = width, pixels
    seed: int = 0  # the run's seed; scene i uses (seed, i)
    layout: str = "clips"  # clips: mp4 + stems + manifest; flickr: Flickr-SoundNet test layout
    sound_from: str = "sounding"  # flickr only: "distractor" writes a silent object's sound+box
    sprites: Path | None = None  # folder of <class>/*.png; None: the bundled noto style
    soundfont: Path | None = None  # .sf2; None: TimGM6mb from pretty_midi
    program_map: Path | None = None  # JSON {class: program | {"program", "bank", ...}}
    classes: tuple[str, ...] | None = None  # class vocabulary; None: every class with sprites
    vary_timbre: bool = False  # play each object with one of its class's programs (alternates)
    sprite_warp: float = 0.0  # random perspective per sprite, corners moved by up to this fraction
    workers: int = 1  # processes (spawned: run from a script or the CLI, not from stdin)

    def __post_init__(self) -> None:
        choices = {"scene": SCENE_TYPES, "layout": LAYOUTS, "sound_from": SOUND_FROM}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.num_clips < 1 or self.workers < 1:
            raise ValueError(
                f"num_clips and workers must be >= 1, got {self.num_clips}, {self.workers}"
            )
        if not (
            0 < self.duration_s <= 600
            and 0 < self.fps <= 120
            and 4000 <= self.sample_rate <= 96_000
        ):  # NaN fails every comparison too
            raise ValueError(
                f"need duration_s in (0, 600], fps in (0, 120] and sample_rate 4000..96000 Hz, "
                f"got {self.duration_s}, {self.fps}, {self.sample_rate}"
            )
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"size must be {MIN_SIZE}-{MAX_SIZE} px, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.layout == "flickr" and self.scene != "solo":
            raise ValueError("--layout flickr writes single-source sets; use --scene solo")
        if not 0.0 <= self.sprite_warp <= 0.4:
            raise ValueError(f"sprite_warp must be in [0, 0.4], got {self.sprite_warp}")
        if self.sound_from == "distractor" and self.layout != "flickr":
            raise ValueError("--sound-from distractor is only for --layout flickr")


@dataclass(frozen=True)
class GenerateResult:
    """What ``generate`` wrote."""

    out_dir: Path
    index_file: Path  # manifest.jsonl, or flickr_test.csv for the Flickr layout
    num_written: int
    classes: tuple[str, ...]


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs (picklable)."""

    config: SynthConfig
    spec: SceneSpec
    sprites: Path
    out_dir: Path


def _sprite_root(config: SynthConfig) -> Path:
    if config.sprites is None:
        return bundled_sprites_dir()
    root = Path(config.sprites)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--sprites {root} is not a folder; it must hold one sub-folder of PNGs per class"
        )
    return root


def _classes(config: SynthConfig, root: Path, extra: set[str]) -> tuple[str, ...]:
    if config.classes is not None:
        return tuple(config.classes)
    known = set(BUILTIN_INSTRUMENTS) | extra
    found = tuple(name for name in available_classes(root) if name in known)
    if not found:
        raise ValueError(
            f"sprite folder {root} has no class sub-folder with PNGs that names a known "
            f"instrument ({sorted(known)}); pass --classes and a --program-map"
        )
    if unseen := sorted(extra - set(found)):  # a typo in the map or a folder name, most likely
        warnings.warn(
            f"the program map's {unseen} have no sprite sub-folder with PNGs in {root}, so "
            "no scene will show them",
            stacklevel=3,
        )
    return found


def make_spec(config: SynthConfig) -> tuple[SceneSpec, Path]:
    """Resolve classes, instruments, sprites and soundfont; returns the spec and sprite root.

    Raises:
        FileNotFoundError: a sprite folder, soundfont or program map is missing.
        ValueError: unknown classes, classes without sprites, or too few classes.
    """
    root = _sprite_root(config)
    program_map = load_program_map(config.program_map) if config.program_map else None
    classes = _classes(config, root, set(program_map or {}))
    instruments = resolve_instruments(classes, program_map)
    load_sprite_bank(root, classes)  # fail early, naming the folder, before any worker starts
    soundfont = Path(config.soundfont) if config.soundfont else default_soundfont()
    if not soundfont.is_file():
        raise FileNotFoundError(f"--soundfont {soundfont} does not exist")
    flickr = config.layout == "flickr"
    spec = SceneSpec(
        scene=config.scene,
        duration_s=config.duration_s,
        num_frames=1 if flickr else max(1, round(config.duration_s * config.fps)),
        fps=config.fps,
        sample_rate=config.sample_rate,
        size=config.size,
        instruments=instruments,
        soundfont=soundfont,
        min_distractors=1 if flickr else 0,
        distractor_audio=flickr,
        sounding_size=(0.5, 0.7) if flickr else None,
        vary_timbre=config.vary_timbre,
        sprite_warp=config.sprite_warp,
    )
    return spec, root


@lru_cache(maxsize=4)
def _bank(root: Path, classes: tuple[str, ...]) -> SpriteBank:
    return load_sprite_bank(root, classes)


def make_scene(config: SynthConfig, index: int) -> Scene:
    """Render scene ``index`` of ``config`` in memory (what ``generate`` writes for it)."""
    spec, root = make_spec(config)
    return render_scene(
        spec, _bank(root, tuple(i.name for i in spec.instruments)), config.seed, index
    )


def _write_clip(job: _Job, index: int, scene: Scene) -> SceneClip:
    from avloc.media import write_audio, write_video

    clip_id = f"{index:06d}"
    clip = job.out_dir / "clips" / f"{clip_id}.mp4"
    # Deterministic encoding: one seed gives one data set, byte for byte, so a recipe re-run
    # trains on exactly the clips the last one did.
    write_video(
        clip, scene.frames, scene.fps, audio=scene.mixture, sample_rate=scene.sample_rate,
        deterministic=True,
    )  # fmt: skip
    objects = []
    for k, obj in enumerate(scene.objects):
        stem = None
        if obj.stem is not None:
            stem = job.out_dir / "stems" / f"{clip_id}_{k}.wav"
            # 32-bit float: the file holds exactly the signal summed into the mixture.
            write_audio(stem, obj.stem, scene.sample_rate, sample_format="flt")
        track = tuple(
            BoxAt(f / scene.fps, *(float(v) for v in box)) for f, box in enumerate(obj.boxes)
        )
        objects.append(SceneObject(obj.class_name, obj.sounding, stem, track))
    return SceneClip(
        clip=clip,
        duration_s=job.config.duration_s,
        fps=scene.fps,
        sample_rate=scene.sample_rate,
        objects=tuple(objects),
        extra={"scene": scene.scene, "seed": job.config.seed, "index": index},
    )


def _write_flickr(job: _Job, index: int, scene: Scene) -> str:
    sample_id = flickr_id(job.config.seed, index)
    if job.config.sound_from == "distractor":
        obj = next(o for o in scene.objects if not o.sounding)
        audio = scene.distractor_audio
    else:
        obj = next(o for o in scene.objects if o.sounding)
        audio = scene.mixture
    assert audio is not None  # the Flickr spec always renders the distractor's sound
    # The annotators' jitter has its own stream, identical in both --sound-from modes.
    rng = np.random.default_rng([job.config.seed, index, 2])
    write_flickr_item(
        job.out_dir, index, sample_id, scene.frames[0], audio, scene.sample_rate,
        obj.class_name, obj.boxes[0], rng,
    )  # fmt: skip
    return sample_id


def _run_one(job: _Job, index: int) -> tuple[int, SceneClip | str]:
    bank = _bank(job.sprites, tuple(i.name for i in job.spec.instruments))
    scene = render_scene(job.spec, bank, job.config.seed, index)
    if job.config.layout == "flickr":
        return index, _write_flickr(job, index, scene)
    return index, _write_clip(job, index, scene)


def _worker(args: tuple[_Job, int]) -> tuple[int, SceneClip | str]:
    return _run_one(*args)


def _finished_scenes(out: Path, num_clips: int) -> dict[int, SceneClip]:
    """The manifest's scenes (index -> clip) whose video and stems are on disk."""
    from avloc.data.manifest import read_manifest

    try:
        clips = read_manifest(out)
    except (FileNotFoundError, ValueError):  # none yet, or a line cut short: make them all
        return {}
    finished = {}
    for clip in clips:
        stems = [o.stem for o in clip.objects if o.stem is not None]
        in_range = clip.clip_id.isdigit() and int(clip.clip_id) < num_clips
        if in_range and all(p.is_file() for p in (clip.clip, *stems)):
            finished[int(clip.clip_id)] = clip
    return finished


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism; OpenCV's pool would oversubscribe


def _results(job: _Job, skip: set[int]) -> Iterator[tuple[int, SceneClip | str]]:
    indices = [i for i in range(job.config.num_clips) if i not in skip]
    if job.config.workers == 1:
        yield from (_run_one(job, i) for i in indices)
        return
    import multiprocessing

    # spawn, not fork: a forked child deadlocks in OpenCV when the parent has used its threads.
    context = multiprocessing.get_context("spawn")
    with _workers_ignore_ctrl_c():
        pool = context.Pool(job.config.workers, initializer=_init_worker)
    with pool:
        yield from pool.imap_unordered(_worker, [(job, i) for i in indices], chunksize=2)


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (a spawned Python keeps an ignored SIGINT):
    the terminal's Ctrl-C reaches every process, and only the parent should act on it, by
    stopping the pool and writing the index of the finished scenes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def generate(
    config: SynthConfig, out_dir: str | Path, progress: bool = True, resume: bool = False
) -> GenerateResult:
    """Write ``config.num_clips`` scenes to ``out_dir``.

    Clips layout: ``clips/<id>.mp4`` (video + mixture), ``stems/<id>_<k>.wav`` (object ``k``'s
    sound, float32) and ``manifest.jsonl``. Flickr layout: see :mod:`avloc.synth.flickr`.

    ``resume`` (clips layout) keeps the scenes an interrupted run listed in the manifest and
    whose files are there, and makes only the rest: each scene depends on (seed, index) alone,
    so the set is the one a straight run writes. Only for an ``out_dir`` written with this
    same ``config`` (training's cache folders are named by their settings).

    Raises:
        FileNotFoundError: a sprite folder, soundfont or program map is missing.
        ValueError: bad settings (unknown class, too few classes for the scene type, ...).
    """
    from tqdm import tqdm

    from avloc.media import remove_partial_files

    spec, root = make_spec(config)
    out = Path(out_dir)
    subfolders = ("clips", "stems") if config.layout == "clips" else ("Annotations", "Data")
    for sub in subfolders:
        (out / sub).mkdir(parents=True, exist_ok=True)
    job = _Job(config, spec, root, out)
    done: dict[int, SceneClip | str] = {}
    if resume and config.layout == "clips":
        done.update(_finished_scenes(out, config.num_clips))
    try:
        bar = tqdm(
            _results(job, skip=set(done)),
            total=config.num_clips,
            initial=len(done),
            disable=not progress,
            desc="synth",
        )
        for index, item in bar:
            done[index] = item
    finally:  # also on Ctrl-C: the index lists exactly the finished scenes
        for sub in subfolders:  # a worker the pool terminated mid-write left its temp file
            remove_partial_files(out / sub)
        ordered = [done[i] for i in sorted(done)]
        if config.layout == "flickr":
            index_file = write_test_list(out, [str(x) for x in ordered])
        else:
            index_file = write_manifest([x for x in ordered if isinstance(x, SceneClip)], out)
    classes = tuple(i.name for i in spec.instruments)
    return GenerateResult(out, index_file, len(done), classes)
