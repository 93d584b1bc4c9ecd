"""Start a run from a preset's checkpoint: its model, its rate and slice, its weights."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ganpad.drums import DRUM_CLASSES, KEY_LABELS, KEYED_LABELS, label_class, label_key
from ganpad.presets import (
    CHECKPOINT_FILE,
    CHECKPOINT_STATE_FILE,
    PRESET_FILE,
    PresetError,
    find_preset,
)
from ganpad.training.config import RunConfig, from_dict

# Tensors with a row per label (the prior's Gaussians, the critic's class head).
_LABEL_ROWS = ("G.prior_mean", "G.prior_chol", "G.prior_velocity", "D.classifier.weight",
               "D.classifier.bias")  # fmt: skip


@dataclass
class PresetStart:
    config: RunConfig  # the preset's training config (model and data shape matter)
    classes: list[str]
    tensors: dict[str, torch.Tensor]  # "G.*" and "D.*"
    source: Path

    def lineage(self) -> dict[str, Any]:
        """The preset this run starts from, and its own training record (steps, commands,
        data, losses), so a fine-tuned preset keeps its whole history."""
        try:
            meta = json.loads((self.source / PRESET_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        labels = [label for label in meta.get("labels", []) if isinstance(label, dict)]
        own_keys = sorted(key for label in labels if label.get("gm_notes")
                          and (key := label_key(str(label.get("name")))) is not None)  # fmt: skip
        return {
            "preset": meta.get("name", self.source.name),
            "path": str(self.source),
            "training": meta.get("training", {}),
            "license": meta.get("license", {}),
            "keys": own_keys,  # the GM keys it played with a label of their own
            # the labels it was trained with (its own, not those a widening gave this run)
            "labels": [str(label.get("name")) for label in labels] or list(self.classes),
        }


def load_preset_start(name_or_path: str) -> PresetStart:
    preset = find_preset(name_or_path)
    state_path = preset.root / CHECKPOINT_STATE_FILE
    if preset.checkpoint_path is None or not state_path.exists():
        raise PresetError(preset.root, "has no checkpoint to fine-tune from")
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        config = from_dict(state["config"], str(state_path))
        classes = list(state["classes"])
    except (OSError, ValueError, KeyError) as exc:
        raise PresetError(state_path, f"unreadable checkpoint state: {exc}") from exc
    try:
        tensors = load_file(str(preset.root / CHECKPOINT_FILE))
    except (OSError, SafetensorError) as exc:
        raise PresetError(preset.root / CHECKPOINT_FILE, f"unreadable weights: {exc}") from exc
    return PresetStart(config, classes, tensors, preset.root)


def adopt_model(config: RunConfig, start: PresetStart) -> None:
    """The run must build the preset's model at the preset's rate and clip length, and label
    the data as the preset was (drum classes or pitches)."""
    config.model = replace(start.config.model)  # a copy: flags must not change the preset's
    config.data.labels = start.config.data.labels
    config.data.sample_rate = start.config.data.sample_rate
    config.data.slice_len = start.config.data.slice_len


def widen_to_keys(start: PresetStart, latent: int) -> PresetStart:
    """A class-labelled drumsynth preset as the start of a run with a label per GM key
    (model.keys): each key label takes its class's prior, critic embedding and class logit,
    and the control network reads the key one-hots through new, zero weights, so every key
    first sounds as its class did."""
    old = list(start.classes)
    if not set(old) <= set(DRUM_CLASSES):
        raise PresetError(start.source, f"labels {old} are not drum classes: model.keys widens "
                          "a drums preset of classes to a label per GM key")  # fmt: skip
    parent = [old.index(label_class(n)) if label_class(n) in old else -1 for n in KEYED_LABELS]
    tensors = dict(start.tensors)
    for name, value in start.tensors.items():
        if name in _LABEL_ROWS or (name.startswith("D.") and name.endswith(".embed.weight")):
            rows = [value[i] if i >= 0 else value.mean(0) for i in parent]
            tensors[name] = torch.stack(rows)
    first = start.tensors["G.net.0.weight"]  # [hidden, latent + classes]
    codes = torch.zeros(first.shape[0], len(DRUM_CLASSES) + len(KEY_LABELS), dtype=first.dtype)
    for i, name in enumerate(DRUM_CLASSES):
        if name in old:
            codes[:, i] = first[:, latent + old.index(name)]
    tensors["G.net.0.weight"] = torch.cat([first[:, :latent], codes], dim=1)
    return replace(start, classes=list(KEYED_LABELS), tensors=tensors)


def add_modes(start: PresetStart, generator: torch.nn.Module) -> PresetStart:
    """A drumsynth preset without modes as the start of a run with them (model.synth_modes):
    the mode head starts as the run's model built it (silent), the rest from the preset."""
    if start.config.model.synth_modes:
        raise PresetError(start.source, f"has {start.config.model.synth_modes} modes already: "
                          "model.synth_modes is the preset's")  # fmt: skip
    fresh = {f"G.{k}": v.clone() for k, v in generator.state_dict().items()
             if k.startswith(("mode_amp.", "mode_label.", "noise_label."))}  # fmt: skip
    return replace(start, tensors=start.tensors | fresh)


def add_velocity(start: PresetStart, generator: torch.nn.Module) -> PresetStart:
    """A synth preset without a velocity input as the start of a run with one
    (model.velocity): its velocity lines start at none, so it first plays every velocity as it
    played before; the run fits them to the data's layered drums."""
    fresh = {"G.prior_velocity": torch.zeros_like(generator.prior_velocity)}
    return replace(start, tensors=start.tensors | fresh)


def add_programs(start: PresetStart, generator: torch.nn.Module) -> PresetStart:
    """A notes preset without programs as the start of a run with them (model.programs): its
    program tables start unfitted, and the run fits them to the programs its notes name."""
    fresh = {f"G.{name}": torch.zeros_like(value) for name, value in generator.named_buffers()
             if name.startswith("program_") and name != "program_chol"}  # fmt: skip
    fresh["G.program_chol"] = generator.program_chol.clone()  # the identity
    return replace(start, tensors=start.tensors | fresh)
