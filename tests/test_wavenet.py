"""The WaveNet generator: mu-law, causality, prompted sampling, and why it is not exported."""

import pytest
import torch

from ganpad.training.config import ModelConfig
from ganpad.training.models.wavenet import MU, WaveNetGenerator, mu_law_decode, mu_law_encode


def _tiny() -> WaveNetGenerator:
    torch.manual_seed(0)
    return WaveNetGenerator(ModelConfig(wn_layers=4, wn_channels=8, wn_skip=8), 16384, 3)


def test_mu_law_round_trip():
    x = torch.linspace(-1, 1, 1001)
    codes = mu_law_encode(x)
    assert codes.min() == 0 and codes.max() == MU - 1
    # 8-bit mu-law: fine steps near zero, coarse ones near full scale.
    error = (mu_law_decode(codes) - x).abs()
    assert error[480:520].max() < 0.002 and error.max() < 0.04


def test_generator_is_causal():
    g = _tiny().eval()
    past = torch.randint(0, MU, (1, 64))
    cond = g._conditioning(torch.randn(1, 100), torch.tensor([1]))
    changed = past.clone()
    changed[0, 40:] = (changed[0, 40:] + 7) % MU
    a, b = g.logits(past, cond), g.logits(changed, cond)
    torch.testing.assert_close(a[..., :40], b[..., :40])
    assert not torch.allclose(a[..., 40:], b[..., 40:])
    assert g.receptive_field == 1 + 2 + 4 + 8 + 1


def test_sampling_continues_a_prompt():
    g = _tiny().eval()
    prompt = torch.sin(torch.arange(100) / 5.0)[None].repeat(2, 1) * 0.5
    torch.manual_seed(1)
    a = g.sample(torch.zeros(2, 100), torch.tensor([0, 2]), 32, prompt)
    torch.manual_seed(1)
    b = g.sample(torch.zeros(2, 100), torch.tensor([0, 2]), 32, prompt)
    assert a.shape == (2, 1, 32) and torch.equal(a, b)
    assert a.abs().max() <= 1.0


def test_teacher_forcing_gives_a_waveform_and_a_likelihood():
    g = _tiny()
    real = torch.rand(2, 1, 16384) * 0.2 - 0.1
    soft, match = g(torch.randn(2, 100), torch.tensor([0, 1]), teacher=real)
    assert soft.shape == real.shape and soft.requires_grad
    assert match.item() == pytest.approx(5.55, abs=0.3)  # about ln 256 before training
    match.backward()
    assert g.input.weight.grad is not None


def test_wavenet_gan_is_not_exported(tiny_config, tmp_path):
    from ganpad.export.exporter import ExportError, ExportOptions, export_preset
    from ganpad.training.trainer.loop import Trainer

    cfg = tiny_config(steps=1, n_critic=1, sample_every=0)
    cfg.model.family = "wavenet-gan"
    cfg.model.wn_layers, cfg.model.wn_channels, cfg.model.wn_skip = 4, 8, 8
    Trainer(cfg, tmp_path / "run").train()
    with pytest.raises(ExportError, match="not exported as a playable preset"):
        export_preset(tmp_path / "run", tmp_path / "preset", ExportOptions())
    assert not (tmp_path / "preset").exists()


def _train_args(*argv: str):
    from ganpad.cli import build_parser

    return build_parser().parse_args(["train", "--out", "unused", "--data", "x", *argv])


def test_wavenet_gan_defaults_fit_a_cpu_and_flags_still_win():
    from ganpad.training.cli import config_from_args

    cpu = config_from_args(_train_args("--model", "wavenet-gan"))
    assert (cpu.train.batch_size, cpu.data.slice_len) == (4, 16384)
    paper = config_from_args(_train_args("--model", "wavenet-gan", "--batch", "64",
                                         "--slice", "32768"))  # fmt: skip
    assert (paper.train.batch_size, paper.data.slice_len) == (64, 32768)
    override = config_from_args(_train_args("--model", "wavenet-gan", "--set",
                                            "train.batch_size=16"))  # fmt: skip
    assert override.train.batch_size == 16
    wavegan = config_from_args(_train_args("--model", "wavegan"))
    assert wavegan.train.batch_size == 64  # WaveGAN keeps the paper's batch
