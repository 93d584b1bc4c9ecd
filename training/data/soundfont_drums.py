"""The GM drum kits of a SoundFont as Hydrogen kit folders: real drums for evaluation.

Every kit of bank 128 is played key by key (GM keys 35-81, channel 10) through FluidSynth in
one pass, cut into one WAV per key and velocity, and written with a drumkit.xml that names
each key by its GM instrument, so the data loader labels the clips like any Hydrogen kit.
"""

from __future__ import annotations

import json
import re
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np

from ganpad.atomic import atomic_dir, atomic_write_text
from ganpad.drums import GM_NOTE_CLASS, GM_NOTE_NAMES
from ganpad.hydrogen_kit import Instrument, Layer, drumkit_xml, velocity_layers
from ganpad.training.data.soundfont import DEBIAN_FONTS, SoundFontError, render_midi

DRUM_BANK = 128
DRUM_CHANNEL = 9  # MIDI channel 10
# GM2's orchestra kit puts timpani on the tom keys: its labels would be wrong.
SKIP_KITS = re.compile(r"orchestra", re.IGNORECASE)
SPACING_S = 2.5  # one key every 2.5 s: a cymbal has faded 40 dB or more by the next
HIHAT_GROUP = 1  # closed, pedal and open hat cut each other, as on a real stand
KITS_SUFFIX = "_drum_kits.json"  # the listing a render writes beside its kit folders


def _chunks(data: bytes, start: int, end: int):
    """(id, body start, body end) of the RIFF chunks between start and end.

    RIFF pads an odd-sized chunk to an even length; MuseScore's .sf3 writer does not, so after
    an odd chunk the next is read where a chunk fits (FluidSynth reads both)."""
    while start + 8 <= end:
        cid = data[start : start + 4]
        size = struct.unpack("<I", data[start + 4 : start + 8])[0]
        yield cid, start + 8, min(start + 8 + size, end)
        step = start + 8 + size
        padded = step + (size & 1)
        unpadded = size & 1 and not _fits(data, padded, end) and _fits(data, step, end)
        start = step if unpadded else padded


def _fits(data: bytes, at: int, end: int) -> bool:
    """Whether a chunk can start at `at`: an ID of printable ASCII and a size within `end`."""
    if at + 8 > end:
        return False
    size = struct.unpack("<I", data[at + 4 : at + 8])[0]
    return all(32 <= c < 127 for c in data[at : at + 4]) and at + 8 + size <= end


