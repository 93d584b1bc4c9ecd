"""The synths' adversarial stage (#28): crop critics, crops, the critic's warm-up, the frozen
encoder, clipped gradients, and the running KID that rolls a worsening run back. Tiny models
on real GMRockKit drums."""

import json

import pytest
import torch
from conftest import train_notes

from ganpad.training.config import ADVERSARIAL_STAGE, RunConfig, set_value
from ganpad.training.models import build_models, check_config
from ganpad.training.models.crop_critics import BANDS, PERIODS, WINDOWS, CropCritics
from ganpad.training.trainer import checkpoint
from ganpad.training.trainer.crops import crop
from ganpad.training.trainer.loop import Trainer, TrainError

RATE = 16000


def _stage_config(gmrock, clip_cache, **train) -> RunConfig:
    """A d=4 DrumSynth with an encoder, in the adversarial stage from step 0."""
    cfg = RunConfig()
    for key, value in ADVERSARIAL_STAGE.items():
        set_value(cfg, key, value)
    cfg.data.path, cfg.data.cache_dir = str(gmrock), str(clip_cache)
    m = cfg.model
    m.family, m.d, m.latent, m.conditional, m.encoder = "drumsynth", 4, 16, True, True
    m.synth_bands, m.synth_partials, m.synth_knots = 8, 2, 12
    t = cfg.train
    t.batch_size, t.log_every, t.checkpoint_every, t.sample_every = 4, 1, 2, 0
    t.progress, t.critic_warmup = False, 2
    for key, value in train.items():
        setattr(t, key, value)
    return cfg


def test_crop_critics_score_every_view_and_name_the_class():
    critic = CropCritics(4, RATE, 3)
    audio = torch.randn(2, 1, 4000)  # a quarter second
    scores, logits, feats = critic.forward_features(audio, torch.tensor([0, 2]))
    views = len(PERIODS) + len(WINDOWS) * len(BANDS)
    assert scores.shape == (2, views) and logits.shape == (2, 3)
    assert len(feats) == len(PERIODS) * 4 + len(WINDOWS) * len(BANDS) * 4
    assert torch.isfinite(scores).all()
    scores.sum().backward()  # every view reaches the input
    assert all(p.grad is not None for p in critic.parameters() if p is not critic.classifier.weight
               and p is not critic.classifier.bias)  # fmt: skip
    unconditional = CropCritics(4, 44100, 0)
    assert isinstance(unconditional(torch.randn(2, 1, 11025)), torch.Tensor)
    assert not hasattr(unconditional, "classifier")


def test_synth_critic_is_chosen_by_config_and_a_wrong_name_fails_early():
    cfg = _stage_config("", "").model
    assert isinstance(build_models(cfg, 16384, 3, RATE)[1], CropCritics)
    cfg.synth_critic = "wave"
    with pytest.raises(ValueError, match="synth_critic"):
        check_config(cfg, 16384)


def test_crops_are_windows_of_the_clip_from_the_onset_or_later():
    torch.manual_seed(0)
    ramp = torch.arange(1000.0).repeat(400, 1)[:, None]  # each sample holds its own index
    cropped = crop(ramp, 100)
    assert cropped.shape == (400, 1, 100)
    assert (torch.diff(cropped[:, 0], dim=1) == 1).all()  # contiguous windows
    starts = cropped[:, 0, 0]
    onsets = (starts == 0).float().mean()
    assert 0.4 < onsets < 0.6  # half the clips show their attack
    assert starts.max() <= 900 and (starts > 450).any()  # others reach the tail
    assert crop(ramp, 1000) is ramp


def test_the_critic_warms_up_alone_then_the_decoder_learns_and_the_encoder_stays(
    gmrock, clip_cache, tmp_path
):
    trainer = Trainer(_stage_config(gmrock, clip_cache, steps=4), tmp_path / "run")
    start_g = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    start_d = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    for _ in range(2):  # the warm-up: critic steps only
        metrics = trainer.train_step()
        trainer.step += 1
        assert metrics["loss/generator"] == 0.0 and metrics["loss/critic"] > 0
    assert all(torch.equal(v, trainer.G.state_dict()[k]) for k, v in start_g.items())
    assert any(not torch.equal(v, trainer.D.state_dict()[k]) for k, v in start_d.items())
    metrics = trainer.train_step()
    assert {"loss/rec", "loss/fm", "loss/d_real"} <= set(metrics)
    now = trainer.G.state_dict()
    changed = {k for k, v in start_g.items() if not torch.equal(v, now[k])}
    assert any(k.startswith("net.") for k in changed)  # the decoder learned
    assert not any(k.startswith("encoder.") for k in changed)  # the encoder did not


