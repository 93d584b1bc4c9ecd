"""Every GM key its own instrument (#27): the keyed labels, a drumsynth conditioned on class
and key, a class preset widened to keys for a fine-tune, and the keyed preset's GM notes.
Tiny models on real GMRockKit drums."""

import copy
import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import tiny_drumsynth

from ganpad.app.keymap import KeyMap
from ganpad.app.render import plan
from ganpad.drums import DRUM_CLASSES, GM_NOTE_CLASS, KEY_LABELS, KEYED_LABELS, label_class
from ganpad.presets import PresetError
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.evaluate import _latents
from ganpad.training.evaluation.key_judge import label_for_key
from ganpad.training.models import build_models
from ganpad.training.models.drumsynth import KEY_CODE, label_codes
from ganpad.training.trainer.finetune import PresetStart, add_modes, widen_to_keys
from ganpad.training.trainer.loop import Trainer, TrainError


def test_a_key_label_is_its_class_and_its_key():
    assert len(set(KEYED_LABELS)) == len(DRUM_CLASSES) + 47
    assert KEY_LABELS[56] == "cowbell" and KEY_LABELS[42] == "closed_hi_hat"
    assert label_class("cowbell") == "percussion" and label_class("snare") == "snare"
    codes = label_codes(len(KEYED_LABELS), keys=True)
    assert codes.shape == (55, 55)
    snare, cowbell = KEYED_LABELS.index("snare"), KEYED_LABELS.index("cowbell")
    assert codes[snare].sum() == 1 and codes[snare, DRUM_CLASSES.index("snare")] == 1
    assert codes[cowbell, DRUM_CLASSES.index("percussion")] == 1
    assert codes[cowbell].sum() == 1 + KEY_CODE
    assert (codes[len(DRUM_CLASSES) :, len(DRUM_CLASSES) :] == KEY_CODE * torch.eye(47)).all()
    with pytest.raises(ValueError, match="KEYED_LABELS"):
        label_codes(8, keys=True)


def test_drum_keys_label_named_keys_and_keep_every_label(gmrock, clip_cache):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=True).data
    clips = load_clips(cfg)
    assert clips.classes == KEYED_LABELS
    names = [clips.classes[i] for i in clips.labels]
    assert names.count("cowbell") == 5 and names.count("ride_bell") == 5
    assert all(KEY_LABELS[k] == n for k, n in zip(clips.keys, names, strict=True) if k >= 0)
    cfg.labels = "gm"
    with pytest.raises(ValueError, match="data.labels = 'gm'"):
        load_clips(cfg)


def test_a_labels_file_may_name_a_key(gmrock, clip_cache, tmp_path):
    (tmp_path / "pack").mkdir()
    shutil.copy(gmrock / "Kick-Hard.wav", tmp_path / "pack" / "sample01.wav")
    labels = tmp_path / "pack" / "ganpad-labels.json"
    labels.write_text(json.dumps({"sample01.wav": "low_conga"}))
    cfg = tiny_drumsynth(tmp_path / "pack", clip_cache, keys=True).data
    assert [KEYED_LABELS[i] for i in load_clips(cfg).labels] == ["low_conga"]
    cfg.labels = "drums"
    assert load_clips(cfg).classes == ("percussion",)
    labels.write_text(json.dumps({"sample01.wav": "low_congas"}))
    with pytest.raises(ValueError, match="'low_congas' is not a drum class .* nor a GM key"):
        load_clips(cfg)


def test_model_keys_needs_drum_keys_data(gmrock, clip_cache, tmp_path):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=True)
    cfg.data.labels = "drums"
    with pytest.raises(TrainError, match="drum-keys"):
        Trainer(cfg, tmp_path / "run")


def test_a_class_preset_widened_to_keys_first_plays_each_key_as_its_class(
    gmrock, clip_cache, tmp_path
):
    classes = Trainer(tiny_drumsynth(gmrock, clip_cache, keys=False), tmp_path / "classes")
    classes.train()
    tensors = {f"G.{k}": v for k, v in classes.G.state_dict().items()}
    tensors |= {f"D.{k}": v for k, v in classes.D.state_dict().items()}
    start = PresetStart(classes.cfg, list(classes.classes), tensors, tmp_path)

    with pytest.raises(PresetError, match="not drum classes"):
        widen_to_keys(replace(start, classes=["36", "37"]), 16)
    keyed = Trainer(tiny_drumsynth(gmrock, clip_cache, keys=True), tmp_path / "keys", start=start)
    assert keyed.classes == KEYED_LABELS
    z = torch.randn(3, 16)
    for key in (56, 38, 46):  # a percussion key, a snare, an open hat: as their class played
        old = classes.classes.index(GM_NOTE_CLASS[key])
        new = KEYED_LABELS.index(KEY_LABELS[key])
        with torch.no_grad():
            was = classes.G(z, torch.full((3,), old))
            now = keyed.G(z, torch.full((3,), new))
        assert torch.allclose(was, now, atol=1e-5)
    keyed.train()  # the key weights learn from the clips of the keys in its batches
    assert keyed.G.net[0].weight[:, 16 + len(DRUM_CLASSES) :].abs().sum() > 0


