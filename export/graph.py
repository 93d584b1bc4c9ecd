"""A trained generator as the ONNX contract: (z[B, latent], label[B]) -> audio[B, samples]."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

OPSET = 17


class ContractGenerator(nn.Module):
    """Wraps any generator so its graph has the preset contract's names and shapes."""

    def __init__(self, generator: nn.Module, conditional: bool):
        super().__init__()
        self.generator = generator
        self.conditional = conditional

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        label = label if self.conditional else None
        audio = self.generator.to_audio(self.generator(z, label))
        return audio.reshape(z.shape[0], -1).clamp(-1.0, 1.0)


def export_onnx(
    model: ContractGenerator, latent: int, path: Path, metadata: dict[str, str]
) -> None:
    """Trace to ONNX with a dynamic batch and write `metadata` into the graph's properties."""
    model = model.eval()
    z = torch.randn(2, latent)
    names = ["z", "label"] if model.conditional else ["z"]
    args = (z, torch.zeros(2, dtype=torch.long)) if model.conditional else (z,)
    axes = {name: {0: "batch"} for name in [*names, "audio"]}
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the torch.export one, which
        # needs onnxscript; it still gives a plain, fully static-shaped graph here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # shape-inference chatter on reshapes
        torch.onnx.export(
            model, args, str(path), input_names=names, output_names=["audio"],
            dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )  # fmt: skip
    graph = onnx.load(str(path))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def preset_model(preset_name: str) -> ContractGenerator:
    """A preset's generator in PyTorch, from its fine-tuning checkpoint (for comparisons)."""
    from ganpad.training import checkpoint
    from ganpad.training.finetune import load_preset_start
    from ganpad.training.models import build_models

    start = load_preset_start(preset_name)
    cfg = start.config
    n_classes = len(start.classes) if cfg.model.conditional else 0
    generator, _ = build_models(cfg.model, cfg.data.slice_len, n_classes)
    checkpoint.load_module(generator, start.tensors, "G")
    return ContractGenerator(generator.eval(), cfg.model.conditional).eval()