def test_gradients_of_both_networks_are_clipped(gmrock, clip_cache, tmp_path):
    trainer = Trainer(_stage_config(gmrock, clip_cache, steps=4, grad_clip=1e-3,
                                    critic_warmup=0), tmp_path / "run")  # fmt: skip
    seen: dict[str, list[float]] = {"G": [], "D": []}
    for name, model, opt in (("G", trainer.G, trainer.opt_g), ("D", trainer.D, trainer.opt_d)):
        step = opt.step

        def spy(*args, _name=name, _model=model, _step=step, **kwargs):
            grads = [p.grad.flatten() for p in _model.parameters() if p.grad is not None]
            seen[_name].append(float(torch.cat(grads).norm()))
            return _step(*args, **kwargs)

        opt.step = spy
    trainer.train_step()
    assert seen["G"] and seen["D"]
    assert max(seen["G"] + seen["D"]) <= 1e-3 * 1.0001


def test_learning_rates_ramp_up_from_each_networks_first_update(gmrock, clip_cache, tmp_path):
    trainer = Trainer(_stage_config(gmrock, clip_cache, steps=6, lr=1e-3, critic_warmup=2,
                                    lr_warmup=4), tmp_path / "run")  # fmt: skip
    rates = []
    for _ in range(6):
        trainer.train_step()
        rates.append((trainer.opt_d.param_groups[0]["lr"], trainer.opt_g.param_groups[0]["lr"]))
        trainer.step += 1
    d, g = zip(*rates, strict=True)
    assert d == pytest.approx([0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3, 1e-3])
    assert g[2:] == pytest.approx([0.25e-3, 0.5e-3, 0.75e-3, 1e-3])  # G's first update: step 2


@pytest.fixture(scope="module")
def tiny_synth_preset(tmp_path_factory, gmrock, clip_cache):
    """A d=4 DrumSynth with an encoder, trained 1 step and exported: a preset to fine-tune."""
    from ganpad.cli import main

    root = tmp_path_factory.mktemp("stage")
    small = ["--d", "4", "--batch", "4", "--set", "model.synth_knots=12", "--set",
             "model.synth_bands=8", "--set", "model.latent=16", "--steps", "1"]  # fmt: skip
    assert main(["train", "--model", "drumsynth", "--out", str(root / "run"), *_common(gmrock,
                 clip_cache), *small]) == 0  # fmt: skip
    assert main(["export", str(root / "run"), "--out", str(root / "preset")]) == 0
    return root / "preset"


def _common(gmrock, clip_cache) -> list[str]:
    return ["--data", str(gmrock), "--set", f"data.cache_dir={clip_cache}",
            "--set", "train.progress=false"]  # fmt: skip


def test_a_stage_that_makes_things_worse_is_rolled_back_not_kept(
    gmrock, clip_cache, tmp_path, tiny_synth_preset
):
    # A learning rate of 0.1: Adam's first steps move every weight by about that much, and
    # the synthesiser's controls saturate, while the losses stay finite and under the
    # divergence threshold. The running KID sees it (several times the preset's); the run
    # goes back to its best checkpoint with a sane rate, forgets what it undid, and
    # checkpoints/best (what one exports) holds the preset's weights.
    from ganpad.training.trainer.finetune import adopt_model, load_preset_start

    start = load_preset_start(str(tiny_synth_preset))
    cfg = _stage_config(
        gmrock,
        clip_cache,
        steps=4,
        lr=0.1,
        critic_warmup=0,
        eval_every=2,
        eval_n=48,
        eval_rollback=1.5,
        rollback_lr_factor=1e-6,
        lr_warmup=0,
        ema_decay=0.0,
    )  # fmt: skip (the EMA is G: judged at once)
    adopt_model(cfg, start)
    cfg.model.synth_critic = "crops"
    run = tmp_path / "run"
    trainer = Trainer(cfg, run, start=start)
    weights = {k: v.detach().clone() for k, v in trainer.G.named_parameters()}
    evaluations = []
    evaluate = trainer.evaluate_now
    trainer.evaluate_now = lambda: (
        evaluations.append((trainer.step, evaluate())) or evaluations[-1][1]
    )
    result = trainer.train()
    assert result.rollbacks == 1 and result.step == 4
    kids = [e["eval/kid"] for _, e in evaluations]
    assert evaluations[0][0] == 0 and max(kids) > 1.5 * kids[0]  # the preset is scored first
    best = json.loads((checkpoint.checkpoint_dir(run) / "best" / "best.json").read_text())
    assert best["metric"] == "kid" and best["value"] <= kids[0]
    tensors, _ = checkpoint.load(checkpoint.checkpoint_dir(run) / "best")
    assert all(torch.allclose(tensors[f"G.{k}"], v, atol=1e-4) for k, v in weights.items())
    assert trainer.opt_g.param_groups[0]["lr"] <= 1e-6  # the rate came down with the rollback
    # What was undone is gone: every metrics line after the rollback point was trained again.
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"crop_s": 0.05}, "crop_s"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"eval_rollback": 1.5}, "eval_every"),
        ({"eval_rollback": 0.5, "eval_every": 2}, "eval_rollback = 0.5"),
        ({"eval_n": 2, "eval_every": 2}, "eval_n = 2"),
    ],
)
def test_stage_settings_that_cannot_work_fail_before_training(gmrock, clip_cache, tmp_path,
                                                               change, message):  # fmt: skip
    with pytest.raises(TrainError, match=message):
        Trainer(_stage_config(gmrock, clip_cache, **change), tmp_path / "run")
    cfg = _stage_config(gmrock, clip_cache)
    cfg.model.encoder = False
    with pytest.raises(TrainError, match="freeze_encoder"):
        Trainer(cfg, tmp_path / "run2")