def test_modes_ring_at_their_fixed_frequencies(gmrock, clip_cache, tmp_path):
    cfg = tiny_drumsynth("", "", keys=False).model
    cfg.synth_modes = 16
    generator = build_models(cfg, 16384, 3, 16000)[0].eval()
    with torch.no_grad():
        generator.mode_amp.weight.zero_()
        generator.mode_amp.bias.fill_(-30.0)  # every mode silent ...
        knots = generator.slow_knots.count
        generator.mode_amp.bias[9 * knots : 10 * knots] = 3.0  # ... but the tenth, loud
        audio = generator.synthesize(torch.zeros(1, 16), torch.zeros(1, dtype=torch.long),
                                     torch.ones(1, 16))[0, 0].numpy()  # fmt: skip
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    peak = np.fft.rfftfreq(len(audio), 1 / 16000)[spectrum.argmax()]
    assert peak == pytest.approx(float(generator.mode_hz[9]), rel=0.01)

    # A preset without modes fine-tunes into a model with them, first sounding as it did.
    classes = Trainer(tiny_drumsynth(gmrock, clip_cache, keys=False), tmp_path / "classes")
    tensors = {f"G.{k}": v for k, v in classes.G.state_dict().items()}
    tensors |= {f"D.{k}": v for k, v in classes.D.state_dict().items()}
    start = PresetStart(copy.deepcopy(classes.cfg), list(classes.classes), tensors, tmp_path)
    moded = tiny_drumsynth(gmrock, clip_cache, keys=False)
    moded.model.synth_modes = 8
    trainer = Trainer(moded, tmp_path / "modes", start=start)
    z, label = torch.randn(3, 16), torch.tensor([0, 1, 2])
    with torch.no_grad():
        was, now = classes.G(z, label), trainer.G(z, label)
    assert (was - now).abs().max() < 1e-3 * was.abs().max()
    before = trainer.G.mode_amp.weight.detach().clone()
    trainer.train()
    assert not torch.equal(trainer.G.mode_amp.weight, before)  # the modes learn
    with pytest.raises(PresetError, match="modes already"):  # a preset's modes stay its own
        add_modes(replace(start, config=moded), trainer.G)


def test_mode_classes_leave_the_other_drums_as_they_sound_without_modes():
    cfg = tiny_drumsynth("", "", keys=True).model
    cfg.synth_modes, cfg.mode_classes = 8, ["cymbal", "percussion"]
    generator = build_models(cfg, 8192, len(KEYED_LABELS), 16000)[0].eval()
    plain = copy.deepcopy(generator)
    with torch.no_grad():  # loud lines and quieter noise for every label ...
        generator.mode_label.weight.fill_(0.05)
        generator.noise_label.weight.fill_(-0.01)
    names = ["kick", "snare", "low_tom", "cymbal", "cowbell", "ride_bell"]
    label = torch.tensor([KEYED_LABELS.index(n) for n in names])
    z, mix = torch.randn(len(names), 16), torch.randn(len(names), 16)
    with torch.no_grad():
        moded, was = generator.synthesize(z, label, mix), plain.synthesize(z, label, mix)
    change = (moded - was).abs().amax(dim=(1, 2))
    assert (change[:3] == 0).all()  # ... but those the classes leave out play as before
    assert (change[3:] > 1e-3).all(), change
    for wrong, error in (
        (["cowbell"], "cowbell is not a drum class"),
        (["cymbal"], "needs drumsynth with model.synth_modes and model.keys"),
    ):
        bad = replace(cfg, mode_classes=wrong, keys=wrong == ["cowbell"])  # fmt: skip
        with pytest.raises(ValueError, match=error):
            build_models(bad, 8192, len(KEYED_LABELS) if bad.keys else 8, 16000)


