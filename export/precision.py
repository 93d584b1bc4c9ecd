"""fp16 and int8 versions of an fp32 generator graph (inputs and outputs stay float32)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

PRECISIONS = ("fp32", "fp16", "int8")


def to_fp16(src: Path, dst: Path) -> None:
    """Half-precision weights and activations; the tables a graph builds from constants when
    it loads (phases, times, noise spectra) stay float32 until built."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    tables = constant_nodes(model)
    onnx.save(convert_float_to_float16(model, keep_io_types=True, node_block_list=tables), str(dst))


def constant_nodes(model: onnx.ModelProto) -> list[str]:
    """The names of the nodes that depend on constants alone (ONNX Runtime folds them when it
    loads the graph), naming those that have no name. In fp16 a table of DFT phases up to
    65536 would lose its low bits, and a sum of two could overflow."""
    known = {tensor.name for tensor in model.graph.initializer}
    names = []
    for i, node in enumerate(model.graph.node):
        if all(name in known for name in node.input if name):
            node.name = node.name or f"constant_{i}"
            names.append(node.name)
            known.update(node.output)
    return names


def to_int8(src: Path, dst: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    """Static QDQ quantisation, activations calibrated on generator outputs for real latents."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds: Iterator[dict[str, np.ndarray]] = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its pre-processing advice is not for us
    try:
        quantize_static(
            str(src), str(dst), Feeds(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
        )  # fmt: skip
    finally:
        logging.getLogger().setLevel(level)


def convert(precision: str, src: Path, dst: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    if precision == "fp16":
        to_fp16(src, dst)
    elif precision == "int8":
        to_int8(src, dst, calibration)
    else:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
