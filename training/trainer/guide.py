"""Key-group guidance: a frozen judge of the GM instrument groups asks each fake played on a
key's label to sound like the key's group (a cowbell key like a cowbell).

AC-GAN's generator term (Odena et al. 2017) with a fixed, already trained classifier instead
of a head the critic learns on the way: the judge is `ganpad judge --out` trained on the run's
own training kits, never on the evaluation reference (eval's judge is another, trained on
`heldout-drums`, and this one must not be it: `check_guide`). Labels without a key (the drum
classes) get no term.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpad.drums import label_key
from ganpad.training.data.reference import copies_of_named
from ganpad.training.evaluation.classifier import CLIP, RATE, augment
from ganpad.training.evaluation.key_judge import GROUPS, JUDGE_WEIGHTS, KEY_GROUP, load_group_judge

FADE_S = 0.005  # the cut before resampling fades out, so the FFT's wrap adds no click


def check_guide(path: str) -> Path:
    """The guide judge's weights, or a clear error: missing, not a GM-group judge, or taught on
    the evaluation's reference (eval's own judge among them)."""
    weights = Path(path)
    if not weights.is_file():
        raise FileNotFoundError(
            f"train.guide_judge = {path!r}: no such file (train one on "
            "the run's kits: `ganpad judge --data KITS --out DIR`)"
        )
    if weights.resolve() == JUDGE_WEIGHTS.resolve():
        raise ValueError(f"train.guide_judge = {path!r} is eval's own judge, trained on "
                         "heldout-drums, the evaluation's reference: guiding by it would train "
                         "on it")  # fmt: skip
    card = weights.with_suffix(".json")
    try:
        about = json.loads(card.read_text())
        sources, kits = dict(about["trained_on"]), list(about["kits"])
        fits = about["classes"] == list(GROUPS) and about["clip"] == CLIP
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"train.guide_judge = {path!r}: its card {card} (what it was trained "
                         f"on, its kits) cannot be read: {exc!r}; `ganpad judge --out` "
                         "writes one") from exc  # fmt: skip
    if not fits:
        raise ValueError(f"train.guide_judge = {path!r}: its card {card} names other classes "
                         f"or another clip than the {len(GROUPS)} GM groups on {CLIP} "
                         "samples")  # fmt: skip
    leaks = copies_of_named(kits, "heldout-drums") + [s for s in sources if s == "heldout-drums"]
    if leaks:
        raise ValueError(f"train.guide_judge = {path!r} was trained on heldout-drums, the "
                         f"evaluation's reference, or its family ({', '.join(leaks)}): guiding "
                         "by it would train on it")  # fmt: skip
    return weights


def label_groups(names: Sequence[str]) -> torch.Tensor:
    """Each label's GM group index, -1 for a label that is no key."""
    keys = [label_key(name) for name in names]
    return torch.tensor([-1 if k is None else GROUPS.index(KEY_GROUP[k]) for k in keys])


class GroupGuide(nn.Module):
    """fake [B, 1, T] at `rate`, label [B] -> mean cross-entropy of the judge's groups against
    each keyed label's own (0 when no label in the batch is a key).

    With `augmented`, each fake passes the judge's own training augmentation first (gain,
    shift, EQ tilt, low-pass, room: classifier.augment), so the generator cannot win on
    details one recording chain would not keep: it is asked for the group under every
    transformation (Athalye et al. 2018's expectation over transformation)."""

    def __init__(self, path: str, names: Sequence[str], rate: int, augmented: bool = False,
                 seed: Sequence[int] = (0,)):  # fmt: skip
        super().__init__()
        self.augmented, self.seed = augmented, tuple(seed)
        self.judge = load_group_judge(check_guide(path)).requires_grad_(False)
        self.register_buffer("group", label_groups(names), persistent=False)
        # Exact band-limited resampling by FFT on a window whose length fits both rates.
        step = math.gcd(rate, RATE)
        blocks = math.ceil((CLIP + round(FADE_S * RATE)) / (RATE // step))  # the fade past the clip
        self.n_in, self.n_out = blocks * (rate // step), blocks * (RATE // step)
        fade = torch.ones(self.n_in)
        tail = max(1, round(FADE_S * rate))
        fade[-tail:] = torch.linspace(1.0, 0.0, tail)
        self.register_buffer("fade", fade, persistent=False)

    def fit(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, T] at the run's rate -> the judge's [B, 16384] at 16 kHz (first 1.024 s)."""
        x = F.pad(audio, (0, max(0, self.n_in - audio.shape[-1])))[:, : self.n_in] * self.fade
        spectrum = torch.fft.rfft(x.float())[:, : self.n_out // 2 + 1]
        return torch.fft.irfft(spectrum, n=self.n_out)[:, :CLIP] * (self.n_out / self.n_in)

    def forward(self, fake: torch.Tensor, label: torch.Tensor, step: int = 0) -> torch.Tensor:
        """`step`, with the seed (and the rank in it), picks the augmentation: a resumed run
        hears the same chains."""
        target = self.group[label]
        keyed = target >= 0
        if not keyed.any():
            return fake.sum() * 0.0  # in the graph all the same: every rank's backward matches
        self.judge.eval()  # batch norm's statistics and no dropout, whatever the caller's mode
        # in float32 under AMP too: the judge was trained, and eval judges, in float32
        with torch.autocast(fake.device.type, enabled=False):
            heard = self.fit(fake[keyed].float().flatten(1))
            if self.augmented:
                heard = augment(heard, np.random.default_rng([*self.seed, step]))
            return F.cross_entropy(self.judge(heard), target[keyed])
