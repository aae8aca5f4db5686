"""The instrument classes of ``avloc synth``: General-MIDI sound, playing range and picture.

Each class pairs a General-MIDI program of the soundfont (bank 0, or bank 128 for percussion
kits) with the range of keys a real player uses and the emoji drawn as its sprite. Users bring
other instruments with a program map (``--program-map FILE.json``)::

    {"violin": 40, "gong": {"program": 0, "bank": 128, "keys": [52, 55]},
     "cello": {"program": 42, "low": 36, "high": 76, "alternates": [41]}}

``alternates`` are other programs of the same bank that a player of the class could sound like
(viola and fiddle for a violin, other drum kits for a drum); ``avloc synth --vary-timbre``
plays each object with one of ``program`` and its alternates, so a model hears several timbres
per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avloc.data.folder import read_json

PERCUSSION_BANK = 128


@dataclass(frozen=True)
class Instrument:
    """One sound class.

    Attributes:
        name: class name, as written in the manifest and used as the sprite sub-folder.
        program: 0-based General-MIDI program (preset) in the soundfont.
        bank: soundfont bank; 128 selects the percussion kits.
        low_key: lowest MIDI key played (melodic instruments).
        high_key: highest MIDI key played (melodic instruments).
        keys: percussion keys struck (percussion only; empty for melodic instruments).
        polyphonic: whether chords are played (piano, guitar, accordion, banjo).
        alternates: other programs (same bank) that also sound like the class; see
            :attr:`timbres`.
    """

    name: str
    program: int
    bank: int = 0
    low_key: int = 48
    high_key: int = 84
    keys: tuple[int, ...] = ()
    polyphonic: bool = False
    alternates: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for program in self.timbres:
            if not 0 <= program <= 127:
                raise ValueError(f"instrument {self.name!r}: program {program} not in 0..127")
        if not 0 <= self.bank <= PERCUSSION_BANK:
            raise ValueError(f"instrument {self.name!r}: bank {self.bank} not in 0..128")
        if not 0 <= self.low_key <= self.high_key <= 127:
            raise ValueError(
                f"instrument {self.name!r}: key range {self.low_key}..{self.high_key} must lie "
                "in 0..127 with low <= high"
            )
        if self.is_percussion and not self.keys:
            raise ValueError(f"percussion instrument {self.name!r} needs a non-empty `keys`")

    @property
    def is_percussion(self) -> bool:
        return self.bank == PERCUSSION_BANK

    @property
    def timbres(self) -> tuple[int, ...]:
        """Every program the class may be played with: ``program`` first, then the alternates."""
        return (self.program, *self.alternates)


# Key ranges are the instruments' usual ranges (MIDI 60 = middle C); percussion keys follow the
# General-MIDI drum map (36 kick, 38 snare, 42/46 hi-hat, 49 crash, 61-64 bongo/conga, 70 maracas).
# Alternates: tango accordion; steel guitar; viola, fiddle; muted trumpet; soprano and tenor sax;
# piccolo, recorder; bright and electric grand piano; the room and jazz drum kits.
BUILTIN_INSTRUMENTS: dict[str, Instrument] = {
    inst.name: inst
    for inst in (
        Instrument("accordion", 21, low_key=53, high_key=84, polyphonic=True, alternates=(23,)),
        Instrument(
            "acoustic_guitar", 24, low_key=40, high_key=81, polyphonic=True, alternates=(25,)
        ),
        Instrument("violin", 40, low_key=55, high_key=93, alternates=(41, 110)),
        Instrument("trumpet", 56, low_key=55, high_key=82, alternates=(59,)),
        Instrument("saxophone", 65, low_key=49, high_key=80, alternates=(64, 66)),
        Instrument("flute", 73, low_key=60, high_key=96, alternates=(72, 74)),
        Instrument("drum", 0, bank=PERCUSSION_BANK, keys=(36, 38, 42, 46, 49), alternates=(8, 32)),
        Instrument("piano", 0, low_key=36, high_key=96, polyphonic=True, alternates=(1, 2)),
        Instrument("banjo", 105, low_key=48, high_key=84, polyphonic=True),
        Instrument("maracas", 0, bank=PERCUSSION_BANK, keys=(70, 69, 82), alternates=(8, 32)),
        Instrument("long_drum", 0, bank=PERCUSSION_BANK, keys=(61, 62, 63, 64), alternates=(8, 32)),
    )
}


def _instrument_from_entry(name: str, entry: Any, where: Path) -> Instrument:
    if isinstance(entry, bool) or not isinstance(entry, (int, dict)):
        raise ValueError(
            f"{where}: entry for {name!r} must be a GM program number or an object like "
            f'{{"program": 40, "bank": 0}}, got {entry!r}'
        )
    if isinstance(entry, int):
        entry = {"program": entry}
    unknown = set(entry) - {"program", "bank", "low", "high", "keys", "polyphonic", "alternates"}
    if unknown or "program" not in entry:
        raise ValueError(
            f"{where}: entry for {name!r} needs a 'program' and only the keys program, bank, "
            f"low, high, keys, polyphonic, alternates (got {sorted(entry)})"
        )
    alternates = entry.get("alternates", [])
    if not isinstance(alternates, list) or not all(isinstance(p, int) for p in alternates):
        raise ValueError(
            f"{where}: 'alternates' of {name!r} must be a list of program numbers, got "
            f"{alternates!r}"
        )
    numbers = {k: entry[k] for k in ("program", "bank", "low", "high") if k in entry}
    if bad := {k: v for k, v in numbers.items() if isinstance(v, bool) or not isinstance(v, int)}:
        raise ValueError(f"{where}: entry for {name!r}: {bad} must be whole numbers")
    base = BUILTIN_INSTRUMENTS.get(name)
    bank = int(entry.get("bank", 0))
    default_keys = base.keys if base and base.bank == bank else (35, 38, 42, 45, 48)
    try:
        return Instrument(
            name=name,
            program=int(entry["program"]),
            bank=bank,
            low_key=int(entry.get("low", base.low_key if base else 48)),
            high_key=int(entry.get("high", base.high_key if base else 84)),
            keys=tuple(int(k) for k in entry.get("keys", default_keys if bank == 128 else ())),
            polyphonic=bool(entry.get("polyphonic", base.polyphonic if base else False)),
            alternates=tuple(alternates),
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def load_program_map(path: str | Path) -> dict[str, Instrument]:
    """Read a ``{class: program | {"program", "bank", ...}}`` JSON file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a JSON object or an entry is malformed (names the file).
    """
    path = Path(path)
    raw = read_json(path, "program map", dict, "{class: program}")
    if not raw:
        raise ValueError(f"{path}: expected a non-empty JSON object {{class: program}}")
    return {
        str(name): _instrument_from_entry(str(name), entry, path) for name, entry in raw.items()
    }


def resolve_instruments(
    classes: tuple[str, ...], program_map: dict[str, Instrument] | None = None
) -> tuple[Instrument, ...]:
    """The instruments for ``classes``: the program map first, then the built-in table.

    Raises:
        ValueError: a class is in neither, listing the known ones.
    """
    table = {**BUILTIN_INSTRUMENTS, **(program_map or {})}
    unknown = [name for name in classes if name not in table]
    if unknown:
        raise ValueError(
            f"unknown instrument class(es) {unknown}; known: {sorted(table)}. Add them to a "
            "--program-map JSON file to bring your own"
        )
    return tuple(table[name] for name in classes)
