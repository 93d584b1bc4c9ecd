"""Phase shuffle (Donahue et al. 2018): shift each example's features by a random -n..n samples."""

from __future__ import annotations

import torch
from torch import nn


def phase_shuffle(x: torch.Tensor, n: int) -> torch.Tensor:
    """x: [B, C, T]; every example gets its own shift, the gap is filled by reflection."""
    if n <= 0:
        return x
    batch, channels, length = x.shape
    shifts = torch.randint(-n, n + 1, (batch, 1), device=x.device)
    # Source index for each output position, reflected back into [0, T).
    index = torch.arange(length, device=x.device).unsqueeze(0) - shifts
    index = index.abs()
    index = torch.where(index >= length, 2 * (length - 1) - index, index)
    return x.gather(2, index.unsqueeze(1).expand(batch, channels, length))


class PhaseShuffle(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return phase_shuffle(x, self.n) if self.training else x

    def extra_repr(self) -> str:
        return f"n={self.n}"
