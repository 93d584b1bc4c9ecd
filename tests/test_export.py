import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from ganpad.export import parity
from ganpad.export.exporter import (
    ExportError,
    ExportOptions,
    build_generator,
    export_preset,
    load_run,
)
from ganpad.presets import load_preset
from ganpad.training.trainer.finetune import load_preset_start
from ganpad.training.trainer.loop import Trainer


def test_export_writes_the_contract(tiny_preset, tiny_run):
    assert sorted(p.name for p in tiny_preset.iterdir()) == [
        "checkpoint.json", "checkpoint.safetensors", "generator.onnx", "preset.json",
    ]  # fmt: skip
    meta = json.loads((tiny_preset / "preset.json").read_text())
    assert meta["schema_version"] == 1 and meta["kind"] == "drums" and meta["family"] == "wavegan"
    assert meta["sample_rate"] == 16000 and meta["samples"] == 16384 and meta["latent"] == 100
    assert [label["name"] for label in meta["labels"]][:2] == ["kick", "snare"]
    assert meta["labels"][0]["gm_notes"] == [35, 36]
    assert meta["metrics"]["onnx_max_abs_error"]["fp32"] <= 1e-4
    assert meta["training"]["steps"] == 2 and meta["training"]["data"]["clips"] == 86
    assert meta["license"]["kits"] == {"GMRockKit": "GPL"}

    session = ort.InferenceSession(str(tiny_preset / "generator.onnx"))
    inputs = {i.name: i for i in session.get_inputs()}
    assert inputs["z"].type == "tensor(float)" and inputs["label"].type == "tensor(int64)"
    for batch in (1, 5):  # dynamic batch
        z = np.random.default_rng(batch).standard_normal((batch, 100)).astype(np.float32)
        (audio,) = session.run(["audio"], {"z": z, "label": np.zeros(batch, np.int64)})
        assert audio.shape == (batch, 16384) and audio.dtype == np.float32

    # ORT matches the EMA generator of the run's last checkpoint.
    run = load_run(tiny_run)
    generator = build_generator(run, "G_ema")
    z = torch.randn(3, 100)
    label = torch.tensor([0, 3, 7])
    (onnx_audio,) = session.run(["audio"], {"z": z.numpy(), "label": label.numpy()})
    with torch.no_grad():
        ref = generator(z, label)[:, 0].numpy()
    assert np.abs(onnx_audio - ref).max() <= 1e-4


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_lower_precision_exports_report_error_and_speed(tiny_run, tmp_path, precision):
    report = export_preset(tiny_run, tmp_path / precision, ExportOptions(precision=precision))
    assert report.errors["fp32"] <= 1e-4
    assert 0 < report.errors[precision] <= parity.TOLERANCE[precision]
    assert report.speed[f"onnx_{precision}"] > 0 and report.speed["torch_eager"] > 0
    preset = load_preset(tmp_path / precision)
    assert preset.meta["precision"] == precision


def test_export_refuses_when_parity_fails(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(parity, "max_abs_error", lambda *a: 3e-3)
    out = tmp_path / "refused"
    with pytest.raises(ExportError, match="differs from PyTorch by 0.003"):
        export_preset(tiny_run, out, ExportOptions())
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unconditional_export_has_no_label_input(gmrock, clip_cache, tmp_path, tiny_config):
    cfg = tiny_config(steps=1)
    Trainer(cfg, tmp_path / "run").train()
    export_preset(tmp_path / "run", tmp_path / "u", ExportOptions())
    preset = load_preset(tmp_path / "u")
    assert not preset.conditional and preset.labels == ()
    assert [i.name for i in preset.session().get_inputs()] == ["z"]


def test_finetune_starts_from_the_preset_checkpoint(tiny_preset, gmrock, clip_cache, tmp_path):
    start = load_preset_start(str(tiny_preset))
    cfg = start.config
    cfg.data.path = str(gmrock)
    cfg.data.cache_dir = str(clip_cache)
    cfg.train.steps = 1
    cfg.train.progress = False
    trainer = Trainer(cfg, tmp_path / "ft", start=start)
    assert torch.equal(trainer.G.dense.weight, start.tensors["G.dense.weight"])
    assert torch.equal(trainer.G_ema.dense.weight, start.tensors["G.dense.weight"])
    assert torch.equal(trainer.D.out.weight, start.tensors["D.out.weight"])
    assert trainer.classes == tuple(start.classes)
    assert trainer.train().step == 1


def test_export_cli(tiny_run, tmp_path, capsys):
    from ganpad.cli import main

    assert main(["export", str(tiny_run), "--out", str(tmp_path / "p"), "--name", "mine"]) == 0
    assert "max |diff|" in capsys.readouterr().out
    assert load_preset(tmp_path / "p").name == "mine"
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "q")]) == 2
    assert "no checkpoint here" in capsys.readouterr().err


@pytest.mark.parametrize(("k", "s"), [(25, 4), (25, 2), (5, 2), (24, 4)])
def test_polyphase_transposed_conv_is_the_same_sum(k, s):
    from torch import nn

    from ganpad.export.polyphase import PolyphaseConvTranspose1d, rewrite

    torch.manual_seed(k * s)
    p = (k - s + 1) // 2
    layer = nn.ConvTranspose1d(8, 5, k, s, p, 2 * p - (k - s))
    x = torch.randn(3, 8, 37)
    with torch.no_grad():
        torch.testing.assert_close(PolyphaseConvTranspose1d(layer)(x), layer(x), atol=1e-5, rtol=0)
    rewritten = rewrite(nn.Sequential(layer))
    assert isinstance(rewritten[0], PolyphaseConvTranspose1d)
    assert isinstance(layer, nn.ConvTranspose1d)  # the original is left alone


def test_both_graph_forms_export(tiny_run, tmp_path):
    fast = export_preset(tiny_run, tmp_path / "poly", ExportOptions())
    plain = export_preset(tiny_run, tmp_path / "plain", ExportOptions(polyphase=False))
    assert fast.errors["fp32"] <= 1e-4 and plain.errors["fp32"] <= 1e-4
    import onnx

    ops = {name: {n.op_type for n in onnx.load(str(tmp_path / name / "generator.onnx")).graph.node}
           for name in ("poly", "plain")}  # fmt: skip
    assert "ConvTranspose" in ops["plain"] and "ConvTranspose" not in ops["poly"]
    assert load_preset(tmp_path / "poly").meta["graph"] == "polyphase"


def test_export_can_record_an_evaluation(tiny_run, gmrock, tmp_path):
    from ganpad.cli import main

    out = tmp_path / "evaluated"
    assert main(["export", str(tiny_run), "--out", str(out), "--eval-reference", str(gmrock)]) == 0
    evaluation = load_preset(out).meta["metrics"]["evaluation"]
    assert evaluation["reference"] == str(gmrock)
    assert evaluation["frechet_distance"]["real"] > 0 and evaluation["inception_score"]["ratio"] > 0
