"""What ``avloc evaluate`` scores: predictor protocols, the baselines and the bounds.

Any object with the right methods is a predictor (``typing.Protocol``): a trained avloc model
wrapped by an adapter, maps saved by another method (:class:`SavedMaps`), or the reference
points every table should print beside a model:

* localization — :class:`RandomMap` (seeded), :class:`CentrePrior` (a centred Gaussian),
  :class:`WholeImage` (a constant map: the top-50 % rule keeps *every* pixel of it, because
  all pixels tie with the threshold) and :class:`OracleMap` (the ground truth itself);
* class-aware — the same, per class (:class:`ClassAgnostic` repeats one map for every class, so
  its NSA is low) and :class:`ClassOracle` (each class's boxes, zero for silent classes);
* separation — :class:`MixtureSeparator` (the mixture as every estimate; NSDR 0 by definition)
  and :class:`OracleMaskSeparator` (ideal binary / ratio masks: the ceiling of a mask model).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from avloc.evaluation.samples import ClassAwareSample, LocalizationSample, SeparationSample
from avloc.metrics.localization import EVAL_SIZE, union_map

ImageAudioSample = LocalizationSample | ClassAwareSample
CLASSES_FILE = "classes.json"  # names of the K maps saved per class-aware sample


@dataclass(frozen=True)
class ClassMaps:
    """K maps with their names: vocabulary classes, or pseudo-class ids to be matched.

    Shape:
        maps: (K, H, W) float, any H and W.
    """

    maps: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.maps.ndim != 3 or self.maps.shape[0] != len(self.names):
            raise ValueError(
                f"class maps must be (K, H, W) with K == len(names) == {len(self.names)}, "
                f"got shape {self.maps.shape}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"class map names must be unique, got {self.names}")


@runtime_checkable
class MapPredictor(Protocol):
    """Predicts one sounding-object map per image + audio sample."""

    @property
    def name(self) -> str: ...

    @property
    def audio_window_s(self) -> float | None:
        """Audio seconds wanted around the frame time (manifest clips); None: whole clip."""

    @property
    def sample_rate(self) -> int | None:
        """The audio rate wanted; None: the protocol's rate."""

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        """The map over the whole image: (h, w) float, any size; higher = more likely."""
        ...


@runtime_checkable
class ClassMapPredictor(Protocol):
    """Predicts one map per class (or pseudo-class) for a manifest frame."""

    @property
    def name(self) -> str: ...

    @property
    def audio_window_s(self) -> float | None: ...

    @property
    def sample_rate(self) -> int | None: ...

    def predict_class_maps(self, sample: ClassAwareSample) -> ClassMaps: ...


@runtime_checkable
class Separator(Protocol):
    """Separates a mixture into one estimate per source, given each source's frames."""

    @property
    def name(self) -> str: ...

    @property
    def num_frames(self) -> int:
        """Frames per source it looks at (0: none are decoded)."""

    def separate(self, sample: SeparationSample) -> np.ndarray:
        """Estimates (S, T) float32, in the order of ``sample.classes``."""
        ...


def _sample_seed(seed: int, sample_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(sample_id.encode())])


@dataclass(frozen=True)
class RandomMap:
    """Uniform noise, seeded by ``(seed, sample id)``: the chance level."""

    seed: int = 0
    size: int = EVAL_SIZE
    name: str = "random"
    audio_window_s: float | None = None
    sample_rate: int | None = None

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        return _sample_seed(self.seed, sample.id).random((self.size, self.size), np.float32)


@dataclass(frozen=True)
class CentrePrior:
    """A centred isotropic Gaussian (sigma as a fraction of the side): the photographer's bias."""

    sigma: float = 0.25
    size: int = EVAL_SIZE
    name: str = "centre"
    audio_window_s: float | None = None
    sample_rate: int | None = None

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        axis = (np.arange(self.size) + 0.5) / self.size - 0.5
        squared = axis[:, None] ** 2 + axis[None, :] ** 2
        return np.exp(-squared / (2.0 * self.sigma**2)).astype(np.float32)


