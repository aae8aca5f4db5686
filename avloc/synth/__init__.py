"""Synthetic instrument scenes whose truth is known: ``avloc synth``.

Solo, duet and MUSIC-Synthetic-style grid clips of emoji instruments that move over photo or
procedural backgrounds, each sounding object playing a random melody or rhythm from a
General-MIDI soundfont; or still images in the Flickr-SoundNet test-set layout.

    >>> from avloc.synth import SynthConfig, generate
    >>> generate(SynthConfig(scene="duet", num_clips=4), "demo_out")  # doctest: +SKIP
"""

from __future__ import annotations

from avloc.synth.build import (
    SYNTH_FORMAT,
    GenerateResult,
    SynthConfig,
    generate,
    make_scene,
    make_spec,
)
from avloc.synth.scenes import RenderedObject, Scene

__all__ = [
    "SYNTH_FORMAT",
    "GenerateResult",
    "RenderedObject",
    "Scene",
    "SynthConfig",
    "generate",
    "make_scene",
    "make_spec",
]
