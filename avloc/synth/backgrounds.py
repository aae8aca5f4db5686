"""Scene backgrounds: crops of scikit-image's bundled photos mixed with procedural textures.

No downloads: only the photos that ship inside the scikit-image wheel are used.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "coins",
    "moon",
    "hubble_deep_field",
    "immunohistochemistry",
    "brick",
    "grass",
    "gravel",
)
PHOTO_PROBABILITY = 0.5


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """The bundled photos as (H, W, 3) uint8 RGB, loaded once per process."""
    import skimage.data

    photos = []
    for name in _PHOTOS:
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a photo that needs pooch (a download) in this install: skip it
            continue
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        photos.append(np.ascontiguousarray(image[..., :3].astype(np.uint8)))
    return tuple(photos)


def _photo_crop(height: int, width: int, rng: np.random.Generator) -> np.ndarray | None:
    photos = _photos()
    if not photos:
        return None
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    side = rng.uniform(0.4, 1.0) * min(ph, pw)
    ch, cw = int(side), int(min(pw, side * width / height))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(
        photo[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_AREA
    )
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    tint = rng.uniform(0.75, 1.15, size=3)
    return np.clip(crop.astype(np.float32) * tint, 0, 255).astype(np.uint8)


def _procedural(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A linear colour gradient plus smooth (upsampled) noise and fine grain."""
    c0, c1 = rng.uniform(0, 255, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height + 1) / 2
    image = c0 + (c1 - c0) * ramp[..., None]
    cells = int(rng.integers(2, 9))
    blobs = rng.normal(0, rng.uniform(10, 45), size=(cells, cells, 3)).astype(np.float32)
    image += cv2.resize(blobs, (width, height), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, rng.uniform(0, 8), size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random background: a photo crop or a procedural texture.

    Shape:
        returns (H, W, 3) uint8 RGB.
    """
    if rng.random() < PHOTO_PROBABILITY:
        crop = _photo_crop(height, width, rng)
        if crop is not None:
            return np.ascontiguousarray(crop)
    return _procedural(height, width, rng)
