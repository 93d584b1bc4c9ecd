"""Where per-key identity is lost: for each GM key, eval's key judge on a run's own training
clips beside their resynthesis (encoder -> synthesiser, the run's latest EMA generator), and
the spectral distance of the copies (the resynthesis loss).

A key the judge hears right in the clips and not in the copies is lost by the synthesiser's
fit; one it misses in the clips too, by the judge (docs/models.md, "Where the percussion keys
stop"). Clips are read as the run reads its data (its data settings, another folder).
Run:  python benchmarks/copy_identity.py RUN --data FOLDER [--keys 60 61 ...] [--per-key 16]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from ganpad.drums import KEY_LABELS
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.classifier import predict
from ganpad.training.evaluation.evaluate import _run_generator, fit
from ganpad.training.evaluation.key_judge import GROUPS, KEY_GROUP, PERCUSSION_KEYS, load_judge
from ganpad.training.trainer.losses import spectral_distance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a training run's folder (with an encoder)")
    parser.add_argument("--data", required=True, help="a folder of clips named by GM key")
    parser.add_argument("--keys", type=int, nargs="*", default=list(PERCUSSION_KEYS))
    parser.add_argument("--per-key", type=int, default=16, help="clips a key, at most")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    generator, cfg, state = _run_generator(args.run)
    if getattr(generator, "encoder", None) is None:
        parser.error(f"{args.run}: its generator has no encoder to resynthesise with")
    names, rate = list(state["classes"]), cfg.data.sample_rate
    clips = load_clips(dataclasses.replace(cfg.data, path=args.data, exclude_kits=[]))
    judge, rng = load_judge(), np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    print(f"{args.run} on {args.data}: share of clips the key judge hears as the key's group")
    print(f"{'key':>4} {'name':<20} {'clips':>5} {'real':>5} {'copy':>5} {'copy heard as':<14} "
          f"{'rec':>5}")  # fmt: skip
    shares = []
    for key in args.keys:
        found = np.flatnonzero(clips.keys == key)
        if not len(found) or KEY_LABELS[key] not in names:
            continue
        pick = rng.choice(found, min(args.per_key, len(found)), replace=False)
        real = torch.from_numpy(clips.audio[pick])[:, None]
        label = torch.full((len(pick),), names.index(KEY_LABELS[key]))
        with torch.no_grad():
            copy = generator.resynthesize(real, label, sample=False)[0]
            rec = float(spectral_distance(copy, real, rate))
        group = GROUPS.index(KEY_GROUP[key])
        heard = [predict(judge, fit(a[:, 0].numpy(), rate))[0].argmax(1) for a in (real, copy)]
        right = [float((h == group).mean()) for h in heard]
        shares.append(right)
        most = GROUPS[int(np.bincount(heard[1], minlength=len(GROUPS)).argmax())]
        print(f"{key:>4} {KEY_LABELS[key]:<20} {len(pick):>5} {right[0]:>5.2f} {right[1]:>5.2f} "
              f"{most:<14} {rec:>5.2f}")  # fmt: skip
    if shares:
        real_mean, copy_mean = np.mean(shares, axis=0)
        print(f"mean over {len(shares)} keys: real {real_mean:.3f}, copies {copy_mean:.3f}")


if __name__ == "__main__":
    main()
