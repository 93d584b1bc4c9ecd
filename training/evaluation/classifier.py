"""The drum classifier behind the Inception score, the Frechet and kernel distances and class
accuracy: trained here on two sources of real drums (the Hydrogen kits less TEST_KITS, and the
GM drum kits of a SoundFont), with augmentation, and tested on held-out kits of one source and
on a SoundFont it never heard.

A small CNN on log-mel spectrograms of 16 kHz, 16384-sample clips:

conv3x3 16, BN, ReLU, max-pool 2  ->  conv3x3 32 ... pool  ->  conv3x3 64 ... pool
->  conv3x3 64, BN, ReLU  ->  global average  =  64-d embedding  ->  dropout  ->  dense 8
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ganpad.atomic import atomic_path, atomic_write_text
from ganpad.drums import DRUM_CLASSES
from ganpad.training.config import DataConfig
from ganpad.training.data.ingest import ClipSet, load_clips
from ganpad.training.evaluation.features import LogMel, MelConfig

ASSET_DIR = Path(__file__).resolve().parent / "assets"
WEIGHTS = ASSET_DIR / "drum_classifier.safetensors"
CARD = ASSET_DIR / "drum_classifier.json"
# Kits never seen in training: the classifier's test set, and the real baseline for evaluation.
TEST_KITS = ("GMRockKit", "TR808EmulationKit", "Audiophob")
CLIP = 16384
RATE = 16000
AUGMENTATION = "gain, shift, EQ tilt, low-pass, short room, tail cut (classifier.augment)"


def _block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class DrumClassifier(nn.Module):
    def __init__(self, n_classes: int = len(DRUM_CLASSES)):
        super().__init__()
        self.mel = LogMel(MelConfig())
        self.register_buffer("mean", torch.zeros(1))
        self.register_buffer("std", torch.ones(1))
        self.body = nn.Sequential(_block(1, 16, True), _block(16, 32, True), _block(32, 64, True),
                                  _block(64, 64, False))  # fmt: skip
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(64, n_classes)

    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, 16384] at 16 kHz -> the 64-d penultimate features."""
        x = (self.mel(audio) - self.mean) / self.std
        return self.body(x.unsqueeze(1)).mean(dim=(2, 3))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.embed(audio)))


@torch.no_grad()
def predict(model: DrumClassifier, audio: np.ndarray, batch: int = 64):
    """(class probabilities [N, C], embeddings [N, 64]) for 16 kHz clips [N, 16384]."""
    model.eval()
    probs, feats = [], []
    for i in range(0, len(audio), batch):
        x = torch.from_numpy(np.ascontiguousarray(audio[i : i + batch], np.float32))
        e = model.embed(x)
        feats.append(e.numpy())
        probs.append(torch.softmax(model.head(e), dim=1).numpy())
    return np.concatenate(probs), np.concatenate(feats)


def load_classifier(path: Path = WEIGHTS, n_classes: int = len(DRUM_CLASSES)) -> DrumClassifier:
    model = DrumClassifier(n_classes)
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as exc:  # noqa: BLE001  (safetensors' errors are plain Exceptions)
        raise RuntimeError(f"{path}: cannot load the classifier: {exc}") from exc
    return model.eval()


def most_likely(audio: np.ndarray, model: DrumClassifier | None = None) -> list[tuple[str, float]]:
    """(class, softmax probability) of the most likely class for each 16 kHz clip [N, 16384]."""
    if len(audio) == 0:
        return []
    probs = predict(model or load_classifier(), audio)[0]
    return [(DRUM_CLASSES[i], float(probs[n, i])) for n, i in enumerate(probs.argmax(1))]


def _labels_in(clips: ClipSet) -> np.ndarray:
    index = {c: i for i, c in enumerate(DRUM_CLASSES)}
    return np.array([index[clips.classes[i]] for i in clips.labels], np.int64)


def _concat(sets: list[ClipSet]) -> ClipSet:
    """One ClipSet of several, labels re-indexed to DRUM_CLASSES."""
    audio = np.concatenate([t.audio for t in sets])
    labels = np.concatenate([_labels_in(t) for t in sets])
    keys = np.concatenate([t.keys for t in sets])
    paths = sum((t.paths for t in sets), [])
    return ClipSet(audio, labels, DRUM_CLASSES, paths, sets[0].report, keys)