@dataclass(frozen=True)
class WholeImage:
    """A constant map: the whole image is the source (ties keep every pixel)."""

    size: int = 8
    name: str = "whole"
    audio_window_s: float | None = None
    sample_rate: int | None = None

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        return np.ones((self.size, self.size), np.float32)


@dataclass(frozen=True)
class OracleMap:
    """The ground-truth map, plus a tiny ramp outside it: the bound under the protocol's rule.

    The ramp (``tie_break`` · closeness to the ground truth) only orders the pixels outside the
    ground truth; without it the top-50 % rule would tie every zero pixel with the threshold and
    keep the whole image whenever the ground truth covers less than half of it.
    """

    tie_break: float = 1e-3
    name: str = "oracle"
    audio_window_s: float | None = None
    sample_rate: int | None = None

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        if not isinstance(sample, LocalizationSample):
            raise TypeError("OracleMap needs a LocalizationSample; use ClassOracle for class maps")
        from scipy.ndimage import distance_transform_edt

        outside = sample.gt <= 0
        if not outside.any():
            return sample.gt.copy()
        distance = np.asarray(distance_transform_edt(outside), np.float64)
        ramp = 1.0 - distance / max(distance.max(), 1.0)
        return np.where(outside, self.tie_break * ramp, sample.gt)


@dataclass(frozen=True)
class ClassAgnostic:
    """One map repeated for every vocabulary class (class-aware baselines)."""

    inner: MapPredictor

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def audio_window_s(self) -> float | None:
        return self.inner.audio_window_s

    @property
    def sample_rate(self) -> int | None:
        return self.inner.sample_rate

    def predict_class_maps(self, sample: ClassAwareSample) -> ClassMaps:
        one = np.asarray(self.inner.predict_map(sample))
        return ClassMaps(np.repeat(one[None], len(sample.vocabulary), axis=0), sample.vocabulary)


@dataclass(frozen=True)
class ClassOracle:
    """Each sounding class's box union; zero maps for the silent classes (NSA 1)."""

    size: int = EVAL_SIZE
    name: str = "oracle"
    audio_window_s: float | None = None
    sample_rate: int | None = None

    def predict_class_maps(self, sample: ClassAwareSample) -> ClassMaps:
        maps = [union_map(sample.class_boxes.get(c, ()), self.size) for c in sample.vocabulary]
        return ClassMaps(np.stack(maps), sample.vocabulary)


@dataclass(frozen=True)
class SavedMaps:
    """Maps made by another method, read from ``folder``.

    Layout: ``<id>.npy`` per sample — an (H, W) float map for Flickr / VGG-SS (``id`` is the
    Flickr id or the VGG-SS ``file``), a (K, H, W) array for class-aware samples (``id`` is
    ``<clip_id>_<t_ms>``, ``t_ms`` the rounded frame time in milliseconds; for DSOL's boxes
    ``<video>_frame_<sec>_<index>``) with the K names in
    ``classes.json`` (``{"classes": [...]}``; vocabulary names, or pseudo-class ids that are
    matched to classes with the Hungarian algorithm). ``--save-maps`` writes the same layout.
    """

    folder: Path
    name: str = "maps"
    audio_window_s: float | None = 0.0  # the audio is not used: decode as little as possible
    sample_rate: int | None = None

    def _load(self, sample_id: str) -> np.ndarray:
        path = Path(self.folder) / f"{sample_id}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"no saved map {path} for sample {sample_id}")
        arr = read_npy_map(path)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: the map holds NaN or infinite values")
        return arr

    def predict_map(self, sample: ImageAudioSample) -> np.ndarray:
        arr = self._load(sample.id)
        if arr.ndim != 2:
            raise ValueError(
                f"{self.folder}/{sample.id}.npy: expected an (H, W) map, got {arr.shape}"
            )
        return arr

    def predict_class_maps(self, sample: ClassAwareSample) -> ClassMaps:
        arr = self._load(sample.id)
        names = read_class_names(Path(self.folder))
        if arr.ndim != 3 or arr.shape[0] != len(names):
            raise ValueError(
                f"{self.folder}/{sample.id}.npy: expected ({len(names)}, H, W) maps to match "
                f"{CLASSES_FILE}, got {arr.shape}"
            )
        return ClassMaps(arr, names)


