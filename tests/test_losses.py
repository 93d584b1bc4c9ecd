"""The published loss and critic variants: every combination trains, bad ones fail at start."""

import json
import math

import pytest
import torch

from ganpad.training.config import TrainConfig
from ganpad.training.trainer.loop import Trainer, TrainError
from ganpad.training.trainer.losses import LOSSES, bwgan_critic, gradient_penalty, sobolev_dual_norm


@pytest.mark.parametrize(
    ("family", "critic"),
    [("wavegan", "conv"), ("wavegan", "lstm"), ("specgan", "conv"), ("wavenet-gan", "conv")],
)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_model_loss_and_critic_trains(tiny_config, tmp_path, loss, family, critic):
    cfg = tiny_config(steps=3, loss=loss, n_critic=1, batch_size=2, sample_every=0)
    cfg.model.family = family
    cfg.model.critic = critic
    cfg.model.lstm_step = 64  # the report's 4 works too, but its double backward is slow on CPU
    cfg.model.wn_layers, cfg.model.wn_channels, cfg.model.wn_skip = 4, 8, 8
    cfg.model.conditional = True
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.train().step == 3
    assert all(math.isfinite(p.abs().sum().item()) for p in trainer.G.parameters())
    if loss == "wgan":
        assert max(p.abs().max().item() for p in trainer.D.parameters()) <= cfg.train.clip_value


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"critic": "lstm", "slice": 32768}, "--critic lstm is not supported with 32768"),
        ({"family": "specgan", "critic": "lstm"}, "--critic lstm is for wavegan"),
        ({"family": "specgan", "slice": 65536}, "specgan takes 16384-sample clips"),
        ({"critic": "gru"}, "unknown critic 'gru'"),
        ({"loss": "relativistic"}, "unknown loss 'relativistic'"),
    ],
)
def test_unsupported_combinations_fail_at_start(tiny_config, tmp_path, monkeypatch, changes,
                                                message):  # fmt: skip
    from ganpad.training.trainer import loop

    cfg = tiny_config(steps=1)
    cfg.model.critic = changes.get("critic", "conv")
    cfg.model.family = changes.get("family", "wavegan")
    cfg.data.slice_len = changes.get("slice", 16384)
    cfg.train.loss = changes.get("loss", "wgan-gp")
    monkeypatch.setattr(loop, "load_clips", lambda *a: pytest.fail("read data before checking"))
    with pytest.raises((ValueError, TrainError), match=message):
        Trainer(cfg, tmp_path / "run")


def test_sobolev_norm_with_s0_p2_is_the_l2_norm():
    g = torch.randn(5, 1, 1000)
    torch.testing.assert_close(sobolev_dual_norm(g, 0.0, 2.0), g.flatten(1).norm(dim=1))
    # s > 0 weighs high frequencies less: a fast wave has a smaller dual norm than a slow one.
    t = torch.arange(1000.0)
    slow, fast = torch.sin(2 * math.pi * t / 500)[None], torch.sin(2 * math.pi * t / 4)[None]
    # xi is in radians per sample: at a quarter of the rate (1 + (pi/2)^2)^(-s/2) = 0.29 for s=2.
    ratio = sobolev_dual_norm(fast, 2.0, 2.0) / sobolev_dual_norm(slow, 2.0, 2.0)
    assert ratio.item() == pytest.approx(1 / (1 + (math.pi / 2) ** 2), rel=0.02)


def test_bwgan_with_s0_p2_is_wgan_gp_scaled_by_gamma():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    real, fake = torch.randn(8, 1, 64), torch.randn(8, 1, 64)
    cfg = TrainConfig(bw_s=0.0, bw_p=2.0, bw_gamma=5.0, gp_lambda=10.0)

    def run(gamma):
        torch.manual_seed(1)
        return bwgan_critic(lambda x, y: critic(x), real, fake, None, cfg.__class__(
            bw_s=0.0, bw_p=2.0, bw_gamma=gamma, gp_lambda=10.0))  # fmt: skip

    result = run(5.0)
    # The same interpolates by hand: the critic is linear, so its gradient is its weight.
    norm = critic[1].weight.norm()
    expected_gp = (norm / 5.0 - 1) ** 2
    torch.testing.assert_close(result.parts["gp"], expected_gp.detach())
    w = result.parts["wasserstein"]
    torch.testing.assert_close(result.loss, -w / 5.0 + 10.0 * expected_gp, atol=1e-5, rtol=1e-5)
    # With gamma = 1 it is exactly the WGAN-GP penalty.
    torch.testing.assert_close(run(1.0).parts["gp"], gradient_penalty(critic[1].weight[None]))
    assert cfg.bw_gamma == 5.0


