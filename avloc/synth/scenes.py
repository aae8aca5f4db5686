"""Composing scenes in memory: solo, duet and MUSIC-Synthetic-style 2×2 grids.

A scene is planned (which classes, which sound) and drawn from one random stream and its
audio is rendered from another, both seeded by ``(seed, index)``: the pictures of a clip do not
depend on its sounds, the number of workers, or which object's sound is written (the Flickr
``--sound-from distractor`` sets pair up image by image with the normal ones).

Boxes are tight around each object's own alpha mask (``alpha > MASK_THRESHOLD``) after
scale/rotation/motion, clipped to the frame. They are amodal: a partial occluder drawn over an
object does not shrink its box, as human annotators box the whole instrument.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avloc.synth.backgrounds import make_background
from avloc.synth.instruments import Instrument
from avloc.synth.sound import normalise_stems, render_stem
from avloc.synth.sprites import SpriteBank, augment_sprite, warp_sprite

SCENE_TYPES = ("solo", "duet", "grid")
MASK_THRESHOLD = 0.05  # alpha (0..1) above which a warped sprite pixel counts as the object
OCCLUDER_PROBABILITY = 0.2


@dataclass(frozen=True)
class SceneSpec:
    """What every scene of a run shares (picklable, sent to the workers)."""

    scene: str  # solo | duet | grid
    duration_s: float  # audio length
    num_frames: int  # video frames (1 for still images)
    fps: float
    sample_rate: int
    size: int  # frame height = width, pixels
    instruments: tuple[Instrument, ...]  # the class vocabulary to draw from
    soundfont: Path
    min_distractors: int = 0  # silent objects forced in solo scenes (Flickr layout: 1)
    distractor_audio: bool = False  # also render a sound for the first silent object
    # Long-side range (fraction of the canvas) of the sounding objects in multi-object canvases;
    # None: the same range as the silent ones. The Flickr layout draws the sounding object
    # large, as in Flickr-SoundNet, whose annotated sources are big: under the top-50 % rule a
    # box covering less than a quarter of the image cannot reach cIoU 0.5 even when found.
    sounding_size: tuple[float, float] | None = None
    # Play each object with one of its class's programs (``Instrument.timbres``), drawn from a
    # stream of its own, so the scenes are otherwise the same as without it.
    vary_timbre: bool = False
    # Warp each sprite by a random perspective of up to this fraction of its size per corner
    # (``warp_sprite``), from a stream of its own: the scenes are otherwise the same as without.
    sprite_warp: float = 0.0

    def __post_init__(self) -> None:
        if self.scene not in SCENE_TYPES:
            raise ValueError(f"scene must be one of {SCENE_TYPES}, got {self.scene!r}")
        needed = {"solo": 1 + self.min_distractors, "duet": 2, "grid": 4}[self.scene]
        if len(self.instruments) < needed:
            raise ValueError(
                f"a {self.scene!r} scene needs at least {needed} different classes (objects in "
                f"one scene never share a class); got {[i.name for i in self.instruments]}"
            )
        if self.scene == "grid" and (self.size < 8 or self.size % 2):
            raise ValueError(f"grid scenes need an even --size >= 8, got {self.size}")
        if self.size < 8 or self.num_frames < 1:
            raise ValueError(
                f"need size >= 8 px and >= 1 frame, got {self.size}, {self.num_frames}"
            )


@dataclass(frozen=True)
class RenderedObject:
    """One object of a rendered scene with its truth.

    Attributes:
        class_name: the instrument class.
        sounding: whether its sound is in the mixture.
        boxes: (N, 4) float, normalised (x0, y0, x1, y1) per frame.
        masks: (N, H, W) bool, the object's own pixels (before any occlusion).
        stem: (T,) float32, the exact signal summed into the mixture; None when silent.
    """

    class_name: str
    sounding: bool
    boxes: np.ndarray
    masks: np.ndarray
    stem: np.ndarray | None


@dataclass(frozen=True)
class Scene:
    """A rendered scene.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB.
        mixture: (T,) float32, the sum of the sounding objects' stems.
        objects: the visible objects, sounding ones first.
        distractor_audio: (T,) float32 sound of the first silent object, not in the mixture
            (only when ``SceneSpec.distractor_audio``; for the "map must follow the sound" test).
    """

    scene: str
    frames: np.ndarray
    mixture: np.ndarray
    objects: tuple[RenderedObject, ...]
    sample_rate: int
    fps: float
    distractor_audio: np.ndarray | None = None


@dataclass(frozen=True)
class _Placed:
    """An object's sprite and its smooth random motion inside one canvas."""

    premultiplied: np.ndarray  # (h, w, 4) float32: colour × alpha, alpha in 0..1
    centre: np.ndarray  # (2,) px at t = 0
    velocity: np.ndarray  # (2,) px per second
    wobble: np.ndarray  # (2,) px amplitude of a sinusoidal sway
    phase: float
    angle_deg: float
    angle_wobble_deg: float
    scale_wobble: float