_NPY_MAGIC = b"\x93NUMPY"


def read_npy_map(path: Path) -> np.ndarray:
    """A numeric array from a ``.npy`` file; any other content is a ValueError naming the file.

    numpy's own errors mislead here: a text file, or an array of Python objects, reads as
    "contains pickled (object) data ... load it unsafely", and an empty file as EOFError.
    """
    with open(path, "rb") as handle:
        magic = handle.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        raise ValueError(
            f"{path}: not a numeric .npy array (no .npy header; write maps with numpy.save)"
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as error:
        why = "it holds Python objects" if "pickle" in str(error) else str(error)
        raise ValueError(f"{path}: not a numeric .npy array ({why})") from None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a numeric .npy array (damaged: {error})") from None
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path}: not a numeric .npy array (it holds {arr.dtype} values)")
    return np.asarray(arr)


def read_class_names(folder: Path) -> tuple[str, ...]:
    """The map names in ``folder/classes.json``.

    Raises:
        FileNotFoundError: no classes.json.
        ValueError: it is not ``{"classes": [str, ...]}``.
    """
    path = folder / CLASSES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"class-aware maps need {path} naming the K maps")
    try:
        names = json.loads(path.read_text())["classes"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f'{path}: expected {{"classes": ["name", ...]}} ({error})') from error
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f'{path}: "classes" must be a list of strings')
    return tuple(names)


@dataclass(frozen=True)
class MixtureSeparator:
    """The mixture itself as every estimate (NSDR's reference point)."""

    name: str = "mixture"
    num_frames: int = 0

    def separate(self, sample: SeparationSample) -> np.ndarray:
        return np.repeat(sample.mixture[None], len(sample.classes), axis=0)


@dataclass(frozen=True)
class OracleMaskSeparator:
    """Ideal binary or ratio masks from the true sources (SoP STFT: n_fft 1022, hop 256), on
    every STFT bin or, with ``num_log_freqs``, limited to a log-frequency mask model's rows."""

    kind: Literal["ibm", "irm"] = "ibm"
    n_fft: int = 1022
    hop_length: int = 256
    num_frames: int = 0
    num_log_freqs: int | None = None

    @property
    def name(self) -> str:
        rows = f" on {self.num_log_freqs} log-frequency rows" if self.num_log_freqs else ""
        return f"oracle-{self.kind}{rows}"

    def separate(self, sample: SeparationSample) -> np.ndarray:
        import torch

        from avloc.masks import oracle_separation

        sources = torch.from_numpy(np.ascontiguousarray(sample.references))[None]
        mixture = torch.from_numpy(np.ascontiguousarray(sample.mixture))[None]
        out = oracle_separation(
            sources, mixture, self.n_fft, self.hop_length, self.kind, self.num_log_freqs
        )
        return out[0].numpy().astype(np.float32)


LOCALIZATION_BASELINES: dict[str, Callable[[], MapPredictor]] = {
    "random": RandomMap,
    "centre": CentrePrior,
    "whole": WholeImage,
    "oracle": OracleMap,
}
CLASS_AWARE_BASELINES: dict[str, Callable[[], ClassMapPredictor]] = {
    "random": lambda: ClassAgnostic(RandomMap()),
    "centre": lambda: ClassAgnostic(CentrePrior()),
    "whole": lambda: ClassAgnostic(WholeImage()),
    "oracle": ClassOracle,
}
SEPARATION_BASELINES: dict[str, Callable[[], Separator]] = {
    "mixture": MixtureSeparator,
    "oracle-ibm": lambda: OracleMaskSeparator("ibm"),
    "oracle-irm": lambda: OracleMaskSeparator("irm"),
}