def test_mode_cap_keeps_a_hat_mode_under_its_share_of_the_rest_and_leaves_a_cowbell():
    """model.mode_cap: a hi-hat mode rings at most that share of the energy of the rest of its
    clip (an open hat's mode ringing on past its noise whistled); a cowbell's lines stay."""
    cfg = tiny_drumsynth("", "", keys=True).model
    cfg.synth_modes, cfg.mode_classes = 16, ["open_hat", "percussion"]
    free = build_models(cfg, 8192, len(KEYED_LABELS), 16000)[0].eval()
    with torch.no_grad():
        free.mode_amp.bias.fill_(-0.3)  # every mode silent ...
        knots = free.slow_knots.own
        free.mode_amp.bias[9 * knots : 10 * knots] = 0.03  # ... but the tenth, loud
    capped = copy.deepcopy(free)
    capped.mode_cap = 0.1
    silent = copy.deepcopy(free)
    with torch.no_grad():
        silent.mode_amp.bias.fill_(-0.3)
    label = torch.tensor([KEYED_LABELS.index(n) for n in ("open_hi_hat", "cowbell")])
    z, mix = torch.randn(2, 16), torch.randn(2, 16)
    with torch.no_grad():
        rest, loud, held = (g.synthesize(z, label, mix)[:, 0] for g in (silent, free, capped))
    energy = lambda x: (x**2).sum(-1)  # noqa: E731
    assert (energy(loud - rest) > 0.5 * energy(rest)).all()  # the loud mode would whistle
    assert energy(held - rest)[0] < 0.12 * energy(rest)[0]  # 0.1, and the DC blocker's edge
    assert (held[1] == loud[1]).all()
    with pytest.raises(ValueError, match="model.mode_cap = -1"):
        build_models(replace(cfg, mode_cap=-1.0), 8192, len(KEYED_LABELS), 16000)
    with pytest.raises(ValueError, match="needs drumsynth with model.synth_modes and model.keys"):
        build_models(replace(cfg, mode_cap=0.1, mode_classes=[], keys=False), 8192, 8, 16000)


def test_a_label_with_no_clips_takes_its_class_prior_unless_a_preset_learnt_it():
    cfg = tiny_drumsynth("", "", keys=True).model
    generator = build_models(cfg, 4096, len(KEYED_LABELS), 16000)[0].eval()
    audio = torch.randn(6, 1, 4096)
    cowbell, claves, kick = (KEYED_LABELS.index(n) for n in ("cowbell", "claves", "kick"))
    with torch.no_grad():
        generator.fit_prior(audio, torch.full((6,), cowbell))
        assert torch.equal(generator.prior_mean[claves], generator.prior_mean[cowbell])
        assert not generator.prior_mean[kick].any()  # no clip of its class either
        generator.prior_mean[claves] = 0.0
        keep = [i == claves for i in range(len(KEYED_LABELS))]
        generator.fit_prior(audio, torch.full((6,), cowbell), keep=keep)
        assert not generator.prior_mean[claves].any()


def test_a_keyed_preset_plays_each_trained_key_and_the_class_for_the_rest(
    gmrock, clip_cache, tmp_path
):
    from ganpad.export.exporter import ExportOptions, export_preset
    from ganpad.presets import load_preset

    run = tmp_path / "run"
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=True)
    cfg.model.synth_modes = 4  # in the graph too, within the parity check's error
    Trainer(cfg, run).train()
    export_preset(run, tmp_path / "keyed", ExportOptions())
    preset = load_preset(tmp_path / "keyed")
    notes = {label.name: label.gm_notes for label in preset.labels}
    assert notes["cowbell"] == (56,) and notes["open_hi_hat"] == (46,)
    assert notes["claves"] == () and 75 in notes["percussion"]  # no claves in GMRockKit
    assert notes["hi_mid_tom"] == () and 48 in notes["tom"]
    keymap = KeyMap.for_preset(preset)
    assert keymap.names[keymap.slot_for(56)] == "cowbell"
    assert keymap.names[keymap.slot_for(75)] == "percussion"
    hats = [keymap.choke_group[keymap.slot_for(n)] for n in (42, 44, 46)]
    assert hats == [1, 1, 1] and keymap.choke_group[keymap.slot_for(56)] == 0
    rendered = {job.name for job in plan(preset, 1, 0)}  # what some key plays, no more
    assert {"hand_clap", "cowbell", "percussion"} <= rendered and "clap" not in rendered
    meta = json.loads((tmp_path / "keyed" / "preset.json").read_text())
    assert [label["name"] for label in meta["labels"]] == list(KEYED_LABELS)

    # A musician's pack labelled only by class folders fine-tunes it in one command.
    pack = tmp_path / "pack"
    for cls, source in (("Toms", "Tom1-Hard.wav"), ("Cymbals", "24Ride-1.wav")):
        (pack / cls).mkdir(parents=True)
        shutil.copy(gmrock / source, pack / cls / "take 1.wav")
    out = tmp_path / "tuned"
    command = [sys.executable, "-m", "ganpad", "train", "--finetune", str(tmp_path / "keyed"),
               "--data", str(pack), "--out", str(out), "--steps", "1",
               "--set", f"data.cache_dir={clip_cache}",
               "--set", "train.progress=false"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "data_report.json").read_text())
    assert report["class_counts"] == {"tom": 1, "cymbal": 1}  # class labels, no key named
    export_preset(out, tmp_path / "tuned-preset", ExportOptions())
    tuned = {label.name: label.gm_notes for label in load_preset(tmp_path / "tuned-preset").labels}
    assert tuned == notes  # the keys the preset played as their own still are


