"""Notes from a SoundFont, one at a time, through the FluidSynth program (no audio driver)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np

from ganpad.audio import decode, to_mono


class SoundFontError(RuntimeError):
    pass


def note_midi_file(path: Path, program: int, pitch: int, velocity: int, seconds: float) -> None:
    """A one-note MIDI file: program change, note-on, note-off after `seconds`."""
    track = mido.MidiTrack()
    ticks = int(mido.second2tick(seconds, 480, 500_000))
    track.append(mido.Message("program_change", program=program, time=0))
    track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=0))
    track.append(mido.Message("note_off", note=pitch, velocity=0, time=ticks))
    song = mido.MidiFile(ticks_per_beat=480)
    song.tracks.append(track)
    song.save(str(path))


def render_note(sf2: str | Path, program: int, pitch: int, velocity: int = 100,
                seconds: float = 1.0, rate: int = 16000) -> np.ndarray:  # fmt: skip
    """Mono float32 audio of one note, `seconds` held plus FluidSynth's release tail."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise SoundFontError("the fluidsynth program is missing: apt-get install fluidsynth")
    if not Path(sf2).is_file():
        raise SoundFontError(f"{sf2}: no such SoundFont")
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "note.mid", Path(tmp) / "note.wav"
        note_midi_file(mid, program, pitch, velocity, seconds)
        done = subprocess.run(
            [fluidsynth, "-ni", "-g", "1", "-r", str(rate), "-F", str(wav), str(sf2), str(mid)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0 or not wav.exists():
            raise SoundFontError(f"fluidsynth failed on {sf2}: {done.stderr.strip()[-300:]}")
        return to_mono(decode(wav).audio)
