"""GANSynth's representation (Engel et al. 2019): log magnitude and instantaneous frequency.

STFT 1024 / hop 256 (at 16 kHz). The phase is unwrapped along time and differenced:
IF[t] = wrap(phase[t] - phase[t-1]) / pi, in [-1, 1]; the inverse sums IF back into phase
(a cumulative sum) and runs the inverse STFT, which is exact up to float rounding. The mel
variant (M-IF-Mel) maps magnitude and unwrapped phase through a mel filterbank with as many
bands as there are bins, inverted by its pseudo-inverse (not exact: mel warping loses a little).
Everything is convolutions, cumulative sums and trigonometry, so the inversion exports to ONNX.
"""

from __future__ import annotations

import math
import warnings

import librosa
import torch
from torch import nn

from ganpad.training.models.spectral import ConvSTFT


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


class MagIF(nn.Module):
    """audio [B, T] <-> (log magnitude, IF) [B, bins, frames]; mel=True for M-IF-Mel."""

    def __init__(self, n_fft: int = 1024, hop: int = 256, rate: int = 16000, mel: bool = False):
        super().__init__()
        self.stft = ConvSTFT(n_fft, hop)
        self.mel = mel
        bins = n_fft // 2 + 1
        if mel:
            with warnings.catch_warnings():  # the lowest bands are empty at this resolution
                warnings.simplefilter("ignore", UserWarning)
                fb = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=bins, norm=None, htk=True)
            fb = torch.from_numpy(fb).float()
            self.register_buffer("to_mel", fb, persistent=False)
            self.register_buffer("from_mel", torch.linalg.pinv(fb), persistent=False)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        re, im = self.stft(audio)
        mag = torch.sqrt(re**2 + im**2)
        phase = torch.atan2(im, re)
        unwrapped = torch.cumsum(_wrap(torch.diff(phase, dim=-1, prepend=torch.zeros_like(
            phase[..., :1]))), dim=-1)  # fmt: skip
        if self.mel:
            mag = self.to_mel @ mag
            unwrapped = self.to_mel @ unwrapped
        step = torch.diff(unwrapped, dim=-1, prepend=torch.zeros_like(unwrapped[..., :1]))
        return torch.log(mag + 1e-6), step / math.pi

    def inverse(self, log_mag: torch.Tensor, inst_freq: torch.Tensor, length: int) -> torch.Tensor:
        mag = (torch.exp(log_mag) - 1e-6).clamp_min(0.0)
        phase = torch.cumsum(inst_freq * math.pi, dim=-1)
        if self.mel:
            mag = (self.from_mel @ mag).clamp_min(0.0)
            phase = self.from_mel @ phase
        return self.stft.inverse(mag * torch.cos(phase), mag * torch.sin(phase), length)


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    noise = (reference - estimate).pow(2).sum()
    return float(10 * torch.log10(reference.pow(2).sum() / noise.clamp_min(1e-20)))
