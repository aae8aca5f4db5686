"""The README's quality claims are the committed ``avloc evaluate`` records, not hand-typed.

``benchmarks/bench_quality.py`` writes ``benchmarks/quality/<set>-<method>.json``; whoever
re-scores a set must carry the new numbers into the README's targets, or this fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from avloc.evaluation.statistics import load_record

ROOT = Path(__file__).resolve().parent.parent
QUALITY = ROOT / "benchmarks" / "quality"

# (record file, metric, scale, the README text that states it: {} is the value at one decimal)
CLAIMS = [
    ("flickr-model", "ciou50", 100, "- AP50 ≥ 0.8 ({}:"),
    ("flickr-model", "ciou50", 100, "Flickr AP50 {} ["),
    ("flickr-model", "pointing", 100, "pointing ≥ 0.9 ({})"),
    ("flickr-distractor-model", "pointing", 100, "with a distractor's sound ({})"),
    ("duet-model", "ciou30", 100, "the duet's CIoU@0.3 ≥ 0.6 ({})"),
    ("grid-model", "ciou30", 100, "the grid's CIoU@0.3 ≥ 0.6 ({})"),
    ("separation-model", "nsdr", 1, "NSDR ≥ 6 dB ({})"),
    ("separation-model", "nsdr", 1, "**{} dB NSDR**"),
    ("separation-model", "sdr", 1, "SDR within 3 dB of the ideal binary mask ({} against"),
    ("separation-oracle-ibm", "sdr", 1, "against {})"),
    ("separation-oracle-ibm", "nsdr", 1, "ideal-mask ceiling (NSDR {})"),
    ("separation-model", "si_sdr", 1, "SI-SDR {})"),
    ("flickr-emojione-model", "pointing", 100, "(pointing {} on EmojiOne"),
    ("flickr-twemoji-model", "pointing", 100, "{} on Twemoji"),
    ("flickr-fluent-model", "pointing", 100, "{} on Fluent"),
    ("flickr-fluidr3-model", "pointing", 100, "{} on FluidR3, where"),
    ("flickr-fluidr3-model", "pointing", 100, "FluidR3 soundfont (77.3, 74.0, 76.0 and {})"),
    ("flickr-emojione-model", "pointing", 100, "soundfont ({}, 74.0, 76.0"),
    ("flickr-twemoji-model", "pointing", 100, "soundfont (77.3, {}, 76.0"),
    ("flickr-fluent-model", "pointing", 100, "soundfont (77.3, 74.0, {}"),
    ("flickr-csound-model", "pointing", 100, "Csound's GM bank, fares better: pointing {} ("),
    ("flickr-csound-model", "pointing", 100, "held out too, {} and"),
    ("flickr-csound-distractor-model", "pointing", 100, "held out too, 94.0 and {})"),
    ("flickr-fluidr3-distractor-model", "pointing", 100, "78.7 on EmojiOne and {} on FluidR3"),
    ("flickr-emojione-distractor-model", "pointing", 100, "control, {} on EmojiOne and"),
    ("flickr-model-unguided", "ciou50", 100, "could still fall short of it; {} unguided"),
]


def _value(record_name: str, metric: str) -> float:
    return float(load_record(QUALITY / f"{record_name}.json")[metric])


@pytest.mark.parametrize(("record_name", "metric", "scale", "text"), CLAIMS)
def test_the_readme_states_the_committed_record(record_name, metric, scale, text):
    readme = " ".join((ROOT / "README.md").read_text().split())  # line breaks as spaces
    claim = " ".join(text.format(f"{_value(record_name, metric) * scale:.1f}").split())
    assert claim in readme, f"README should say {claim!r} ({record_name}.json: {metric})"


def test_the_readme_states_the_committed_offscreen_record():
    """``benchmarks/bench_offscreen.py --json benchmarks/quality/offscreen.json``'s rows, those
    of the record made when p16 was the bundle (``offscreen-p16.json``), and those of the
    records made on the mixtures before the 2026-11-24 sound fix, when p15 and p14 were the
    bundle (``offscreen-p15.json``, ``offscreen-p14.json``)."""
    import json

    readme = " ".join((ROOT / "README.md").read_text().split())
    for record, label, name in (
        ("offscreen", "**avloc-small** (run q3)", "default"),
        ("offscreen-p16", "run p16 (the bundle before)", "default"),
        (
            "offscreen-p16",
            "run p15 (3,000 fewer steps, none on the corrected sounds)",
            "runs/p15.safetensors",
        ),
        ("offscreen-p15", "before the fix: run p15", "default"),
        (
            "offscreen-p15",
            "before the fix: run p14 (3,000 fewer steps with such sound)",
            "runs/p14.safetensors",
        ),
        (
            "offscreen-p14",
            "before the fix: run p11 (before it learnt such sound)",
            "runs/p11.safetensors",
        ),
    ):
        rows = json.loads((QUALITY / f"{record}.json").read_text())["rows"]
        score = {row["separator"]: row for row in rows}
        noise, tone = (score[f"{name}, {kind} 10 dB below"] for kind in ("noise", "tone"))
        bold = "**" if (record, name) == ("offscreen", "default") else ""
        cells = [f"{bold}{noise[m]:.1f}{bold} / {bold}{tone[m]:.1f}{bold}" for m in ("sdr", "sir")]
        shares = (f"{100 * row['share_in_stems']:.0f} %" for row in (noise, tone))
        share = " / ".join(f"{bold}{s}{bold}" for s in shares)
        claim = f"| {label}, noise / tone | {cells[0]} | {cells[1]} |"
        assert claim in readme, f"README should say {claim!r}"
        assert share in readme, f"README should say {share!r}"