def kit_split(root: str, train_kits: Sequence[str] = (), test_sources: dict[str, str] | None = None,
              cache_dir: str = "") -> tuple[ClipSet, dict[str, ClipSet]]:  # fmt: skip
    """(training clips, {source: held-out clips}): the Hydrogen kits below `root` less
    TEST_KITS plus the kit folders `train_kits`; tested on TEST_KITS ("hydrogen held-out
    kits") and on each folder of `test_sources`, a source it never trained on."""

    def load(path: str, exclude: list[str] | None = None) -> ClipSet:
        # autolabel off: the classifier never learns from its own earlier guesses.
        config = DataConfig(path=path, cache_dir=cache_dir, exclude_kits=exclude or [],
                            sample_rate=RATE, slice_len=CLIP, autolabel=False)  # fmt: skip
        return load_clips(config)

    train = _concat([load(root, list(TEST_KITS)), *(load(k) for k in train_kits)])
    held = [load(str(Path(root) / k)) for k in TEST_KITS if (Path(root) / k).is_dir()]
    tests = {"hydrogen held-out kits": _concat(held)} if held else {}
    for name, path in (test_sources or {}).items():
        tests[name] = _concat([load(path)])
    return train, tests


@dataclass
class TrainedClassifier:
    model: DrumClassifier
    train_accuracy: float
    test_accuracy: dict[str, float]  # per held-out source
    per_class: dict[str, dict[str, float]]  # per source, per class
    seconds: float
    clips: int
    classes: tuple[str, ...] = DRUM_CLASSES


def accuracy(model: DrumClassifier, clips: ClipSet) -> tuple[float, dict[str, float]]:
    """(accuracy, per-class accuracy) of the classifier on labelled clips (labels index
    `clips.classes`, the classifier's own classes)."""
    pred = predict(model, clips.audio)[0].argmax(1)
    y = clips.labels
    per_class = {c: float((pred[y == i] == i).mean())
                 for i, c in enumerate(clips.classes) if (y == i).any()}  # fmt: skip
    return float((pred == y).mean()), per_class


