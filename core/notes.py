"""MIDI pitch names: 60 -> C4 (the convention where A4 = 69 = 440 Hz)."""

from __future__ import annotations

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def sample_name(pitch: int) -> str:
    """A name for a pitched sample that sorts by pitch and reads as a note: 060_C4."""
    return f"{pitch:03d}_{note_name(pitch)}"
