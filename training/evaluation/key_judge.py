"""The GM key judge: which of 24 General MIDI instrument groups a drum hit sounds like, so that
per-key identity can be measured (a cowbell key that plays a hiss scores nothing).

The drum classifier's CNN with a head per group, trained on real kits whose instrument names
give their GM keys (`drums.key_for_name`), and tested on a source it never heard. It is an
ensemble of such CNNs trained from different seeds: one CNN's per-key figures on an unseen
source swing by up to 0.37 on the percussion keys from seed to seed. Groups
merge the keys that differ by pitch or by hand, not by instrument (a high and a low conga,
closed and pedal hat), which no judge can tell apart across kits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from ganpad.drums import GM_NOTE_CLASS, KEY_LABELS
from ganpad.training.config import DataConfig
from ganpad.training.data.ingest import ClipSet, load_clips
from ganpad.training.evaluation.classifier import (
    ASSET_DIR,
    CLIP,
    RATE,
    DrumClassifier,
    TrainedClassifier,
    predict,
    scored,
    train_classifier,
)

JUDGE_WEIGHTS = ASSET_DIR / "key_judge.safetensors"
JUDGE_CARD = ASSET_DIR / "key_judge.json"
GM_GROUPS: dict[str, tuple[int, ...]] = {
    "kick": (35, 36), "side_stick": (37,), "snare": (38, 40), "clap": (39,),
    "closed_hat": (42, 44), "open_hat": (46,), "low_tom": (41, 43, 45), "high_tom": (47, 48, 50),
    "crash": (49, 52, 55, 57), "ride": (51, 59), "ride_bell": (53,), "tambourine": (54,),
    "cowbell": (56,), "vibraslap": (58,), "bongo": (60, 61), "conga": (62, 63, 64),
    "timbale": (65, 66), "agogo": (67, 68), "shaker": (69, 70), "whistle": (71, 72),
    "guiro": (73, 74), "wood": (75, 76, 77), "cuica": (78, 79), "triangle": (80, 81),
}  # fmt: skip
GROUPS = tuple(GM_GROUPS)
KEY_GROUP = {key: group for group, keys in GM_GROUPS.items() for key in keys}
# The keys the 8 drum classes lump together as "percussion", beside side stick.
PERCUSSION_KEYS = (54, 56, 58, *range(60, 82))


def group_clips(clips: ClipSet) -> ClipSet:
    """The clips whose GM key is known, labelled by the key's group."""
    keep = clips.keys >= 0
    groups = np.array([GROUPS.index(KEY_GROUP[int(k)]) for k in clips.keys[keep]], np.int64)
    paths = [p for p, k in zip(clips.paths, keep, strict=True) if k]
    return ClipSet(clips.audio[keep], groups, GROUPS, paths, clips.report, clips.keys[keep])


def load_keyed(path: str | Path, cache_dir: str = "") -> ClipSet:
    """A folder's clips with known GM keys, at the judge's rate and length, by group."""
    config = DataConfig(path=str(path), cache_dir=cache_dir, sample_rate=RATE, slice_len=CLIP,
                        autolabel=False)  # fmt: skip
    return group_clips(load_clips(config))


def concat(sets: Sequence[ClipSet]) -> ClipSet:
    """One set of several, all labelled by group."""
    audio, labels = (np.concatenate([getattr(s, f) for s in sets]) for f in ("audio", "labels"))
    keys, paths = np.concatenate([s.keys for s in sets]), sum((s.paths for s in sets), [])
    return ClipSet(audio, labels, GROUPS, paths, sets[0].report, keys)


class Ensemble(nn.Module):
    """CNNs that vote by their mean probability. `embed` and `head` keep the one CNN's
    interface (`classifier.predict`, the guide's cross-entropy): the features side by side,
    and the log of the mean softmax as logits."""

    def __init__(self, members: Sequence[DrumClassifier]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.embed(audio) for m in self.members], dim=1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        parts = features.chunk(len(self.members), dim=1)
        pairs = zip(self.members, parts, strict=True)
        probs = [torch.softmax(m.head(m.drop(f)), dim=1) for m, f in pairs]
        return torch.log(torch.stack(probs).mean(0).clamp_min(1e-12))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(audio))


