"""Velocity as an input (#27): layered kits' velocities in the data, a velocity line per label
fitted beside the latent prior, the graph's velocity input."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from conftest import check_velocity_tilt

from ganpad.app.engine import Engine
from ganpad.app.midi_render import MidiEvent, render_midi
from ganpad.app.mixer import NOTE_ON
from ganpad.app.voice_pool import VoicePool, band_of, band_range
from ganpad.drums import DRUM_CLASSES
from ganpad.export import parity
from ganpad.export.graph import preset_model
from ganpad.presets import load_preset
from ganpad.presets.preset import DEFAULT_VELOCITY
from ganpad.training.config import ADVERSARIAL_STAGE, RunConfig, set_value
from ganpad.training.data.drumkit import read_kit as read_drumkit
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.evaluate import velocity_brightness
from ganpad.training.models import build_models
from ganpad.training.trainer.loop import Trainer

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the render dialog, no screen


def _config(gmrock, clip_cache) -> RunConfig:
    """A d=4 velocity-aware DrumSynth with an encoder, on GMRockKit at 16 kHz."""
    cfg = RunConfig()
    for key, value in ADVERSARIAL_STAGE.items():
        set_value(cfg, key, value)
    cfg.data.path, cfg.data.cache_dir = str(gmrock), str(clip_cache)
    m = cfg.model
    m.family, m.d, m.latent, m.conditional, m.encoder, m.velocity = (
        "drumsynth",
        4,
        16,
        True,
        True,
        True,
    )
    m.synth_bands, m.synth_partials, m.synth_knots = 8, 2, 12
    t = cfg.train
    t.batch_size, t.log_every, t.checkpoint_every, t.sample_every = 4, 1, 2, 0
    t.progress, t.critic_warmup, t.steps = False, 0, 2
    return cfg


def test_a_kits_layers_give_their_clips_a_velocity_and_a_drum(gmrock, clip_cache):
    _, samples = read_drumkit(gmrock)
    snare = sorted(s.velocity for s in samples if s.instrument == "Snare")
    assert len(snare) == 5 and snare[0] < 0.15 and snare[-1] > 0.85  # the layers' middles
    assert [s.velocity for s in samples if s.instrument == "Hand Clap"] == [None]  # one layer
    clips = load_clips(_config(gmrock, clip_cache).data)
    known = ~np.isnan(clips.velocity)
    assert known.sum() == len(clips.audio) - 1  # all but the clap
    assert (clips.instrument[known] >= 0).all() and (clips.instrument[~known] == -1).all()
    # A drum's layers share one instrument index: 17 layered drums, 5 layers each.
    assert sorted(np.bincount(clips.instrument[known])) == [5] * 17


def test_the_velocity_line_is_fitted_within_each_drum():
    cfg = _config("", "").model
    generator = build_models(cfg, 16384, 3, 16000)[0]
    rng = np.random.default_rng(0)
    line = torch.from_numpy(rng.standard_normal(16)).float()
    # Label 0: three drums, each its own sound (an offset) in layers along `line`. Label 1:
    # one drum only, so it takes its group's line: none, each label its own group here.
    drum = torch.tensor([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4)
    velocity = torch.tensor([0.1, 0.4, 0.7, 1.0] * 4)
    offsets = torch.from_numpy(rng.standard_normal((4, 16)) * 5).float()
    codes = offsets[drum] + velocity[:, None] * line
    labels = torch.tensor([0] * 12 + [1] * 4)
    generator.fit_velocity(codes, labels, velocity, drum)
    torch.testing.assert_close(generator.prior_velocity[0], line)
    assert not generator.prior_velocity[1].any() and not generator.prior_velocity[2].any()
    unknown = torch.full_like(velocity, float("nan"))  # no velocities: no line
    generator.fit_velocity(codes, labels, unknown, drum)
    assert not generator.prior_velocity.any()


@pytest.fixture(scope="module")
def velocity_preset(gmrock, clip_cache, tmp_path_factory):
    """A tiny velocity-aware drums preset trained two steps on GMRockKit's layers."""
    from ganpad.export.exporter import ExportOptions, export_preset

    folder = tmp_path_factory.mktemp("velocity")
    trainer = Trainer(_config(gmrock, clip_cache), folder / "run")
    trainer.train()
    moved = trainer.G_ema.prior_velocity.norm(dim=1)
    classes = list(trainer.classes)
    assert moved[classes.index("snare")] > 0  # two layered snares in GMRockKit
    assert moved[classes.index("kick")] == 0  # one layered kick: too few for a line
    export_preset(folder / "run", folder / "preset", ExportOptions())
    return folder / "preset"


