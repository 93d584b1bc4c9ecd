"""A critic of several views: log-STFT patch critics at several resolutions beside waveform
patch critics (after MelGAN's multi-scale and the multi-resolution STFT critics of UnivNet /
DAC), for the synthesis generators.

A spectral critic alone can be fooled by grains it cannot resolve; a waveform critic alone
is slow to see spectra: each view covers the other's blind spot. Every view scores patches;
its clip score is the mean patch score plus a projection term (Miyato & Koyama 2018) per
patch. The views' pooled top features also feed one auxiliary class head (AC-GAN).

View                       layers (c = d channels, leaky ReLU 0.2 after each but the last)
spectral (n_fft, hop)      log |STFT| [frames, bins]: conv (3,9) s(1,2) c; conv (3,9) s(1,2)
                           c; conv (3,9) s(2,2) 2c; conv (3,3) s(2,2) 2c; conv (3,3) -> 1
waveform (pool s)          avg-pool s; conv 15 c; conv 21 s4 2c (groups 4); conv 21 s4 4c
                           (groups 4); conv 21 s4 4c (groups 4); conv 5 4c; conv 3 -> 1
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SPECTRAL_VIEWS = ((256, 64), (1024, 256))  # (n_fft, hop) at 16 kHz, scaled with the rate
WAVE_POOLS = (1, 4)
LOG_FLOOR = 1e-5  # about -100 dB under a full-scale sine's bin


def _groups(c_in: int, c_out: int, wanted: int = 4) -> int:
    return wanted if c_in % wanted == 0 and c_out % wanted == 0 else 1


class PatchView(nn.Module):
    """A stack of convs ending in a one-channel patch score, with a projection term."""

    def __init__(self, front: nn.Module, convs: list[nn.Module], top: int, n_classes: int,
                 slope: float = 0.2):  # fmt: skip
        super().__init__()
        self.slope = slope
        self.front = front  # what the view looks at: a log spectrogram, or pooled audio
        self.convs = nn.ModuleList(convs[:-1])
        self.out = convs[-1]
        self.top = top
        self.embed = nn.Embedding(n_classes, top) if n_classes else None

    def forward(self, audio: torch.Tensor, label: torch.Tensor | None):
        """audio [B, T] -> (score [B], pooled top features [B, top], every layer's output)."""
        x = self.front(audio)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.slope)
            feats.append(x)
        patches = self.out(x).flatten(1)  # [B, patches]
        h = x.flatten(2)  # [B, top, patches]
        if self.embed is not None:
            patches = patches + torch.einsum("bc,bcp->bp", self.embed(label), h)
        return patches.mean(dim=1), h.mean(dim=2), feats


class LogSTFT(nn.Module):
    """audio [B, T] -> log |STFT| [B, 1, frames, bins]."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio.float(), self.n_fft, self.hop, window=self.window,
                          return_complex=True).abs()  # fmt: skip
        return torch.log(spec + LOG_FLOOR).transpose(1, 2)[:, None]


class Pool(nn.Module):
    """audio [B, T] -> [B, 1, T / pool], averaged."""

    def __init__(self, pool: int):
        super().__init__()
        self.pool = pool

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio[:, None, :]
        return F.avg_pool1d(x, self.pool) if self.pool > 1 else x


def spectral_view(n_fft: int, hop: int, c: int, n_classes: int) -> PatchView:
    convs = [
        nn.Conv2d(1, c, 5, 2, 2),
        nn.Conv2d(c, 2 * c, 3, 2, 1),
        nn.Conv2d(2 * c, 2 * c, 3, 2, 1),
        nn.Conv2d(2 * c, 1, 3, 1, 1),
    ]
    return PatchView(LogSTFT(n_fft, hop), convs, 2 * c, n_classes)


def wave_view(pool: int, c: int, n_classes: int) -> PatchView:
    widths = [c, 2 * c, 4 * c]
    convs: list[nn.Module] = [nn.Conv1d(1, c, 15, 2, 7)]
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        convs.append(nn.Conv1d(a, b, 21, 4, 10, groups=_groups(a, b)))
    convs += [nn.Conv1d(4 * c, 4 * c, 5, 2, 2), nn.Conv1d(4 * c, 1, 3, 1, 1)]
    return PatchView(Pool(pool), convs, 4 * c, n_classes)


class ViewCritic(nn.Module):
    """Patch views of one clip, each its own critic, sharing an auxiliary class head."""

    def __init__(self, views: list[PatchView], n_classes: int):
        super().__init__()
        self.views = nn.ModuleList(views)
        if n_classes:  # the AC-GAN head; the trainer looks for `classifier`
            self.classifier = nn.Linear(sum(v.top for v in views), n_classes)

    def forward_features(self, x: torch.Tensor, label: torch.Tensor | None = None):
        """audio [B, 1, T] -> (scores [B, views], logits [B, C] or None, every layer's output)."""
        audio = x.reshape(x.shape[0], -1)
        scores, pooled, feats = [], [], []
        for view in self.views:
            s, h, f = view(audio, label)
            scores.append(s)
            pooled.append(h)
            feats += f
        logits = self.classifier(torch.cat(pooled, 1)) if hasattr(self, "classifier") else None
        return torch.stack(scores, dim=1), logits, feats

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None):
        """Scores [B, views] (and class logits when conditional): each view is its own critic."""
        scores, logits, _ = self.forward_features(x, label)
        return scores if logits is None else (scores, logits)


class MultiViewCritic(ViewCritic):
    def __init__(self, d: int, rate: int, n_classes: int):
        scale = max(1, round(rate / 16000))  # the same durations at 44.1 or 48 kHz
        views = [spectral_view(n * scale, h * scale, d, n_classes) for n, h in SPECTRAL_VIEWS]
        views += [wave_view(p * scale, d, n_classes) for p in WAVE_POOLS]
        super().__init__(views, n_classes)
