"""The LSTM critic of the LSTM-critic WaveGAN report, made to work with a gradient penalty.

x [T, c]  -> reshape    [T/n, n c]     (n = 4 samples a step, as in the report)
          -> LSTM x L   [T/n, 64]      (L = 1 or 2 layers of 64 units)
          -> conv k25 s4 LReLU 0.2, four times, d -> 2d -> 4d -> 8d channels
             (fewer when T/n is short: the sequence is cut down to 16 steps)
          -> flatten; dense [1]     (+ class projection when conditional)

The report could not combine it with WGAN-GP because cuDNN's LSTM has no double backward;
on CUDA this module runs its LSTM without cuDNN, which has one.
"""

from __future__ import annotations

import torch
from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.projection import projected_score

SLICES = (16384,)


class LSTMCritic(nn.Module):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        if slice_len not in SLICES:
            raise ValueError(f"the LSTM critic takes {SLICES[0]}-sample clips, not {slice_len}")
        self.step = cfg.lstm_step
        steps = slice_len // self.step
        self.lstm = nn.LSTM(self.step * cfg.c, 64, num_layers=cfg.lstm_layers, batch_first=True)
        n_convs = 0
        while n_convs < 4 and steps // 4 ** (n_convs + 1) >= 16:
            n_convs += 1
        widths = [64] + [cfg.d * 2**i for i in range(n_convs)]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, cfg.kernel, 4, cfg.kernel // 2)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        features = widths[-1] * (steps // 4**n_convs)
        self.out = nn.Linear(features, 1)
        self.embed = nn.Embedding(n_classes, features) if n_classes else None

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        batch, channels, length = x.shape
        seq = x.transpose(1, 2).reshape(batch, length // self.step, self.step * channels)
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN LSTM has no double backward
            h, _ = self.lstm(seq)
        h = h.transpose(1, 2)
        for conv in self.convs:
            h = nn.functional.leaky_relu(conv(h), 0.2)
        h = h.flatten(1)
        return projected_score(self.out, self.embed, h, label)
