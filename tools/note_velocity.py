"""Are a notes preset's hard notes brighter than its soft ones, as a SoundFont's are?

Generated: 10 latents x MIDI 36, 48, 60, 72, 84 (one latent across the pitches, as the
window locks a timbre), the spectral centroid of the first 0.2 s at velocity 1.0 over the same
note at 0.3 (as `ganpad eval` measures the drums). Real: a `ganpad data soundfont` render with
several velocities, each program's note at its hardest velocity over the one nearest 0.3.
Medians and quartiles are printed; nothing is saved. A preset with programs plays each of its
programs in turn, and both sides are also printed per program.

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


def generated(preset_path: str) -> tuple[np.ndarray, np.ndarray]:
    """(ratios, the GM program of each, -1 for a preset without programs)."""
    preset = load_preset(preset_path)
    if not preset.velocity:
        raise SystemExit(f"{preset_path}: the graph takes no velocity (gain alone: 1)")
    session, names = preset.session(), [label.name for label in preset.labels]
    z = np.random.default_rng(0).standard_normal((LATENTS, preset.latent)).astype(np.float32)
    n = round(BRIGHT_S * preset.sample_rate)
    programs = [p.program for p in preset.programs] or [-1]
    out, played = [], []
    for i, program in enumerate(programs):
        index = None if program < 0 else i
        for pitch in PITCHES:
            labels = np.full(LATENTS, names.index(str(pitch)))
            hard, soft = (preset.generate(session, z, labels, np.full(LATENTS, v, np.float32),
                                          index)[:, :n] for v in (HARD, SOFT))  # fmt: skip
            out.append(spectral_centroid(hard, preset.sample_rate) /
                       spectral_centroid(soft, preset.sample_rate))  # fmt: skip
            played.append(np.full(LATENTS, program))
    return np.concatenate(out), np.concatenate(played)


def real(renders: str, rate: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """(ratios, the GM program of each)."""
    notes = json.loads((Path(renders) / "notes.json").read_text(encoding="utf-8"))["notes"]
    groups: dict[tuple[int, int], list[dict]] = {}
    for note in notes:
        groups.setdefault((note["program"], note["pitch"]), []).append(note)
    n, out, played = round(BRIGHT_S * rate), [], []
    for (program, _), layers in groups.items():
        hard = max(layers, key=lambda x: x["velocity"])
        soft = min(layers, key=lambda x: abs(x["velocity"] / 127 - SOFT))
        if hard is soft:
            continue
        pair = np.stack([load_mono(Path(renders) / x["file"], rate)[:n] for x in (hard, soft)])
        bright = spectral_centroid(pair, rate)
        out.append(bright[0] / bright[1])
        played.append(program)
    return np.array(out), np.array(played)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset")
    parser.add_argument("renders")
    args = parser.parse_args()
    sides = {"generated": generated(args.preset), "real": real(args.renders)}
    for name, (ratios, _) in sides.items():
        q1, q2, q3 = np.percentile(ratios, [25, 50, 75])
        print(f"{name}: hard/soft centroid median {q2:.3f} (quartiles {q1:.3f}-{q3:.3f}), "
              f"{len(ratios)} notes")  # fmt: skip
    ours, theirs = sides["generated"], sides["real"]
    for program in sorted(set(ours[1].tolist()) - {-1}):
        mine, real_ones = ours[0][ours[1] == program], theirs[0][theirs[1] == program]
        said = f"{np.median(real_ones):.3f}" if len(real_ones) else "-"
        print(f"  program {program:3d}: generated {np.median(mine):.3f}, real {said}")


if __name__ == "__main__":
    main()
