"""STFT, inverse STFT and Griffin-Lim built from convolutions, so they export to ONNX as they are.

The analysis STFT is a strided Conv1d whose kernels are the windowed DFT basis; the inverse is a
ConvTranspose1d with the synthesis basis, divided by the summed squared window. Griffin-Lim
alternates them a fixed number of times, so the ONNX graph holds the unrolled iterations.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ConvSTFT(nn.Module):
    """audio [B, T] <-> (real, imag) [B, bins, frames], centred frames (T/hop + 1 of them)."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)[:, None]
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        angle = 2 * math.pi * k * n / n_fft
        analysis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # [2 bins, n_fft]
        # Inverse real DFT of one frame: DC and Nyquist count once, the others twice.
        scale = torch.full((bins, 1), 2.0, dtype=torch.float64)
        scale[0] = scale[-1] = 1.0
        synthesis = (
            torch.cat([torch.cos(angle) * scale, -torch.sin(angle) * scale]) / n_fft * window
        )
        self.register_buffer("analysis", analysis.float()[:, None, :], persistent=False)
        self.register_buffer("synthesis", synthesis.float()[:, None, :], persistent=False)
        self.register_buffer("window_sq", (window**2).float()[None, None, :], persistent=False)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = self.n_fft // 2
        x = nn.functional.pad(audio[:, None, :], (pad, pad), mode="reflect")
        spec = nn.functional.conv1d(x, self.analysis, stride=self.hop)
        return spec.chunk(2, dim=1)

    def inverse(self, real: torch.Tensor, imag: torch.Tensor, length: int) -> torch.Tensor:
        spec = torch.cat([real, imag], dim=1)
        frames = spec.shape[-1]
        audio = nn.functional.conv_transpose1d(spec, self.synthesis, stride=self.hop)
        ones = torch.ones(1, 1, frames, device=spec.device, dtype=spec.dtype)
        norm = nn.functional.conv_transpose1d(ones, self.window_sq, stride=self.hop)
        pad = self.n_fft // 2
        audio = audio / norm.clamp_min(1e-8)
        return audio[:, 0, pad : pad + length]


def griffin_lim(
    stft: ConvSTFT, magnitude: torch.Tensor, length: int, iterations: int
) -> torch.Tensor:
    """Audio whose STFT magnitude approaches `magnitude` [B, bins, frames] (Griffin & Lim 1984).

    Starts from zero phase (deterministic, so a preset always gives the same clip for a latent).
    """
    real, imag = magnitude, torch.zeros_like(magnitude)
    audio = stft.inverse(real, imag, length)
    for _ in range(iterations):
        re, im = stft(audio)
        norm = torch.sqrt(re**2 + im**2 + 1e-12)
        audio = stft.inverse(magnitude * re / norm, magnitude * im / norm, length)
    return audio


def spectral_convergence(stft: ConvSTFT, audio: torch.Tensor, magnitude: torch.Tensor) -> float:
    """|| |STFT(audio)| - magnitude ||_F / ||magnitude||_F."""
    re, im = stft(audio)
    return float(
        torch.linalg.norm(torch.sqrt(re**2 + im**2) - magnitude) / torch.linalg.norm(magnitude)
    )