def test_compare_writes_a_table(gmrock, clip_cache, tmp_path):
    from ganpad.cli import main

    out = tmp_path / "cmp"
    code = main(["compare", "--data", str(gmrock), "--steps", "2", "--out", str(out),
                 "--d", "4", "--batch", "2", "--losses", "wgan-gp", "lsgan", "--critics", "conv",
                 "--models", "wavegan",
                 "--set", f"data.cache_dir={clip_cache}", "--set", "train.n_critic=1"])  # fmt: skip
    assert code == 0
    rows = json.loads((out / "compare.json").read_text())
    assert [(r["loss"], r["critic"]) for r in rows[:2]] == [("wgan-gp", "conv"), ("lsgan", "conv")]
    assert all(r["frechet_distance"] > 0 and r["s_per_step"] > 0 for r in rows[:2])
    assert rows[-1]["model"] == "real data" and rows[-1]["inception_score"] > 3
    assert "| wavegan | lsgan | conv |" in (out / "compare.md").read_text()


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "c", 2, "the data is mono"),
        ("model", "kernel", 24, "odd kernel"),
        ("model", "lstm_step", 3, "does not divide 16384"),
        ("train", "bw_p", 1.0, "bwgan needs p > 1"),
    ],
)
def test_bad_model_settings_fail_at_start(tiny_config, tmp_path, section, key, value, message):
    cfg = tiny_config(steps=1, loss="bwgan")
    cfg.model.critic = "lstm"
    setattr(getattr(cfg, section), key, value)
    with pytest.raises((ValueError, TrainError), match=message):
        Trainer(cfg, tmp_path / "run")


def test_wavenet_gan_refuses_evaluation_during_training(tiny_config, tmp_path):
    cfg = tiny_config(steps=1, eval_every=1)
    cfg.model.family = "wavenet-gan"
    with pytest.raises(TrainError, match="too slow to evaluate during training"):
        Trainer(cfg, tmp_path / "run")


def test_drift_term_adds_the_squared_real_scores():
    from ganpad.training.trainer.losses import wgan_gp_critic

    critic = torch.nn.Linear(6, 1)

    def score(x, label):
        return critic(x).squeeze(1)

    real, fake = torch.randn(4, 6), torch.randn(4, 6)
    cfg = TrainConfig()
    torch.manual_seed(0)
    plain = wgan_gp_critic(score, real, fake, None, cfg)
    cfg.drift = 0.001
    torch.manual_seed(0)  # the same interpolates
    drifted = wgan_gp_critic(score, real, fake, None, cfg)
    expected = 0.001 * score(real, None).pow(2).mean()
    assert "drift" not in plain.parts and "drift" in drifted.parts
    assert torch.allclose(drifted.loss - plain.loss, expected, atol=1e-6)


@pytest.mark.parametrize("family", ["wavegan", "gansynth"])
def test_gradient_penalty_pass_of_its_own_keeps_the_maths(family):
    """The interpolates' own pass gives the loss and critic gradients of one shared pass."""
    from ganpad.training.config import ModelConfig
    from ganpad.training.models import build_models
    from ganpad.training.trainer.losses import wgan_gp_critic

    torch.manual_seed(0)
    cfg = ModelConfig(family=family, d=4, phase_shuffle=0, latent=16, conditional=True)
    _, critic = build_models(cfg, 16384, 3, 16000)
    shape = (4, 2, 64, 512) if family == "gansynth" else (4, 1, 16384)
    real, fake = torch.randn(shape) * 0.3, torch.randn(shape) * 0.3
    label = torch.tensor([0, 1, 2, 1])

    def score(x, y):
        out = critic(x, y)
        return out[0] if isinstance(out, tuple) else out

    def grads(loss):
        critic.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in critic.parameters() if p.grad is not None]

    torch.manual_seed(1)
    split = wgan_gp_critic(score, real, fake, label, TrainConfig())
    torch.manual_seed(1)  # the same interpolates, in one pass with real and fake
    alpha = torch.rand(4, *([1] * (len(shape) - 1)))
    interp = (real + alpha * (fake - real)).requires_grad_(True)
    d_real, d_fake, d_interp = score(torch.cat([real, fake, interp]), label.repeat(3)).split(4)
    (g,) = torch.autograd.grad(d_interp.sum(), interp, create_graph=True)
    shared = d_fake.mean() - d_real.mean() + 10.0 * gradient_penalty(g)
    torch.testing.assert_close(split.loss, shared, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads(split.loss), grads(shared), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
