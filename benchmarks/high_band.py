"""Full band check: each class's share of energy above 8 kHz, a preset's clips beside real
held-out ones at the preset's own rate (where a 16 kHz preset has nothing at all).

The share is per clip, then the class median; a ratio of 0.5 to 2 is within a factor of two.
Run:  python benchmarks/high_band.py [--preset NAME] [--reference DIR] [--n 64] [--above 8000]
"""

from __future__ import annotations

import argparse

import numpy as np

from ganpad.presets import DEFAULT_PRESET, find_preset
from ganpad.training.config import DataConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.data.reference import resolve
from ganpad.training.evaluation.diagnostics import high_band_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--reference", default="heldout-drums", help="a folder or a reference")
    parser.add_argument("--n", type=int, default=64, help="generated clips per class")
    parser.add_argument("--above", type=float, default=8000.0, help="Hz")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    preset = find_preset(args.preset)
    rate = preset.sample_rate
    real = load_clips(DataConfig(path=resolve(args.reference)[0], sample_rate=rate,
                                 slice_len=preset.samples))  # fmt: skip
    session = preset.session()
    rng = np.random.default_rng(args.seed)
    print(f"{preset.name} ({rate} Hz) vs {args.reference}: median share of energy above "
          f"{args.above:.0f} Hz")  # fmt: skip
    print(f"{'class':<12} {'generated':>10} {'real':>8} {'ratio':>7} {'real clips':>11}")
    for index, label in enumerate(preset.labels):
        z = rng.standard_normal((args.n, preset.latent)).astype(np.float32)
        audio = preset.generate(session, z, np.full(args.n, index))
        ours = float(np.median(high_band_share(audio, rate, args.above)))
        if label.name not in real.classes:
            print(f"{label.name:<12} {ours:>10.4f} {'-':>8} {'-':>7} {0:>11}")
            continue
        clips = real.audio[real.labels == real.classes.index(label.name)]
        theirs = float(np.median(high_band_share(clips, rate, args.above)))
        ratio = ours / theirs if theirs else float("nan")
        print(f"{label.name:<12} {ours:>10.4f} {theirs:>8.4f} {ratio:>7.2f} {len(clips):>11}")


if __name__ == "__main__":
    main()