def test_a_velocity_aware_preset_plays_hard_and_soft_differently(
    velocity_preset, gmrock, clip_cache
):
    preset = load_preset(velocity_preset)
    snare, kick = DRUM_CLASSES.index("snare"), DRUM_CLASSES.index("kick")
    classes = [label.name for label in preset.labels]
    assert preset.velocity and preset.meta["velocity"] is True
    session = preset.session()
    assert [i.name for i in session.get_inputs()] == ["z", "label", "velocity"]
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    for name, index in (("snare", snare), ("kick", kick)):
        labels = [classes.index(DRUM_CLASSES[index])] * 2
        soft, hard = (preset.generate(session, z, labels, v) for v in (0.2, 1.0))
        assert (np.abs(soft - hard).max() > 1e-3) == (name == "snare")
    # The graph plays what the preset's checkpoint holds (its fp16 prior too), at any velocity.
    feeds = parity.feeds(preset.latent, len(classes), 3, seed=3, velocity=True)
    model = preset_model(str(velocity_preset))
    assert parity.max_abs_error(model, preset.generator_path, feeds) < 1e-4
    default = preset.generate(session, z, [classes.index("snare")] * 2)
    np.testing.assert_array_equal(
        default, preset.generate(session, z, [classes.index("snare")] * 2, DEFAULT_VELOCITY)
    )
    with pytest.raises(ValueError, match="velocity"):
        session.run(["audio"], {"z": z, "label": np.zeros(2, np.int64)})  # velocity is needed

    # Eval: hard over soft brightness per class, beside the reference's layered drums.
    bright = velocity_brightness(str(velocity_preset), str(gmrock), 0, str(clip_cache))
    assert set(bright) == {"kick", "snare"}
    assert bright["snare"]["clips"]["real"] == 2 and bright["kick"]["clips"]["real"] == 1
    assert bright["kick"]["generated"] == 1.0  # no line: gain alone
    assert bright["kick"]["real"] > 1.0  # GMRockKit's hard kick is the brighter

    # The engine plays each velocity band's variations, rendered at the band's velocity.
    engine = Engine(preset, variations=2, seed=5)
    assert (engine.pool.variations, engine.pool.bands) == (6, 3)
    engine.start(timeout=60)
    try:
        played = {}
        for name in ("snare", "kick"):
            slot = engine.keymap.names.index(name)
            engine.lock(slot, 7)  # one latent: only the velocity differs
            deadline = time.monotonic() + 60
            while not engine.pool.ready() or engine.pool.wanted:
                assert time.monotonic() < deadline, "variations not rendered in time"
                time.sleep(0.01)
            for velocity in (20, 127):
                out = np.zeros((2048, 2), np.float32)
                engine.trigger(slot, velocity)
                for start in range(0, 2048, 128):
                    engine.mixer.process(out[start : start + 128])
                engine.panic()
                engine.mixer.process(np.zeros((4096, 2), np.float32))
                played[name, velocity] = out[:, 0] / np.abs(out[:, 0]).max()  # gain aside
    finally:
        engine.close()
    assert np.abs(played["snare", 20] - played["snare", 127]).max() > 1e-4
    np.testing.assert_allclose(played["kick", 20], played["kick", 127], atol=1e-6)