def test_adversarial_flag_fine_tunes_a_preset_with_the_stage(
    gmrock, clip_cache, tmp_path, tiny_synth_preset
):
    from ganpad.cli import main

    common = _common(gmrock, clip_cache)
    fresh = ["train", "--adversarial", "--model", "drumsynth", *common]
    assert main([*fresh, "--out", str(tmp_path / "fresh")]) == 2  # a stage, not a recipe
    tuned = tmp_path / "tuned"
    assert main(["train", "--finetune", str(tiny_synth_preset), "--adversarial", "--out",
                 str(tuned), "--steps", "2", "--batch", "4", "--set", "train.critic_warmup=1",
                 "--set", "train.log_every=1", *common]) == 0  # fmt: skip
    saved = (tuned / "config.toml").read_text()
    assert 'synth_critic = "crops"' in saved and "freeze_encoder = true" in saved
    lines = [json.loads(x) for x in (tuned / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["loss/generator"] == 0.0 and "loss/fm" in lines[1]
    assert lines[1]["loss/critic"] != 0.0
    # The fine-tuned preset says what it started from, and how that was trained.
    assert main(["export", str(tuned), "--out", str(tmp_path / "tuned-preset")]) == 0
    training = json.loads((tmp_path / "tuned-preset" / "preset.json").read_text())["training"]
    assert training["started_from"]["preset"] == "preset"
    assert training["started_from"]["training"]["steps"] == 1
    assert training["final_losses"]["loss/critic"] != 0.0
    assert training["adversarial_steps"] == 1  # 2 steps, the first the critic's warm-up
    # Resumed with the flag, the run keeps its own settings (a warm-up of 1, not 100).
    assert main(["train", "--adversarial", "--resume", "--out", str(tuned), "--steps", "3",
                 *common]) == 0  # fmt: skip
    assert "critic_warmup = 1\n" in (tuned / "config.toml").read_text()
    plain = tmp_path / "plain"  # a run that never used the stage cannot resume into it
    assert main(["train", "--finetune", str(tiny_synth_preset), "--out", str(plain), "--steps",
                 "1", "--batch", "4", *common]) == 0  # fmt: skip
    assert main(["train", "--adversarial", "--resume", "--out", str(plain), *common]) == 2


def test_notes_are_evaluated_during_training_in_the_log_mel_embedding(tmp_path, clip_cache):
    from ganpad.training.config import load_toml

    run, _ = train_notes(tmp_path, clip_cache, "evaluated", "--set", "train.eval_every=1",
                         "--set", "train.eval_n=8", model="notesynth")  # fmt: skip
    best = json.loads((checkpoint.checkpoint_dir(run) / "best" / "best.json").read_text())
    assert best["metric"] == "kid" and best["value"] == best["value"]  # a number, not NaN
    trainer = Trainer(load_toml(run / "config.toml"), run, resume=True)
    result = trainer.evaluate_now()
    # No drum classifier (no Inception score); a log-mel KID of a few units, where the
    # classifier's would be a fraction.
    assert set(result) == {"eval/frechet_distance", "eval/kid"}
    assert trainer._eval_embed.classifier is None and trainer._eval_embed.scale is not None
