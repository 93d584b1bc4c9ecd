"""MIDI pitch labels for pitched notes: notes.json, then the file name, then listening."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

_NOTE = re.compile(r"(?<![A-Za-z])([A-Ga-g])([#sb]?)(-?\d)(?![\d])")
_NUMBER = re.compile(r"(?<![\dv])(\d{2,3})(?!\d)")
_STEPS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def pitch_from_name(name: str) -> int | None:
    """'C4' -> 60, 'F#2' / 'Fs2' -> 42, 'Bb3' -> 58, 'piano_60' -> 60; None if none is there."""
    stem = Path(name).stem
    match = _NOTE.search(stem)
    if match:
        letter, accidental, octave = match.groups()
        shift = {"#": 1, "s": 1, "b": -1}.get(accidental, 0)
        pitch = 12 * (int(octave) + 1) + _STEPS[letter.lower()] + shift
        return pitch if 0 <= pitch < 128 else None
    for number in _NUMBER.findall(stem):
        if 0 <= int(number) < 128:
            return int(number)
    return None


def _from_index(root: Path, value: Callable[[dict], T], wanted: tuple[str, ...] = ()
                ) -> dict[str, T]:  # fmt: skip
    """File -> value(note) over a notes.json that `ganpad data soundfont` wrote (its notes
    that have every `wanted` field); {} where there is none or it cannot be read."""
    index = Path(root) / "notes.json"
    if not index.is_file():
        return {}
    try:
        notes = json.loads(index.read_text(encoding="utf-8"))["notes"]
        return {str((Path(root) / n["file"]).resolve()): value(n)
                for n in notes if all(w in n for w in wanted)}  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def pitches_from_index(root: Path) -> dict[str, int]:
    """File -> pitch from a notes.json, if there is one."""
    return _from_index(root, lambda n: int(n["pitch"]))


def layers_from_index(root: Path) -> dict[str, tuple[float, str]]:
    """File -> (velocity 0..1, "program/pitch") from a notes.json: a program's note rendered
    at several velocities is one layered instrument, as a drum's layers in a kit are
    (velocity lines are fitted within it)."""
    return _from_index(root, lambda n: (int(n["velocity"]) / 127,
                                        f"{int(n['program'])}/{int(n['pitch'])}"),
                       ("velocity", "program"))  # fmt: skip


def programs_from_index(root: Path) -> dict[str, int]:
    """File -> the GM program (0..127) a notes.json says the note was rendered with."""
    return _from_index(root, lambda n: _program(n["program"]), ("program",))


def _program(value: object) -> int:
    program = int(value)  # type: ignore[call-overload]
    if not 0 <= program < 128:
        raise ValueError(f"GM program {program} is not within 0..127")
    return program


def pitch_label(path: str, clip: np.ndarray, rate: int, index: dict[str, int]) -> int | None:
    """The pitch of one note: the index, its name, or (failing both) YIN on the audio."""
    known = index.get(str(Path(path).resolve()))
    if known is not None:
        return known
    named = pitch_from_name(Path(path).name)
    if named is not None:
        return named
    from ganpad.training.evaluation.metrics import track_pitch

    heard = track_pitch(clip[None], rate)[0]
    return None if np.isnan(heard) else int(round(heard))
