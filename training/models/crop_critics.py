"""The vocoders' discriminator set, sized for crops of a one-shot and for a CPU: multi-period
(HiFi-GAN, Kong et al. 2020) beside multi-band, multi-resolution STFT (DAC, Kumar et al. 2023).

A period view folds the waveform into rows of p samples, so its 2-D convs compare samples p
apart: periodic structure, and the exact waveform a spectrogram hides. A band view sees one
frequency band of one STFT resolution, so the cymbal's top octave gets convs of its own rather
than sharing them with the kick's fundamental. Every view scores patches; its clip score is
the mean patch score plus a projection term per patch (Miyato & Koyama 2018), as in
`multiview`, and the views' pooled top features feed one auxiliary class head (AC-GAN).

The band views take the log magnitude where DAC's take the complex values: a one-shot spans
60 dB inside one clip, and a crop of its tail lies 30-50 dB under its attack, which a linear
view would see as silence.

View                     layers (c = d channels, leaky ReLU 0.1 after each but the last)
period p (2,3,5,7,11)    fold [T/p, p]: conv (5,1) s(3,1) c; conv (5,1) s(3,1) 2c;
                         conv (5,1) s(3,1) 4c; conv (5,1) 4c; conv (3,1) -> 1
band (n_fft, band)       log |STFT| [frames, bins of the band]: conv (3,9) s(1,2) c;
                         conv (3,9) s(1,2) c; conv (3,9) s(1,2) c; conv (3,3) c; conv (3,3) -> 1
n_fft 2048, 1024, 512 at 44.1 kHz (hop a quarter; the same durations at other rates);
bands 0-0.1, 0.1-0.25, 0.25-0.5, 0.5-0.75, 0.75-1 of Nyquist (DAC's).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ganpad.training.models.multiview import LOG_FLOOR, PatchView, ViewCritic

PERIODS = (2, 3, 5, 7, 11)
WINDOWS = (2048, 1024, 512)  # at 44.1 kHz
BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))  # of Nyquist
SLOPE = 0.1  # HiFi-GAN's and DAC's leaky ReLU


class Fold(nn.Module):
    """audio [B, T] -> [B, 1, ceil(T / p), p], the end padded by reflection (HiFi-GAN's)."""

    def __init__(self, period: int):
        super().__init__()
        self.period = period

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        pad = -audio.shape[1] % self.period
        if pad:
            audio = F.pad(audio[:, None], (0, pad), mode="reflect")[:, 0]
        return audio.view(audio.shape[0], 1, -1, self.period)


class BandLogSTFT(nn.Module):
    """audio [B, T] -> log |STFT| [B, 1, frames, bins] of the bins from `lo` to `hi` times
    Nyquist."""

    def __init__(self, n_fft: int, lo: float, hi: float):
        super().__init__()
        self.n_fft = n_fft
        bins = n_fft // 2 + 1
        self.first, self.stop = int(lo * bins), max(int(hi * bins), int(lo * bins) + 1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio.float(), self.n_fft, self.n_fft // 4, window=self.window,
                          return_complex=True)[:, self.first : self.stop].abs()  # fmt: skip
        return torch.log(spec + LOG_FLOOR).transpose(1, 2)[:, None]


def period_view(period: int, c: int, n_classes: int) -> PatchView:
    widths = [1, c, 2 * c, 4 * c]
    convs: list[nn.Module] = [nn.Conv2d(a, b, (5, 1), (3, 1), (2, 0))
                              for a, b in zip(widths[:-1], widths[1:], strict=True)]  # fmt: skip
    convs += [nn.Conv2d(4 * c, 4 * c, (5, 1), 1, (2, 0)), nn.Conv2d(4 * c, 1, (3, 1), 1, (1, 0))]
    return PatchView(Fold(period), convs, 4 * c, n_classes, SLOPE)


def band_view(n_fft: int, lo: float, hi: float, c: int, n_classes: int) -> PatchView:
    convs: list[nn.Module] = [nn.Conv2d(1 if i == 0 else c, c, (3, 9), (1, 2), (1, 4))
                              for i in range(3)]  # fmt: skip
    convs += [nn.Conv2d(c, c, 3, 1, 1), nn.Conv2d(c, 1, 3, 1, 1)]
    return PatchView(BandLogSTFT(n_fft, lo, hi), convs, c, n_classes, SLOPE)


def windows(rate: int) -> list[int]:
    """The STFT sizes at `rate`: the same durations as WINDOWS at 44.1 kHz, powers of two."""
    scale = 2.0 ** round(math.log2(rate / 44100))
    return [max(64, int(n * scale)) for n in WINDOWS]


def longest_window(rate: int) -> int:
    return max(windows(rate))


class CropCritics(ViewCritic):
    def __init__(self, d: int, rate: int, n_classes: int):
        views = [period_view(p, d, n_classes) for p in PERIODS]
        views += [band_view(n, lo, hi, d, n_classes) for n in windows(rate) for lo, hi in BANDS]
        super().__init__(views, n_classes)
