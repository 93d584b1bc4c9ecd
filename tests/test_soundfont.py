"""Notes rendered one by one from Debian's TimGM6mb SoundFont through FluidSynth."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import TIMGM

from ganpad.cli import main
from ganpad.notes import note_name
from ganpad.training.data.soundfont import SoundFontError, render_note
from ganpad.training.evaluation.metrics import track_pitch


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


def test_pitched_folder_labels_from_index_name_or_listening(tmp_path, clip_cache):
    from ganpad.training.config import DataConfig
    from ganpad.training.data.ingest import load_clips
    from ganpad.training.data.pitch_labels import pitch_from_name

    assert [pitch_from_name(n) for n in ("C4.wav", "F#2.flac", "Bb3.wav", "flute_72.wav")] == [
        60, 42, 58, 72]  # fmt: skip
    notes = tmp_path / "set"
    main(["data", "soundfont", TIMGM, "--out", str(notes), "--programs", "0", "--pitches",
          "60-61", "--velocities", "100", "--seconds", "1"])  # fmt: skip
    loose = tmp_path / "loose"
    loose.mkdir()
    sf.write(loose / "G4.wav", render_note(TIMGM, 40, 67, 100, 0.8), 16000)  # named
    sf.write(loose / "mystery.wav", render_note(TIMGM, 73, 72, 100, 0.8), 16000)  # heard
    sf.write(loose / "hiss.wav", np.random.default_rng(0).normal(0, 0.2, 16000), 16000)

    indexed = load_clips(DataConfig(path=str(notes), labels="pitch", cache_dir=str(clip_cache)))
    assert indexed.classes == ("60", "61")
    other = load_clips(DataConfig(path=str(loose), labels="pitch", cache_dir=str(clip_cache)))
    by_file = {p.rsplit("/", 1)[-1]: other.classes[i] for p, i in zip(other.paths, other.labels,
                                                                      strict=True)}  # fmt: skip
    assert by_file == {"G4.wav": "67", "mystery.wav": "72"}
    assert [(s.path.rsplit("/", 1)[-1], s.reason) for s in other.report.skipped] == [
        ("hiss.wav", "unpitched")]  # fmt: skip
