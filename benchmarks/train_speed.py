"""Training iterations per second for WaveGAN at d = 16, 32, 64 (batch 16) on real GMRockKit clips.

One iteration = n_critic (5) critic updates + one generator update, as in the paper. Each size
is timed twice, iteration by iteration in turn on the same trainer: as the loop runs it (the
gradient penalty's interpolates in a critic pass of their own) and with the first
implementation's WGAN-GP, which sent real, fake and interpolates through one pass.
Run:  python benchmarks/train_speed.py [--sizes 16 32 64] [--batch 16] [--iters 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from ganpad.training.config import FAMILY_DEFAULTS, RunConfig, TrainConfig, set_value
from ganpad.training.data.ingest import load_clips
from ganpad.training.trainer.loop import Trainer
from ganpad.training.trainer.losses import LOSSES, CriticResult, Loss, gradient_penalty

GMROCK = "/usr/share/hydrogen/data/drumkits/GMRockKit"


def shared_pass_critic(critic, real: torch.Tensor, fake: torch.Tensor,
                       label: torch.Tensor | None, cfg: TrainConfig) -> CriticResult:  # fmt: skip
    """The first implementation: one critic pass over [real; fake; interpolates]."""
    alpha = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    interp = (real + alpha * (fake - real)).detach().requires_grad_(True)
    labels = None if label is None else label.repeat(3)
    d_real, d_fake, d_interp = critic(torch.cat([real, fake, interp]), labels).split(len(real))
    (grads,) = torch.autograd.grad(d_interp.sum(), interp, create_graph=True)
    wasserstein = d_real.mean() - d_fake.mean()
    return CriticResult(-wasserstein + cfg.gp_lambda * gradient_penalty(grads), {})


def timed_step(trainer: Trainer) -> float:
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    tick = time.perf_counter()
    trainer.train_step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - tick


def make_config(args: argparse.Namespace, d: int) -> RunConfig:
    cfg = RunConfig()
    for key, value in FAMILY_DEFAULTS.get(args.model, {}).items():
        set_value(cfg, key, value, f"{args.model} defaults")
    cfg.model.family = args.model
    cfg.model.conditional = cfg.model.conditional or args.conditional
    cfg.data.path = args.data
    cfg.model.d = d
    cfg.train.batch_size = args.batch
    cfg.train.device = args.device
    cfg.train.progress = False
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=GMROCK)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per size")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument("--model", default="wavegan",
                        help="wavegan, specgan, or gansynth (with notes as --data)")  # fmt: skip
    args = parser.parse_args()

    base = make_config(args, args.sizes[0])
    clips = load_clips(base.data)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(clips.audio)} clips, batch {args.batch}, slice {base.data.slice_len}")  # fmt: skip
    print(f"{'d':>4} {'params G+D':>12} {'it/s':>8} {'s/it (median)':>14} {'clips/s seen':>13} "
          f"{'first impl. it/s':>17} {'speed-up':>9}")  # fmt: skip
    variants = {
        "now": LOSSES["wgan-gp"],
        "first": Loss(shared_pass_critic, LOSSES["wgan-gp"].generator),
    }
    for d in args.sizes:
        cfg = make_config(args, d)
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(cfg, run_dir, clips=clips)
            times: dict[str, list[float]] = {name: [] for name in variants}
            for i in range(args.iters + 1):  # the first round warms up: allocator, cuDNN
                for name, loss in variants.items():
                    trainer.loss = loss
                    elapsed = timed_step(trainer)
                    if i:
                        times[name].append(elapsed)
            params = sum(p.numel() for m in (trainer.G, trainer.D) for p in m.parameters())
        med = statistics.median(times["now"])
        first = statistics.median(times["first"])
        seen = args.batch * (cfg.train.n_critic + 1) / med
        print(f"{d:>4} {params / 1e6:>11.2f}M {1 / med:>8.3f} {med:>14.3f} {seen:>13.1f} "
              f"{1 / first:>17.3f} {first / med:>8.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
