"""Rebuild a preset's graph from its own checkpoint with this version's exporter.

The weights, and so the sound, stay the same (checked against PyTorch as `ganpad export`
checks); the graph gets this version's operators. How the shipped presets got the inverse DFT
as matrix products: `python tools/regraph.py presets/drums-drumsynth-44k`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ganpad.export.exporter import ExportError, regraph_preset
from ganpad.presets import PresetError

if __name__ == "__main__":
    for folder in sys.argv[1:]:
        try:
            report = regraph_preset(Path(folder))
        except (ExportError, PresetError) as exc:
            sys.exit(f"regraph: {exc}")
        error, limit = report.errors["fp32"], report.limits["fp32"]
        print(f"{folder}: rebuilt; ORT vs PyTorch max |diff| {error:.3g} (limit {limit:g})")
