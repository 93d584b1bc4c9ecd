import pytest
import torch

from ganpad.training.config import ModelConfig
from ganpad.training.models import build_models, check_config
from ganpad.training.models.phase_shuffle import PhaseShuffle, phase_shuffle
from ganpad.training.models.wavegan import WaveGANCritic, WaveGANGenerator


@pytest.mark.parametrize("slice_len", [16384, 32768, 65536])
@pytest.mark.parametrize("upsample", ["transpose", "nearest"])
def test_shapes_for_every_paper_slice(slice_len, upsample):
    cfg = ModelConfig(d=4, upsample=upsample)
    g, d = WaveGANGenerator(cfg, slice_len, 3), WaveGANCritic(cfg, slice_len, 3)
    z, label = torch.randn(2, cfg.latent), torch.tensor([0, 2])
    audio = g(z, label)
    assert audio.shape == (2, 1, slice_len)
    assert audio.abs().max() <= 1.0
    assert d(audio, label).shape == (2,)


def test_paper_sized_model_matches_table():
    g, d = build_models(ModelConfig(d=64), 16384, 0, 16000)
    assert g.dense.out_features == 16 * 1024
    assert [m.layer.out_channels for m in g.ups] == [512, 256, 128, 64, 1]
    assert all(m.layer.kernel_size == (25,) and m.layer.stride == (4,) for m in g.ups)
    assert [c.out_channels for c in d.convs] == [64, 128, 256, 512, 1024]
    assert d.shuffle.n == 2
    g_params = sum(p.numel() for p in g.parameters())
    assert 19.0e6 < g_params < 19.2e6  # about 19.1M


def test_conditional_models_need_a_label():
    g = WaveGANGenerator(ModelConfig(d=4), 16384, 4)
    with pytest.raises(ValueError, match="label"):
        g(torch.randn(1, 100))


def test_bad_config_fails_before_anything_runs():
    with pytest.raises(ValueError, match="slice length 20000"):
        check_config(ModelConfig(), 20000)
    with pytest.raises(ValueError, match="unknown model family"):
        check_config(ModelConfig(family="nope"), 16384)


def test_phase_shuffle_shifts_within_n_and_reflects():
    torch.manual_seed(0)
    x = torch.arange(20.0).repeat(64, 3, 1)
    y = phase_shuffle(x, 2)
    assert y.shape == x.shape
    shifts = set()
    for row in y[:, 0]:
        shift = int(row[10] - 10)
        assert -2 <= shift <= 2
        shifts.add(shift)
        inner = torch.arange(20.0)[2:18] + shift
        assert torch.equal(row[2:18], inner)
        assert set(row.tolist()) <= set(range(20))  # reflected, never zero-filled
    assert shifts == {-2, -1, 0, 1, 2}
    assert torch.equal(y[:, 0], y[:, 2])  # one shift per example, all channels alike
    layer = PhaseShuffle(2).eval()
    assert torch.equal(layer(x), x)
