"""Notes from a SoundFont, one at a time, through the FluidSynth program (no audio driver)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np

from ganpad.audio import decode, to_mono
from ganpad.notes import note_name


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


def render_midi(sf2: str | Path, midi: Path, rate: int = 16000) -> np.ndarray:
    """Mono float32 audio of a MIDI file played through a SoundFont by the fluidsynth program."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise SoundFontError("the fluidsynth program is missing: apt-get install fluidsynth")
    if not Path(sf2).is_file():
        raise SoundFontError(f"{sf2}: no such SoundFont")
    wav = midi.with_suffix(".wav")
    done = subprocess.run(
        [fluidsynth, "-ni", "-g", "1", "-r", str(rate), "-F", str(wav), str(sf2), str(midi)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0 or not wav.exists():
        raise SoundFontError(f"fluidsynth failed on {sf2}: {done.stderr.strip()[-300:]}")
    return to_mono(decode(wav).audio)


def render_note(sf2: str | Path, program: int, pitch: int, velocity: int = 100,
                seconds: float = 1.0, rate: int = 16000) -> np.ndarray:  # fmt: skip
    """Mono float32 audio of one note, `seconds` held plus FluidSynth's release tail."""
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "note.mid"
        note_midi_file(mid, program, pitch, velocity, seconds)
        return render_midi(sf2, mid, rate)


def build_note_set(sf2: str | Path, out: str | Path, programs: list[int], pitches: list[int],
                   velocities: list[int], seconds: float = 4.0, rate: int = 16000,
                   silence_db: float = -60.0, progress=None) -> dict:  # fmt: skip
    """An NSynth-like folder: one WAV per (program, pitch, velocity) and notes.json.

    Each note is held for three quarters of `seconds` and cut at `seconds` (its release fades
    in the last quarter); notes a SoundFont leaves silent are skipped and listed.
    """
    import soundfile as sf

    from ganpad.atomic import atomic_path, atomic_write_text

    out = Path(out)
    notes, skipped = [], []
    total = len(programs) * len(pitches) * len(velocities)
    for program in programs:
        for pitch in pitches:
            for velocity in velocities:
                audio = render_note(sf2, program, pitch, velocity, seconds * 0.75, rate)
                audio = np.pad(audio, (0, max(0, int(seconds * rate) - len(audio))))
                audio = audio[: int(seconds * rate)]
                name = f"p{program:03d}_{note_name(pitch)}_{pitch:03d}_v{velocity:03d}.wav"
                peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
                if peak <= 10 ** (silence_db / 20):
                    skipped.append({"file": name, "reason": "silent"})
                else:
                    with atomic_path(out / f"{program:03d}" / name) as tmp:
                        sf.write(tmp, audio, rate, subtype="PCM_16", format="WAV")
                    notes.append({"file": f"{program:03d}/{name}", "program": program,
                                  "pitch": pitch, "velocity": velocity})  # fmt: skip
                if progress:
                    progress(len(notes) + len(skipped), total)
    summary = {"soundfont": str(sf2), "rate": rate, "seconds": seconds, "notes": notes,
               "skipped": skipped}  # fmt: skip
    atomic_write_text(out / "notes.json", json.dumps(summary, indent=1) + "\n")
    return summary


# SoundFonts Debian ships, with the licence its copyright file gives.
DEBIAN_FONTS = {
    "TimGM6mb.sf2": ("timgm6mb-soundfont", "GPL-2"),
    "FluidR3_GM.sf2": ("fluid-soundfont-gm", "MIT"),
}


def soundfont_license(notes_dir: Path) -> dict[str, str] | None:
    """The licence of the SoundFont a `ganpad data soundfont` folder was rendered from."""
    try:
        font = Path(json.loads((Path(notes_dir) / "notes.json").read_text())["soundfont"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    known = DEBIAN_FONTS.get(font.resolve().name) or DEBIAN_FONTS.get(font.name)
    if known is None:
        return {"data": f"notes rendered from {font}: licence unknown, pass --license"}
    package, licence = known
    return {
        "data": f"notes rendered from {font.name} (Debian {package}), {licence}; full terms in "
        f"/usr/share/doc/{package}/copyright",
        "soundfont": str(font),
    }
