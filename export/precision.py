"""fp16 and int8 versions of an fp32 generator graph (inputs and outputs stay float32)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

PRECISIONS = ("fp32", "fp16", "int8")


def to_fp16(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))


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
