"""`ganpad export`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ganpad.export.exporter import ExportError, ExportOptions, export_preset
from ganpad.presets import PRESET_FILE, PresetError
from ganpad.training.trainer.checkpoint import CheckpointError


def add_evaluation(preset_dir: Path, reference: str, n: int = 1000) -> dict:
    """Evaluate the written preset against real clips and record it in its preset.json."""
    from ganpad.training.evaluation.evaluate import evaluate

    report = evaluate(str(preset_dir), reference, n=n)
    record_evaluation(preset_dir, report)
    return report


def record_evaluation(preset_dir: Path, report: dict) -> None:
    """Write an evaluation report (`ganpad eval`'s report.json) into the preset's preset.json."""
    from ganpad.atomic import atomic_write_text

    meta_path = preset_dir / PRESET_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    evaluation = {"reference": report["reference"], "n": report["n_generated"],
                  "class_mix": report["class_mix"]}  # fmt: skip
    meta["metrics"]["evaluation"] = {**evaluation, **report["metrics"]}
    for key in (
        "class_accuracy",
        "timbre_spread",
        "keyboard_timbre",
        "flatness",
        "crash_ring",
        "velocity_brightness",
        "key_identity",
        "program_identity",
        "note_highs",
        "paired",
        "warnings",
    ):
        if key in report:
            meta["metrics"]["evaluation"][key] = report[key]
    meta["metrics"]["evaluation"]["signal"] = report["signal"]["generated"]
    atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")


def export_command(args: argparse.Namespace) -> int:
    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    options = ExportOptions(args.name, args.ema, precision, args.license, args.kind,
                            args.polyphase)  # fmt: skip
    try:
        report = export_preset(Path(args.run), Path(args.out), options)
    except (ExportError, CheckpointError, PresetError, FileNotFoundError) as exc:
        print(f"ganpad export: {exc}", file=sys.stderr)
        return 2
    if args.eval_reference:
        add_evaluation(Path(args.out), args.eval_reference)
    print(f"wrote {report.path}")
    for name, error in report.errors.items():
        print(f"  ORT {name} vs PyTorch: max |diff| {error:.3g} (limit {report.limits[name]:g})")
    for engine, rate in report.speed.items():
        print(f"  {engine:<12} {rate:8.1f} clips/s (batch 16, CPU)")
    return 0
