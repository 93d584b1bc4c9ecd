"""A MIDI file played through a preset offline: the engine's own parts, driven sample-exactly.

The voice pool, the worker's rendering and the mixer are the ones `ganpad play` runs; only the
clock differs. Events land on the frame their time in the file rounds to, the worker renders
whatever the pool wants between blocks (so no note ever finds its slot empty), and the latent
bank is seeded, so a file renders the same every time and as the engine would play it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganpad.app.engine import Engine
from ganpad.app.mixer import NOTE_OFF, NOTE_ON
from ganpad.presets import Preset

BLOCK = 512
DRUM_CHANNEL = 10  # General MIDI's percussion channel, counted from 1


class MidiFileError(ValueError):
    pass


@dataclass(frozen=True)
class MidiEvent:
    frame: int
    kind: int  # NOTE_ON or NOTE_OFF
    note: int
    velocity: int


@dataclass(frozen=True)
class Played:
    frame: int
    note: int
    slot: int
    seed: int


def read_midi(path: Path, rate: int, channel: int | None = None) -> list[MidiEvent]:
    """Note events of a standard MIDI file (all tracks, tempo changes applied) at `rate`.

    `channel` (1-16) keeps one channel; None keeps all.
    """
    events, now = [], 0.0
    for msg in _messages(path):
        now += msg.time
        if msg.type not in ("note_on", "note_off"):
            continue
        if channel is not None and msg.channel != channel - 1:
            continue
        on = msg.type == "note_on" and msg.velocity > 0
        events.append(MidiEvent(round(now * rate), NOTE_ON if on else NOTE_OFF, msg.note,
                                msg.velocity))  # fmt: skip
    if not any(e.kind == NOTE_ON for e in events):
        where = f" on channel {channel}" if channel else ""
        raise MidiFileError(f"{path}: no note-on{where} to play")
    return events


def default_channel(preset: Preset, path: Path) -> int | None:
    """Drum presets play channel 10 when the file uses it; otherwise every channel."""
    if preset.kind != "drums":
        return None
    used = {m.channel + 1 for m in _messages(path) if m.type == "note_on"}
    return DRUM_CHANNEL if DRUM_CHANNEL in used else None


def _messages(path: Path) -> list:
    """Every track merged in time order; each message's time is seconds since the last."""
    import mido

    try:
        return list(mido.MidiFile(path))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as exc:
        raise MidiFileError(f"{path}: not a readable MIDI file ({exc})") from exc


def render_midi(preset: Preset, events: list[MidiEvent], rate: int = 48000,
                seed: int = 0) -> tuple[np.ndarray, list[Played]]:  # fmt: skip
    """(mono audio until the last voice ends, the notes that sounded with their seeds)."""
    engine = Engine(preset, device_rate=rate, seed=seed)
    try:
        worker, mixer = engine.worker, engine.mixer
        worker.render_wanted()
        end = max(e.frame for e in events) + engine.pool.audio.shape[2]
        out = np.zeros(end, np.float32)
        pending = sorted(events, key=lambda e: e.frame)
        cursor, played = 0, []
        notes = {(e.frame, engine.keymap.slot_for(e.note)): e.note for e in events}
        for start in range(0, end, BLOCK):
            stop = min(start + BLOCK, end)
            while cursor < len(pending) and pending[cursor].frame < stop:
                e = pending[cursor]
                slot = engine.keymap.slot_for(e.note)
                if slot >= 0:
                    mixer.post(e.kind, slot, e.velocity, e.frame)
                cursor += 1
            mixer.process(out[start:stop])
            while mixer.started:
                slot, frame, chosen = mixer.started.popleft()
                played.append(Played(frame, notes.get((frame, slot), -1), slot, chosen))
            worker.render_wanted()  # what the voices handed back, before the next block
        sounding = np.flatnonzero(out)
        return out[: sounding[-1] + 1 if len(sounding) else 0], played
    finally:
        engine.close()