def train_judge(train: Sequence[str | Path], tests: dict[str, str | Path], epochs: int = 40,
                cache_dir: str = "", members: int = 5,
                ) -> tuple[TrainedClassifier, dict[str, dict]]:  # fmt: skip
    """A judge of `members` CNNs (seeds 0, 1, ...) trained on the folders `train`, tested on
    each folder of `tests`; with its per-key figures on each test source (`real_identity`)."""
    clips = concat([load_keyed(p, cache_dir) for p in train])
    held = {name: load_keyed(p, cache_dir) for name, p in tests.items()}
    one = [train_classifier(clips, {}, epochs=epochs, seed=seed) for seed in range(members)]
    model = Ensemble([r.model for r in one]).eval()
    result = scored(model, clips, held, sum(r.seconds for r in one))
    return result, {name: real_identity(model, c) for name, c in held.items()}


def load_group_judge(path: Path) -> nn.Module:
    """A key judge's weights (an ensemble, or a single CNN as the first judges were saved)."""
    try:
        tensors = load_file(str(path))
        count = len({k.split(".")[1] for k in tensors if k.startswith("members.")})
        model = Ensemble([DrumClassifier(len(GROUPS)) for _ in range(count)]) if count else (
            DrumClassifier(len(GROUPS)))  # fmt: skip
        model.load_state_dict(tensors)
    except Exception as exc:  # noqa: BLE001  (safetensors' errors are plain Exceptions)
        raise RuntimeError(f"{path}: cannot load the key judge: {exc}") from exc
    return model.eval()


def load_judge() -> nn.Module:
    return load_group_judge(JUDGE_WEIGHTS)


def label_for_key(key: int, names: Sequence[str], gm_notes: dict[str, Sequence[int]]) -> int:
    """The label a generator plays for a GM key, as the engine does: one that claims the key,
    else the key's drum class; -1 if it has neither. A run (no GM notes until export) with a
    label per key plays the key's own."""
    for i, name in enumerate(names):
        if key in gm_notes.get(name, ()):
            return i
    if not any(gm_notes.values()) and KEY_LABELS.get(key) in names:
        return list(names).index(KEY_LABELS[key])
    cls = GM_NOTE_CLASS.get(key)
    return names.index(cls) if cls in names else -1


def key_identity(play: Callable[[np.ndarray, np.ndarray], np.ndarray], names: Sequence[str],
                 gm_notes: dict[str, Sequence[int]], latent: int, fit: Callable,
                 per_key: int = 16, seed: int = 0,
                 judge: nn.Module | None = None) -> dict:  # fmt: skip
    """How often the judge hears each GM key's group in what a generator plays for that key:
    per key, over all keys played, and over the percussion keys. `play(z, labels)` makes
    audio, `fit(audio)` brings it to the judge's 16 kHz clips."""
    judge = judge or load_judge()
    rng = np.random.default_rng(seed)
    right: dict[int, float] = {}
    heard: dict[str, str] = {}
    for key in sorted(KEY_GROUP):
        label = label_for_key(key, names, gm_notes)
        if label < 0:
            continue
        z = rng.standard_normal((per_key, latent)).astype(np.float32)
        probs, _ = predict(judge, fit(play(z, np.full(per_key, label, np.int64))))
        votes = np.bincount(probs.argmax(1), minlength=len(GROUPS))
        right[key] = float(votes[GROUPS.index(KEY_GROUP[key])] / per_key)
        heard[str(key)] = GROUPS[int(votes.argmax())]
    return _summary(right) | {"heard_most": heard, "clips_per_key": per_key}


def real_identity(judge: nn.Module, clips: ClipSet) -> dict:
    """The same figures for real clips with known keys (a source the judge never heard)."""
    recognised = predict(judge, clips.audio)[0].argmax(1)
    keys = clips.keys
    return _summary({int(k): float((recognised[keys == k] == clips.labels[keys == k]).mean())
                     for k in np.unique(keys)})  # fmt: skip


def _summary(right: dict[int, float]) -> dict:
    """Per-key shares heard right, their mean, and their mean over the percussion keys."""
    percussion = [right[k] for k in PERCUSSION_KEYS if k in right]
    return {
        "per_key": {str(k): round(v, 4) for k, v in right.items()},  # as JSON keeps them
        "mean": round(float(np.mean(list(right.values()))), 4) if right else None,
        "percussion_mean": round(float(np.mean(percussion)), 4) if percussion else None,
    }
