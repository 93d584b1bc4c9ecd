"""The drum classifier behind the Inception score and Frechet distance (trained here, by kit split).

A small CNN on log-mel spectrograms of 16 kHz, 16384-sample clips:

conv3x3 16, BN, ReLU, max-pool 2  ->  conv3x3 32 ... pool  ->  conv3x3 64 ... pool
->  conv3x3 64, BN, ReLU  ->  global average  =  64-d embedding  ->  dropout  ->  dense 8
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ganpad.atomic import atomic_path, atomic_write_text
from ganpad.drums import DRUM_CLASSES
from ganpad.training.config import DataConfig
from ganpad.training.data import ClipSet, load_clips
from ganpad.training.features import LogMel, MelConfig

ASSET_DIR = Path(__file__).resolve().parent / "assets"
WEIGHTS = ASSET_DIR / "drum_classifier.safetensors"
CARD = ASSET_DIR / "drum_classifier.json"
# Kits never seen in training: the classifier's test set, and the real baseline for evaluation.
TEST_KITS = ("GMRockKit", "TR808EmulationKit", "Audiophob")
CLIP = 16384
RATE = 16000


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


def load_classifier(path: Path = WEIGHTS) -> DrumClassifier:
    model = DrumClassifier()
    try:
        model.load_state_dict(load_file(str(path)))
    except (OSError, RuntimeError) as exc:
        raise RuntimeError(f"{path}: cannot load the drum classifier: {exc}") from exc
    return model.eval()


def _labels_in(clips: ClipSet) -> np.ndarray:
    index = {c: i for i, c in enumerate(DRUM_CLASSES)}
    return np.array([index[clips.classes[i]] for i in clips.labels], np.int64)


def kit_split(root: str, cache_dir: str = "") -> tuple[ClipSet, ClipSet]:
    """(training kits, held-out TEST_KITS) from a folder of Hydrogen kits."""
    train = load_clips(DataConfig(path=root, cache_dir=cache_dir, exclude_kits=list(TEST_KITS)))
    tests = [load_clips(DataConfig(path=str(Path(root) / k), cache_dir=cache_dir))
             for k in TEST_KITS if (Path(root) / k).is_dir()]  # fmt: skip
    audio = np.concatenate([t.audio for t in tests])
    labels = np.concatenate([_labels_in(t) for t in tests])
    test = ClipSet(audio, labels, DRUM_CLASSES, sum((t.paths for t in tests), []), tests[0].report)
    return train, test


@dataclass
class TrainedClassifier:
    model: DrumClassifier
    train_accuracy: float
    test_accuracy: float
    per_class: dict[str, float]
    seconds: float


def train_classifier(train: ClipSet, test: ClipSet, epochs: int = 40, seed: int = 0
                     ) -> TrainedClassifier:  # fmt: skip
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DrumClassifier()
    x_train = torch.from_numpy(train.audio)
    y_train = torch.from_numpy(_labels_in(train))
    with torch.no_grad():
        mel = model.mel(x_train)
        model.mean.fill_(mel.mean())
        model.std.fill_(mel.std())
    # Rare classes (clap) count as much as common ones.
    counts = torch.bincount(y_train, minlength=len(DRUM_CLASSES)).float().clamp_min(1)
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / counts / len(DRUM_CLASSES))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for i in range(0, len(order), 32):
            idx = order[i : i + 32]
            x = _augment(x_train[idx], rng)
            loss = loss_fn(model(x), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    train_pred = predict(model, train.audio)[0].argmax(1)
    test_pred = predict(model, test.audio)[0].argmax(1)
    y_test = test.labels
    per_class = {c: float((test_pred[y_test == i] == i).mean())
                 for i, c in enumerate(DRUM_CLASSES) if (y_test == i).any()}  # fmt: skip
    return TrainedClassifier(model, float((train_pred == y_train.numpy()).mean()),
                             float((test_pred == y_test).mean()), per_class,
                             time.perf_counter() - start)  # fmt: skip


def _augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random gain (-12..0 dB) and a shift of up to 20 ms: drums are drums at any level."""
    gain = torch.from_numpy(10 ** (rng.uniform(-12, 0, (len(x), 1)) / 20)).float()
    shift = int(rng.integers(0, 320))
    return torch.nn.functional.pad(x, (shift, 0))[:, : x.shape[1]] * gain


def save_classifier(result: TrainedClassifier, command: str) -> None:
    ASSET_DIR.mkdir(parents=True, exist_ok=True)
    with atomic_path(WEIGHTS) as tmp:
        save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, str(tmp))
    card = {
        "classes": list(DRUM_CLASSES),
        "mel": MelConfig().to_json(),
        "clip": CLIP,
        "test_kits": list(TEST_KITS),
        "train_accuracy": round(result.train_accuracy, 4),
        "test_accuracy": round(result.test_accuracy, 4),
        "test_accuracy_per_class": {k: round(v, 4) for k, v in result.per_class.items()},
        "train_seconds": round(result.seconds, 1),
        "command": command,
    }
    atomic_write_text(CARD, json.dumps(card, indent=1) + "\n")
