"""SpecGAN's representation and its Griffin-Lim inversion, in PyTorch and in ONNX Runtime."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from ganpad.training.config import DataConfig, ModelConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.models.specgan import SpecGANCritic, SpecGANGenerator
from ganpad.training.models.spectral import ConvSTFT, griffin_lim, spectral_convergence


@pytest.fixture(scope="module")
def drums(gmrock, clip_cache):
    clips = load_clips(DataConfig(path=str(gmrock), cache_dir=str(clip_cache)))
    return torch.from_numpy(clips.audio[::8].copy())  # 11 real clips, 16384 at 16 kHz


def test_conv_stft_matches_torch_and_inverts_exactly(drums):
    stft = ConvSTFT(256, 128)
    re, im = stft(drums)
    ref = torch.stft(drums, 256, 128, window=torch.hann_window(256), return_complex=True)
    torch.testing.assert_close(re, ref.real, atol=1e-4, rtol=0)
    torch.testing.assert_close(im, ref.imag, atol=1e-4, rtol=0)
    torch.testing.assert_close(stft.inverse(re, im, drums.shape[1]), drums, atol=1e-5, rtol=0)


def test_griffin_lim_converges_with_iterations(drums):
    stft = ConvSTFT(256, 128)
    magnitude = torch.sqrt(sum(part**2 for part in stft(drums)))
    errors = [spectral_convergence(stft, griffin_lim(stft, magnitude, 16384, n), magnitude)
              for n in (0, 4, 16, 32)]  # fmt: skip
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[2] < 0.6 * errors[0]


def test_griffin_lim_exports_to_onnx_unchanged(drums, tmp_path):
    class Invert(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stft = ConvSTFT(256, 128)

        def forward(self, magnitude):
            return griffin_lim(self.stft, magnitude, 16384, 16)

    model = Invert().eval()
    magnitude = torch.sqrt(sum(part**2 for part in model.stft(drums)))
    torch.onnx.export(model, (magnitude[:2],), str(tmp_path / "gl.onnx"), input_names=["mag"],
                      output_names=["audio"], dynamic_axes={"mag": {0: "b"}}, dynamo=False,
                      opset_version=17)  # fmt: skip
    (onnx_audio,) = ort.InferenceSession(str(tmp_path / "gl.onnx")).run(
        None, {"mag": magnitude.numpy()})  # fmt: skip
    with torch.no_grad():
        torch_audio = model(magnitude).numpy()
    # Rounding differences grow a little through 16 phase normalisations (audio peaks near 1).
    assert np.abs(onnx_audio - torch_audio).max() < 1e-3


def test_normalisation_is_per_bin_with_three_sigma_clipping(drums):
    g = SpecGANGenerator(ModelConfig(d=4), 16384, 0)
    g.fit_features(drums[:, None])
    feats = g.features(drums[:, None])
    assert feats.shape == (len(drums), 1, 128, 128)
    assert feats.abs().max() <= 1.0 and abs(float(feats.mean())) < 0.2
    assert g.mean.shape == (128, 1) and "mean" in g.state_dict()  # saved with the model
    audio = g.to_audio(g(torch.randn(2, 100)))
    assert audio.shape == (2, 1, 16384) and torch.isfinite(audio).all()
    d = SpecGANCritic(ModelConfig(d=4), 16384, 0)
    assert d(feats).shape == (len(drums),)


def test_specgan_trains_and_exports_with_inversion_in_the_graph(tiny_config, tmp_path):
    from ganpad.export.exporter import ExportOptions, export_preset
    from ganpad.presets import load_preset
    from ganpad.training.trainer.loop import Trainer

    cfg = tiny_config(steps=2, n_critic=1)
    cfg.model.family = "specgan"
    cfg.model.conditional = True
    Trainer(cfg, tmp_path / "run").train()
    report = export_preset(tmp_path / "run", tmp_path / "preset", ExportOptions())
    assert report.errors["fp32"] <= 1e-3
    preset = load_preset(tmp_path / "preset")
    assert preset.family == "specgan" and preset.samples == 16384
    audio = preset.generate(preset.session(), np.zeros((3, 100), np.float32), [0, 1, 2])
    assert audio.shape == (3, 16384) and np.isfinite(audio).all()
