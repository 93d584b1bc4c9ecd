"""Magnitude + instantaneous frequency (and M-IF-Mel) round trips on real SoundFont notes."""

import onnxruntime as ort
import pytest
import torch

from ganpad.training.models.phase_spec import MagIF, snr_db

# Stated thresholds: the linear inverse is exact up to rounding; mel warping loses a little.
SNR_DB = {False: 60.0, True: 15.0}


@pytest.fixture(scope="module")
def notes(soundfont_notes):
    return soundfont_notes[:, 0]


class Inverse(torch.nn.Module):
    def __init__(self, rep: MagIF):
        super().__init__()
        self.rep = rep

    def forward(self, log_mag, inst_freq):
        return self.rep.inverse(log_mag, inst_freq, 16384)


@pytest.mark.parametrize("mel", [False, True])
def test_round_trip_in_pytorch_and_onnx_runtime(notes, tmp_path, mel):
    rep = MagIF(mel=mel)
    log_mag, inst_freq = rep(notes)
    assert log_mag.shape == inst_freq.shape == (4, 513, 65)
    if not mel:
        assert inst_freq.abs().max() <= 1.0 + 1e-5
    audio = rep.inverse(log_mag, inst_freq, 16384)
    for i in range(len(notes)):
        assert snr_db(notes[i], audio[i]) > SNR_DB[mel]

    path = tmp_path / "inverse.onnx"
    torch.onnx.export(Inverse(rep).eval(), (log_mag[:1], inst_freq[:1]), str(path),
                      input_names=["log_mag", "if"], output_names=["audio"],
                      dynamic_axes={"log_mag": {0: "b"}, "if": {0: "b"}}, dynamo=False,
                      opset_version=17)  # fmt: skip
    (onnx_audio,) = ort.InferenceSession(str(path)).run(
        None, {"log_mag": log_mag.numpy(), "if": inst_freq.numpy()})  # fmt: skip
    for i in range(len(notes)):
        assert snr_db(notes[i], torch.from_numpy(onnx_audio[i])) > SNR_DB[mel]
