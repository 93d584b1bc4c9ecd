"""WaveGAN (Donahue, McAuley & Puckette 2018), Table 2/3, with the 32768/65536 extensions.

Generator                                  Critic
z [100]        -> dense   [16, 16d]        x [T, c]       -> conv k25 s4   [T/4, d]     LReLU, PS
ReLU; tconv k25 s4        [64, 8d]         conv k25 s4    [T/16, 2d]       LReLU, PS
ReLU; tconv k25 s4        [256, 4d]        conv k25 s4    [T/64, 4d]       LReLU, PS
ReLU; tconv k25 s4        [1024, 2d]       conv k25 s4    [T/256, 8d]      LReLU, PS
ReLU; tconv k25 s4        [4096, d]        conv k25 s4    [T/1024, 16d]    LReLU
ReLU; tconv k25 s4        [16384, c] tanh  flatten; dense [1]

32768 and 65536 start from 32d channels and add a last layer of stride 2 or 4 (as in the
authors' later release). Conditioning (optional): the class embedding is concatenated to z, and
the critic adds a projection term <embed(y), features> (Miyato & Koyama 2018).
"""

from __future__ import annotations

import torch
from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.phase_shuffle import PhaseShuffle
from ganpad.training.models.projection import projected_score

BASE_LEN = 16
# slice length -> (stride of each layer, channel multiplier at the start)
LAYOUTS: dict[int, tuple[tuple[int, ...], int]] = {
    16384: ((4, 4, 4, 4, 4), 16),
    32768: ((4, 4, 4, 4, 4, 2), 32),
    65536: ((4, 4, 4, 4, 4, 4), 32),
}


def layout(slice_len: int) -> tuple[tuple[int, ...], int]:
    if slice_len not in LAYOUTS:
        sizes = ", ".join(str(n) for n in LAYOUTS)
        raise ValueError(f"WaveGAN slice length {slice_len} is not one of {sizes}")
    return LAYOUTS[slice_len]


def _channels(d: int, mult: int, layers: int) -> list[int]:
    """Channel widths from the dense output down: 16d, 8d, ..., d (halving, floor d)."""
    return [d * max(mult >> i, 1) for i in range(layers)]


class Upsample1d(nn.Module):
    """A length-exact x`stride` 1D upsampling layer: transposed conv, or nearest + conv."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, mode: str):
        super().__init__()
        if mode == "transpose":
            # (T-1)s - 2p + k + op = sT  =>  2p - op = k - s
            pad = (kernel - stride + 1) // 2
            out_pad = 2 * pad - (kernel - stride)
            self.layer = nn.ConvTranspose1d(c_in, c_out, kernel, stride, pad, out_pad)
        elif mode == "nearest":
            self.layer = nn.Sequential(
                nn.Upsample(scale_factor=stride, mode="nearest"),
                nn.Conv1d(c_in, c_out, kernel, 1, kernel // 2),
            )
        else:
            raise ValueError(f"upsample mode {mode!r} is not 'transpose' or 'nearest'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WaveGANGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        strides, mult = layout(slice_len)
        widths = _channels(cfg.d, mult, len(strides))
        self.latent = cfg.latent
        self.n_classes = n_classes
        self.embed = nn.Embedding(n_classes, cfg.latent) if n_classes else None
        z_dim = cfg.latent * (2 if n_classes else 1)
        self.dense = nn.Linear(z_dim, BASE_LEN * widths[0])
        self.base_channels = widths[0]
        outs = widths[1:] + [cfg.c]
        self.ups = nn.ModuleList(
            Upsample1d(c_in, c_out, cfg.kernel, s, cfg.upsample)
            for c_in, c_out, s in zip(widths, outs, strides, strict=True)
        )

    # The generator protocol spectral models fill in: WaveGAN works on audio directly.
    def fit_features(self, audio: torch.Tensor) -> None:
        """Nothing to fit: the critic sees audio."""

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def to_audio(self, output: torch.Tensor) -> torch.Tensor:
        return output

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, latent] (+ label [B]) -> audio [B, c, T] in [-1, 1]."""
        if self.embed is not None:
            if label is None:
                raise ValueError("this generator is class-conditional: pass a label")
            z = torch.cat([z, self.embed(label)], dim=1)
        x = self.dense(z).view(z.shape[0], self.base_channels, BASE_LEN)
        for i, up in enumerate(self.ups):
            x = up(torch.relu(x))
            if i == len(self.ups) - 1:
                x = torch.tanh(x)
        return x


class WaveGANCritic(nn.Module):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        strides, mult = layout(slice_len)
        widths = list(reversed(_channels(cfg.d, mult, len(strides))))
        ins = [cfg.c] + widths[:-1]
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, cfg.kernel, s, cfg.kernel // 2)
            for c_in, c_out, s in zip(ins, widths, strides, strict=True)
        )
        self.shuffle = PhaseShuffle(cfg.phase_shuffle)
        features = BASE_LEN * widths[-1]
        self.out = nn.Linear(features, 1)
        self.embed = nn.Embedding(n_classes, features) if n_classes else None

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, c, T] (+ label [B]) -> score [B]."""
        for i, conv in enumerate(self.convs):
            x = nn.functional.leaky_relu(conv(x), 0.2)
            if i < len(self.convs) - 1:
                x = self.shuffle(x)
        h = x.flatten(1)
        return projected_score(self.out, self.embed, h, label)