def test_the_drums_velocity_tilt_brightens_played_hits_keeping_their_power():
    cfg = _config(None, None).model
    cfg.synth_components, cfg.synth_fine_bands, cfg.synth_modes = 2, 16, 8
    cfg.velocity_tilt = 0.5
    generator = build_models(cfg, 8192, len(DRUM_CLASSES), 16000)[0].eval()
    z, label, mix = torch.randn(6, 16), torch.arange(6), torch.randn(6, 16)
    ratio, level = check_velocity_tilt(generator, z, label, mix, 16000,
                                       torch.randn(6, 1, 8192) * 0.1)  # fmt: skip
    assert (ratio > 1.05).all(), ratio
    assert level.abs().max() < 3.0, level  # brighter, not louder: gain is the engine's
    cfg.velocity = False
    with pytest.raises(ValueError, match="velocity_tilt.*drumsynth with model.velocity"):
        build_models(cfg, 8192, len(DRUM_CLASSES), 16000)


def test_regraph_gives_a_preset_a_velocity_tilt_and_nothing_else(velocity_preset, tmp_path):
    import json
    import shutil

    from ganpad.export.exporter import ExportError, regraph_preset
    from ganpad.training.evaluation.diagnostics import spectral_centroid
    from ganpad.training.trainer.finetune import load_preset_start

    folder = tmp_path / "tilted"
    shutil.copytree(velocity_preset, folder)
    preset = load_preset(folder)
    snare = [label.name for label in preset.labels].index("snare")
    z = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)

    def brightness(p) -> float:
        session, rate = p.session(), p.sample_rate
        hard, soft = (p.generate(session, z, [snare] * 4, v) for v in (1.0, 0.3))
        return float(np.median(spectral_centroid(hard, rate) / spectral_centroid(soft, rate)))

    weights = (folder / "checkpoint.safetensors").read_bytes()
    before = brightness(preset)
    graph = preset.generator_path.read_bytes()
    with pytest.raises(ExportError, match="'model.d' is not one of model.velocity_tilt"):
        regraph_preset(folder, ["model.d=8"])
    with pytest.raises(ExportError, match="velocity_tilt"):
        regraph_preset(folder, ["model.velocity_tilt=loud"])
    assert preset.generator_path.read_bytes() == graph  # a refused change leaves it all
    regraph_preset(folder, ["model.velocity_tilt=0.5"])
    assert brightness(load_preset(folder)) > before * 1.05
    assert (folder / "checkpoint.safetensors").read_bytes() == weights
    assert load_preset_start(str(folder)).config.model.velocity_tilt == 0.5  # fine-tunes keep it
    meta = json.loads((folder / "preset.json").read_text())
    assert meta["training"]["config"]["model"]["velocity_tilt"] == 0.5
    assert meta["training"]["commands"][-1].endswith(
        "python tools/regraph.py PRESET --set model.velocity_tilt=0.5"
    )


def test_every_velocity_falls_in_the_band_whose_range_holds_it():
    for bands in range(1, 8):
        ranges = [band_range(b, bands) for b in range(bands)]
        assert ranges[0][0] == 1 and ranges[-1][1] == 127
        for velocity in range(1, 128):
            low, high = ranges[band_of(velocity, bands)]
            assert low <= velocity <= high


def test_a_note_takes_a_variation_of_its_velocity_band():
    pool = VoicePool(1, 6, 8, bands=3)
    assert [pool.velocity_of(v) for v in range(6)] == pytest.approx(
        [1 / 6] * 2 + [0.5] * 2 + [5 / 6] * 2
    )
    assert [band_of(v, 3) for v in (1, 42, 43, 85, 127)] == [0, 0, 1, 2, 2]
    for v in (0, 1):  # only the soft band rendered so far
        assert pool.fill(0, v, np.ones(8, np.float32), v, 0)
    assert pool.take(0, 127) in (0, 1)  # a hard note still sounds, from another band
    for v in range(2, 6):
        pool.fill(0, v, np.ones(8, np.float32), v, 0)
    assert {pool.take(0, 127), pool.take(0, 127)} == {4, 5}
    assert pool.take(0, 64) in (2, 3) and pool.take(0, 1) in (0, 1)
    with pytest.raises(ValueError, match="velocity bands"):
        VoicePool(1, 4, 8, bands=3)


