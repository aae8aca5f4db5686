"""The Flickr-SoundNet localization test set (Senocak et al. 2018), as released.

On disk: ``Annotations/<id>.xml`` and, for each id, ``<id>.jpg`` and ``<id>.wav`` somewhere
under ``Data/`` (the download nests them in sub-folders). Each XML holds one ``bbox`` element
per annotator; inside it the first child is not a coordinate and the next four are
``xmin, ymin, xmax, ymax`` as integers in a 256×256 frame, whatever the image's real size.
See ``protocols.md`` §1 for how the boxes become the 224×224 consensus map.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from avloc.data.folder import MissingItem, index_files

ANNOTATION_FRAME = 256  # the boxes' coordinate frame: 256×256 for every image
_COORD_TAGS = ("xmin", "ymin", "xmax", "ymax")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FlickrSample:
    """One test image with its audio and one box per annotator.

    ``boxes`` are ``(xmin, ymin, xmax, ymax)`` integer pixels in the 256×256 frame.
    """

    id: str
    image_path: Path
    audio_path: Path
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class FlickrTestSet:
    """The samples that could be assembled, what was asked for, and what was missing."""

    samples: tuple[FlickrSample, ...]
    requested_ids: tuple[str, ...]  # the list's ids in its order (every annotated id without one)
    missing_ids: tuple[MissingItem, ...]  # requested ids lacking their xml, jpg or wav, with why

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of the samples that will be evaluated."""
        return tuple(s.id for s in self.samples)


def read_test_list(path: str | Path) -> tuple[str, ...]:
    """Ids from a Flickr test list, in order, without duplicates.

    Accepts the original 250-id list (one id per line, optionally with a file extension) and
    the LVS/EZ-VSL ``flickr_test.csv`` (``<id>,<int>`` rows; the second column is unused).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the list names no id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Flickr test list {path} does not exist")
    ids: dict[str, None] = {}
    for line in path.read_text().splitlines():
        first = line.split(",", 1)[0].strip()
        if first:
            ids.setdefault(Path(first).stem if first.endswith((".jpg", ".wav", ".xml")) else first)
    if not ids:
        raise ValueError(f"Flickr test list {path} names no id (expected one id per line)")
    return tuple(ids)


def _coordinate(element: ET.Element, path: Path) -> int:
    text = (element.text or "").strip()
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            raise ValueError(
                f"{path}: bbox coordinate <{element.tag}> is {text!r}, not a number"
            ) from None


def _parse_bbox(bbox: ET.Element, path: Path) -> Box:
    children = list(bbox)
    by_tag = {child.tag.lower(): child for child in children}
    if all(tag in by_tag for tag in _COORD_TAGS):
        coords = [by_tag[tag] for tag in _COORD_TAGS]
    elif len(children) >= 5:  # positional: the first child is a label, not a coordinate
        coords = children[1:5]
    else:
        raise ValueError(
            f"{path}: a <bbox> has {len(children)} children; expected a label followed by "
            "xmin, ymin, xmax, ymax"
        )
    x0, y0, x1, y1 = (_coordinate(c, path) for c in coords)
    return (x0, y0, x1, y1)


def read_flickr_boxes(path: str | Path) -> tuple[Box, ...]:
    """The per-annotator boxes of one Flickr annotation XML, in the 256×256 frame.

    Raises:
        ValueError: the file is not well-formed XML, has no ``bbox`` element, or a box lacks
            its four integer coordinates; the message names the file.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ValueError(f"{path}: not a well-formed Flickr annotation XML ({error})") from error
    # The released files nest each bbox one level below the root; iter() also finds them
    # directly under the root, as some re-exports do.
    boxes = tuple(_parse_bbox(el, path) for el in root.iter() if el.tag.lower() == "bbox")
    if not boxes:
        raise ValueError(f"{path}: no <bbox> element; not a Flickr-SoundNet annotation")
    return boxes


def _missing_reason(has_xml: bool, has_jpg: bool, has_wav: bool, sample_id: str) -> str:
    reasons = []
    if not has_xml:
        reasons.append(f"no annotation Annotations/{sample_id}.xml")
    if not has_jpg:
        reasons.append(f"no image {sample_id}.jpg under Data/")
    if not has_wav:
        reasons.append(f"no audio {sample_id}.wav under Data/")
    return "; ".join(reasons)


def read_flickr(root: str | Path, test_list: str | Path | None = None) -> FlickrTestSet:
    """Read the Flickr-SoundNet test set under ``root``.

    Args:
        root: the folder holding ``Annotations/`` and ``Data/``.
        test_list: the original id list or ``flickr_test.csv``; ``None`` takes every
            annotated id (sorted).

    Returns:
        The test set; ids lacking their xml, jpg or wav are listed in ``missing_ids`` with the
        reason instead of raising.

    Raises:
        FileNotFoundError: ``root``, ``root/Annotations`` or ``root/Data`` is missing.
        ValueError: an annotation XML is malformed (the message names it).
    """
    root = Path(root)
    annotations = root / "Annotations"
    data = root / "Data"
    for folder in (annotations, data):
        if not folder.is_dir():
            raise FileNotFoundError(
                f"Flickr-SoundNet folder {folder} is missing; root must hold Annotations/ and Data/"
            )
    xmls = {p.stem: p for p in annotations.glob("*.xml")}
    media = index_files(data, (".jpg", ".wav"))
    requested = read_test_list(test_list) if test_list is not None else tuple(sorted(xmls))
    samples, missing = [], []
    for sample_id in requested:
        xml, jpg, wav = (
            xmls.get(sample_id),
            media[".jpg"].get(sample_id),
            media[".wav"].get(sample_id),
        )
        if xml is None or jpg is None or wav is None:
            reason = _missing_reason(xml is not None, jpg is not None, wav is not None, sample_id)
            missing.append(MissingItem(sample_id, reason))
            continue
        samples.append(FlickrSample(sample_id, jpg, wav, read_flickr_boxes(xml)))
    return FlickrTestSet(tuple(samples), requested, tuple(missing))
