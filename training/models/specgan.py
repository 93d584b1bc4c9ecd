"""SpecGAN (Donahue, McAuley & Puckette 2018): a DCGAN on 128x128 log-magnitude spectrograms.

Representation: STFT with a 256-sample (16 ms at 16 kHz) Hann window and a 128-sample (8 ms)
hop of a 16384-sample clip; the first 128 frames and 128 bins (Nyquist dropped); log magnitude;
each frequency bin normalised by its mean and standard deviation over the training clips, then
clipped at 3 sigma and scaled to [-1, 1]. The statistics live in the generator's buffers, so
they travel with every checkpoint and preset.

Generator                                  Critic
z [100]  -> dense  [4, 4, 16d]             x [128, 128, c] -> conv k5 s2 [64, 64, d]   LReLU
ReLU; tconv k5 s2  [8, 8, 8d]              conv k5 s2 [32, 32, 2d]  LReLU
ReLU; tconv k5 s2  [16, 16, 4d]            conv k5 s2 [16, 16, 4d]  LReLU
ReLU; tconv k5 s2  [32, 32, 2d]            conv k5 s2 [8, 8, 8d]    LReLU
ReLU; tconv k5 s2  [64, 64, d]             conv k5 s2 [4, 4, 16d]   LReLU
ReLU; tconv k5 s2  [128, 128, c] tanh      flatten; dense [1]

Audio comes back through Griffin-Lim (`model.gl_iterations`, 16 by default), built from
convolutions so the exported ONNX graph carries it unrolled.
"""

from __future__ import annotations

import torch
from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.projection import projected_score
from ganpad.training.models.spectral import ConvSTFT, griffin_lim

N_FFT, HOP, SIZE = 256, 128, 128
SLICES = (16384,)
CLIP_SIGMA = 3.0


def _check(slice_len: int) -> None:
    if slice_len not in SLICES:
        raise ValueError(f"SpecGAN takes {SLICES[0]}-sample clips (128 frames), not {slice_len}")


class SpecGANGenerator(nn.Module):
    spectral = True  # exported audio passes through Griffin-Lim: parity allows for it

    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        _check(slice_len)
        self.slice_len = slice_len
        self.gl_iterations = cfg.gl_iterations
        self.embed = nn.Embedding(n_classes, cfg.latent) if n_classes else None
        self.dense = nn.Linear(cfg.latent * (2 if n_classes else 1), 4 * 4 * 16 * cfg.d)
        widths = [16 * cfg.d, 8 * cfg.d, 4 * cfg.d, 2 * cfg.d, cfg.d, cfg.c]
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=1)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.base = widths[0]
        self.stft = ConvSTFT(N_FFT, HOP)
        self.register_buffer("mean", torch.zeros(SIZE, 1))
        self.register_buffer("std", torch.ones(SIZE, 1))

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """z -> normalised log-magnitude spectrogram [B, 1, 128 bins, 128 frames]."""
        if self.embed is not None:
            if label is None:
                raise ValueError("this generator is class-conditional: pass a label")
            z = torch.cat([z, self.embed(label)], dim=1)
        x = self.dense(z).view(z.shape[0], self.base, 4, 4)
        for up in self.ups:
            x = up(torch.relu(x))
        return torch.tanh(x)

    def log_magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        re, im = self.stft(audio.reshape(audio.shape[0], -1))
        return torch.log(torch.sqrt(re**2 + im**2) + 1e-6)[:, :SIZE, :SIZE]

    @torch.no_grad()
    def fit_features(self, audio: torch.Tensor, batch: int = 64) -> None:
        """Per-bin mean and standard deviation of the training clips' log magnitudes."""
        logs = torch.cat(
            [self.log_magnitude(audio[i : i + batch]) for i in range(0, len(audio), batch)]
        )
        self.mean.copy_(logs.mean(dim=(0, 2))[:, None])
        self.std.copy_(logs.std(dim=(0, 2))[:, None].clamp_min(1e-3))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, c, T] -> what the critic sees for real clips: [B, 1, 128, 128] in [-1, 1]."""
        norm = (self.log_magnitude(audio) - self.mean) / self.std
        return (norm.clamp(-CLIP_SIGMA, CLIP_SIGMA) / CLIP_SIGMA)[:, None]

    def to_audio(self, spec: torch.Tensor) -> torch.Tensor:
        """Normalised spectrogram -> audio [B, 1, T] by Griffin-Lim."""
        log_mag = spec[:, 0] * CLIP_SIGMA * self.std + self.mean
        mag = (torch.exp(log_mag) - 1e-6).clamp_min(0.0)
        # Back to the full STFT grid: the dropped Nyquist bin, and the last (129th) frame.
        frames = self.slice_len // HOP + 1
        mag = nn.functional.pad(mag, (0, frames - SIZE, 0, N_FFT // 2 + 1 - SIZE))
        audio = griffin_lim(self.stft, mag, self.slice_len, self.gl_iterations)
        return audio.clamp(-1.0, 1.0)[:, None, :]


class SpecGANCritic(nn.Module):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        _check(slice_len)
        widths = [1, cfg.d, 2 * cfg.d, 4 * cfg.d, 8 * cfg.d, 16 * cfg.d]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 5, 2, 2) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        features = 16 * cfg.d * 4 * 4
        self.out = nn.Linear(features, 1)
        self.embed = nn.Embedding(n_classes, features) if n_classes else None

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), 0.2)
        h = x.flatten(1)
        return projected_score(self.out, self.embed, h, label)
