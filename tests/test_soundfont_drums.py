"""GM drum kits rendered from a real SoundFont: labels, the Hydrogen kit files, the named
reference and the classifier on a source it never trained on."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import xmlschema
from conftest import TIMGM

from ganpad.drums import DRUM_CLASSES, GM_NOTE_CLASS
from ganpad.training.config import DataConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.data.reference import REFERENCES, build_reference, resolve
from ganpad.training.data.soundfont import SoundFontError
from ganpad.training.data.soundfont_drums import drum_kits, soundfont_presets
from ganpad.training.evaluation.classifier import CARD, load_classifier
from ganpad.training.evaluation.classifier import accuracy as classifier_accuracy

XSD = Path("/usr/share/hydrogen/data/xsd/drumkit.xsd")


def test_the_fonts_drum_kits_are_read_from_its_preset_headers():
    presets = soundfont_presets(TIMGM)
    assert (0, 0, "Acoustic Grand Piano") in presets or any(p[:2] == (0, 0) for p in presets)
    kits = drum_kits(TIMGM)
    assert (0, "Standard") in kits and (25, "TR 808") in kits
    assert not any("orchestra" in name.lower() for _, name in kits)


def _riff_chunk(cid: bytes, body: bytes, pad: bool) -> bytes:
    return cid + len(body).to_bytes(4, "little") + body + (b"\0" if pad and len(body) % 2 else b"")


@pytest.mark.parametrize("pad", [True, False], ids=["padded", "unpadded (MuseScore's sf3)"])
def test_preset_headers_are_found_after_an_odd_chunk_padded_or_not(tmp_path, pad):
    """MuseScore General's .sf3 (Debian's musescore-general-soundfont*) has an odd-sized sample
    chunk and no pad byte after it; FluidSynth reads it, and so must the kit builder."""

    def record(name: bytes, program: int, bank: int) -> bytes:
        return name.ljust(20, b"\0") + program.to_bytes(2, "little") + bank.to_bytes(2, "little")\
            + bytes(14)  # fmt: skip

    info = _riff_chunk(b"LIST", b"INFO" + _riff_chunk(b"ifil", bytes(4), pad), pad)
    samples = _riff_chunk(b"LIST", b"sdta" + _riff_chunk(b"smpl", bytes(3), pad), pad)
    phdr = _riff_chunk(b"phdr", record(b"Standard", 0, 128) + record(b"EOP", 0, 0), pad)
    body = b"sfbk" + info + samples + _riff_chunk(b"LIST", b"pdta" + phdr, pad)
    font = tmp_path / "font.sf3"
    font.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    assert soundfont_presets(font) == [(128, 0, "Standard")]
    assert drum_kits(font) == [(0, "Standard")]


def test_a_file_that_is_no_soundfont_is_refused_by_name(tmp_path):
    bad = tmp_path / "song.sf2"
    bad.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    with pytest.raises(SoundFontError, match="song.sf2: not a SoundFont 2 file"):
        drum_kits(bad)


def test_rendered_kits_carry_the_gm_class_of_every_key(timgm_kits):
    summary = json.loads((timgm_kits / "TimGM6mb_drum_kits.json").read_text())
    assert len(summary["kits"]) == len(drum_kits(TIMGM)) and summary["license"] == "GPL-2"
    clips = load_clips(DataConfig(path=str(timgm_kits / "TimGM6mb_Standard")))
    assert clips.report.skipped == [] and len(clips.audio) >= 40
    for path, label in zip(clips.paths, clips.labels, strict=True):
        note = int(Path(path).name[:2])
        assert clips.classes[label] == GM_NOTE_CLASS[note], path
    # Each key starts its own file: the onset sits in the first few milliseconds, and the
    # previous key has not rung into it.
    audio, rate = sf.read(timgm_kits / "TimGM6mb_Standard" / "38_Acoustic_Snare_v100.wav")
    onset = np.argmax(np.abs(audio) > 0.05 * np.abs(audio).max())
    assert onset < 0.01 * rate and np.abs(audio[: max(onset - 20, 1)]).max() < 1e-3


def test_the_written_drumkit_xml_is_valid_against_hydrogens_schema(timgm_kits):
    schema = xmlschema.XMLSchema(str(XSD))
    kit = timgm_kits / "TimGM6mb_Standard" / "drumkit.xml"
    schema.validate(str(kit))
    ns = {"h": "http://www.hydrogen-music.org/drumkit"}
    root = ET.parse(kit).getroot()
    for filename in root.iterfind(".//h:layer/h:filename", ns):
        assert (kit.parent / filename.text).is_file()


def test_velocity_layers_split_the_range_between_the_velocities(tmp_path):
    from ganpad.hydrogen_kit import velocity_layers

    assert velocity_layers([100]) == [(0.0, 1.0)]
    layers = velocity_layers([127, 64])
    assert layers[0] == (0.0, pytest.approx(95.5 / 127)) and layers[1][1] == 1.0


def test_a_named_reference_says_how_to_rebuild_it_and_a_path_stays_a_path(tmp_path):
    folder, record = resolve(str(tmp_path))
    assert folder == str(tmp_path) and record is None
    ref = REFERENCES["heldout-drums"].to_json()
    assert "hydrogen-data" in ref["packages"] and ref["command"].startswith("ganpad data")
    with pytest.raises(ValueError, match="no reference named 'nope'"):
        build_reference("nope", tmp_path / "x")


def test_a_named_reference_built_to_an_older_definition_is_built_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stale = tmp_path / "ganpad" / "references" / "heldout-drums"
    (stale / "FluidR3_GM").mkdir(parents=True)
    (stale / "reference.json").write_text(json.dumps({"name": "heldout-drums", "about": "old"}))
    folder, record = resolve("heldout-drums")
    assert Path(folder) == stale and record == REFERENCES["heldout-drums"].to_json()
    assert json.loads((stale / "reference.json").read_text()) == record
    assert sorted(p.name for p in stale.iterdir()) == ["GMRockKit", "TimGM6mb", "reference.json"]
    built = (stale / "reference.json").stat().st_mtime_ns
    assert resolve("heldout-drums")[0] == folder  # up to date: used as it is
    assert (stale / "reference.json").stat().st_mtime_ns == built


def test_the_classifier_recognises_a_source_it_never_trained_on(timgm_kits):
    card = json.loads(CARD.read_text())
    assert "TimGM6mb" not in json.dumps(card["trained_on"])
    clips = load_clips(DataConfig(path=str(timgm_kits), sample_rate=16000, slice_len=16384))
    clips.labels = np.array([DRUM_CLASSES.index(clips.classes[i]) for i in clips.labels])
    overall, per_class = classifier_accuracy(load_classifier(), clips)
    assert overall >= 0.85, per_class
