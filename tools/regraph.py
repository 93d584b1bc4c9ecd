"""Rebuild a preset's graph from its own checkpoint with this version's exporter.

The weights, and so the sound, stay the same (checked against PyTorch as `ganpad export`
checks); the graph gets this version's operators. How the shipped presets got the inverse DFT
as matrix products: `python tools/regraph.py presets/drums-drumsynth-44k`. With
`--set model.velocity_tilt=0.25` (a setting the weights do not depend on) the graph and the
preset's config take it: how the 8-class drums got their velocity brightness. So does
`--set model.mode_cap=0.2`: how the keyed default drums' hi-hats stopped whistling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganpad.export.exporter import ExportError, regraph_preset
from ganpad.presets import PresetError

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="one of exporter.GRAPH_SETTINGS")  # fmt: skip
    args = parser.parse_args()
    for folder in args.folders:
        try:
            report = regraph_preset(folder, args.set)
        except (ExportError, PresetError) as exc:
            parser.exit(1, f"regraph: {exc}\n")
        error, limit = report.errors["fp32"], report.limits["fp32"]
        print(f"{folder}: rebuilt; ORT vs PyTorch max |diff| {error:.3g} (limit {limit:g})")
