"""Generator and critic architectures, one module per paper."""

from __future__ import annotations

from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.wavegan import WaveGANCritic, WaveGANGenerator, layout

FAMILIES = ("wavegan",)


def check_config(cfg: ModelConfig, slice_len: int) -> None:
    """Raise ValueError for a model config that cannot be built, before any data is read."""
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family {cfg.family!r}; choose from {', '.join(FAMILIES)}")
    layout(slice_len)


def build_models(cfg: ModelConfig, slice_len: int, n_classes: int) -> tuple[nn.Module, nn.Module]:
    """(generator, critic) for a model family."""
    if cfg.family == "wavegan":
        return WaveGANGenerator(cfg, slice_len, n_classes), WaveGANCritic(cfg, slice_len, n_classes)
    raise ValueError(f"unknown model family {cfg.family!r}; choose from {', '.join(FAMILIES)}")
