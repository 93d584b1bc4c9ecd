"""GANSynth on real notes from Debian's TimGM6mb: blocks, representation, train, export, play."""

import json
import time

import numpy as np
import pytest
import torch
from conftest import train_notes

from ganpad.app.clip import finish_clip
from ganpad.app.engine import Engine
from ganpad.app.latents import latent_for_seed
from ganpad.presets import DEFAULT_NOTES_PRESET, find_preset, load_preset
from ganpad.training.config import ModelConfig
from ganpad.training.models import build_models, check_config
from ganpad.training.models.gansynth import minibatch_stddev, pixel_norm
from ganpad.training.models.phase_spec import snr_db

PITCHES = range(60, 65)
# Stated thresholds for audio -> the critic's view -> audio: the log magnitude is clipped at
# 3 sigma below each bin's mean, which raises the quietest bins; mel warping loses more.
FEATURE_SNR_DB = {"if": 25.0, "mel-if": 15.0}


def _tiny(representation: str = "if") -> ModelConfig:
    return ModelConfig(family="gansynth", d=4, latent=256, conditional=True,
                       representation=representation)  # fmt: skip


@pytest.fixture(scope="module")
def notes(soundfont_notes):
    return soundfont_notes


def test_pixel_norm_and_minibatch_stddev_groups():
    x = torch.randn(8, 6, 2, 3) * 5
    assert torch.allclose(pixel_norm(x).pow(2).mean(dim=1), torch.ones(8, 2, 3), atol=1e-4)
    real, fake = torch.zeros(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    std = minibatch_stddev(torch.cat([real, fake]))[:, -1]
    # Groups of 4 consecutive clips: the real ones (all equal) show no spread at all.
    assert std.shape == (8, 2, 2) and std[:4].max() < 1e-3 and std[4:].min() > 0.1
    odd = minibatch_stddev(torch.randn(6, 3, 2, 2))  # groups of 3
    assert odd.shape == (6, 4, 2, 2) and not torch.equal(odd[0, -1], odd[3, -1])


def test_tiny_model_shapes_follow_the_table():
    generator, critic = build_models(_tiny(), 16384, 5, 16000)
    spec = generator(torch.randn(3, 256), torch.tensor([0, 2, 4]))
    assert spec.shape == (3, 2, 64, 512) and spec.abs().max() <= 1.0
    score, logits = critic(spec)
    assert score.shape == (3,) and logits.shape == (3, 5)
    assert generator.to_audio(spec).shape == (3, 1, 16384)
    # Equalised learning rate: weights stored at unit variance, scaled when used.
    assert abs(float(generator.blocks[0][0].weight.detach().std()) - 1.0) < 0.1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"conditional": False}, "pitch-conditional"),
        ({"representation": "cqt"}, "representation"),
    ],
)
def test_bad_configs_are_named(change, message):
    cfg = _tiny()
    for key, value in change.items():
        setattr(cfg, key, value)
    with pytest.raises(ValueError, match=message):
        check_config(cfg, 16384)
    with pytest.raises(ValueError, match="multiple of 8192 samples"):
        check_config(_tiny(), 16000)


@pytest.mark.parametrize("representation", ["if", "mel-if"])
def test_real_notes_survive_the_critics_view(notes, representation):
    generator, _ = build_models(_tiny(representation), 16384, 4, 16000)
    generator.fit_features(notes)
    view = generator.features(notes)
    assert view.shape == (4, 2, 64, 512) and view.abs().max() <= 1.0
    audio = generator.to_audio(view)
    for i in range(len(notes)):
        assert snr_db(notes[i, 0], audio[i, 0]) > FEATURE_SNR_DB[representation]


def test_train_command_uses_the_papers_settings_and_the_ac_gan_term(tiny_notes):
    run, _ = tiny_notes
    config = (run / "config.toml").read_text()
    for line in ('family = "gansynth"', "latent = 256", 'labels = "pitch"', "n_critic = 1",
                 "beta1 = 0.0", "beta2 = 0.99", "drift = 0.001", "lambda_aux = 10.0"):  # fmt: skip
        assert line in config
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 < last["loss/aux_real"] < 10 and 0 < last["loss/aux_fake"] < 10


def test_exported_notes_preset_returns_every_pitch(tiny_notes):
    _, folder = tiny_notes
    preset = load_preset(folder)
    assert preset.kind == "notes" and preset.family == "gansynth"
    assert preset.pitch_range == (60, 64)
    assert [label.gm_notes for label in preset.labels] == [(p,) for p in PITCHES]
    assert "GPL-2" in preset.meta["license"]["data"]
    n = len(preset.labels)
    z = np.random.default_rng(1).standard_normal((n, preset.latent)).astype(np.float32)
    audio = preset.generate(preset.session(), z, np.arange(n, dtype=np.int64))
    assert audio.shape == (n, 16384) and np.isfinite(audio).all()
    assert np.abs(audio).max() <= 1.0 and (np.sqrt((audio**2).mean(axis=1)) > 1e-4).all()


