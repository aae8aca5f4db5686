"""How often a separator vector is pooled from the sounding instrument, per ``source_map``.

Mix-and-separate pools each source's visual vector from its own frame where the model looks
while the *mixture* plays (``AVLocModel.source_weights``). This counts, over the mix-2 mixtures
of the separation quality set (``benchmarks/bench_quality.py``, seed 14; the same draws as
``avloc evaluate separation``), how often the peak of that region lies inside the sounding
instrument's box, for ``source_map="map"`` (the audio-visual map under the mixture) and
``"class"`` (class maps of distinct pseudo-classes). Only frames that also show silent
instruments count: alone in its frame, any rule finds the instrument.

    python benchmarks/bench_source_finding.py --model default [--model runs/other.safetensors]

Writes ``benchmarks/quality/source_finding.json`` and prints a markdown table (~1 min a model).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from record import RowRecord  # noqa: E402

from avloc.data.manifest import read_manifest  # noqa: E402
from avloc.evaluation import samples as S  # noqa: E402
from avloc.evaluation.protocols import PROTOCOLS  # noqa: E402
from avloc.inference import Pipeline  # noqa: E402
from avloc.sources import centre_window  # noqa: E402

RESULTS = ROOT / "benchmarks" / "quality"


def separation_set() -> Path:
    """The separation quality set of ``bench_quality.py``, made on first use."""
    from bench_quality import ensure_set

    return ensure_set("separation")


def _hit_rates(pipeline: Pipeline, num_mixtures: int) -> dict[str, tuple[int, float]]:
    """(frames counted, % whose region peaks on the sounding instrument) per source_map."""
    protocol = PROTOCOLS["separation"]
    clips, _ = S.solo_clips(read_manifest(separation_set()))
    draws = S.draw_pairs(clips, protocol.num_mixtures, protocol.num_sources, protocol.seed)
    model = pipeline.model
    window = round(pipeline.audio_window_s * pipeline.sample_rate)
    hits: dict[str, list[bool]] = {"map": [], "class": []}
    for draw in draws[:num_mixtures]:
        picked = [clips[i] for i in draw]
        sample = S.separation_sample(picked, 3.0, pipeline.sample_rate, 1)
        frames = pipeline._resized(np.stack([f[0] for f in sample.frames]), pipeline.frame_size)
        heard_wave = torch.from_numpy(centre_window(sample.mixture, window))[None]
        with torch.inference_mode():
            visual = model.encode_frames(pipeline._frames_tensor(frames))
            heard = model.encode_audio(heard_wave.expand(len(frames), -1))
            out = model.localize_from(visual, heard)
        for source_map in hits:
            config = model.config
            model.config = dataclasses.replace(
                config, separator=dataclasses.replace(config.separator, source_map=source_map)
            )
            regions = model.source_weights(out.maps[None], out.class_maps[None])[0]
            model.config = config
            for clip, region in zip(picked, regions, strict=True):
                if len(clip.objects) == 1:
                    continue
                box = clip.sounding[0].box_at(clip.duration_s / 2)
                row, col = divmod(int(region.argmax()), region.shape[1])
                x, y = (col + 0.5) / region.shape[1], (row + 0.5) / region.shape[0]
                hits[source_map].append(box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1)
    return {k: (len(v), 100.0 * float(np.mean(v))) for k, v in hits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model name or bundle (repeatable)")
    parser.add_argument("--mixtures", type=int, default=128, help="mixtures to look at")
    args = parser.parse_args(argv)
    separation_set()
    print(
        "| model | source_map | frames with silent instruments | region peak on the sounding one |"
    )
    print("| --- | --- | ---: | ---: |")
    with RowRecord(RESULTS / "source_finding.json") as record:
        for name in args.model or ["default"]:
            pipeline = Pipeline.from_pretrained(name, precision="fp32")
            for source_map, (count, rate) in _hit_rates(pipeline, args.mixtures).items():
                record.add({"model": name, "source_map": source_map, "frames": count, "hit": rate})
                print(f"| {name} | {source_map} | {count} | {rate:.1f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
