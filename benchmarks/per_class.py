"""Class by class: which instruments a Flickr-layout record finds, and which moved against another.

``avloc evaluate flickr`` records each image's cIoU and pointing; the class an image is scored
on is the name in its annotation (an ``avloc synth --layout flickr`` set names the sounding
instrument's boxes, or with ``--sound-from distractor`` the distractor's). This prints, per
class, the images, pointing and AP50 (cIoU >= 0.5) of a record, and of ``--base`` beside it:

    python benchmarks/per_class.py benchmarks/quality/flickr-distractor-model.json
    git show 85aeb69:benchmarks/quality/flickr-distractor-model.json > /tmp/before.json
    python benchmarks/per_class.py benchmarks/quality/flickr-distractor-model.json \\
        --base /tmp/before.json

The set is the folder of the record's test list, or ``--root``.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from functools import cache
from pathlib import Path


@cache  # a record and its --base score the same images: each read once
def image_class(annotation: Path) -> str:
    """The class an annotation names (its first box's ``name``)."""
    element = ET.parse(annotation).find("object/bbox/name")
    name = (element.text or "").strip() if element is not None else ""
    if not name:
        raise ValueError(f"{annotation}: no object/bbox/name to take the class from")
    return name


def class_counts(record: dict, root: Path) -> dict[str, Counter]:
    """Per class: ``images``, ``pointing`` hits and ``ap50`` hits of a record's images."""
    counts: dict[str, Counter] = {}
    for image in record["per_image"]:
        name = image_class(root / "Annotations" / f"{image['id']}.xml")
        row = counts.setdefault(name, Counter())
        row["images"] += 1
        row["pointing"] += bool(image["pointing"])
        row["ap50"] += image["ciou"] >= 0.5
    return counts


def _load(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path}: no such record")
    record = json.loads(path.read_text())
    if "per_image" not in record:
        raise SystemExit(f"{path}: not a Flickr-layout record (it has no per_image scores)")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", type=Path, help="an `avloc evaluate flickr` JSON record")
    parser.add_argument("--base", type=Path, help="another record of the same set, beside it")
    parser.add_argument("--root", type=Path, help="the set (default: the test list's folder)")
    args = parser.parse_args(argv)
    record = _load(args.record)
    root = args.root or Path(record["test_list"]).parent
    if not (root / "Annotations").is_dir():
        raise SystemExit(f"{root}: no Annotations folder (make the set, or pass --root)")
    new = class_counts(record, root)
    old = class_counts(_load(args.base), root) if args.base else None
    print("| class | images | pointing | AP50 |")
    print("| --- | ---: | ---: | ---: |")
    for name in sorted(new):
        cells = []
        for key in ("pointing", "ap50"):
            cell = str(new[name][key])
            if old is not None:
                cell = f"{old.get(name, Counter())[key]} → {cell}"
            cells.append(cell)
        print(f"| {name} | {new[name]['images']} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
