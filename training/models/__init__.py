"""Generator and critic architectures, one module per paper."""

from __future__ import annotations

import torch
from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.gansynth import REPRESENTATIONS, GANSynthCritic, GANSynthGenerator
from ganpad.training.models.gansynth import check_shape as gansynth_shape
from ganpad.training.models.lstm_critic import SLICES as LSTM_SLICES
from ganpad.training.models.lstm_critic import LSTMCritic
from ganpad.training.models.specgan import SLICES as SPEC_SLICES
from ganpad.training.models.specgan import SpecGANCritic, SpecGANGenerator
from ganpad.training.models.wavegan import WaveGANCritic, WaveGANGenerator, layout
from ganpad.training.models.wavenet import PatchCritic, WaveNetGenerator

FAMILIES = ("wavegan", "specgan", "wavenet-gan", "gansynth")
CRITICS = ("conv", "lstm")


def check_config(cfg: ModelConfig, slice_len: int) -> None:
    """Raise ValueError for a model config that cannot be built, before any data is read."""
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family {cfg.family!r}; choose from {', '.join(FAMILIES)}")
    if cfg.critic not in CRITICS:
        raise ValueError(f"unknown critic {cfg.critic!r}; choose from {', '.join(CRITICS)}")
    if cfg.family == "gansynth":
        _check_gansynth(cfg, slice_len)
    else:
        layout(slice_len)
    if cfg.c != 1:
        raise ValueError(f"model.c = {cfg.c}: the data is mono, so every model takes 1 channel")
    if cfg.kernel % 2 == 0:
        raise ValueError(f"model.kernel = {cfg.kernel}: strided convs need an odd kernel")
    if cfg.critic == "lstm" and slice_len % cfg.lstm_step:
        raise ValueError(f"model.lstm_step = {cfg.lstm_step} does not divide {slice_len}")
    if cfg.family == "specgan" and slice_len not in SPEC_SLICES:
        raise ValueError(
            f"specgan takes {SPEC_SLICES[0]}-sample clips (128 frames), not {slice_len}"
        )
    if cfg.family != "wavegan" and cfg.critic != "conv":
        raise ValueError(f"--critic {cfg.critic} is for wavegan; {cfg.family} has its own critic")
    if cfg.critic == "lstm" and slice_len not in LSTM_SLICES:
        raise ValueError(
            f"--critic lstm is not supported with {slice_len}-sample clips: an LSTM over "
            f"{slice_len // 4} steps is too slow to train; use --slice {LSTM_SLICES[0]}"
        )


def _check_gansynth(cfg: ModelConfig, slice_len: int) -> None:
    gansynth_shape(slice_len)
    if not cfg.conditional:
        raise ValueError("gansynth is pitch-conditional: set model.conditional = true")
    if cfg.representation not in REPRESENTATIONS:
        raise ValueError(
            f"model.representation = {cfg.representation!r}; choose from "
            f"{', '.join(REPRESENTATIONS)}"
        )


def build_models(cfg: ModelConfig, slice_len: int, n_classes: int) -> tuple[nn.Module, nn.Module]:
    """(generator, critic) for a model family and critic choice."""
    check_config(cfg, slice_len)
    if cfg.family == "specgan":
        return SpecGANGenerator(cfg, slice_len, n_classes), SpecGANCritic(cfg, slice_len, n_classes)
    if cfg.family == "gansynth":
        return GANSynthGenerator(cfg, slice_len, n_classes), GANSynthCritic(
            cfg, slice_len, n_classes
        )
    if cfg.family == "wavenet-gan":
        return WaveNetGenerator(cfg, slice_len, n_classes), PatchCritic(cfg, slice_len, n_classes)
    generator = WaveGANGenerator(cfg, slice_len, n_classes)
    if cfg.critic == "lstm":
        return generator, LSTMCritic(cfg, slice_len, n_classes)
    return generator, WaveGANCritic(cfg, slice_len, n_classes)


def synthesize(generator: nn.Module, z: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
    """Audio [B, c, T] from any family's generator (spectral ones invert their output)."""
    return generator.to_audio(generator(z, label))


def fake_batch(generator: nn.Module, real: torch.Tensor, z: torch.Tensor,
               label: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """(what the critic sees as fake, an extra generator loss or None).

    Most families draw fakes from z alone; an autoregressive one predicts each real clip from
    its own past and adds its matching loss. `generator` may be wrapped in DDP.
    """
    module = getattr(generator, "module", generator)
    if getattr(module, "autoregressive", False):
        return generator(z, label, teacher=real)
    return generator(z, label), None
