"""`ganpad export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganpad.export.exporter import ExportError, ExportOptions, export_preset
from ganpad.export.parity import TOLERANCE
from ganpad.presets import PresetError
from ganpad.training.checkpoint import CheckpointError


def export_command(args: argparse.Namespace) -> int:
    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    options = ExportOptions(args.name, args.ema, precision, args.license, args.kind,
                            args.polyphase)  # fmt: skip
    try:
        report = export_preset(Path(args.run), Path(args.out), options)
    except (ExportError, CheckpointError, PresetError, FileNotFoundError) as exc:
        print(f"ganpad export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report.path}")
    for name, error in report.errors.items():
        print(f"  ORT {name} vs PyTorch: max |diff| {error:.3g} (limit {TOLERANCE[name]:g})")
    for engine, rate in report.speed.items():
        print(f"  {engine:<12} {rate:8.1f} clips/s (batch 16, CPU)")
    return 0