def train_classifier(train: ClipSet, tests: dict[str, ClipSet], epochs: int = 40, seed: int = 0,
                     tail_share: float = 0.5) -> TrainedClassifier:  # fmt: skip
    """A classifier of `train.classes` (the drum classes, or another label set such as the
    key judge's groups), tested on each of `tests` (labelled in the same classes);
    `tail_share` of each batch tail-cut in its augmentation."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_classes = len(train.classes)
    model = DrumClassifier(n_classes)
    x_train = torch.from_numpy(train.audio)
    y_train = torch.from_numpy(train.labels)
    with torch.no_grad():
        mel = model.mel(x_train)
        model.mean.fill_(mel.mean())
        model.std.fill_(mel.std())
    # Rare classes (clap) count as much as common ones.
    counts = torch.bincount(y_train, minlength=n_classes).float().clamp_min(1)
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / counts / n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for i in range(0, len(order), 32):
            idx = order[i : i + 32]
            x = augment(x_train[idx], rng, tail_share)
            loss = loss_fn(model(x), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return scored(model, train, tests, time.perf_counter() - start)


def scored(model: nn.Module, train: ClipSet, tests: dict[str, ClipSet],
           seconds: float) -> TrainedClassifier:  # fmt: skip
    """A trained classifier with its accuracy on `train` and on each of `tests`."""
    scores = {name: accuracy(model, clips) for name, clips in tests.items()}
    return TrainedClassifier(model, accuracy(model, train)[0],
                             {n: a for n, (a, _) in scores.items()},
                             {n: c for n, (_, c) in scores.items()}, seconds,
                             len(train.audio), tuple(train.classes))  # fmt: skip


def augment(x: torch.Tensor, rng: np.random.Generator, tail_share: float = 0.5) -> torch.Tensor:
    """What changes from kit to kit and room to room, not from class to class: gain
    (-12..0 dB), a shift of up to 20 ms, an EQ tilt of up to 3 dB per octave either way about
    1 kHz, on a third of the clips a low-pass from 4 to 8 kHz (a duller sample or a cheaper
    converter), on half a short room (exponentially decaying noise, RT60 0.05-0.5 s, up
    to a third wet), and on `tail_share` of them a tail cut (`cut_tails`)."""
    b, n = x.shape
    spectrum = torch.fft.rfft(x, n=2 * n)
    on = {"device": x.device, "dtype": torch.float32}  # the guide augments fakes on the GPU
    hz = torch.fft.rfftfreq(2 * n, 1 / RATE, device=x.device).clamp_min(20.0)
    tilt = torch.as_tensor(rng.uniform(-0.5, 0.5, (b, 1)), **on)  # 0.5: 3 dB / octave
    spectrum = spectrum * (hz / 1000.0) ** tilt
    cutoff = torch.as_tensor(np.where(rng.random((b, 1)) < 1 / 3, rng.uniform(4e3, 8e3, (b, 1)),
                                      1e9), **on)  # fmt: skip
    spectrum = spectrum / (1 + (hz / cutoff) ** 8)  # a 4-pole-like roll-off
    t = torch.arange(n, device=x.device) / RATE
    rt60 = torch.as_tensor(rng.uniform(0.05, 0.5, (b, 1)), **on)
    room = torch.as_tensor(rng.standard_normal((b, n)), **on) * torch.exp(-6.9 * t / rt60)
    room = room / room.norm(dim=1, keepdim=True)
    wet = torch.as_tensor(rng.uniform(0, 1 / 3, (b, 1)) * (rng.random((b, 1)) < 0.5), **on)
    spectrum = spectrum * ((1 - wet) + wet * torch.fft.rfft(room, n=2 * n))
    y = cut_tails(torch.fft.irfft(spectrum, n=2 * n)[:, :n], rng, tail_share)
    y = y / y.abs().amax(dim=1, keepdim=True).clamp_min(1e-6) * x.abs().amax(dim=1, keepdim=True)
    gain = torch.as_tensor(10 ** (rng.uniform(-12, 0, (b, 1)) / 20), **on)
    shift = int(rng.integers(0, 320))
    return torch.nn.functional.pad(y, (shift, 0))[:, :n] * gain


def cut_tails(y: torch.Tensor, rng: np.random.Generator, share: float = 0.5,
              levels_db: tuple[float, float] = (-65.0, -35.0)) -> torch.Tensor:  # fmt: skip
    """On a `share` of the clips, silence from where the 10 ms envelope last reaches a random
    level in `levels_db` under its peak (a 5 ms fade): one pack trims its one-shots tight,
    a SoundFont renderer leaves its reverb ringing, and neither is the instrument. Without
    it the key judge heard FluidR3's hi bongo cut at -50 dB as a cowbell."""
    if share <= 0:
        return y  # and no draws, so an augmentation without it keeps its random stream
    b, n = y.shape
    frame, fade = RATE // 100, RATE // 200
    usable = n // frame * frame
    level = 10 * torch.log10(y[:, :usable].reshape(b, -1, frame).pow(2).mean(2) + 1e-20)
    db = torch.as_tensor(rng.uniform(*levels_db, (b, 1)), device=y.device, dtype=level.dtype)
    loud = level >= level.amax(dim=1, keepdim=True) + db
    last = loud.shape[1] - 1 - loud.flip(1).to(torch.int64).argmax(dim=1)  # last loud frame
    on = torch.as_tensor(rng.random(b) < share, device=y.device)
    end = torch.where(on, (last + 1) * frame, torch.full_like(last, n + fade))
    t = torch.arange(n, device=y.device)
    ramp = ((end[:, None] - t) / fade).clamp(0, 1)
    return y * torch.sin(ramp * torch.pi / 2) ** 2


def save_classifier(result: TrainedClassifier, command: str, sources: dict[str, str],
                    weights: Path = WEIGHTS, card_path: Path = CARD,
                    test_kits: Sequence[str] = TEST_KITS, extra: dict | None = None,
                    ) -> None:  # fmt: skip
    """The weights (safetensors) and a JSON card of what it learned from and how it tests."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, str(tmp))
    card = {
        "classes": list(result.classes),
        "mel": MelConfig().to_json(),
        "clip": CLIP,
        "trained_on": sources,
        "train_clips": result.clips,
        "test_kits": list(test_kits),
        "augmentation": AUGMENTATION,
        "train_accuracy": round(result.train_accuracy, 4),
        "test_accuracy": {k: round(v, 4) for k, v in result.test_accuracy.items()},
        "test_accuracy_per_class": {
            source: {k: round(v, 4) for k, v in per.items()}
            for source, per in result.per_class.items()
        },
        "train_seconds": round(result.seconds, 1),
        "command": command,
    } | (extra or {})
    atomic_write_text(card_path, json.dumps(card, indent=1) + "\n")