def test_mel_variant_exports_within_tolerance(tmp_path, clip_cache):
    _, folder = train_notes(tmp_path, clip_cache, "tiny-mel",
                                  "--set", "model.representation=mel-if")  # fmt: skip
    meta = json.loads((folder / "preset.json").read_text())
    assert meta["training"]["config"]["model"]["representation"] == "mel-if"
    metrics = meta["metrics"]
    assert metrics["onnx_max_abs_error"]["fp32"] <= metrics["onnx_error_limit"]["fp32"] <= 1e-2


def test_a_notes_engine_opens_with_one_timbre_on_every_key(tiny_notes, tiny_preset):
    preset = load_preset(tiny_notes[1])
    engines = [Engine(preset, variations=1, seed=3), Engine(preset, variations=1, seed=3)]
    drums = Engine(load_preset(tiny_preset), variations=1, seed=3)
    engine = engines[0]
    try:
        timbre = engine.timbre()
        assert timbre is not None and {s.seed for s in engine.bank.slots} == {timbre}
        assert engines[1].timbre() == timbre  # seeded: the same
        assert engine.lock_timbre(77) == 77 and engine.timbre() == 77
        # a locked key's renders are all alike, so a played one is not rendered again
        assert engine.pool.keep.all()
        engine.worker.render_wanted()
        engine.pool.release(0, engine.pool.take(0, 100))
        assert not engine.pool.wanted
        engine.unlock(0)
        assert engine.timbre() is None  # one key rolls fresh sounds: no common timbre
        assert not engine.pool.keep[0] and engine.pool.keep[1:].all()
        engine.worker.render_wanted()
        engine.pool.release(0, engine.pool.take(0, 100))
        assert list(engine.pool.wanted) == [(0, 0)]  # a fresh sound for the next note
        assert drums.timbre() is None and not any(s.locked for s in drums.bank.slots)
    finally:
        for e in [*engines, drums]:
            e.close()


def _played(engine: Engine, note: int, hold_s: float, after_s: float) -> np.ndarray:
    """The engine's left channel: `note` held `hold_s`, then released, then `after_s`."""
    engine.note_on(note, 100)
    frames = [int(hold_s * engine.rate), int(after_s * engine.rate)]
    out = np.zeros((sum(frames), 2), np.float32)
    for start in range(0, sum(frames), 128):
        if start == frames[0] // 128 * 128:
            engine.note_off(note)
        engine.mixer.process(out[start : start + 128])
    return out[:, 0]


def test_a_note_held_past_its_end_or_let_go_early_never_clicks():
    """The shipped notes, played by the engine: held past the clip's end, the note has faded
    before it stops; let go early, the 60 ms release steps no further from one sample to the
    next than the note did just before (a click is a jump far above its neighbours)."""
    preset = find_preset(DEFAULT_NOTES_PRESET)
    engine = Engine(preset, variations=1, seed=3)
    try:
        engine.start(timeout=60)
        clip_s = preset.samples / preset.sample_rate
        held = _played(engine, 60, clip_s + 0.3, 0.1)
        early = _played(engine, 67, 0.3, 0.3)
    finally:
        engine.close()
    for audio, edge_s in ((held, clip_s), (early, 0.3)):
        edge, ms = int(edge_s * engine.rate), engine.rate // 1000
        before = np.abs(np.diff(audio[edge - 20 * ms : edge])).max()
        after = np.abs(np.diff(audio[edge - ms : edge + 100 * ms])).max()
        assert after <= 1.5 * before + 1e-5, (edge_s, before, after)
        assert np.abs(audio[edge + 100 * ms :]).max() < 1e-4  # silent from 0.1 s on
    assert np.abs(early[: 300 * ms]).max() > 0.05  # it did play