def _plan_classes(spec: SceneSpec, rng: np.random.Generator) -> tuple[list[int], list[bool]]:
    """Indices into ``spec.instruments`` for the scene's objects, and which ones sound."""
    n_classes = len(spec.instruments)
    if spec.scene == "solo":
        low = spec.min_distractors
        n_sounding, n_silent = 1, int(rng.integers(low, max(low, min(2, n_classes - 1)) + 1))
    elif spec.scene == "duet":
        n_sounding, n_silent = 2, int(rng.integers(0, min(1, n_classes - 2) + 1))
    else:
        n_sounding, n_silent = 2, 2
    chosen = [int(i) for i in rng.choice(n_classes, n_sounding + n_silent, replace=False)]
    return chosen, [True] * n_sounding + [False] * n_silent


def _place(
    sprite: np.ndarray, long_side: float, centre: np.ndarray, canvas: int, rng: np.random.Generator
) -> _Placed:
    h, w = sprite.shape[:2]
    k = long_side / max(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    small = cv2.resize(sprite, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    alpha = small[..., 3:].astype(np.float32) / 255.0
    premultiplied = np.concatenate([small[..., :3].astype(np.float32) * alpha, alpha], axis=-1)
    drift = canvas * rng.uniform(0.0, 0.04)
    heading = rng.uniform(0, 2 * np.pi)
    return _Placed(
        premultiplied=np.ascontiguousarray(premultiplied),
        centre=centre,
        velocity=drift * np.array([np.cos(heading), np.sin(heading)]),
        wobble=canvas * rng.uniform(0.0, 0.03, size=2),
        phase=rng.uniform(0, 2 * np.pi),
        angle_deg=rng.uniform(-25, 25),
        angle_wobble_deg=rng.uniform(0, 6),
        scale_wobble=rng.uniform(0, 0.06),
    )


def _centres(long_sides: list[float], canvas: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Starting centres, rejection-sampled so that objects overlap little."""
    best: list[np.ndarray] = []
    best_score = -np.inf
    for _ in range(40):
        cs = [rng.uniform(0.5 * s * 0.8, canvas - 0.5 * s * 0.8, size=2) for s in long_sides]
        gaps = [
            np.linalg.norm(cs[i] - cs[j]) - 0.5 * (long_sides[i] + long_sides[j])
            for i in range(len(cs))
            for j in range(i)
        ]
        score = min(gaps, default=0.0)
        if score > best_score:
            best, best_score = cs, score
        if score >= -0.15 * max(long_sides):
            break
    return best


def _pose(obj: _Placed, t_s: float, canvas: int) -> tuple[np.ndarray, float, float]:
    """Centre (px), rotation (degrees) and scale factor of ``obj`` at time ``t_s``."""
    sway = np.sin(obj.phase + 2 * np.pi * 0.3 * t_s * np.array([1.0, 0.7]))
    centre = obj.centre + obj.velocity * t_s + obj.wobble * sway
    # Keep the centre far enough inside that most of the sprite stays in the frame.
    half = 0.3 * max(obj.premultiplied.shape[:2])
    centre = np.clip(centre, half, canvas - half) if canvas > 2 * half else np.full(2, canvas / 2)
    angle = obj.angle_deg + obj.angle_wobble_deg * np.sin(obj.phase + 2 * np.pi * 0.5 * t_s)
    scale = 1.0 + obj.scale_wobble * np.sin(obj.phase + 2 * np.pi * 0.4 * t_s)
    return centre, float(angle), float(scale)


def _warp(obj: _Placed, t_s: float, canvas: int) -> tuple[np.ndarray, int, int] | None:
    """The object drawn at time ``t_s`` inside the canvas region it covers.

    Returns:
        (layer, y, x): the (h, w, 4) premultiplied float32 layer and its top-left corner in the
        canvas, or None when the object lies wholly outside.
    """
    centre, angle, scale = _pose(obj, t_s, canvas)
    h, w = obj.premultiplied.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += centre - np.array([w / 2, h / 2])
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ matrix.T
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, canvas)
    if x1 <= x0 or y1 <= y0:
        return None
    matrix[:, 2] -= (x0, y0)  # draw straight into the covered region: far less to warp and blend
    layer = cv2.warpAffine(
        obj.premultiplied,
        matrix,
        (int(x1 - x0), int(y1 - y0)),
        flags=cv2.INTER_LINEAR,
        borderValue=0,
    )
    return layer, int(y0), int(x0)


def box_of_mask(mask: np.ndarray) -> np.ndarray:
    """Tight normalised (x0, y0, x1, y1) around the True pixels of an (H, W) mask.

    Pixel ``(r, c)`` spans ``[c, c + 1) × [r, r + 1)``; an empty mask gives a zero-size box at
    the centre.
    """
    height, width = mask.shape
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return np.array([0.5, 0.5, 0.5, 0.5])
    return np.array(
        [cols[0] / width, rows[0] / height, (cols[-1] + 1) / width, (rows[-1] + 1) / height]
    )


def _occlude(frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Draw a static textured bar over one side of an object (its first-frame mask), in place."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) < 4 or len(cols) < 4:
        return
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    cover = rng.uniform(0.15, 0.3)
    if rng.random() < 0.5:  # a vertical bar over the left or right part
        bw = max(1, int((x1 - x0) * cover))
        bx = x0 if rng.random() < 0.5 else x1 - bw
        region = (slice(None), slice(y0, y1), slice(bx, bx + bw))
    else:
        bh = max(1, int((y1 - y0) * cover))
        by = y0 if rng.random() < 0.5 else y1 - bh
        region = (slice(None), slice(by, by + bh), slice(x0, x1))
    patch = make_background(frames.shape[1], frames.shape[2], rng)
    frames[region] = patch[region[1:]][None]


def _render_canvas(
    sprites: list[np.ndarray],
    canvas: int,
    spec: SceneSpec,
    rng: np.random.Generator,
    sounding: list[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw sprites with their motion over a random background.

    Returns:
        frames: (N, canvas, canvas, 3) uint8; masks: (len(sprites), N, canvas, canvas) bool.
    """
    background = make_background(canvas, canvas, rng).astype(np.float32)
    low, high = (0.35, 0.6) if len(sprites) == 1 else (0.28, 0.45)
    sizes = [(low, high)] * len(sprites)
    if spec.sounding_size is not None and sounding is not None and len(sprites) > 1:
        sizes = [spec.sounding_size if s else (low, high) for s in sounding]
    long_sides = [canvas * rng.uniform(lo, hi) for lo, hi in sizes]
    centres = _centres(long_sides, canvas, rng)
    placed = [
        _place(s, n, c, canvas, rng) for s, n, c in zip(sprites, long_sides, centres, strict=True)
    ]
    order = [int(i) for i in rng.permutation(len(placed))]  # drawing order: who is in front
    frames = np.empty((spec.num_frames, canvas, canvas, 3), np.uint8)
    masks = np.zeros((len(placed), spec.num_frames, canvas, canvas), bool)
    for f in range(spec.num_frames):
        image = background.copy()
        for i in order:
            drawn = _warp(placed[i], f / spec.fps, canvas)
            if drawn is None:
                continue
            layer, y, x = drawn
            region = image[y : y + layer.shape[0], x : x + layer.shape[1]]
            alpha = layer[..., 3:]
            region *= 1.0 - alpha
            region += layer[..., :3]
            masks[i, f, y : y + layer.shape[0], x : x + layer.shape[1]] = (
                alpha[..., 0] > MASK_THRESHOLD
            )
        frames[f] = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < OCCLUDER_PROBABILITY:
        _occlude(frames, masks[int(rng.integers(len(placed))), 0], rng)
    return frames, masks


def _render_grid(
    sprites: list[np.ndarray], spec: SceneSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """MUSIC-Synthetic style: four one-object frames tiled 2×2, objects in random cells."""
    cell = spec.size // 2
    frames = np.empty((spec.num_frames, spec.size, spec.size, 3), np.uint8)
    masks = np.zeros((len(sprites), spec.num_frames, spec.size, spec.size), bool)
    for i, slot in enumerate(int(s) for s in rng.permutation(4)):
        y, x = (slot // 2) * cell, (slot % 2) * cell
        cell_frames, cell_masks = _render_canvas([sprites[i]], cell, spec, rng)
        frames[:, y : y + cell, x : x + cell] = cell_frames
        masks[i, :, y : y + cell, x : x + cell] = cell_masks[0]
    return frames, masks


def _render_audio(
    spec: SceneSpec, instruments: list[Instrument], sounding: list[bool], rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Normalised stems of the sounding objects, and the first silent one's sound if asked."""
    render = [i for i, s in zip(instruments, sounding, strict=True) if s]
    stems = normalise_stems(
        [render_stem(i, spec.soundfont, spec.sample_rate, spec.duration_s, rng) for i in render],
        rng,
    )
    silent = [i for i, s in zip(instruments, sounding, strict=True) if not s]
    distractor = None
    if spec.distractor_audio and silent:
        raw = render_stem(silent[0], spec.soundfont, spec.sample_rate, spec.duration_s, rng)
        distractor = normalise_stems([raw], rng)[0]
    return stems, distractor


def render_scene(spec: SceneSpec, bank: SpriteBank, seed: int, index: int) -> Scene:
    """Render scene number ``index`` of the run seeded by ``seed`` (deterministic).

    Args:
        spec: the run's shared settings.
        bank: sprites per class; must hold every class of ``spec.instruments``.
        seed: the run's seed.
        index: the scene's number; scenes of one seed are independent of each other.

    Returns:
        The frames, the mixture, and per object its class, boxes, masks and stem.
    """
    visual = np.random.default_rng([seed, index, 0])
    chosen, sounding = _plan_classes(spec, visual)
    instruments = [spec.instruments[i] for i in chosen]
    sprites = []
    for inst in instruments:
        variants = bank[inst.name]
        sprites.append(augment_sprite(variants[int(visual.integers(len(variants)))], visual))
    if spec.sprite_warp > 0:
        warp = np.random.default_rng([seed, index, 3])
        sprites = [warp_sprite(s, spec.sprite_warp, warp) for s in sprites]
    if spec.scene == "grid":
        frames, masks = _render_grid(sprites, spec, visual)
    else:
        frames, masks = _render_canvas(sprites, spec.size, spec, visual, sounding)
    players = instruments
    if spec.vary_timbre:
        timbre = np.random.default_rng([seed, index, 2])
        players = [
            dataclasses.replace(inst, program=inst.timbres[int(timbre.integers(len(inst.timbres)))])
            for inst in instruments
        ]
    stems, distractor = _render_audio(
        spec, players, sounding, np.random.default_rng([seed, index, 1])
    )
    stem_iter = iter(stems)
    objects = tuple(
        RenderedObject(
            class_name=inst.name,
            sounding=is_sounding,
            boxes=np.stack([box_of_mask(m) for m in masks[k]]),
            masks=masks[k],
            stem=next(stem_iter) if is_sounding else None,
        )
        for k, (inst, is_sounding) in enumerate(zip(instruments, sounding, strict=True))
    )
    mixture = np.sum(stems, axis=0).astype(np.float32)
    return Scene(spec.scene, frames, mixture, objects, spec.sample_rate, spec.fps, distractor)
