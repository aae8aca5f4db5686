"""``avloc separate``: one stem per sounding object (plus the residual), or the sound at a point."""

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


def run(args: argparse.Namespace) -> int:
    from avloc import media

    point = parse_point(args.point) if args.point is not None else None
    if not args.video.is_file():
        raise FileNotFoundError(f"{args.video}: no such video file")
    check_model_arguments(args)
    check_output_folder(args.output)
    pipeline = load_pipeline(args)
    args.output.mkdir(parents=True, exist_ok=True)
    if point is not None:
        wave = pipeline.separate_at(args.video, point)
        path = args.output / f"point_{point[0]:.2f}_{point[1]:.2f}.wav"
        media.write_audio(path, wave, pipeline.sample_rate)
        print(f"avloc separate: wrote {path}")
        return 0
    result = pipeline.separate(args.video)
    files = write_sources(args.output, result)
    print(f"avloc separate: {len(result.labels)} object(s) + residual -> {args.output}")
    for label, name in files.items():
        print(f"  {label}: {args.output / Path(name).name}")
    return 0