def test_engine_plays_midi_pitches_and_honours_note_off(tiny_notes):
    preset = load_preset(tiny_notes[1])
    engine = Engine(preset, variations=1, seed=3)
    engine.start(timeout=60)
    try:
        assert engine.note_on(59) == -1 and engine.note_on(85) == -1  # outside the range
        slot = engine.keymap.slot_for(62)
        assert engine.keymap.names[slot] == "62"
        engine.lock(slot, 1234)
        deadline = time.monotonic() + 20
        while not engine.pool.ready() or engine.pool.wanted:
            assert time.monotonic() < deadline, "worker did not re-render in time"
            time.sleep(0.01)
        time.sleep(0.05)
        z = latent_for_seed(1234, preset.latent)[None]
        graph = preset.generate(preset.session(), z, np.array([2], np.int64))[0]
        expected = finish_clip(graph, preset.sample_rate, engine.rate) * (100 / 127) ** 1.6 * 0.8

        engine.note_on(62, 100)
        out = np.zeros((4096, 2), np.float32)
        for start in range(0, 4096, 128):
            engine.mixer.process(out[start : start + 128])
        assert np.abs(out[:4096, 0] - np.clip(expected[:4096], -1, 1)).max() < 1e-4
        engine.note_off(62)
        tail = np.zeros((8192, 2), np.float32)
        for start in range(0, 8192, 128):
            engine.mixer.process(tail[start : start + 128])
        release = int(0.06 * engine.rate) + 128
        assert np.abs(expected[4096 + release : 4096 + 8192]).max() > 1e-3  # still sounding
        assert not tail[release:].any()  # but released
    finally:
        engine.close()


def test_render_names_note_folders_by_pitch(tiny_notes, tmp_path):
    from ganpad.cli import main

    assert main(["render", "--preset", str(tiny_notes[1]), "--out", str(tmp_path), "--count", "1",
                 "--quiet"]) == 0  # fmt: skip
    folders = sorted(p.name for p in (tmp_path / "tiny-notes").iterdir() if p.is_dir())
    assert folders == ["060_C4", "061_C#4", "062_D4", "063_D#4", "064_E4"]
    assert len(list((tmp_path / "tiny-notes" / "062_D4").glob("tiny-notes_062_D4_*.wav"))) == 1


def _args(*argv: str):
    from ganpad.cli import build_parser

    return build_parser().parse_args(["train", "--out", "unused", *argv])


def test_family_defaults_yield_to_a_config_file_and_follow_a_finetuned_preset(tmp_path, tiny_notes):
    from ganpad.training.cli import config_from_args
    from ganpad.training.trainer.finetune import load_preset_start

    fresh = config_from_args(_args("--model", "gansynth", "--data", "x", "--set",
                                   "train.lr=0.0005"))  # fmt: skip
    assert (fresh.train.n_critic, fresh.train.lr, fresh.model.latent) == (1, 5e-4, 256)
    (tmp_path / "mine.toml").write_text("[train]\nn_critic = 3\nlr = 0.0001\n")
    mine = config_from_args(_args("--model", "gansynth", "--data", "x", "--config",
                                  str(tmp_path / "mine.toml")))  # fmt: skip
    assert (mine.train.n_critic, mine.train.lr, mine.model.family) == (3, 1e-4, "gansynth")
    start = load_preset_start(str(tiny_notes[1]))
    tuned = config_from_args(_args("--data", "x", "--finetune", str(tiny_notes[1])), start)
    assert tuned.data.labels == "pitch" and tuned.model.family == "gansynth"
    assert (tuned.train.n_critic, tuned.train.drift) == (1, 0.001)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"batch_size": 6}, "train.batch_size = 6: gansynth's minibatch stddev"),
        ({"loss": "lsgan"}, "train.drift = 0.001 is a wgan-gp term"),
    ],
)
def test_bad_gansynth_runs_fail_before_training(tmp_path, clip_cache, train, message):
    from ganpad.training.cli import config_from_args
    from ganpad.training.trainer.loop import Trainer, TrainError

    cfg = config_from_args(_args("--model", "gansynth", "--data", str(tmp_path), "--d", "4"))
    for key, value in train.items():
        setattr(cfg.train, key, value)
    with pytest.raises(TrainError, match=message):
        Trainer(cfg, tmp_path / "run")


@pytest.mark.parametrize("loss", ["lsgan", "bwgan"])
def test_ac_gan_term_works_with_other_losses(tmp_path, clip_cache, tiny_notes, loss):
    from ganpad.training.cli import config_from_args
    from ganpad.training.trainer.loop import Trainer

    data = tiny_notes[0].parent / "notes"
    cfg = config_from_args(_args("--model", "gansynth", "--data", str(data), "--d", "4",
                                 "--batch", "4", "--steps", "1", "--loss", loss, "--set",
                                 "train.drift=0", "--set", f"data.cache_dir={clip_cache}",
                                 "--set", "train.progress=false"))  # fmt: skip
    trainer = Trainer(cfg, tmp_path / "run")
    metrics = trainer.train_step()
    assert {"loss/aux_real", "loss/aux_fake", "loss/aux_acc_real"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
