"""Re-make ``docs/images/overlay.png``: a demo frame beside avloc's overlay of it.

    python docs/make_overlay_image.py [--model default] [--out docs/images/overlay.png]

Runs ``avloc localize`` with the bundled model on ``assets/demo/duet.mp4`` and puts the frame at
1.5 s beside the same frame of the overlay video it wrote. (The app screenshots beside it are
written by the browser test, ``tests/test_app_browser.py``.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avloc.cli import main as avloc  # noqa: E402
from avloc.evaluation.samples import read_frame  # noqa: E402
from avloc.media import write_image  # noqa: E402

CLIP = ROOT / "assets" / "demo" / "duet.mp4"
OUT = ROOT / "docs" / "images" / "overlay.png"
TIME_S = 1.5


def main(argv: list[str] | None = None) -> int:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or bundle path")
    parser.add_argument("--out", type=Path, default=OUT, help=f"image to write (default {OUT})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if avloc(["localize", str(CLIP), "-o", tmp, "--model", args.model]) != 0:
            return 1
        overlay_path = next(Path(tmp).rglob("*overlay*.mp4"))
        overlay = read_frame(overlay_path, TIME_S, 8.0)
    frame = read_frame(CLIP, TIME_S, 8.0)
    height, width = overlay.shape[:2]
    frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    gap = np.full((height, 8, 3), 255, np.uint8)
    write_image(args.out, np.concatenate([frame, gap, overlay], axis=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