def test_eval_splits_a_class_share_between_the_labels_keys_play():
    names = ["kick", "snare", "bass_drum", "acoustic_bass_drum"]
    _, labels = _latents(8, 4, names, 0, {"kick": 0.5, "snare": 0.5}, [False, True, True, True])
    assert np.bincount(labels, minlength=4).tolist() == [0, 4, 2, 2]
    _, turns = _latents(6, 4, names, 0, None, [False, True, True, True])
    assert turns.tolist() == [1, 2, 3, 1, 2, 3]


def test_the_key_judge_plays_a_runs_own_key_label():
    assert label_for_key(56, KEYED_LABELS, {}) == KEYED_LABELS.index("cowbell")
    assert label_for_key(56, DRUM_CLASSES, {}) == DRUM_CLASSES.index("percussion")


def test_the_modes_stage_trains_the_mode_head_alone_with_the_noise_muted(
    gmrock, clip_cache, tmp_path
):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=False)
    cfg.model.synth_modes = 8
    t = cfg.train
    t.modes_first, t.noise_balance, t.modes_lr, t.adversarial_from = 2, 1, 1e-3, 4
    trainer = Trainer(cfg, tmp_path / "run")
    g = trainer.G
    rest = {n: p.detach().clone() for n, p in g.named_parameters() if not n.startswith("mode_")}
    head = g.mode_amp.weight.detach().clone()
    for _ in range(2):
        assert set(trainer.train_step()) >= {"loss/rec"}
        trainer.step += 1
    assert not torch.equal(g.mode_amp.weight, head)
    assert g.mode_label.weight.abs().sum() > 0  # each label's own lines learn too
    assert all(torch.equal(p, rest[n]) for n, p in g.named_parameters() if n in rest)
    assert g.mute_noise is False  # muted for the stage's own steps only
    fast, slow = (group["lr"] for group in trainer.opt_g.param_groups)
    assert slow / fast == pytest.approx(t.modes_lr / t.lr)
    modes = [p.detach().clone() for p in g.mode_parameters()]
    trainer.train_step()  # the noise's balance: only each label's noise gains learn
    trainer.step += 1
    assert g.noise_label.weight.abs().sum() > 0
    assert all(torch.equal(p, m) for p, m in zip(g.mode_parameters(), modes, strict=True))
    assert torch.equal(g.band_gain.weight, rest["band_gain.weight"])
    trainer.train_step()  # past the stages: everything learns
    assert not torch.equal(g.band_gain.weight, rest["band_gain.weight"])

    with torch.no_grad():  # muted, a model whose partials and modes are silent is silent
        g.partial_amp.weight.zero_()
        g.partial_amp.bias.fill_(-30.0)
        g.mode_amp.weight.zero_()
        g.mode_amp.bias.fill_(-1.0)  # times MODE_RATE: far under the floor
        z, label = torch.randn(2, 16), torch.tensor([0, 1])
        g.mute_noise = True
        assert g(z, label).abs().max() < 1e-4
        g.mute_noise = False
        assert g(z, label).abs().max() > 1e-2


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"modes_first": 2, "noise_balance": 1, "adversarial_from": 1},
            "adversarial_from to 3 or more",
        ),
        ({"modes_lr": -1.0}, "0 .off. or more"),
    ],
)
def test_the_modes_stage_settings_are_checked(gmrock, clip_cache, tmp_path, settings, error):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=False)
    cfg.model.synth_modes = 8
    for key, value in settings.items():
        setattr(cfg.train, key, value)
    with pytest.raises(TrainError, match=error):
        Trainer(cfg, tmp_path / "run")
    cfg.model.synth_modes, cfg.train.modes_first, cfg.train.modes_lr = 0, 0, 1e-3
    with pytest.raises(TrainError, match="model.synth_modes > 0"):
        Trainer(cfg, tmp_path / "run")
