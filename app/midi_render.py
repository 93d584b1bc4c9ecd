"""A MIDI file played through a preset offline: the engine's own parts, driven sample-exactly.

The voice pool, the worker's rendering and the mixer are the ones `ganpad play` runs; only the
clock differs. Events land on the frame their time in the file rounds to, the worker renders
whatever the pool wants between blocks (so no note ever finds its slot empty), and the latent
bank is seeded, so a file renders the same every time and as the engine would play it.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganpad.app.engine import Engine, EngineError
from ganpad.app.keymap import KeyMap
from ganpad.app.mixer import NOTE_OFF, NOTE_ON, MixerConfig
from ganpad.app.render import Job
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
    """Note events of a standard MIDI file at `rate`: every track of a type 0 or 1 file
    together, tempo changes applied; a type 2 file's tracks one after another (each is a
    pattern of its own); SMPTE time codes at their frames per second.

    `channel` (1-16) keeps one channel; None keeps all.
    """
    events = []
    for seconds, msg in _timed_messages(path):
        if msg.type not in ("note_on", "note_off"):
            continue
        if channel is not None and msg.channel != channel - 1:
            continue
        on = msg.type == "note_on" and msg.velocity > 0
        events.append(MidiEvent(round(seconds * rate), NOTE_ON if on else NOTE_OFF, msg.note,
                                msg.velocity))  # fmt: skip
    if not any(e.kind == NOTE_ON for e in events):
        where = f" on channel {channel}" if channel else ""
        raise MidiFileError(f"{path}: no note-on{where} to play")
    return events


def unplayable(events: list[MidiEvent], keymap: KeyMap) -> Counter[int]:
    """How many note-ons each key the preset has no sound for would have played."""
    return Counter(e.note for e in events if e.kind == NOTE_ON and keymap.slot_for(e.note) < 0)


def default_channel(preset: Preset, path: Path) -> int | None:
    """Drum presets play channel 10 when the file uses it; otherwise every channel."""
    if preset.kind != "drums":
        return None
    used = {m.channel + 1 for _, m in _timed_messages(path) if m.type == "note_on"}
    return DRUM_CHANNEL if DRUM_CHANNEL in used else None


def _timed_messages(path: Path) -> list[tuple[float, object]]:
    """(seconds from the start, message) of every message, in time order."""
    import mido

    try:
        song = mido.MidiFile(path)
    except (OSError, ValueError, EOFError, KeyError, IndexError, struct.error) as exc:
        reason = str(exc) or _REASONS.get(type(exc), type(exc).__name__)
        raise MidiFileError(f"{path}: not a readable MIDI file ({reason})") from exc
    division = song.ticks_per_beat
    if division == 0:
        raise MidiFileError(f"{path}: not a readable MIDI file (0 ticks per beat)")
    try:
        if song.type != 2:
            return _track_times(mido.merge_tracks(song.tracks, skip_checks=True), division)
        timed, offset = [], 0.0  # a type 2 file's independent patterns, in sequence
        for track in song.tracks:
            part = _track_times(mido.merge_tracks([track], skip_checks=True), division)
            timed += [(offset + t, m) for t, m in part]
            offset += part[-1][0] if part else 0.0
        return timed
    except MidiFileError as exc:
        raise MidiFileError(f"{path}: {exc}") from exc


_REASONS = {EOFError: "the file ends early", struct.error: "the file ends early"}


def _track_times(track, division: int) -> list[tuple[float, object]]:
    """Absolute seconds for a track of delta ticks: by the tempo map, or by SMPTE frames
    when the header's division is negative (frames per second, ticks per frame)."""
    import mido

    per_tick = _smpte_tick_seconds(division) if division < 0 else 0.0
    now, tempo, timed = 0.0, mido.midifiles.midifiles.DEFAULT_TEMPO, []
    for msg in track:
        if msg.time:
            now += msg.time * per_tick if per_tick else mido.tick2second(msg.time, division, tempo)
        timed.append((now, msg))
        if msg.type == "set_tempo":
            tempo = msg.tempo
    return timed


def _smpte_tick_seconds(division: int) -> float:
    """Seconds per tick of an SMPTE division: -frames per second in the high byte (29 is
    drop-frame 29.97), ticks per frame in the low byte."""
    raw = division & 0xFFFF
    code, ticks = 256 - (raw >> 8), raw & 0xFF
    fps = {24: 24.0, 25: 25.0, 29: 30000 / 1001, 30: 30.0}.get(code)
    if fps is None or not ticks:
        raise MidiFileError(f"SMPTE division of {code} frames a second and {ticks} ticks a "
                            "frame (MIDI allows 24, 25, 29 or 30, and 1 tick or more)")  # fmt: skip
    return 1.0 / (fps * ticks)


def _of_program(preset: Preset, sounds: list[Job], program: int | None) -> list[Job]:
    """The sounds of `program` (a preset's program index), or of the one program they hold."""
    held = sorted({j.program for j in sounds if j.program is not None})
    if not held:
        raise EngineError(f"the kit's sounds name no program of {preset.name}")
    gm = ", ".join(str(preset.programs[p].program) for p in held)
    if program is None and len(held) > 1:
        raise EngineError(f"the kit holds sounds of GM programs {gm}: choose one (--program)")
    chosen = [j for j in sounds if j.program == (held[0] if program is None else program)]
    if not chosen:
        raise EngineError(f"the kit holds no sounds of GM program "
                          f"{preset.programs[program].program}, only of {gm}")  # fmt: skip
    return chosen


def render_midi(
    preset: Preset,
    events: list[MidiEvent],
    rate: int = 48000,
    seed: int = 0,
    progress: Callable[[int, int], object] | None = None,
    sounds: list[Job] | None = None,
    kit: Path | None = None,
    program: int | None = None,
) -> tuple[np.ndarray, list[Played]]:
    """(mono audio until the last voice ends, unclipped; the notes that sounded, with seeds).

    `sounds` (a rendered kit's) are played in turn on their slots, as round robins; `kit`, a
    window's kit file, locks its slots as the instrument would. A preset with programs plays
    `program`, else the kit's or the sounds' own, else its first.
    """
    engine = Engine(preset, device_rate=rate, seed=seed, mixer=MixerConfig(clip=False))
    try:
        if kit is not None:
            engine.load_kit(kit)
        if sounds and preset.programs:  # a rendered kit's sounds of one program, as played
            sounds = _of_program(preset, sounds, program)
            program = sounds[0].program
        if program is not None:
            engine.set_program(program)
        # A sound's velocity layers are one sound to the engine, which plays its own bands.
        unique = list({(j.slot, j.seed): j for j in sounds or ()}.values())
        for slot in sorted({j.slot for j in unique}):
            engine.cycle(slot, [(j.z, j.seed) for j in unique if j.slot == slot])
        worker, mixer = engine.worker, engine.mixer
        worker.render_wanted()
        end = max(e.frame for e in events) + int(engine.pool.rooms.max())
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
            if progress and (stop == end or start % (BLOCK * 64) == 0):
                progress(stop, end)
        sounding = np.flatnonzero(out)
        return out[: sounding[-1] + 1 if len(sounding) else 0], played
    finally:
        engine.close()
