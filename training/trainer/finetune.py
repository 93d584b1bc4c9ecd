"""Start a run from a preset's checkpoint: its model, its rate and slice, its weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ganpad.presets import (
    CHECKPOINT_FILE,
    CHECKPOINT_STATE_FILE,
    PRESET_FILE,
    PresetError,
    find_preset,
)
from ganpad.training.config import RunConfig, from_dict


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
        return {
            "preset": meta.get("name", self.source.name),
            "path": str(self.source),
            "training": meta.get("training", {}),
            "license": meta.get("license", {}),
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
    config.model = start.config.model
    config.data.labels = start.config.data.labels
    config.data.sample_rate = start.config.data.sample_rate
    config.data.slice_len = start.config.data.slice_len
