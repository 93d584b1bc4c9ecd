"""Differentiable augmentation of what the critic sees (DiffAugment, Zhao et al. 2020), for
small sample packs: real and fake clips alike, so it never leaks into what G makes.

`gain`: each clip scaled by a random gain of up to +-GAIN_DB; `shift`: each clip delayed by up
to SHIFT_S (zeros in front, the end cut), so the critic cannot memorise exact onsets.
"""

from __future__ import annotations

import torch

AUGMENTS = ("gain", "shift")
GAIN_DB = 6.0
SHIFT_S = 0.003


def check_augments(names: list[str]) -> None:
    unknown = [n for n in names if n not in AUGMENTS]
    if unknown:
        raise ValueError(f"train.augment: unknown {unknown}; choose from {', '.join(AUGMENTS)}")


def augment(audio: torch.Tensor, names: list[str], rate: int) -> torch.Tensor:
    """audio [B, c, T] -> the same shape, each named augmentation applied per clip."""
    if "gain" in names:
        db = (torch.rand(audio.shape[0], 1, 1, device=audio.device) * 2 - 1) * GAIN_DB
        audio = audio * torch.pow(10.0, db / 20)
    if "shift" in names:
        audio = delay(audio, torch.randint(0, int(SHIFT_S * rate) + 1, (audio.shape[0],)))
    return audio


def delay(audio: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """Each clip [B, c, T] delayed by its own number of samples [B], zeros in front."""
    t = torch.arange(audio.shape[-1], device=audio.device)
    source = t[None, :] - samples.to(audio.device)[:, None]  # [B, T]
    index = source.clamp_min(0)[:, None, :].expand_as(audio)
    return torch.gather(audio, -1, index) * (source >= 0)[:, None, :]
