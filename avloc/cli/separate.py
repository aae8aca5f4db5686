"""``avloc separate``: one stem per sounding object (plus the residual), or the sound of one
place: a point or a region."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from avloc.cli.localize import (
    add_model_arguments,
    check_model_arguments,
    check_output_folder,
    load_pipeline,
    write_sources,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "separate",
        help="separate a video's soundtrack into one stem per sounding object",
        description=__doc__,
    )
    parser.add_argument("video", type=Path, metavar="VIDEO", help="a video with sound")
    parser.add_argument("-o", "--output", required=True, type=Path, help="folder for the stems")
    parser.add_argument(
        "--point",
        default=None,
        metavar="X,Y",
        help="instead, the sound at one location, normalised x,y in [0, 1] (e.g. 0.5,0.25): "
        "the stem of the object there, or the pixel's own sound, competing with the objects",
    )
    parser.add_argument(
        "--box",
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="instead, the sound of a region, normalised in [0, 1] (e.g. 0.1,0.2,0.5,0.9): the "
        "summed stems of the objects it holds, or else the region's own sound, competing "
        "with the objects",
    )
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def parse_point(text: str) -> tuple[float, float]:
    """``"x,y"`` → ``(x, y)``, both in [0, 1].

    Raises:
        ValueError: not two numbers in [0, 1].
    """
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"--point must be two numbers x,y such as 0.5,0.25; got {text!r}"
        ) from None
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(
            f"--point must be normalised to [0, 1] (fractions of width, height); got {text!r}"
        )
    return x, y


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` → the box, all in [0, 1], with x0 < x1 and y0 < y1.

    Raises:
        ValueError: not four such numbers.
    """
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"--box must be four numbers x0,y0,x1,y1 such as 0.1,0.2,0.5,0.9; got {text!r}"
        ) from None
    if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)) or not (x0 < x1 and y0 < y1):
        raise ValueError(
            "--box must be normalised to [0, 1] (fractions of width, height) with x0 < x1 and "
            f"y0 < y1; got {text!r}"
        )
    return x0, y0, x1, y1


def run(args: argparse.Namespace) -> int:
    from avloc import media
    from avloc.inference import place_name

    if args.point is not None and args.box is not None:
        raise ValueError("--point and --box each name a place; give one of them")
    point = parse_point(args.point) if args.point is not None else None
    box = parse_box(args.box) if args.box is not None else None
    if not args.video.is_file():
        raise FileNotFoundError(f"{args.video}: no such video file")
    check_model_arguments(args)
    check_output_folder(args.output)
    pipeline = load_pipeline(args)
    args.output.mkdir(parents=True, exist_ok=True)
    if point is not None or box is not None:  # one place: point_X_Y.wav or box_X0_Y0_X1_Y1.wav
        wave = pipeline.separate_at(args.video, point, box=box)
        name = place_name(point, box) + ".wav"
        path = media.write_audio(args.output / name, wave, pipeline.sample_rate)
        print(f"avloc separate: wrote {path}")
        return 0
    result = pipeline.separate(args.video)
    files = write_sources(args.output, result)
    print(f"avloc separate: {len(result.labels)} object(s) + residual -> {args.output}")
    for label, name in files.items():
        print(f"  {label}: {args.output / Path(name).name}")
    return 0
