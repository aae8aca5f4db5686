"""Instrument pictures: loading a sprite folder and per-clip appearance augmentation.

A sprite folder holds one sub-folder of RGBA PNGs per class (``<root>/<class>/*.png``). The
bundled ones live in ``assets/sprites/<style>/``: ``noto`` (the default), ``symbola``,
``openmoji``, ``twemoji`` and ``fluent``, and ``emojione``, which the bundled recipe never
trains on (see ``assets/sprites/render_sprites.py`` and ``assets/sprites/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from avloc.assets import assets_dir

DEFAULT_STYLE = "noto"

SpriteBank = dict[str, tuple[np.ndarray, ...]]


def bundled_sprites_dir(style: str = DEFAULT_STYLE) -> Path:
    """The folder of a bundled sprite style (``noto``, ``symbola``, ``openmoji``, ``twemoji``,
    ``fluent``, ``emojione``).

    Raises:
        ValueError: no such bundled style.
    """
    root = assets_dir() / "sprites"
    path = root / style
    if not path.is_dir():
        raise ValueError(f"no bundled sprite style {style!r} in {root}; styles: {_styles(root)}")
    return path


def _styles(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def find_sprites(name_or_folder: str | Path) -> Path:
    """A folder of ``<class>/*.png`` as given, else the bundled style of that name.

    Raises:
        ValueError: neither a folder nor a bundled style (the message lists the styles).
    """
    path = Path(name_or_folder)
    if path.is_dir():
        return path
    root = assets_dir() / "sprites"
    if len(path.parts) == 1 and (root / path.name).is_dir():
        return root / path.name
    raise ValueError(
        f"sprites {str(name_or_folder)!r}: no such folder, and no bundled style of that name "
        f"(bundled styles: {', '.join(_styles(root))})"
    )


def available_classes(root: str | Path) -> tuple[str, ...]:
    """The class sub-folders of a sprite folder that hold at least one PNG, sorted.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"sprite folder {root} does not exist; it must hold one sub-folder of PNGs per class"
        )
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.png"))))


def _read_rgba(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgba = np.asarray(image.convert("RGBA"))
    except OSError as error:
        raise ValueError(f"{path}: not a readable image ({error})") from error
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    if len(ys) == 0:
        raise ValueError(f"{path}: the sprite is fully transparent; sprites need an alpha shape")
    return np.ascontiguousarray(rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def load_sprite_bank(root: str | Path, classes: tuple[str, ...]) -> SpriteBank:
    """Read every PNG of each class in ``classes`` from ``root/<class>/``.

    Returns:
        class name -> sprites, each (H, W, 4) uint8 RGBA cropped to its alpha.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a class has no sub-folder or no PNG, or a PNG is unreadable or empty.
    """
    root = Path(root)
    present = available_classes(root)
    missing = [name for name in classes if name not in present]
    if missing:
        raise ValueError(
            f"sprite folder {root} has no PNGs for class(es) {missing}; expected "
            f"{root}/<class>/*.png (found classes: {list(present)})"
        )
    return {
        name: tuple(_read_rgba(p) for p in sorted((root / name).glob("*.png"))) for name in classes
    }


def _jitter_colour(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    if rng.random() < 0.3:  # a hue-shifted variant (OpenCV hue is in 0..180)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-25, 25)) % 180
    hsv[..., 1] *= rng.uniform(0.7, 1.3)
    hsv[..., 2] = hsv[..., 2] * rng.uniform(0.8, 1.15) + rng.uniform(-15, 15)
    out = cv2.cvtColor(np.clip(hsv, 0, [180, 255, 255]).astype(np.uint8), cv2.COLOR_HSV2RGB)
    return out


def _unpremultiply(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA uint8 from premultiplied float colour (0-255) and alpha (0-1).

    Shape:
        colour: (H, W, 3), alpha: (H, W, 1) -> (H, W, 4).
    """
    straight = np.where(alpha > 1e-3, colour / np.maximum(alpha, 1e-3), 0)
    out = np.concatenate([straight, alpha * 255.0], axis=-1)
    return np.clip(out, 0, 255).astype(np.uint8)


def warp_sprite(rgba: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The sprite under a random perspective warp: each corner moves by up to ``strength`` of
    the sprite's width and height, so proportions, slant and foreshortening vary (each style
    draws a class once).

    Shape:
        rgba: (H, W, 4) uint8; returns (H', W', 4) uint8, cropped to its alpha.
    """
    if strength <= 0:
        return rgba
    height, width = rgba.shape[:2]
    size = np.array([width, height], np.float32)
    src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32) * size
    dst = src + rng.uniform(-strength, strength, (4, 2)) * size
    dst -= dst.min(axis=0)
    out_w, out_h = (int(v) + 1 for v in np.ceil(dst.max(axis=0)))
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    # Warp premultiplied colour, so transparent (black) pixels do not darken the edge.
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    premultiplied = np.concatenate([rgba[..., :3] * alpha, alpha], axis=-1)
    warped = cv2.warpPerspective(premultiplied, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    out = _unpremultiply(warped[..., :3], warped[..., 3:])
    ys, xs = np.nonzero(out[..., 3])
    if len(ys) == 0:  # degenerate warp: keep the sprite as drawn
        return rgba
    return np.ascontiguousarray(out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def augment_sprite(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A per-clip variant of a sprite: mirror, hue/saturation/brightness jitter, defocus blur.

    Geometry (scale, rotation, motion) is applied later, per frame, by the scene composer.

    Shape:
        rgba: (H, W, 4) uint8; returns (H, W, 4) uint8.
    """
    out = rgba[:, ::-1] if rng.random() < 0.5 else rgba
    rgb = _jitter_colour(np.ascontiguousarray(out[..., :3]), rng)
    alpha = out[..., 3:]
    out = np.concatenate([rgb, alpha], axis=-1)
    if rng.random() < 0.2:
        # Blur premultiplied colour so transparent (black) pixels do not bleed into the edge.
        sigma = rng.uniform(0.5, 1.5)
        a = alpha.astype(np.float32) / 255.0
        pre = cv2.GaussianBlur(rgb.astype(np.float32) * a, (0, 0), sigma)
        out = _unpremultiply(pre, cv2.GaussianBlur(a[..., 0], (0, 0), sigma)[..., None])
    return np.ascontiguousarray(out)
