"""Training iterations per second for each recipe, on each device asked for, side by side.

One iteration is what `ganpad train` counts as a step (n_critic critic updates and a generator
update; the synth recipes' resynthesis phase has no critic, so both of their phases are
timed). On CUDA each recipe is timed with bf16 autocast (train.amp, the default) and without.
Every recipe trains on the same drum clips (--data) at its own rate and slice.

Run:  python benchmarks/train_recipes.py [--data KITS] [--devices cpu cuda] [--iters 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from ganpad.training.config import ADVERSARIAL_STAGE, FAMILY_DEFAULTS, RunConfig, set_value
from ganpad.training.data.ingest import load_clips
from ganpad.training.trainer.loop import Trainer

# name: (family, {config changes}); the synth recipes as the shipped presets train them.
DRUMS_44K = {"model.synth_components": 8, "model.synth_fine_bands": 256,
             "data.sample_rate": 44100, "data.slice_len": 45056}  # fmt: skip
RECIPES: dict[str, tuple[str, dict]] = {
    "wavegan d=64": ("wavegan", {"model.d": 64}),
    "specgan d=64": ("specgan", {"model.d": 64}),
    "drumsynth 16k": ("drumsynth", {"model.synth_components": 8}),
    "drumsynth 44.1k": ("drumsynth", DRUMS_44K),
    # `ganpad train --finetune drums --adversarial`: crop critics, warm-up, frozen encoder.
    "drumsynth 44.1k stage": ("drumsynth", {**DRUMS_44K, **ADVERSARIAL_STAGE}),
}  # fmt: skip


def make_config(family: str, changes: dict, data: str, device: str, amp: bool) -> RunConfig:
    cfg = RunConfig()
    for key, value in {**FAMILY_DEFAULTS.get(family, {}), **changes}.items():
        set_value(cfg, key, value, family)
    cfg.model.family = family
    cfg.data.path = data
    cfg.train.batch_size = 16
    cfg.train.device = device
    cfg.train.amp = amp
    cfg.train.progress = False
    return cfg


def phases(trainer: Trainer) -> list[tuple[str, int]]:
    """(name, a step in it) for each phase a recipe's steps go through."""
    t = trainer.cfg.train
    out = []
    if getattr(trainer.G, "encoder", None) is not None and t.adversarial_from > 0:
        out.append(("resynthesis", 0))  # the generator alone, no critic yet
    if t.critic_warmup:
        out.append(("critic warm-up", t.adversarial_from))  # the critic alone
    return [*out, ("adversarial", 10**9)]


def iterations_per_s(trainer: Trainer, iters: int, step: int) -> float:
    trainer.step = step
    cuda = trainer.device.type == "cuda"
    times = []
    for i in range(iters + 2):  # two warm-up steps: allocator, cuDNN's algorithm search
        if cuda:
            torch.cuda.synchronize()
        tick = time.perf_counter()
        trainer.train_step()
        if cuda:
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - tick)
    return 1 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/hydrogen/data/drumkits/GMRockKit")
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--iters", type=int, default=10)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))  # fmt: skip
    print(f"{'recipe':<22} {'device':<10} {'phase':<15} {'it/s':>8} {'clips/s seen':>13}")
    clips: dict[tuple[int, int], object] = {}
    for name in args.recipes:
        family, changes = RECIPES[name]
        for device in args.devices:
            for amp in (True, False) if device.startswith("cuda") else (False,):
                cfg = make_config(family, changes, args.data, device, amp)
                key = (cfg.data.sample_rate, cfg.data.slice_len)
                clips[key] = clips.get(key) or load_clips(cfg.data)
                label = f"{device}{' bf16' if amp else ''}"
                with tempfile.TemporaryDirectory() as run_dir:
                    trainer = Trainer(cfg, run_dir, clips=clips[key])
                    for phase, step in phases(trainer):
                        rate = iterations_per_s(trainer, args.iters, step)
                        critic = 0 if phase == "resynthesis" else cfg.train.n_critic
                        generator = 0 if phase == "critic warm-up" else 1
                        seen = rate * cfg.train.batch_size * (critic + generator)
                        print(f"{name:<22} {label:<10} {phase:<15} {rate:>8.2f} {seen:>13.0f}",
                              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
