"""Standard MIDI files for tests, written with mido."""

from __future__ import annotations

from pathlib import Path

import mido


def write_song(path: Path, notes, *, kind: int = 1, ticks: int = 480, bpm: float = 120) -> Path:  # noqa: ANN001
    """One track of (beat, channel 1-16, note, velocity) note-ons, each off half a beat later."""
    song = mido.MidiFile(type=kind, ticks_per_beat=ticks)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
    events = []
    for beat, channel, note, velocity in notes:
        events.append((round(beat * ticks), "note_on", channel, note, velocity))
        events.append((round((beat + 0.5) * ticks), "note_off", channel, note, 0))
    last = 0
    for tick, name, channel, note, velocity in sorted(events):
        track.append(mido.Message(name, channel=channel - 1, note=note, velocity=velocity,
                                  time=tick - last))  # fmt: skip
        last = tick
    song.tracks.append(track)
    song.save(path)
    return path
