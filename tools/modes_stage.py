"""Can a DrumSynth run's modes play percussion? A probe, not a recipe: on the FluidR3 clips
of 8 percussion keys, train only the mode head by resynthesis with the noise bands and noise
components muted, then the whole decoder with the noise back, and print how often the GM
key judge names the key of each stage's resynthesis (12 clips a key), beside the real clips.

Run:  python tools/modes_stage.py RUN_WITH_MODES FLUID_KITS [--steps 300] [--joint 200]
(FLUID_KITS: `ganpad data soundfont-drums /usr/share/sounds/sf2/FluidR3_GM.sf2 --out DIR
--rate 44100`). Nothing is saved; the run is left as it was.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ganpad.drums import KEY_LABELS, KEYED_LABELS
from ganpad.training.config import DataConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.classifier import predict
from ganpad.training.evaluation.evaluate import _run_generator, fit
from ganpad.training.evaluation.key_judge import GROUPS, KEY_GROUP, load_judge
from ganpad.training.trainer.losses import spectral_distance

KEYS = (56, 60, 63, 69, 70, 75, 76, 81)  # cowbell, bongo, conga, cabasa, maracas, claves,
# wood block, triangle
PER_KEY = 12


def heard_right(generator, codes, labels, keys, judge) -> list[float]:  # noqa: ANN001
    """Per key, the share of its resynthesised clips the judge puts in the key's group."""
    out = []
    with torch.no_grad():
        for key in KEYS:
            idx = np.flatnonzero(keys == key)[:PER_KEY]
            noise = torch.randn(len(idx), codes.shape[1])
            audio = generator.synthesize(codes[idx], labels[idx], noise)[:, 0].numpy()
            probs, _ = predict(judge, fit(audio, generator.rate))
            out.append(float((probs.argmax(1) == GROUPS.index(KEY_GROUP[key])).mean()))
    return out


def train(generator, groups, codes, labels, audio, steps: int) -> None:  # noqa: ANN001
    """Resynthesis steps (log-mel distance) on random batches of 16."""
    opt = torch.optim.Adam(groups)
    generator.train()
    start = time.time()
    for step in range(steps):
        i = torch.randint(len(audio), (16,))
        copy = generator.synthesize(codes[i], labels[i], torch.randn(16, codes.shape[1]))
        loss = spectral_distance(copy, audio[i], generator.rate)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"  step {step}: distance {loss.item():.3f}, {time.time() - start:.0f} s")
    generator.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("kits")
    parser.add_argument("--steps", type=int, default=300, help="mode head alone, noise muted")
    parser.add_argument("--joint", type=int, default=200, help="then the decoder, noise on")
    parser.add_argument("--mode-lr", type=float, default=3e-5)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator, cfg, _ = _run_generator(Path(args.run))
    if not getattr(generator, "modes", 0) or not getattr(generator, "keyed", False):
        raise SystemExit(f"{args.run}: needs a drumsynth run with model.keys and modes")
    data = DataConfig(path=args.kits, sample_rate=cfg.data.sample_rate,
                      slice_len=cfg.data.slice_len, labels="drum-keys", tail_db=-50.0)  # fmt: skip
    clips = load_clips(data)
    chosen = np.isin(clips.keys, KEYS)
    audio, keys = torch.from_numpy(clips.audio[chosen])[:, None], clips.keys[chosen]
    labels = torch.tensor([KEYED_LABELS.index(KEY_LABELS[int(k)]) for k in keys])
    with torch.no_grad():
        codes = torch.cat([generator.encoder(audio[i : i + 32])[0]
                           for i in range(0, len(audio), 32)])  # fmt: skip
    judge = load_judge()
    real = [float((predict(judge, fit(clips.audio[chosen][keys == k][:PER_KEY], data.sample_rate))
                   [0].argmax(1) == GROUPS.index(KEY_GROUP[k])).mean()) for k in KEYS]  # fmt: skip

    def report(stage: str) -> None:
        right = heard_right(generator, codes, labels, keys, judge)
        print(f"{stage}: {[round(r, 2) for r in right]}, mean {np.mean(right):.3f}")

    print(f"keys {list(KEYS)}; real clips: {[round(r, 2) for r in real]}, mean {np.mean(real):.3f}")
    generator.mute_noise = True
    report("before, noise muted")
    for p in generator.parameters():
        p.requires_grad_(False)
    heads = generator.mode_parameters()
    for p in heads:
        p.requires_grad_(True)
    train(generator, [{"params": heads, "lr": args.mode_lr}], codes, labels, audio, args.steps)
    report(f"modes, {args.steps} steps, noise muted")
    generator.mute_noise = False
    report("the same, noise back")
    rest = [p for n, p in generator.named_parameters()
            if not n.startswith(("encoder.", "mode_amp.", "mode_label."))]  # fmt: skip
    for p in rest:
        p.requires_grad_(True)
    groups = [{"params": heads, "lr": args.mode_lr}, {"params": rest, "lr": 1e-4}]
    train(generator, groups, codes, labels, audio, args.joint)
    report(f"then {args.joint} joint steps, noise on")


if __name__ == "__main__":
    main()
