"""A trained generator as the ONNX contract: (z[B, latent], label[B]) -> audio[B, samples]."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

OPSET = 17


class ContractGenerator(nn.Module):
    """Wraps any generator so its graph has the preset contract's names and shapes: z, the
    label when conditional, the velocity (0..1) when the generator is velocity-aware, and the
    program (an index into `programs`, the GM programs it plays) when it is programs-aware."""

    def __init__(self, generator: nn.Module, conditional: bool):
        super().__init__()
        self.generator = generator
        self.conditional = conditional
        self.velocity = bool(getattr(generator, "velocity", False))
        if self.velocity and not conditional:
            raise ValueError("a velocity-aware generator is exported with its label input")
        fitted = getattr(generator, "program_fitted", None)
        self.programs: list[int] = [] if fitted is None else fitted.nonzero()[:, 0].tolist()
        if fitted is not None and not self.programs:
            raise ValueError("a programs-aware generator with no program fitted: train it on "
                             "notes whose notes.json names their GM programs")  # fmt: skip
        self.register_buffer("program_table", torch.tensor(self.programs, dtype=torch.long),
                             persistent=False)  # fmt: skip

    def forward(self, z: torch.Tensor, *given: torch.Tensor) -> torch.Tensor:
        """The inputs in `input_names`' order after z."""
        inputs = dict(zip(self.input_names()[1:], given, strict=True))
        label = inputs.get("label")
        played = {"velocity": inputs["velocity"]} if self.velocity else {}
        if self.programs:
            played["program"] = self.program_table[inputs["program"]]
        audio = self.generator.to_audio(self.generator(z, label, **played))
        return audio.reshape(z.shape[0], -1).clamp(-1.0, 1.0)

    def input_names(self) -> list[str]:
        names = ["z", "label", "velocity"][: 1 + self.conditional + self.velocity]
        return names + ["program"] * bool(self.programs)


def export_onnx(
    model: ContractGenerator, latent: int, path: Path, metadata: dict[str, str]
) -> None:
    """Trace to ONNX with a dynamic batch and write `metadata` into the graph's properties."""
    model = model.eval()
    z = torch.randn(2, latent)
    names = model.input_names()
    given = {"z": z, "label": torch.zeros(2, dtype=torch.long), "velocity": torch.full((2,), 0.5),
             "program": torch.zeros(2, dtype=torch.long)}  # fmt: skip
    args = tuple(given[name] for name in names)
    axes = {name: {0: "batch"} for name in [*names, "audio"]}
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the torch.export one, which
        # needs onnxscript; it still gives a plain, fully static-shaped graph here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # shape-inference chatter on reshapes
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # constant tables: meant so
        torch.onnx.export(
            model, args, str(path), input_names=names, output_names=["audio"],
            dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=False,
        )  # fmt: skip
    graph = onnx.load(str(path))
    halve_exact_constants(graph)
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def preset_model(preset_name: str) -> ContractGenerator:
    """A preset's generator in PyTorch, from its fine-tuning checkpoint (for comparisons)."""
    from ganpad.training.models import build_models
    from ganpad.training.trainer import checkpoint
    from ganpad.training.trainer.finetune import load_preset_start

    start = load_preset_start(preset_name)
    cfg = start.config
    n_classes = len(start.classes) if cfg.model.conditional else 0
    generator, _ = build_models(cfg.model, cfg.data.slice_len, n_classes, cfg.data.sample_rate)
    checkpoint.load_module(generator, start.tensors, "G")
    return ContractGenerator(generator.eval(), cfg.model.conditional).eval()


def halve_exact_constants(model: onnx.ModelProto, min_size: int = 1 << 16) -> int:
    """Store large float32 constants and weights that half precision holds exactly as float16
    (once, when the same table appears twice), widened by a Cast when the graph runs: the same
    numbers in a smaller file. Returns how many it replaced.

    The exporter rounds a preset's generator weights to half precision (the fine-tuning
    checkpoint keeps them so), which makes them exact here; the graph still computes in float32.
    """
    import hashlib

    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    kept: dict[str, str] = {}  # digest of the fp16 bytes -> name of the stored table
    widen, nodes, initializers = [], [], []

    def halved(name: str, value) -> bool:  # noqa: ANN001
        half = None if value is None else value.astype(np.float16)
        if half is None or not np.array_equal(half.astype(np.float32), value):
            return False
        digest = hashlib.sha1(half.tobytes() + str(half.shape).encode()).hexdigest()
        if digest not in kept:
            kept[digest] = name + "_fp16"
            initializers.append(numpy_helper.from_array(half, kept[digest]))
        widen.append(helper.make_node("Cast", [kept[digest]], [name], to=onnx.TensorProto.FLOAT))
        return True

    for init in graph.initializer:
        if not halved(init.name, _large_array(init, min_size)):
            initializers.append(init)
    for node in graph.node:
        is_constant = node.op_type == "Constant" and node.attribute[0].name == "value"
        value = _large_array(node.attribute[0].t, min_size) if is_constant else None
        if not halved(node.output[0], value):
            nodes.append(node)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.node[:]
    graph.node.extend(widen + nodes)
    return len(widen)


def _large_array(tensor: onnx.TensorProto, min_size: int):
    """The float32 value of a tensor with at least `min_size` elements, else None."""
    from onnx import numpy_helper

    if tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) == 0:
        return None
    count = 1
    for dim in tensor.dims:
        count *= dim
    return numpy_helper.to_array(tensor) if count >= min_size else None
