"""Random melodies and rhythms rendered with a General-MIDI soundfont (``tinysoundfont``).

Every sounding object gets its own score: its own tempo, start delay, rests and velocities, so
the onsets and offsets of two sources in one clip differ (what audio-visual synchrony cues and
mix-and-separate training rely on).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

from avloc.synth.instruments import Instrument

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_MIN_RENDER_RATE = (
    32000  # render above this, then decimate: tinysoundfont's linear resampler aliases
)
TARGET_RMS = 0.05  # stems are normalised to this RMS before the gain jitter
GAIN_JITTER_DB = 4.0  # uniform ±, per stem
_PEAK_LIMIT = 0.98
# Every stem is high-passed here (4th-order Butterworth, zero-phase): a soundfont's samples may
# carry a DC offset or sub-sonic rumble, which no microphone records and which a model learns as
# the class's cue. TimGM6mb's alto sax has a third of its energy below 40 Hz (the bundle before
# this filter told saxophones by it alone: docs/findings.md); the kick drum keeps 99.9 % of its.
HIGHPASS_HZ = 20.0


@dataclass(frozen=True)
class Note:
    """One note (or percussion hit) of a score; times in seconds, MIDI key and velocity."""

    start_s: float
    end_s: float
    key: int
    velocity: int


def default_soundfont() -> Path:
    """The General-MIDI soundfont ``TimGM6mb.sf2`` shipped inside the ``pretty_midi`` wheel.

    Raises:
        ValueError: ``pretty_midi`` is not installed or lacks the file.
    """
    try:
        import pretty_midi
    except ImportError as error:
        raise ValueError(
            "avloc synth needs the TimGM6mb soundfont from pretty_midi: `pip install pretty_midi` "
            "(or pass --soundfont FILE.sf2)"
        ) from error
    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise ValueError(f"{path} is missing from the pretty_midi install; pass --soundfont")
    return path


def _melodic_score(inst: Instrument, duration_s: float, rng: np.random.Generator) -> list[Note]:
    beat_s = 60.0 / rng.uniform(70.0, 160.0)
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    lo, hi = inst.low_key, inst.high_key
    root = int(rng.integers(0, 12))
    keys = [k for k in range(lo, hi + 1) if (k - root) % 12 in scale] or [lo]
    pos = int(rng.integers(len(keys) // 4, max(len(keys) * 3 // 4, len(keys) // 4 + 1)))
    t = rng.uniform(0.0, 0.3 * duration_s)
    notes: list[Note] = []
    while t < duration_s:
        if rng.random() < 0.2:  # a rest; sometimes a long one, so the source falls silent
            t += beat_s * float(rng.choice([0.5, 1.0, 2.0, 4.0], p=[0.35, 0.35, 0.2, 0.1]))
            continue
        length = beat_s * float(
            rng.choice([0.25, 0.5, 1.0, 1.5, 2.0], p=[0.15, 0.3, 0.3, 0.1, 0.15])
        )
        pos = int(np.clip(pos + rng.integers(-3, 4), 0, len(keys) - 1))
        velocity = int(rng.integers(55, 125))
        end = t + length * rng.uniform(0.6, 1.0)  # legato to staccato
        notes.append(Note(t, end, keys[pos], velocity))
        if inst.polyphonic and rng.random() < 0.3:
            for step in (2, 4):  # a triad on the scale
                if pos + step < len(keys):
                    notes.append(Note(t, end, keys[pos + step], max(1, velocity - 15)))
        t += length
    return notes


def _percussion_score(inst: Instrument, duration_s: float, rng: np.random.Generator) -> list[Note]:
    step_s = 60.0 / rng.uniform(80.0, 150.0) / 2  # eighth notes
    t = rng.uniform(0.0, 0.3 * duration_s)
    weights = rng.dirichlet(np.ones(len(inst.keys)) * 2.0)
    density = rng.uniform(0.35, 0.8)
    notes: list[Note] = []
    step = 0
    while t < duration_s:
        if step % 8 == 0 and rng.random() < 0.2:  # a silent bar
            t += 8 * step_s
            step += 8
            continue
        if rng.random() < density:
            accent = 25 if step % 2 == 0 else 0
            key = int(rng.choice(inst.keys, p=weights))
            notes.append(Note(t, t + 0.1, key, int(rng.integers(50, 100)) + accent))
        t += step_s
        step += 1
    return notes


def make_score(inst: Instrument, duration_s: float, rng: np.random.Generator) -> list[Note]:
    """A random melody (melodic instruments) or rhythm (percussion) with at least one note.

    Notes stay inside the instrument's key range; tempo, start delay, rests and velocities are
    drawn from ``rng``.
    """
    make = _percussion_score if inst.is_percussion else _melodic_score
    notes = make(inst, duration_s, rng)
    if not notes:
        key = inst.keys[0] if inst.is_percussion else (inst.low_key + inst.high_key) // 2
        notes = [Note(0.0, min(duration_s, 0.5), key, 100)]
    return notes


@lru_cache(maxsize=4)
def _synth(soundfont: Path, rate: int) -> tuple[Any, int]:
    """A synthesizer with ``soundfont`` loaded, reused by every stem of this process.

    Loading costs ~10 ms, more than rendering a 3-s stem; ``render_score`` silences every
    voice after each stem (see ``_silence``), so a stem never depends on the previous one.
    """
    try:
        import tinysoundfont
    except ImportError as error:
        raise ValueError(
            "avloc synth renders sounds with tinysoundfont: `pip install --no-deps tinysoundfont`"
        ) from error
    synth = tinysoundfont.Synth(samplerate=rate, gain=-6.0)
    try:
        sfid = synth.sfload(str(soundfont))
    except Exception as error:  # tinysoundfont.SoundFontException
        raise ValueError(f"{soundfont}: not a readable SoundFont (.sf2) file ({error})") from error
    return synth, sfid


def _silence(synth: Any, rate: int) -> None:
    """Stop every voice; ``sounds_off`` fades voices out quickly, so run that fade out too."""
    synth.sounds_off()
    synth.generate(rate // 10)


@lru_cache(maxsize=4096)
def _key_sounds(soundfont: Path, rate: int, inst: Instrument, key: int) -> bool:
    """Whether ``inst``'s preset plays anything at ``key`` (a preset may leave keys without a
    sample: TimGM6mb's alto sax has none at E4, 64). Probes the shared synth, on which the
    caller (``render_score``) has selected ``inst``'s preset; leaves it silent and selected."""
    synth, _ = _synth(soundfont, rate)
    synth.noteon(0, key, 100)
    probe = np.frombuffer(synth.generate(rate // 20), dtype=np.float32)
    _silence(synth, rate)
    return bool(np.any(np.abs(probe) > 1e-6))


def _playable(notes: list[Note], inst: Instrument, soundfont: Path, rate: int) -> list[Note]:
    """``notes`` with each key the preset leaves silent moved to the nearest key of the
    instrument's own (its range, or its percussion keys) that sounds, so no sounding object is
    silent; a preset silent on every such key is refused.

    Raises:
        ValueError: the preset sounds on none of the instrument's keys.
    """
    silent = {n.key for n in notes if not _key_sounds(soundfont, rate, inst, n.key)}
    if not silent:
        return notes
    own = inst.keys if inst.is_percussion else tuple(range(inst.low_key, inst.high_key + 1))
    sounding = [k for k in own if _key_sounds(soundfont, rate, inst, k)]
    if not sounding:
        raise ValueError(
            f"{soundfont}: bank {inst.bank} program {inst.program} plays none of class "
            f"{inst.name!r}'s keys; fix it in --program-map"
        )
    nearest = {k: min(sounding, key=lambda s: (abs(s - k), s)) for k in silent}
    return [dataclasses.replace(n, key=nearest.get(n.key, n.key)) for n in notes]


def remove_subsonic(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``audio`` high-passed at :data:`HIGHPASS_HZ` (zero-phase). Shape: (T,) float32."""
    sos = butter(4, HIGHPASS_HZ, "highpass", fs=sample_rate, output="sos")
    if len(audio) <= 3 * (2 * len(sos) + 1):  # too short for the filter's edge padding
        return (audio - audio.mean()).astype(np.float32)
    return sosfiltfilt(sos, audio.astype(np.float64)).astype(np.float32)


def render_score(
    notes: list[Note], inst: Instrument, soundfont: Path, sample_rate: int, duration_s: float
) -> np.ndarray:
    """Play ``notes`` on ``inst`` and return mono audio.

    Renders at an integer multiple of ``sample_rate`` of at least 32 kHz, then decimates with
    a polyphase low-pass filter and removes what lies below :data:`HIGHPASS_HZ`. A key the
    preset leaves silent is played on the nearest key of the instrument's that sounds.

    Returns:
        audio: (T,) float32 with T = round(duration_s * sample_rate).

    Raises:
        ValueError: tinysoundfont is missing, or the soundfont lacks the instrument's program.
    """
    factor = max(1, math.ceil(_MIN_RENDER_RATE / sample_rate))
    rate = sample_rate * factor
    synth, sfid = _synth(Path(soundfont), rate)
    _silence(synth, rate)
    try:
        synth.program_select(0, sfid, inst.bank, inst.program, is_drums=inst.is_percussion)
    except Exception as error:  # tinysoundfont raises RuntimeError/SoundFontException
        raise ValueError(
            f"{soundfont}: no preset bank {inst.bank} program {inst.program} for class "
            f"{inst.name!r}; fix it in --program-map ({error})"
        ) from error
    notes = _playable(notes, inst, Path(soundfont), rate)
    events = sorted(
        [(n.start_s, 1, n.key, n.velocity) for n in notes]
        + [(n.end_s, 0, n.key, 0) for n in notes],
        key=lambda e: (e[0], e[1]),
    )
    total = round(duration_s * rate)
    chunks: list[np.ndarray] = []
    done = 0
    for time_s, is_on, key, velocity in events:
        at = min(total, round(time_s * rate))
        if at > done:
            chunks.append(np.frombuffer(synth.generate(at - done), dtype=np.float32).copy())
            done = at
        if is_on:
            synth.noteon(0, key, velocity)
        else:
            synth.noteoff(0, key)
    if total > done:
        chunks.append(np.frombuffer(synth.generate(total - done), dtype=np.float32).copy())
    _silence(synth, rate)
    stereo = np.concatenate(chunks).reshape(-1, 2) if chunks else np.zeros((0, 2), np.float32)
    mono = stereo.mean(axis=1)
    if factor > 1:
        mono = resample_poly(mono, 1, factor)
    out = np.zeros(round(duration_s * sample_rate), np.float32)
    out[: min(len(out), len(mono))] = mono[: len(out)]
    return remove_subsonic(out, sample_rate)


def normalise_stems(stems: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Scale each stem to a common RMS with a random gain, then limit the sum's peak.

    The peak limit scales every stem by the same factor, so the stems still sum exactly to
    the mixture that is written.

    Shape:
        stems: each (T,) float32; returned the same.
    """
    out = []
    for stem in stems:
        rms = float(np.sqrt(np.mean(stem.astype(np.float64) ** 2)))
        gain_db = rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB)
        gain = TARGET_RMS * 10 ** (gain_db / 20) / rms if rms > 1e-8 else 0.0
        out.append((stem * gain).astype(np.float32))
    if out:
        peak = float(np.max(np.abs(np.sum(out, axis=0))))
        peak = max(peak, max(float(np.max(np.abs(s))) for s in out))
        if peak > _PEAK_LIMIT:
            out = [(s * (_PEAK_LIMIT / peak)).astype(np.float32) for s in out]
    return out


def render_stem(
    inst: Instrument,
    soundfont: Path,
    sample_rate: int,
    duration_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """A random score for ``inst``, rendered. Shape: (T,) float32 (not yet normalised)."""
    return render_score(make_score(inst, duration_s, rng), inst, soundfont, sample_rate, duration_s)
