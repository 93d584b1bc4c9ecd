"""Are a notes preset's hard notes brighter than its soft ones, as a SoundFont's are?

Generated: 10 latents x MIDI 36, 48, 60, 72, 84 (one latent across the pitches, as the
window locks a timbre), the spectral centroid of the first 0.2 s at velocity 1.0 over the same
note at 0.3 (as `ganpad eval` measures the drums). Real: a `ganpad data soundfont` render with
several velocities, each program's note at its hardest velocity over the one nearest 0.3.
Medians and quartiles are printed; nothing is saved.

Run:  python tools/note_velocity.py PRESET RENDERS
(RENDERS: e.g. `ganpad data soundfont FluidR3_GM.sf2 --out DIR --programs 0 4 11 24
--pitches 36-84 --velocities 40 70 110 127`.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ganpad.audio import load_mono
from ganpad.presets import load_preset
from ganpad.training.evaluation.diagnostics import spectral_centroid

PITCHES, LATENTS, BRIGHT_S, HARD, SOFT = (36, 48, 60, 72, 84), 10, 0.2, 1.0, 0.3


def generated(preset_path: str) -> np.ndarray:
    preset = load_preset(preset_path)
    if not preset.velocity:
        raise SystemExit(f"{preset_path}: the graph takes no velocity (gain alone: 1)")
    session, names = preset.session(), [label.name for label in preset.labels]
    z = np.random.default_rng(0).standard_normal((LATENTS, preset.latent)).astype(np.float32)
    n = round(BRIGHT_S * preset.sample_rate)
    out = []
    for pitch in PITCHES:
        labels = np.full(LATENTS, names.index(str(pitch)))
        hard, soft = (preset.generate(session, z, labels, np.full(LATENTS, v, np.float32))[:, :n]
                      for v in (HARD, SOFT))  # fmt: skip
        out.append(spectral_centroid(hard, preset.sample_rate) /
                   spectral_centroid(soft, preset.sample_rate))  # fmt: skip
    return np.concatenate(out)


def real(renders: str, rate: int = 16000) -> np.ndarray:
    notes = json.loads((Path(renders) / "notes.json").read_text(encoding="utf-8"))["notes"]
    groups: dict[tuple[int, int], list[dict]] = {}
    for note in notes:
        groups.setdefault((note["program"], note["pitch"]), []).append(note)
    n, out = round(BRIGHT_S * rate), []
    for layers in groups.values():
        hard = max(layers, key=lambda x: x["velocity"])
        soft = min(layers, key=lambda x: abs(x["velocity"] / 127 - SOFT))
        if hard is soft:
            continue
        pair = np.stack([load_mono(Path(renders) / x["file"], rate)[:n] for x in (hard, soft)])
        bright = spectral_centroid(pair, rate)
        out.append(bright[0] / bright[1])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset")
    parser.add_argument("renders")
    args = parser.parse_args()
    for name, ratios in (("generated", generated(args.preset)), ("real", real(args.renders))):
        q1, q2, q3 = np.percentile(ratios, [25, 50, 75])
        print(f"{name}: hard/soft centroid median {q2:.3f} (quartiles {q1:.3f}-{q3:.3f}), "
              f"{len(ratios)} notes")  # fmt: skip


if __name__ == "__main__":
    main()
