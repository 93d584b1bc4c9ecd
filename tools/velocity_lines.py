"""Does a velocity line in a synth run's latent prior make hard hits brighter, class by class?

For the layered drums of a folder of Hydrogen kits (instruments whose layers span several
velocity ranges), per class: the real hardest layer's spectral centroid (first 186 ms) over the
softest's, median over drums; and the run's EMA generator at velocity 1.0 over 0.3 from 64
prior latents, with each class's line fitted (as `fit_velocity` does) on those drums.

Run:  python tools/velocity_lines.py RUN KITS
(RUN: a drumsynth run with model.encoder; KITS: e.g. the folder `ganpad data soundfont-drums
... --velocities 40 80 127` writes, or Hydrogen kits.) Nothing is saved.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ganpad.drums import label_class
from ganpad.training.config import DataConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.diagnostics import spectral_centroid
from ganpad.training.evaluation.evaluate import _run_generator

WINDOW = 8192  # 186 ms at 44.1 kHz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("kits")
    args = parser.parse_args()
    generator, cfg, state = _run_generator(Path(args.run))
    classes = list(state["classes"])
    data = DataConfig(path=args.kits, sample_rate=cfg.data.sample_rate, autolabel=False,
                      slice_len=cfg.data.slice_len, tail_db=cfg.data.tail_db)  # fmt: skip
    clips = load_clips(data).with_velocity()
    layered = clips.instrument >= 0
    for cls in sorted({label_class(clips.classes[i]) for i in clips.labels[layered]}):
        if cls not in classes:
            continue
        rows = np.flatnonzero(layered & np.array([label_class(clips.classes[i]) == cls
                                                  for i in clips.labels]))  # fmt: skip
        drums = clips.instrument[rows]
        bright = spectral_centroid(clips.audio[rows, :WINDOW], cfg.data.sample_rate)
        velocity = clips.velocity[rows]
        real = [
            bright[drums == d][velocity[drums == d].argmax()]
            / bright[drums == d][velocity[drums == d].argmin()]
            for d in np.unique(drums)
        ]
        with torch.no_grad():
            codes = generator.encoder(torch.from_numpy(clips.audio[rows])[:, None])[0]
            label = classes.index(cls)
            generator.prior_velocity = torch.zeros_like(generator.prior_mean)
            generator.velocity = True
            generator.fit_velocity(codes, torch.full((len(rows),), label),
                                   torch.from_numpy(velocity), torch.from_numpy(drums))  # fmt: skip
            z = torch.randn(64, cfg.model.latent, generator=torch.Generator().manual_seed(0))
            y = torch.full((64,), label)
            hard, soft = (generator(z, y, velocity=torch.full((64,), v))[:, 0, :WINDOW].numpy()
                          for v in (1.0, 0.3))  # fmt: skip
        made = spectral_centroid(hard, cfg.data.sample_rate) / spectral_centroid(
            soft, cfg.data.sample_rate
        )
        print(
            f"{cls}: {len(real)} layered drums; hard / soft centroid real "
            f"{np.median(real):.2f}, generated {np.median(made):.2f}, "
            f"line length {generator.prior_velocity[label].norm():.2f}"
        )


if __name__ == "__main__":
    main()
