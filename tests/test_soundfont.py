"""Notes rendered one by one from Debian's TimGM6mb SoundFont through FluidSynth."""

import json

import numpy as np
import pytest
import soundfile as sf

from ganpad.cli import main
from ganpad.training.metrics import track_pitch
from ganpad.training.soundfont import SoundFontError, note_name, render_note

TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def test_note_names():
    assert [note_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


def test_data_soundfont_builds_an_nsynth_like_set(tmp_path):
    out = tmp_path / "notes"
    assert main(["data", "soundfont", TIMGM, "--out", str(out), "--programs", "0", "73",
                 "--pitches", "60-62", "--velocities", "100", "--seconds", "1"]) == 0  # fmt: skip
    summary = json.loads((out / "notes.json").read_text())
    assert len(summary["notes"]) == 6 and summary["skipped"] == []
    first = summary["notes"][0]
    assert first == {"file": "000/p000_C4_060_v100.wav", "program": 0, "pitch": 60,
                     "velocity": 100}  # fmt: skip
    audio, rate = sf.read(out / first["file"], dtype="float32")
    assert rate == 16000 and audio.shape == (16000,) and np.abs(audio).max() > 0.01
    assert abs(track_pitch(audio[None, :16000], 16000)[0] - 60) < 0.5


def test_missing_soundfont_is_named(tmp_path):
    with pytest.raises(SoundFontError, match="nope.sf2: no such SoundFont"):
        render_note(tmp_path / "nope.sf2", 0, 60)
