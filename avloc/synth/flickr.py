"""Writing synthetic scenes in the released Flickr-SoundNet test-set layout (protocols.md §1).

::

    OUT/Annotations/<id>.xml       one <bbox> per "annotator", coordinates in a 256×256 frame
    OUT/Data/<part>/<id>.jpg       the image (nested one level, like the download)
    OUT/Data/<part>/<id>.wav       the sound
    OUT/flickr_test.csv            "<id>,<int>" rows (the second column is unused)

Ids are numeric strings like real Flickr ids. The XML nests each ``bbox`` one level below the
root (``annotation/object/bbox``), as the released files do, so both LVS/EZ-VSL's parser (which
walks the root's children's children) and a ``root.iter("bbox")`` parser read it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ANNOTATION_FRAME = 256  # Flickr annotations are in a 256×256 frame whatever the image size
_FIRST_ID = 4_000_000_000
_IDS_PER_SEED = 10_000_000


def flickr_id(seed: int, index: int) -> str:
    """The numeric id of image ``index`` of the run seeded by ``seed`` (unique per pair)."""
    if not 0 <= index < _IDS_PER_SEED:
        raise ValueError(f"Flickr layout ids support up to {_IDS_PER_SEED} images, got {index}")
    return str(_FIRST_ID + (seed % 100) * _IDS_PER_SEED + index)


def data_folder(out_dir: Path, index: int) -> Path:
    """The ``Data/<part>/`` sub-folder of image ``index`` (100 images per part)."""
    return out_dir / "Data" / f"part{index // 100:04d}"


def annotator_boxes(box: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """2–3 jittered integer copies of a normalised box in the 256×256 frame, as annotators differ.

    Shape:
        box: (4,) normalised (x0, y0, x1, y1).
    """
    x0, y0, x1, y1 = (float(v) * ANNOTATION_FRAME for v in box)
    width, height = max(x1 - x0, 2.0), max(y1 - y0, 2.0)
    boxes = []
    for _ in range(int(rng.integers(2, 4))):
        jitter = rng.normal(0.0, 0.06, size=4) * np.array([width, height, width, height])
        a0, b0, a1, b1 = np.array([x0, y0, x1, y1]) + jitter
        a0, a1 = sorted((float(np.clip(a0, 0, 255)), float(np.clip(a1, 1, 256))))
        b0, b1 = sorted((float(np.clip(b0, 0, 255)), float(np.clip(b1, 1, 256))))
        xmin, ymin = round(a0), round(b0)
        boxes.append((xmin, ymin, max(xmin + 1, round(a1)), max(ymin + 1, round(b1))))
    return boxes


def annotation_xml(sample_id: str, label: str, boxes: list[tuple[int, int, int, int]]) -> bytes:
    """The annotation XML: per annotator an ``object`` holding a ``bbox`` (label, then coords)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = f"{sample_id}.jpg"
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(ANNOTATION_FRAME)
    ET.SubElement(size, "height").text = str(ANNOTATION_FRAME)
    for box in boxes:
        bbox = ET.SubElement(ET.SubElement(root, "object"), "bbox")
        ET.SubElement(bbox, "name").text = label
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True):
            ET.SubElement(bbox, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_flickr_item(
    out_dir: Path,
    index: int,
    sample_id: str,
    image: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    label: str,
    box: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Write one image, its sound and its annotation XML.

    Shape:
        image: (H, W, 3) uint8; audio: (T,) float32; box: (4,) normalised.
    """
    from avloc.media import write_audio, write_image

    folder = data_folder(out_dir, index)
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / f"{sample_id}.jpg", image)
    write_audio(folder / f"{sample_id}.wav", audio, sample_rate)
    xml = annotation_xml(sample_id, label, annotator_boxes(box, rng))
    (out_dir / "Annotations").mkdir(parents=True, exist_ok=True)
    (out_dir / "Annotations" / f"{sample_id}.xml").write_bytes(xml)


def write_test_list(out_dir: Path, sample_ids: list[str]) -> Path:
    """``flickr_test.csv`` with ``<id>,<int>`` rows, in order (atomically)."""
    path = out_dir / "flickr_test.csv"
    tmp = path.with_suffix(".csv.partial")
    tmp.write_text("".join(f"{sample_id},{k}\n" for k, sample_id in enumerate(sample_ids)))
    tmp.replace(path)
    return path
