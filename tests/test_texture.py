"""train.lambda_texture: a resynthesis judged on how peaked each band is, lines against noise."""

import math

import pytest
import torch
from conftest import tiny_drumsynth

from ganpad.training.trainer.loop import Trainer, TrainError
from ganpad.training.trainer.losses import spectral_distance, texture_distance

RATE = 16000


def _bank(lines: int, amplitude: float, seed: int) -> torch.Tensor:
    """[1, 1, T]: `lines` sines at random frequencies in 0.5..7 kHz, decaying: thousands of
    them are noise, forty a metal-like set of lines."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(RATE) / RATE
    freqs = 500 + torch.rand(lines, generator=gen) * 6500
    phases = torch.rand(lines, 1, generator=gen) * 2 * math.pi
    waves = amplitude * torch.sin(2 * math.pi * freqs[:, None] * t + phases)
    return (waves.sum(0) * torch.exp(-3 * t)).view(1, 1, -1)


def test_texture_tells_lines_from_noise_that_band_sums_barely_tell():
    noise_a, noise_b = _bank(4000, 1.0, 0), _bank(4000, 1.0, 1)
    lines = _bank(40, 10.0, 2)  # as much power: 40 x 10^2 = 4000 x 1
    same = texture_distance(noise_a, noise_b, RATE)
    apart = texture_distance(noise_a, lines, RATE)
    assert texture_distance(lines, lines, RATE) == 0
    assert apart > 10 * same
    bands = spectral_distance(noise_a, lines, RATE) / spectral_distance(noise_a, noise_b, RATE)
    assert apart / same > 4 * bands


def test_texture_counts_no_band_of_a_silent_clip_and_needs_one():
    silent = torch.zeros(1, 1, RATE)
    assert texture_distance(_bank(4000, 1.0, 0), silent, RATE) == 0
    with pytest.raises(ValueError, match="no third-octave band"):
        texture_distance(silent, silent, 1000)


def test_texture_gives_a_gradient_towards_the_real_clip():
    x = _bank(4000, 1.0, 0).requires_grad_(True)
    texture_distance(x, _bank(40, 10.0, 2), RATE).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_a_texture_run_logs_its_distance(gmrock, clip_cache, tmp_path):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=False)
    cfg.model.synth_modes = 8
    t = cfg.train
    t.lambda_texture, t.modes_first, t.noise_balance, t.adversarial_from = 2.0, 1, 1, 10
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.G.texture
    parts = trainer.train_step()  # the modes' stage: all lines, so no texture term
    trainer.step += 1
    assert "loss/texture" not in parts and trainer.G.texture
    assert parts["loss/generator"] == pytest.approx(t.lambda_rec * parts["loss/rec"])
    parts = trainer.train_step()  # the noise's balance: rec and texture
    trainer.step += 1
    rec, texture = t.lambda_rec * parts["loss/rec"], t.lambda_texture * parts["loss/texture"]
    assert parts["loss/texture"] > 0
    assert parts["loss/generator"] == pytest.approx(rec + texture)
    parts = trainer.train_step()  # every parameter: rec, texture and KL
    assert parts["loss/texture"] > 0
    assert (
        parts["loss/generator"]
        > t.lambda_rec * parts["loss/rec"] + t.lambda_texture * parts["loss/texture"]
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"lambda_texture": -1.0}, "0 .off. or more"),
        ({"encoder": False}, "judges resynthesised clips.*encoder = false"),
        ({"family": "wavegan"}, "judges resynthesised clips.*not wavegan"),
    ],
)
def test_texture_settings_are_checked(gmrock, clip_cache, tmp_path, change, error):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=False)
    cfg.train.lambda_texture = change.get("lambda_texture", 1.0)
    cfg.model.encoder = cfg.train.freeze_encoder = change.get("encoder", True)
    cfg.model.family = change.get("family", "drumsynth")
    cfg.train.crop_s = 0.0  # crops are for the synths' critics: not what is checked here
    with pytest.raises(TrainError, match=error):
        Trainer(cfg, tmp_path / "run")
