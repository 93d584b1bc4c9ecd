import shutil

import numpy as np
import pytest
import soundfile as sf

from ganpad.audio import decode, load_mono, resample
from ganpad.drums import GM_NOTE_CLASS
from ganpad.training.config import DataConfig
from ganpad.training.data import ingest as data_module
from ganpad.training.data.ingest import find_sources, load_clips, prepare_clip


def _kit_copy(gmrock, dest):
    shutil.copytree(gmrock, dest)
    return dest


def test_broken_files_are_reported_and_real_ones_kept(gmrock, tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    real = [
        "Kick-Hard.wav",
        "Snare-Med.wav",
        "HatOpen-Hard.wav",
        "Crash-Hard.wav",
        "Tom-Hi-Hard.wav",
    ]
    real = [n for n in real if (gmrock / n).exists()]
    assert len(real) >= 4
    for name in real:
        shutil.copy(gmrock / name, pack / name)
    kick = decode(gmrock / "Kick-Hard.wav")
    snare = decode(gmrock / "Snare-Hard.wav").audio[:, 0]
    # Odd but valid: 8 channels, and 96 kHz 32-bit float.
    sf.write(pack / "kick_8ch.wav", np.repeat(kick.audio, 8, axis=1), 44100, subtype="PCM_24")
    sf.write(pack / "snare_96k.wav", resample(snare, 44100, 96000), 96000, subtype="FLOAT")
    sf.write(pack / "snare_96k.flac", resample(snare, 44100, 96000), 96000, subtype="PCM_24")
    # Broken.
    raw = (gmrock / "Snare-Soft.wav").read_bytes()
    (pack / "truncated.wav").write_bytes(raw[: len(raw) // 3])
    (pack / "zero.wav").write_bytes(b"")
    (pack / "text.wav").write_text("not a wave file\n" * 50)
    sf.write(pack / "silent.wav", np.zeros(8000, np.float32), 16000)
    sf.write(pack / "one_sample.wav", np.array([0.5], np.float32), 44100)
    (pack / "notes.xyz").write_text("junk")

    clips = load_clips(DataConfig(path=str(pack), cache_dir=str(tmp_path / "cache")))

    kept = {p.rsplit("/", 1)[-1] for p in clips.paths}
    assert kept == set(real) | {"kick_8ch.wav", "snare_96k.wav", "snare_96k.flac"}
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in clips.report.skipped}
    assert reasons == {
        "truncated.wav": "truncated",
        "zero.wav": "empty",
        "text.wav": "unsupported",
        "silent.wav": "silent",
        "one_sample.wav": "too_short",
        "notes.xyz": "unsupported",
    }
    assert clips.audio.shape == (len(kept), 16384)
    assert np.isfinite(clips.audio).all() and np.abs(clips.audio).max() <= 1.0
    labels = {
        p.rsplit("/", 1)[-1]: clips.classes[i]
        for p, i in zip(clips.paths, clips.labels, strict=True)
    }
    assert labels["kick_8ch.wav"] == "kick" and labels["snare_96k.wav"] == "snare"
    text = clips.report.format()
    for name in reasons:
        assert name in text


def test_kit_labels_come_from_drumkit_xml(gmrock):
    sources, skipped = find_sources(gmrock)
    assert not skipped
    by_name = {s.path.name: s for s in sources}
    assert by_name["Kick-Hard.wav"].label == "kick"
    assert by_name["HatOpen-Hard.wav"].label == "open_hat"
    assert by_name["Cowbell-Med.wav"].label == "percussion"
    assert all(s.kit == "GMRockKit" for s in sources)


def test_gm_keys_come_from_kit_and_file_names_and_agree_with_the_class(gmrock, tmp_path):
    """Kit instruments and loose files that say which GM instrument they are carry its key;
    a correction to another class drops it; the report lists the keys nothing plays."""
    pack = tmp_path / "pack"
    _kit_copy(gmrock, pack / "GMRockKit")
    loose = {"Congas/conga low 1.wav": ("Cowbell-Med.wav", 64),
             "Perc/Tambourine.wav": ("Cowbell-Soft.wav", 54),
             "Perc/hit 3.wav": ("Cowbell-Hard.wav", -1),  # percussion by its folder, no key
             "Kicks/808.wav": ("Kick-Hard.wav", 36)}  # fmt: skip
    for name, (source, _) in loose.items():
        (pack / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(gmrock / source, pack / name)
    (pack / "ganpad-labels.json").write_text('{"Perc/Tambourine.wav": "snare"}')
    clips = load_clips(DataConfig(path=str(pack), cache_dir=str(tmp_path / "cache")))
    key = {
        p.removeprefix(str(pack) + "/"): int(k)
        for p, k in zip(clips.paths, clips.keys, strict=True)
    }
    for name, (_, expected) in loose.items():
        assert key[name] == (expected if name != "Perc/Tambourine.wav" else -1)
    kit = "GMRockKit/"
    assert key[kit + "Cowbell-Med.wav"] == 56 and key[kit + "Bell-Hard.wav"] == 53
    assert key[kit + "HatPedal-Hard.wav"] == 44 and key[kit + "24Ride-1.wav"] == 59
    for path, k, label in zip(clips.paths, clips.keys, clips.labels, strict=True):
        assert k == -1 or GM_NOTE_CLASS[int(k)] == clips.classes[label], path
    counts = clips.report.key_counts
    assert counts[64] == 1 and 54 not in counts and counts[36] == 5 + 1  # 5 kit kicks, 808
    text = clips.report.format()
    assert "GM keys named:" in text and "81 Open Triangle" in text and "64 Low Conga" in text
    assert 81 in clips.report.to_json()["keys_missing"] and 64 not in clips.report.keys_missing


def test_missing_kit_files_and_excluded_kits(gmrock, tmp_path):
    kits = tmp_path / "kits"
    kit = _kit_copy(gmrock, kits / "GMRockKit")
    (kit / "Kick-Hard.wav").unlink()
    sources, skipped = find_sources(kits)
    assert [s.reason for s in skipped if s.path.endswith("Kick-Hard.wav")] == ["missing"]
    assert find_sources(kits, exclude_kits=["GMRockKit"]) == ([], [])


def test_cache_avoids_decoding_again(gmrock, tmp_path, monkeypatch):
    cfg = DataConfig(path=str(gmrock), cache_dir=str(tmp_path / "cache"))
    first = load_clips(cfg)
    calls = []
    real_load = data_module.load_mono
    monkeypatch.setattr(data_module, "load_mono", lambda *a: calls.append(a) or real_load(*a))
    second = load_clips(cfg)
    assert calls == []
    np.testing.assert_array_equal(first.audio, second.audio)
    # A changed setting is a different cache entry.
    load_clips(DataConfig(path=str(gmrock), cache_dir=str(tmp_path / "cache"), slice_len=32768))
    assert len(calls) == len(first.paths)


def test_prepare_clip_aligns_onset_pads_and_fades():
    cfg = DataConfig(sample_rate=16000, slice_len=16384)
    hit = np.zeros(30000, np.float32)
    hit[1000:] = np.exp(-np.arange(29000) / 8000, dtype=np.float32) * 0.3
    clip = prepare_clip(hit, cfg)
    onset = int(np.argmax(np.abs(clip) > 0.01))
    assert onset == int(cfg.preroll_ms * 16) and clip.shape == (16384,)
    assert np.abs(clip).max() == pytest.approx(0.99, abs=1e-6)
    assert abs(clip[-1]) < 1e-3  # faded where the slice cuts the tail

    short = np.zeros(2000, np.float32)
    short[:100] = 0.5
    out = prepare_clip(short, cfg)
    assert np.all(out[2000:] == 0)


def test_tail_db_ends_a_real_snare_where_it_falls_under_the_level(gmrock):
    from ganpad.training.config import ConfigError, RunConfig, set_value
    from ganpad.training.evaluation.diagnostics import decay_time

    audio = load_mono(gmrock / "Snare-Hard.wav", 16000)
    kept = prepare_clip(audio, DataConfig())
    cut = prepare_clip(audio, DataConfig(tail_db=-40.0))
    end = int(decay_time(kept[None], 16000, -40.0)[0] * 16000)
    assert decay_time(kept[None], 16000)[0] > decay_time(cut[None], 16000)[0]
    assert not cut[end:].any() and cut[end - 400 : end].any()  # silence after, a fade before
    assert np.array_equal(cut[: end - 160], kept[: end - 160])  # the hit itself untouched
    with pytest.raises(ConfigError, match="data.tail_db"):
        set_value(RunConfig(), "data.tail_db", "6")


def test_scan_cli_prints_counts_and_skips(gmrock, tmp_path, capsys):
    from ganpad.cli import main

    pack = tmp_path / "p"
    shutil.copytree(gmrock, pack)
    (pack / "Kick-Hard.wav").write_bytes(b"")
    assert main(["data", "scan", str(pack)]) == 0
    out = capsys.readouterr().out
    assert "kick" in out and "Kick-Hard.wav" in out and "empty" in out
