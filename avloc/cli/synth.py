"""``avloc synth``: write synthetic instrument scenes whose truth is known."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _classes(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("--classes needs a comma-separated list, e.g. violin,drum")
    return names


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic instrument scenes (clips + stems + manifest, or a Flickr-style set)",
        description="Emoji instruments that move over photo/procedural backgrounds, each sounding "
        "one playing a random melody from a General-MIDI soundfont. Deterministic for a seed.",
    )
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--scene", choices=("solo", "duet", "grid"), required=True)
    parser.add_argument("--num-clips", type=int, default=16)
    parser.add_argument("--duration-s", type=float, default=3.0)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--sample-rate", type=int, default=11025)
    parser.add_argument("--size", type=int, default=224, help="frame height and width, px")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", choices=("clips", "flickr"), default="clips")
    parser.add_argument(
        "--sound-from",
        choices=("sounding", "distractor"),
        default="sounding",
        help="flickr layout: write a silent distractor's sound and box instead (same images)",
    )
    parser.add_argument(
        "--sprites",
        default=None,
        help="a folder of <class>/*.png, or a bundled style: noto (default), symbola, openmoji, "
        "twemoji, fluent, emojione",
    )
    parser.add_argument("--soundfont", type=Path, default=None, help="a .sf2 soundfont")
    parser.add_argument(
        "--program-map",
        type=Path,
        default=None,
        help='a JSON file {class: program | {"program", "bank"}}',
    )
    parser.add_argument(
        "--vary-timbre",
        action="store_true",
        help="play each object with one of its class's programs (the program map's alternates: "
        "viola and fiddle for a violin, ...)",
    )
    parser.add_argument(
        "--sprite-warp",
        type=float,
        default=0.0,
        metavar="F",
        help="warp each sprite by a random perspective, its corners moved by up to F of its size "
        "(0-0.4; 0: as drawn)",
    )
    parser.add_argument("--classes", type=_classes, default=None, help="e.g. violin,drum,flute")
    parser.add_argument("--workers", type=int, default=1)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from avloc.synth import SynthConfig, generate
    from avloc.synth.sprites import find_sprites

    config = SynthConfig(
        scene=args.scene,
        num_clips=args.num_clips,
        duration_s=args.duration_s,
        fps=args.fps,
        sample_rate=args.sample_rate,
        size=args.size,
        seed=args.seed,
        layout=args.layout,
        sound_from=args.sound_from,
        sprites=None if args.sprites is None else find_sprites(args.sprites),
        soundfont=args.soundfont,
        program_map=args.program_map,
        classes=args.classes,
        vary_timbre=args.vary_timbre,
        sprite_warp=args.sprite_warp,
        workers=args.workers,
    )
    result = generate(config, args.out)
    print(
        f"wrote {result.num_written} {args.scene} scenes ({args.layout} layout, classes: "
        f"{', '.join(result.classes)}) to {result.out_dir}; index: {result.index_file}"
    )
    return 0
