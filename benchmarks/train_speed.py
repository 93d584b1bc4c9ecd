"""Training iterations per second for WaveGAN at d = 16, 32, 64 (batch 16) on real GMRockKit clips.

One iteration = n_critic (5) critic updates + one generator update, as in the paper.
Run:  python benchmarks/train_speed.py [--sizes 16 32 64] [--batch 16] [--iters 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from ganpad.training.config import RunConfig
from ganpad.training.data import load_clips
from ganpad.training.loop import Trainer

GMROCK = "/usr/share/hydrogen/data/drumkits/GMRockKit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=GMROCK)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per size")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--conditional", action="store_true")
    args = parser.parse_args()

    base = RunConfig()
    base.data.path = args.data
    clips = load_clips(base.data)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(clips.audio)} clips, batch {args.batch}, slice {base.data.slice_len}")  # fmt: skip
    print(f"{'d':>4} {'params G+D':>12} {'it/s':>8} {'s/it (median)':>14} {'clips/s seen':>13}")
    for d in args.sizes:
        cfg = RunConfig()
        cfg.data = base.data
        cfg.model.d = d
        cfg.model.conditional = args.conditional
        cfg.train.batch_size = args.batch
        cfg.train.device = args.device
        cfg.train.progress = False
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(cfg, run_dir, clips=clips)
            trainer.train_step()  # warm-up: allocator, cuDNN autotune
            times = []
            for _ in range(args.iters):
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize()
                tick = time.perf_counter()
                trainer.train_step()
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - tick)
            params = sum(p.numel() for m in (trainer.G, trainer.D) for p in m.parameters())
        med = statistics.median(times)
        seen = args.batch * (cfg.train.n_critic + 1) / med
        print(f"{d:>4} {params / 1e6:>11.2f}M {1 / med:>8.3f} {med:>14.3f} {seen:>13.1f}")


if __name__ == "__main__":
    main()
