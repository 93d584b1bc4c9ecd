"""Fit each label's velocity line through the decoder: does it make hard hits brighter?

The shipped lines are least-squares slopes of the encoder's latents on velocity (fit_velocity),
which the decoder answers with little change for a kick. Here a label's line starts from that
slope and is then moved by gradient descent so that a layered drum's layer, encoded and moved
along the line by the velocity difference, resynthesises the drum's layer at the other
velocity (multi-resolution spectral distance over the first `--window` seconds). Drums are
split in halves: the line is fitted on one and scored on the other, beside no line and the
least-squares one; then the decoded hard/soft centroid ratio of 32 prior latents as `ganpad
eval` measures it. Nothing is saved.

Run:  python tools/velocity_decode_fit.py RUN KITS [--labels kick snare] [--steps 150]
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
from ganpad.training.trainer.losses import spectral_distance

BRIGHT_S, HARD, SOFT = 0.2, 1.0, 0.3  # as ganpad eval's velocity_brightness


def pairs(velocity: np.ndarray, drums: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """[N, 2] ordered (from, to) rows of the same drum at two velocities."""
    out = [(a, b) for d in chosen for a in np.flatnonzero(drums == d)
           for b in np.flatnonzero(drums == d) if velocity[a] != velocity[b]]  # fmt: skip
    return np.array(out, np.int64).reshape(-1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("kits")
    parser.add_argument("--labels", nargs="+", default=["kick", "snare"])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--window", type=float, default=0.5)
    args = parser.parse_args()
    torch.manual_seed(0)
    g, cfg, state = _run_generator(Path(args.run))
    classes, rate = list(state["classes"]), cfg.data.sample_rate
    data = DataConfig(path=args.kits, sample_rate=rate, autolabel=False,
                      slice_len=cfg.data.slice_len, tail_db=cfg.data.tail_db)  # fmt: skip
    clips = load_clips(data).with_velocity()
    for name in args.labels:
        fit_label(g, cfg.model.latent, rate, clips, classes.index(name), name, args)


def fit_label(g: torch.nn.Module, latent: int, rate: int, clips, label: int, name: str,  # noqa: ANN001
              args: argparse.Namespace) -> None:  # fmt: skip
    """Fit one label's line on half its layered drums, score it on the other half, print."""
    window = round(args.window * rate)
    rows = np.flatnonzero((clips.instrument >= 0) & np.array(
        [label_class(clips.classes[i]) == name for i in clips.labels]))  # fmt: skip
    audio = torch.from_numpy(clips.audio[rows])[:, None]
    velocity, drums = clips.velocity[rows], clips.instrument[rows]
    order = np.random.default_rng(0).permutation(np.unique(drums))
    fit, test = pairs(velocity, drums, order[::2]), pairs(velocity, drums, order[1::2])
    with torch.no_grad():
        codes = torch.cat([g.encoder(audio[i : i + 32])[0] for i in range(0, len(rows), 32)])
    mix = torch.randn(1, latent)

    def loss(line: torch.Tensor, chosen: np.ndarray) -> torch.Tensor:
        a, b = torch.from_numpy(chosen[:, 0]), torch.from_numpy(chosen[:, 1])
        dv = torch.from_numpy(velocity[b] - velocity[a]).float()[:, None]
        z = codes[a] + dv * line
        y = torch.full((len(a),), label)
        made = g.synthesize(z, y, mix.expand(len(a), -1))[..., :window]
        return spectral_distance(made, audio[b][..., :window], rate)

    def score(line: torch.Tensor) -> float:
        with torch.no_grad():
            return float(np.mean([loss(line, test[i : i + 16]).item()
                                  for i in range(0, len(test), 16)]))  # fmt: skip

    shipped = g.prior_velocity[label].clone()
    line = torch.nn.Parameter(shipped.clone())
    opt = torch.optim.Adam([line], lr=args.lr)
    rng = np.random.default_rng(1)
    for _ in range(args.steps):
        opt.zero_grad()
        loss(line, fit[rng.choice(len(fit), args.batch)]).backward()
        opt.step()
    fitted = line.detach()
    print(f"{name}: {len(np.unique(drums))} layered drums, {len(fit)} / {len(test)} pairs; "
          f"held-out distance: no line {score(torch.zeros_like(shipped)):.3f}, "
          f"least squares {score(shipped):.3f} (|line| {shipped.norm():.2f}), "
          f"fitted {score(fitted):.3f} (|line| {fitted.norm():.2f})")  # fmt: skip
    for what, value in (("least squares", shipped), ("fitted", fitted)):
        g.prior_velocity[label] = value
        z, y = torch.randn(32, latent), torch.full((32,), label)
        with torch.no_grad():
            hard, soft = (g(z, y, velocity=torch.full((32,), v))[:, 0, : round(BRIGHT_S * rate)]
                          .numpy() for v in (HARD, SOFT))  # fmt: skip
        ratio = spectral_centroid(hard, rate) / spectral_centroid(soft, rate)
        print(f"  {what}: hard/soft centroid {np.median(ratio):.3f}")
    g.prior_velocity[label] = shipped


if __name__ == "__main__":
    main()
