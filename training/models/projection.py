"""The critics' output: a dense score plus, when conditional, the projection term
<embed(y), h> of Miyato & Koyama 2018."""

from __future__ import annotations

import torch
from torch import nn


def projected_score(out: nn.Linear, embed: nn.Embedding | None, h: torch.Tensor,
                    label: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
    """h [B, features] -> score [B]."""
    score = out(h).squeeze(1)
    if embed is None:
        return score
    if label is None:
        raise ValueError("this critic is class-conditional: pass a label")
    return score + (embed(label) * h).sum(dim=1)
