"""`ganpad presets`."""

from __future__ import annotations

import argparse
import json

from ganpad.presets.registry import list_presets, shipped_dir, user_dir


def presets_command(args: argparse.Namespace) -> int:
    if args.where:
        print(user_dir())
        return 0
    entries = list_presets(check_graph=args.check)
    if args.json:
        rows = [
            {"name": e.name, "path": str(e.path), "source": e.source, "error": e.error}
            | (
                {}
                if e.preset is None
                else {
                    "kind": e.preset.kind,
                    "family": e.preset.family,
                    "sample_rate": e.preset.sample_rate,
                    "samples": e.preset.samples,
                    "labels": [label.name for label in e.preset.labels],
                }
            )  # fmt: skip
            for e in entries
        ]
        print(json.dumps(rows, indent=1))
        return 0 if all(e.error is None for e in entries) else 1
    if not entries:
        print(f"no presets in {user_dir()} or {shipped_dir()}")
    for e in entries:
        if e.preset is None:
            print(f"{e.name:<24} {e.source:<8} BROKEN: {e.error}")
            continue
        p = e.preset
        labels = ", ".join(label.name for label in p.labels) or "unconditional"
        print(f"{p.name:<24} {e.source:<8} {p.kind:<6} {p.family:<8} {p.sample_rate} Hz "
              f"{p.seconds:.2f} s  [{labels}]  {e.path}")  # fmt: skip
    return 0 if all(e.error is None for e in entries) else 1
