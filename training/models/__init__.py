"""Generator and critic architectures, one module per paper."""

from __future__ import annotations

import torch
from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.lstm_critic import SLICES as LSTM_SLICES
from ganpad.training.models.lstm_critic import LSTMCritic
from ganpad.training.models.specgan import SLICES as SPEC_SLICES
from ganpad.training.models.specgan import SpecGANCritic, SpecGANGenerator
from ganpad.training.models.wavegan import WaveGANCritic, WaveGANGenerator, layout

FAMILIES = ("wavegan", "specgan")
CRITICS = ("conv", "lstm")


def check_config(cfg: ModelConfig, slice_len: int) -> None:
    """Raise ValueError for a model config that cannot be built, before any data is read."""
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family {cfg.family!r}; choose from {', '.join(FAMILIES)}")
    if cfg.critic not in CRITICS:
        raise ValueError(f"unknown critic {cfg.critic!r}; choose from {', '.join(CRITICS)}")
    layout(slice_len)
    if cfg.family == "specgan" and slice_len not in SPEC_SLICES:
        raise ValueError(
            f"specgan takes {SPEC_SLICES[0]}-sample clips (128 frames), not {slice_len}"
        )
    if cfg.family == "specgan" and cfg.critic != "conv":
        raise ValueError("--critic lstm reads waveforms; specgan's critic sees spectrograms")
    if cfg.critic == "lstm" and slice_len not in LSTM_SLICES:
        raise ValueError(
            f"--critic lstm is not supported with {slice_len}-sample clips: an LSTM over "
            f"{slice_len // 4} steps is too slow to train; use --slice {LSTM_SLICES[0]}"
        )


def build_models(cfg: ModelConfig, slice_len: int, n_classes: int) -> tuple[nn.Module, nn.Module]:
    """(generator, critic) for a model family and critic choice."""
    check_config(cfg, slice_len)
    if cfg.family == "specgan":
        return SpecGANGenerator(cfg, slice_len, n_classes), SpecGANCritic(cfg, slice_len, n_classes)
    generator = WaveGANGenerator(cfg, slice_len, n_classes)
    if cfg.critic == "lstm":
        return generator, LSTMCritic(cfg, slice_len, n_classes)
    return generator, WaveGANCritic(cfg, slice_len, n_classes)


def synthesize(generator: nn.Module, z: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
    """Audio [B, c, T] from any family's generator (spectral ones invert their output)."""
    return generator.to_audio(generator(z, label))