def test_a_velocity_aware_render_writes_velocity_layers(velocity_preset, tmp_path):
    from ganpad.app.render import plan, read_kit, render

    preset = load_preset(velocity_preset)
    files = render(preset, tmp_path / "out", plan(preset, 2, 0, names=["snare"]),
                   rate=44100, instruments=("sfz", "hydrogen"))  # fmt: skip
    assert len(files) == 6  # two sounds, three velocity layers each
    assert sorted({f.stem.rsplit("_v", 1)[1] for f in files}) == ["021", "064", "106"]
    folder = tmp_path / "out" / preset.name
    sfz = (folder / f"{preset.name}.sfz").read_text()
    for low, high in ((1, 42), (43, 84), (85, 127)):
        assert f"lokey=38 hikey=38 pitch_keycenter=38 lovel={low} hivel={high} seq_length=2" in sfz
    # Hydrogen's kit, read back as training data: a layered snare, soft to hard.
    _, samples = read_drumkit(folder)
    assert sorted({round(s.velocity, 2) for s in samples}) == [0.17, 0.5, 0.83]
    # The kit file renders the same layers again.
    _, jobs, _ = read_kit(folder / "kit.json")
    assert sorted(j.velocity for j in jobs) == pytest.approx([1 / 6] * 2 + [0.5] * 2 + [5 / 6] * 2)
    # A MIDI file played with that kit: soft and hard hits each take both sounds in turn.
    events = [MidiEvent(4000 * i, NOTE_ON, 38, 20 if i % 2 else 120) for i in range(8)]
    _, played = render_midi(preset, events, 48000, sounds=jobs)
    seeds = {j.seed for j in jobs}
    for soft in (True, False):
        heard = {p.seed for p in played if (events[p.frame // 4000].velocity < 64) == soft}
        assert heard == seeds


@pytest.mark.parametrize(
    ("settings", "named"),
    [({"conditional": False}, "an unconditional drumsynth"),
     ({"encoder": False}, "drumsynth without an encoder")],
)  # fmt: skip
def test_velocity_needs_labels_and_an_encoder(settings, named):
    cfg = _config("", "").model
    for key, value in settings.items():
        setattr(cfg, key, value)
    with pytest.raises(ValueError, match=named):
        build_models(cfg, 16384, 3, 16000)


def test_the_render_dialog_counts_every_velocity_layer(qtbot, velocity_preset, tmp_path):
    from PySide6.QtCore import Qt

    from ganpad.app.gui.render_dialog import RenderDialog
    from ganpad.app.keymap import KeyMap

    preset = load_preset(velocity_preset)
    dialog = RenderDialog(preset, KeyMap.for_preset(preset).names, str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    dialog.count.setValue(1)
    for i in range(dialog.labels.count()):
        item = dialog.labels.item(i)
        item.setCheckState(Qt.Checked if item.text() == "snare" else Qt.Unchecked)
    with qtbot.waitSignal(dialog.finished_files, timeout=60_000) as done:
        qtbot.mouseClick(dialog.go, Qt.LeftButton)
    assert len(done.args[0]) == 3  # one sound, three velocity layers
    assert dialog.progress.maximum() == dialog.progress.value() == 3


def test_a_soundfont_renders_velocities_are_layers_of_one_note(tmp_path):
    from ganpad.training.config import DataConfig
    from ganpad.training.data.soundfont import build_note_set

    folder = tmp_path / "notes"
    build_note_set("/usr/share/sounds/sf2/TimGM6mb.sf2", folder, [0, 24], [60], [40, 127],
                   seconds=0.5)  # fmt: skip
    clips = load_clips(DataConfig(path=str(folder), slice_len=4096, labels="pitch")).with_velocity()
    assert sorted(np.round(clips.velocity * 127).astype(int).tolist()) == [40, 40, 127, 127]
    assert len(np.unique(clips.instrument)) == 2  # piano's C4 and guitar's C4, two layers each
    for drum in np.unique(clips.instrument):
        assert sorted(clips.velocity[clips.instrument == drum]) == pytest.approx([40 / 127, 1.0])