def soundfont_presets(sf2: str | Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of every preset in a .sf2 file (its pdta/phdr records)."""
    try:
        data = Path(sf2).read_bytes()
    except OSError as exc:
        raise SoundFontError(f"{sf2}: cannot read: {exc}") from exc
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError(f"{sf2}: not a SoundFont 2 file (no RIFF sfbk header)")
    for cid, lo, hi in _chunks(data, 12, len(data)):
        if cid == b"LIST" and data[lo : lo + 4] == b"pdta":
            for sub, slo, shi in _chunks(data, lo + 4, hi):
                if sub == b"phdr":  # 38-byte records, the last a terminal "EOP"
                    records = [data[i : i + 38] for i in range(slo, shi - 38, 38)]
                    return [(struct.unpack("<H", r[22:24])[0], struct.unpack("<H", r[20:22])[0],
                             r[:20].split(b"\0")[0].decode("latin-1").strip())
                            for r in records]  # fmt: skip
    raise SoundFontError(f"{sf2}: no preset headers (pdta/phdr) found")


def drum_kits(sf2: str | Path) -> list[tuple[int, str]]:
    """(program, name) of the font's GM drum kits, orchestra kits left out."""
    kits = {p: n for bank, p, n in soundfont_presets(sf2) if bank == DRUM_BANK}
    return sorted((p, n) for p, n in kits.items() if not SKIP_KITS.search(n))


def kit_midi_file(path: Path, program: int, notes: list[int], velocity: int,
                  spacing: float = SPACING_S) -> None:  # fmt: skip
    """A drum-channel MIDI file: the kit's program, then each note `spacing` seconds apart."""
    track = mido.MidiTrack()
    step = int(mido.second2tick(spacing, 480, 500_000))
    track.append(mido.Message("program_change", channel=DRUM_CHANNEL, program=program, time=0))
    for i, note in enumerate(notes):
        track.append(mido.Message("note_on", channel=DRUM_CHANNEL, note=note, velocity=velocity,
                                  time=0 if i == 0 else step - 10))  # fmt: skip
        track.append(mido.Message("note_off", channel=DRUM_CHANNEL, note=note, time=10))
    track.append(mido.MetaMessage("end_of_track", time=step))
    song = mido.MidiFile(ticks_per_beat=480)
    song.tracks.append(track)
    song.save(str(path))


def render_kit(sf2: str | Path, program: int, notes: list[int], velocity: int = 100,
               rate: int = 44100, spacing: float = SPACING_S) -> dict[int, np.ndarray]:  # fmt: skip
    """Each note of one kit [spacing * rate samples], from a single FluidSynth run."""
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "kit.mid"
        kit_midi_file(mid, program, notes, velocity, spacing)
        audio = render_midi(sf2, mid, rate)
    # A tick is rounded to whole samples by the synth: cut at the nominal grid.
    width = int(round(spacing * rate))
    audio = np.pad(audio, (0, max(0, width * len(notes) - len(audio))))
    return {n: audio[i * width : (i + 1) * width] for i, n in enumerate(notes)}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def build_drum_kits(sf2: str | Path, out: str | Path, velocities: tuple[int, ...] = (100,),
                    rate: int = 44100, silence_db: float = -60.0,
                    progress: Callable[[int, int], None] | None = None) -> dict:  # fmt: skip
    """One Hydrogen kit folder per GM drum kit of the font under `out`, and drum_kits.json.

    Keys a kit leaves silent are skipped and listed. Each kit folder is written whole or
    not at all.
    """
    sf2, out = Path(sf2), Path(out)
    font = sf2.resolve().name
    package, licence = DEBIAN_FONTS.get(font, ("", "unknown: pass the font's licence on"))
    notes = sorted(GM_NOTE_CLASS)
    kits, skipped = [], []
    listing = drum_kits(sf2)
    for done, (program, kit) in enumerate(listing):
        rendered = {v: render_kit(sf2, program, notes, v, rate) for v in velocities}
        name = f"{sf2.stem} {kit}"
        folder = out / _slug(name)
        instruments = []
        with atomic_dir(folder) as tmp:
            for note in notes:
                layers = []
                ranges = velocity_layers(list(velocities))
                for v, (low, high) in zip(sorted(velocities), ranges, strict=True):
                    clip = rendered[v][note]
                    file = f"{note:02d}_{_slug(GM_NOTE_NAMES[note])}_v{v:03d}.wav"
                    if np.abs(clip).max(initial=0.0) <= 10 ** (silence_db / 20):
                        skipped.append({"kit": name, "file": file, "reason": "silent"})
                        continue
                    _write_wav(tmp / file, clip, rate)
                    layers.append(Layer(file, low, high))
                if layers:
                    group = HIHAT_GROUP if GM_NOTE_CLASS[note] in ("closed_hat", "open_hat") else -1
                    instruments.append(Instrument(GM_NOTE_NAMES[note], note, layers, group))
            info = f"GM drum kit {kit} (bank {DRUM_BANK}, program {program}) of {font}"
            if package:
                info += f", Debian package {package}"
            (tmp / "drumkit.xml").write_text(
                drumkit_xml(name, "rendered by ganpad", info, licence, instruments), "utf-8"
            )
        kits.append({"name": name, "folder": folder.name, "program": program,
                     "instruments": len(instruments)})  # fmt: skip
        if progress:
            progress(done + 1, len(listing))
    summary = {"soundfont": str(sf2), "package": package, "license": licence, "rate": rate,
               "velocities": list(velocities), "kits": kits, "skipped": skipped}  # fmt: skip
    atomic_write_text(out / f"{_slug(sf2.stem)}{KITS_SUFFIX}", json.dumps(summary, indent=1))
    return summary


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    import soundfile as sf

    peak = float(np.abs(audio).max())
    if peak > 0.999:  # 16 bits clip at full scale: lower a rare overloud hit instead
        audio = audio * (0.999 / peak)
    sf.write(path, audio, rate, subtype="PCM_16", format="WAV")


def rendered_fonts(root: Path) -> tuple[list[str], set[str]]:
    """What the `build_drum_kits` listings under `root` say they rendered: ("GM drum kits of
    FONT (Debian PACKAGE), LICENCE" per font, the names of the kits rendered)."""
    fonts, kits = set(), set()
    for listing in sorted(Path(root).rglob(f"*{KITS_SUFFIX}")):
        try:
            summary = json.loads(listing.read_text(encoding="utf-8"))
            font = Path(summary["soundfont"]).name
            kits |= {str(k["name"]) for k in summary.get("kits", [])}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        package = f" (Debian {summary['package']})" if summary.get("package") else ""
        fonts.add(f"GM drum kits of {font}{package}, {summary.get('license', 'licence unknown')}")
    return sorted(fonts), kits
