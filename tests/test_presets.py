import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganpad.presets import (
    DEFAULT_NOTES_PRESET,
    DEFAULT_PRESET,
    PresetError,
    choose_providers,
    find_preset,
    list_presets,
    load_preset,
    provider_name,
)
from ganpad.training.evaluation.diagnostics import (
    band_flatness,
    comb_peak,
    dc_ratio,
    decay_time,
    high_band_share,
    spectral_centroid,
)
from ganpad.training.evaluation.metrics import track_pitch


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _edit_json(preset, **changes):
    path = preset / "preset.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_presets_load_without_torch(tiny_preset):
    code = f"""
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
import numpy as np
from ganpad.presets import load_preset, list_presets
import ganpad.app
preset = load_preset({str(tiny_preset)!r})
session = preset.session()
z = np.zeros((2, preset.latent), np.float32)
audio, = session.run(["audio"], {{"z": z, "label": np.array([0, 1])}})
assert audio.shape == (2, preset.samples)
from ganpad.cli import main
assert main(["presets"]) == 0
print("ok", preset.name)
"""
    env = {**os.environ, "GANPAD_PRESETS": str(tiny_preset.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "ok tiny-drums" in done.stdout and "tiny-drums" in done.stdout


@pytest.mark.parametrize(
    ("breakage", "file", "message"),
    [
        ("no_json", "preset.json", "missing"),
        ("no_graph", "generator.onnx", "missing"),
        ("schema", "preset.json", "schema_version 99"),
        ("not_json", "preset.json", "not valid JSON"),
        ("field_type", "preset.json", "field 'sample_rate' has the wrong type"),
        ("truncated_graph", "generator.onnx", "not a loadable ONNX graph"),
        ("inputs", "generator.onnx", "inputs ['label', 'z'] but preset.json implies ['z']"),
        ("latent", "generator.onnx", "input z is tensor(float)"),
        ("rate_lie", "preset.json", "sample_rate is 44100 but the graph was exported with 16000"),
        ("size_lie", "preset.json", "samples is 32768 but the graph was exported with 16384"),
    ],
)
def test_bad_presets_give_one_clear_error(tiny_preset, tmp_path, breakage, file, message):
    bad = _copy(tiny_preset, tmp_path / "bad")
    if breakage == "no_json":
        (bad / "preset.json").unlink()
    elif breakage == "no_graph":
        (bad / "generator.onnx").unlink()
    elif breakage == "schema":
        _edit_json(bad, schema_version=99)
    elif breakage == "not_json":
        (bad / "preset.json").write_text("{ nope")
    elif breakage == "field_type":
        _edit_json(bad, sample_rate="16k")
    elif breakage == "truncated_graph":
        graph = (bad / "generator.onnx").read_bytes()
        (bad / "generator.onnx").write_bytes(graph[: len(graph) // 2])
    elif breakage == "inputs":
        _edit_json(bad, conditional=False)
    elif breakage == "latent":
        _edit_json(bad, latent=64)
    elif breakage == "rate_lie":
        _edit_json(bad, sample_rate=44100)
    elif breakage == "size_lie":
        _edit_json(bad, samples=32768)
    with pytest.raises(PresetError) as err:
        load_preset(bad)
    assert err.value.path == str(bad / file)
    assert message in str(err.value)


def test_size_lie_caught_by_running_the_graph_without_metadata(tiny_preset, tmp_path):
    import onnx

    bad = _copy(tiny_preset, tmp_path / "bad")
    graph = onnx.load(str(bad / "generator.onnx"))
    del graph.metadata_props[:]
    onnx.save(graph, str(bad / "generator.onnx"))
    labels = [{k: v for k, v in label.items() if k != "samples"}  # lengths within the lie
              for label in json.loads((bad / "preset.json").read_text())["labels"]]  # fmt: skip
    _edit_json(bad, samples=16000, labels=labels)
    with pytest.raises(PresetError, match="graph returns 16384 per clip"):
        load_preset(bad)


def test_registry_lists_user_and_broken_presets(tiny_preset, tmp_path, monkeypatch):
    user = tmp_path / "user"
    _copy(tiny_preset, user / "good")
    _copy(tiny_preset, user / "broken")
    _edit_json(user / "broken", schema_version=0)
    monkeypatch.setenv("GANPAD_PRESETS", str(user))
    entries = {e.path.name: e for e in list_presets() if e.source == "user"}
    assert entries["good"].preset.name == "tiny-drums" and entries["good"].error is None
    assert "schema_version 0" in entries["broken"].error
    assert find_preset("good").root == user / "good"
    with pytest.raises(PresetError, match="no such preset"):
        find_preset("nope")


def test_presets_command_marks_a_truncated_graph_broken(tiny_preset, tmp_path, monkeypatch, capsys):
    from ganpad.cli import main

    user = tmp_path / "user"
    _copy(tiny_preset, user / "cut")
    graph = (user / "cut" / "generator.onnx").read_bytes()
    (user / "cut" / "generator.onnx").write_bytes(graph[: len(graph) - 100])
    monkeypatch.setenv("GANPAD_PRESETS", str(user))
    assert main(["presets"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cut "))
    assert "BROKEN" in line and "truncated" in line and "generator.onnx" in line
    assert main(["presets", "--where"]) == 0
    assert capsys.readouterr().out.strip() == str(user)


KEYED_DRUMS = "drums-keys-44k"  # every GM drum key its own label (#27)


def test_shipped_default_preset_plays_every_class():
    preset = find_preset(DEFAULT_PRESET)
    assert preset.kind == "drums" and preset.conditional and find_preset("drums") == preset
    # 2.5 s clips, 128 modes' tables and 55 labels: the graph 19 MB, the weights 10 MB
    assert preset.generator_path.stat().st_size + preset.checkpoint_path.stat().st_size < 30e6
    session = preset.session()
    n = len(preset.labels)
    z = np.random.default_rng(0).standard_normal((n, preset.latent)).astype(np.float32)
    audio = preset.generate(session, z, np.arange(n, dtype=np.int64))  # velocity: MIDI 100's
    assert audio.shape == (n, preset.samples)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    rms = np.sqrt((audio**2).mean(axis=1))
    for label, level in zip(preset.labels, rms, strict=True):
        assert level > 1e-3, f"{label.name} is silent"
    training = preset.meta["training"]
    assert training["steps"] > 0 and training["commands"] and training["wall_time_s"] > 0
    assert "GMRockKit" in training["data"]["held_out_kits"]
    reference = preset.meta["metrics"]["evaluation"]["reference"]
    assert reference["name"] == "heldout-drums" and "hydrogen-data" in reference["packages"]
    assert set(preset.meta["training"]["final_losses"]) >= {"steps", "loss/rec"}


def test_shipped_keyed_drums_give_each_gm_key_its_own_instrument():
    """`drums-keys-44k`: a label per GM drum key, each key playing its own. Through its ONNX
    graph, a cowbell rings in lines where maracas hiss, a crash rings on where a closed hat
    stops, and a hard snare is brighter than a soft one (#27's figures, one sound each)."""
    from ganpad.app.keymap import KeyMap
    from ganpad.drums import KEY_LABELS, KEYED_LABELS

    preset = find_preset(KEYED_DRUMS)
    assert preset.kind == "drums" and preset.velocity and preset.sample_rate == 44100
    assert [label.name for label in preset.labels] == list(KEYED_LABELS)
    # 128 modes' tables and 55 labels beside the default's graph: 19 MB, the weights 10 MB
    assert preset.generator_path.stat().st_size + preset.checkpoint_path.stat().st_size < 30e6
    keymap = KeyMap.for_preset(preset)
    assert all(keymap.names[keymap.slot_for(key)] == name for key, name in KEY_LABELS.items())
    session, n = preset.session(), 8
    z = np.random.default_rng(2).standard_normal((n, preset.latent)).astype(np.float32)

    def play(key: int, velocity: float | None = None) -> np.ndarray:
        label = np.full(n, keymap.slot_for(key), np.int64)
        return preset.generate(session, z, label, velocity)

    rate = preset.sample_rate
    cowbell, maracas = (np.median(band_flatness(play(k), rate)) for k in (56, 70))
    # the same latents: the 8-class drums play one percussion sound for both (a ratio of 1)
    assert cowbell < 0.8 * maracas, f"cowbell {cowbell:.2f}, maracas {maracas:.2f} flat"
    crash, hat = (np.median(decay_time(play(k), rate)) for k in (49, 42))
    assert crash > 1.8 and hat < 0.6, f"crash rings {crash:.2f} s, closed hat {hat:.2f} s"
    hard, soft = (spectral_centroid(play(38, v), rate) for v in (1.0, 0.3))
    assert np.median(hard / soft) > 1.1
    training, evaluation = preset.meta["training"], preset.meta["metrics"]["evaluation"]
    assert "GMRockKit" in training["data"]["held_out_kits"]
    assert evaluation["reference"]["name"] == "heldout-drums"
    # #27's bar: 0.8 times what a real kit the judge never heard scores (8-class drums: 0.02)
    identity = evaluation["key_identity"]
    (real,) = identity["real"].values()
    for figure in ("mean", "percussion_mean"):
        assert identity[figure] >= 0.8 * real[figure], figure


@pytest.fixture(scope="module")
def default_drums():
    """20 hits per label from the shipped default drum preset, as the instrument plays them:
    (preset, audio, each clip's label, each clip's drum class where a GM key plays its label
    and "" where none does: a keyed preset's class labels only fill in for keys)."""
    from ganpad.drums import label_class

    preset = find_preset(DEFAULT_PRESET)
    n = 20 * len(preset.labels)
    z = np.random.default_rng(1).standard_normal((n, preset.latent)).astype(np.float32)
    labels = np.arange(n, dtype=np.int64) % len(preset.labels)
    session = preset.session()
    # in batches: the graph holds every mode's ring for every clip at once
    audio = np.concatenate([preset.generate(session, z[i : i + 64], labels[i : i + 64])
                            for i in range(0, n, 64)])  # fmt: skip
    names = np.array([preset.labels[i].name for i in labels])
    played = np.array([label_class(preset.labels[i].name) if preset.labels[i].gm_notes else ""
                       for i in labels])  # fmt: skip
    return preset, audio, names, played


def real_key_lines(kits: Path, rate: int, samples: int) -> dict[int, float]:
    """GM key -> comb_peak's dB over the key's hits in every kit under `kits`."""
    import soundfile as sf

    hits: dict[int, list[np.ndarray]] = {}
    for path in sorted(kits.glob("*/[0-9][0-9]_*.wav")):
        audio, file_rate = sf.read(path, dtype="float32", always_2d=True)
        assert file_rate == rate, path
        clip = np.zeros(samples, np.float32)
        clip[: min(samples, len(audio))] = audio[:samples].mean(axis=1)
        hits.setdefault(int(path.name[:2]), []).append(clip)
    return {key: comb_peak(np.stack(clips), rate)[0] for key, clips in hits.items()}


def test_default_drums_have_no_dc_and_no_fixed_comb(default_drums, timgm_kits):
    """No DC, and no line standing 10 dB over its third octave in the average of a label's hits,
    as a fixed comb of the generator would (real drums stay within a few dB). A key whose
    instrument rings at its own pitches (agogos and triangles 15 dB, a ride bell 13, wood
    blocks 10 in TimGM6mb's seven kits) may stand up to 3 dB over its real lines."""
    from ganpad.drums import label_key

    preset, audio, names, _ = default_drums
    real = real_key_lines(timgm_kits, preset.sample_rate, preset.samples)
    assert len(real) == 47
    for name in dict.fromkeys(names):
        clips = audio[names == name]
        assert np.median(dc_ratio(clips)) < 0.01, name
        db, hz = comb_peak(clips, preset.sample_rate)
        limit = max(10.0, real.get(label_key(name), 0.0) + 3.0)
        assert db < limit, f"{name}: a line {db:.1f} dB over its third octave at {hz:.0f} Hz"


def test_default_drums_short_classes_end_within_600_ms(default_drums):
    preset, audio, _, played = default_drums
    for name in ("kick", "snare", "clap", "closed_hat"):
        seconds = float(np.median(decay_time(audio[played == name], preset.sample_rate)))
        assert seconds < 0.6, f"{name} takes {seconds:.2f} s to fall 60 dB"


def test_default_drums_are_full_band_where_real_drums_are(default_drums, gmrock, clip_cache):
    """Hats and cymbals live above 8 kHz: the 44.1 kHz preset puts their energy there as real
    recordings do, where a 16 kHz preset has none at all. Within a factor of three of
    GMRockKit, one bright kit (against heldout-drums' 1823 clips, benchmarks/high_band.py, the
    hats and cymbals are within a factor of two)."""
    from ganpad.training.config import DataConfig
    from ganpad.training.data.ingest import load_clips

    preset, audio, _, played = default_drums
    assert preset.sample_rate == 44100
    real = load_clips(DataConfig(path=str(gmrock), sample_rate=preset.sample_rate,
                                 slice_len=preset.samples, cache_dir=str(clip_cache)))  # fmt: skip
    checked = []
    for name in real.classes:
        theirs = np.median(high_band_share(real.audio[real.labels == real.classes.index(name)],
                                           preset.sample_rate, 8000.0))  # fmt: skip
        if theirs > 0.05:  # the classes with a high band worth comparing
            ours = np.median(high_band_share(audio[played == name], preset.sample_rate, 8000.0))
            assert 1 / 3 < ours / theirs < 3, f"{name}: {ours:.3f} above 8 kHz, real {theirs:.3f}"
            checked.append(name)
    assert {"closed_hat", "open_hat", "cymbal"} <= set(checked)


def test_shipped_notes_preset_plays_every_pitch_from_its_midi_note():
    from ganpad.app.keymap import KeyMap

    preset = find_preset(DEFAULT_NOTES_PRESET)
    assert preset.kind == "notes" and preset.family == "notesynth" and preset.conditional
    assert find_preset("notes") == preset
    # 44.1 kHz, 3 s notes, nine programs: the graph 12 MB (mostly its noise and harmonic
    # tables), the weights a fine-tune starts from 8 MB
    assert preset.generator_path.stat().st_size + preset.checkpoint_path.stat().st_size < 24e6
    low, high = preset.pitch_range
    assert [label.gm_notes for label in preset.labels] == [(p,) for p in range(low, high + 1)]
    keymap = KeyMap.for_preset(preset)
    assert all(keymap.names[keymap.slot_for(p)] == str(p) for p in range(low, high + 1))
    n = len(preset.labels)
    z = np.random.default_rng(0).standard_normal((n, preset.latent)).astype(np.float32)
    audio = preset.generate(preset.session(), z, np.arange(n, dtype=np.int64))
    assert audio.shape == (n, preset.samples) and np.isfinite(audio).all()
    assert (np.sqrt((audio**2).mean(axis=1)) > 1e-3).all()
    tracked = track_pitch(audio, preset.sample_rate)  # every pitch in range, in tune
    assert np.mean(np.abs(tracked - np.arange(low, high + 1)) < 0.5) >= 0.95
    evaluation = preset.meta["metrics"]["evaluation"]
    # pYIN within half a semitone: every program but the drawbar organ in tune (1.0); FluidR3's
    # organ sounds its 16' drawbar an octave under the key, which the real notes' trackers
    # hear (0.0) and the preset copies in band noise, so neither side reaches 0.95
    pyin = evaluation["pitch_accuracy_pyin"]
    assert pyin["generated"] >= 8 / 9 and pyin["generated"] >= pyin["real"] > 0.8
    assert "GPL-2" in preset.meta["license"]["data"] or "MIT" in preset.meta["license"]["data"]


def test_generation_prefers_cuda_and_falls_back_to_the_cpu(tiny_preset, monkeypatch):
    import onnxruntime as ort

    real = ort.get_available_providers()
    with monkeypatch.context() as m:
        m.setattr(ort, "get_available_providers",
                  lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])  # fmt: skip
        assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
        m.setattr(ort, "get_available_providers",
                  lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])  # fmt: skip
        assert choose_providers() == ["CPUExecutionProvider"]
    session = load_preset(tiny_preset).session()
    assert provider_name(session) == ("CUDA" if "CUDAExecutionProvider" in real else "CPU")


def test_the_gpu_extra_brings_onnxruntime_gpu_and_devices_says_where_things_run(capsys):
    import tomllib

    from ganpad.cli import main

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("onnxruntime-gpu") for r in extras["optional-dependencies"]["gpu"])
    assert "pip install -e '.[gpu]'" in (root / "README.md").read_text()
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Generation: ONNX Runtime" in out and "Training: torch" in out
