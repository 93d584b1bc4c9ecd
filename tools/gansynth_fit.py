"""How fast can the GANSynth generator fit real notes with no critic at all?

A capacity check that separates the architecture from the GAN's dynamics: the generator is
trained by plain regression onto the critic's view of real notes (each note keeps one fixed
latent), and the script prints the mean squared error of both channels beside two yardsticks:
the data's variance (a generator that ignores pitch) and the error of the per-pitch mean (the
best a generator that knows only the pitch can do). At the end it renders one note per pitch
and scores it with the evaluation's pitch tracker.

    python tools/gansynth_fit.py --data NOTES_DIR --d 4 --steps 1500
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ganpad.training.config import DataConfig, ModelConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.metrics import pitch_metrics, track_pitch
from ganpad.training.models import build_models


def per_pitch_mean_error(real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Squared error, per channel, of predicting every note by its pitch's mean."""
    means = torch.stack([real[labels == c].mean(0) for c in range(int(labels.max()) + 1)])
    return (real - means[labels]).pow(2).mean(dim=(0, 2, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="notes from `ganpad data soundfont`")
    parser.add_argument("--cache-dir", default="")
    parser.add_argument("--d", type=int, default=4)
    parser.add_argument("--representation", default="if", choices=["if", "mel-if"])
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=250)
    args = parser.parse_args()

    torch.manual_seed(0)
    data = DataConfig(path=args.data, cache_dir=args.cache_dir, labels="pitch")
    clips = load_clips(data)
    audio = torch.from_numpy(clips.audio).unsqueeze(1)
    labels = torch.from_numpy(clips.labels).long()
    model = ModelConfig(family="gansynth", d=args.d, latent=256, conditional=True,
                        representation=args.representation)  # fmt: skip
    generator, _ = build_models(model, data.slice_len, len(clips.classes), data.sample_rate)
    generator.fit_features(audio)
    with torch.no_grad():
        real = torch.cat([generator.features(audio[i : i + 64]) for i in range(0, len(audio), 64)])
    variance = real.var(dim=(0, 2, 3))
    ceiling = per_pitch_mean_error(real, labels)
    print(f"{len(real)} notes, {len(clips.classes)} pitches, d={args.d}, {args.representation}")
    print(f"variance        log-mag {variance[0]:.3f}  IF {variance[1]:.3f}")
    print(f"per-pitch mean  log-mag {ceiling[0]:.3f}  IF {ceiling[1]:.3f}")

    latents = torch.randn(len(real), model.latent)
    opt = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.0, 0.99))
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(real), (args.batch,))
        error = (generator(latents[idx], labels[idx]) - real[idx]).pow(2).mean(dim=(0, 2, 3))
        opt.zero_grad()
        error.sum().backward()
        opt.step()
        if step % args.every == 0 or step == args.steps:
            rate = (time.perf_counter() - start) / step
            print(f"step {step:5d}      log-mag {error[0]:.3f}  IF {error[1]:.3f}  "
                  f"({rate:.2f} s/step)")  # fmt: skip

    generator.eval()
    with torch.no_grad():
        pitch = torch.arange(len(clips.classes))
        notes = generator.to_audio(generator(torch.randn(len(pitch), model.latent), pitch))
    targets = np.array([float(clips.classes[i]) for i in pitch])
    scores = pitch_metrics(track_pitch(notes[:, 0].numpy(), data.sample_rate), targets)
    rms = float(notes.pow(2).mean().sqrt())
    print("fitted generator: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
          + f", rms {rms:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
