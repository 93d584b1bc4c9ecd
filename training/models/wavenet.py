"""A WaveNet generator trained with an adversarial (PatchGAN) plus matching (likelihood) loss.

Generator (van den Oord et al. 2016): mu-law (256) one-hot input -> causal 1x1 conv ->
`wn_layers` blocks of [dilated causal conv k2 (dilation 1, 2, 4, ... 512, repeating) ->
gated tanh x sigmoid, with the latent z and the class embedding as global conditioning ->
1x1 residual and 1x1 skip] -> ReLU, 1x1, ReLU, 1x1 -> 256 logits for the next sample.

Training is teacher-forced: from the real past, the network predicts each next sample. The
matching loss is that prediction's cross-entropy; the adversarial loss judges the expected
waveform of the predictions (the softmax-weighted mu-law values, which keep gradients)
against the real clip with a 1D PatchGAN critic. Generation is autoregressive, one network
pass per sample, seeded from a short prompt: not a real-time preset.
"""

from __future__ import annotations

import torch
from torch import nn

from ganpad.training.config import ModelConfig

MU = 256


def mu_law_encode(audio: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> 0..255 int64."""
    x = audio.clamp(-1, 1)
    y = torch.sign(x) * torch.log1p((MU - 1) * x.abs()) / torch.log1p(torch.tensor(MU - 1.0))
    return ((y + 1) / 2 * (MU - 1) + 0.5).long().clamp(0, MU - 1)


def mu_law_decode(index: torch.Tensor) -> torch.Tensor:
    y = index.float() / (MU - 1) * 2 - 1
    return torch.sign(y) * ((1 + (MU - 1)) ** y.abs() - 1) / (MU - 1)


class WaveNetGenerator(nn.Module):
    autoregressive = True

    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        self.slice_len = slice_len
        self.latent = cfg.latent
        ch, skip = cfg.wn_channels, cfg.wn_skip
        self.embed = nn.Embedding(n_classes, cfg.latent) if n_classes else None
        cond = cfg.latent * (2 if n_classes else 1)
        self.dilations = [2 ** (i % 10) for i in range(cfg.wn_layers)]
        self.input = nn.Conv1d(MU, ch, 1)
        self.dilated = nn.ModuleList(nn.Conv1d(ch, 2 * ch, 2, dilation=d) for d in self.dilations)
        self.cond = nn.ModuleList(nn.Linear(cond, 2 * ch) for _ in self.dilations)
        self.residual = nn.ModuleList(nn.Conv1d(ch, ch, 1) for _ in self.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(ch, skip, 1) for _ in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip, skip, 1), nn.ReLU(),
                                  nn.Conv1d(skip, MU, 1))  # fmt: skip
        self.register_buffer("levels", mu_law_decode(torch.arange(MU)), persistent=False)

    @property
    def receptive_field(self) -> int:
        return sum(self.dilations) + 1

    def _conditioning(self, z: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        if self.embed is not None:
            if label is None:
                raise ValueError("this generator is class-conditional: pass a label")
            z = torch.cat([z, self.embed(label)], dim=1)
        return z

    def logits(self, past: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """past mu-law indices [B, T] -> logits [B, 256, T] for the sample after each one."""
        x = self.input(nn.functional.one_hot(past, MU).transpose(1, 2).float())
        total = 0
        layers = zip(self.dilations, self.dilated, self.cond, self.residual, self.skip, strict=True)
        for dilation, conv, proj, res, skip in layers:
            h = conv(nn.functional.pad(x, (dilation, 0))) + proj(cond)[:, :, None]
            a, b = h.chunk(2, dim=1)
            gated = torch.tanh(a) * torch.sigmoid(b)
            x = x + res(gated)
            total = total + skip(gated)
        return self.head(total)

    def teacher_forced(self, real: torch.Tensor, z: torch.Tensor, label: torch.Tensor | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """(expected waveform [B, 1, T] of the predictions, matching cross-entropy)."""
        target = mu_law_encode(real[:, 0])
        past = nn.functional.pad(target[:, :-1], (1, 0), value=MU // 2)  # silence before
        logits = self.logits(past, self._conditioning(z, label))
        soft = (logits.softmax(dim=1) * self.levels[None, :, None]).sum(dim=1, keepdim=True)
        return soft, nn.functional.cross_entropy(logits, target)

    @torch.no_grad()
    def sample(
        self,
        z: torch.Tensor,
        label: torch.Tensor | None,
        length: int,
        prompt: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Autoregressive generation after `prompt` [B, P] (silence if None): audio [B, 1, T]."""
        cond = self._conditioning(z, label)
        window = self.receptive_field
        if prompt is None:
            prompt = torch.zeros(z.shape[0], 1, device=z.device)
        seq = mu_law_encode(prompt)
        for _ in range(length):
            logits = self.logits(seq[:, -window:], cond)[:, :, -1] / temperature
            nxt = torch.multinomial(logits.softmax(dim=1), 1)
            seq = torch.cat([seq, nxt], dim=1)
        return mu_law_decode(seq[:, -length:])[:, None, :]

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None,
                teacher: torch.Tensor | None = None):  # fmt: skip
        """With `teacher` (real clips): teacher-forced (waveform, matching loss), for training.
        Without: a sampled clip, which takes one pass per sample."""
        if teacher is not None:
            return self.teacher_forced(teacher, z, label)
        return self.sample(z, label, self.slice_len)

    def fit_features(self, audio: torch.Tensor) -> None:
        """Nothing to fit: the critic sees audio."""

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def to_audio(self, output: torch.Tensor) -> torch.Tensor:
        return output


class PatchCritic(nn.Module):
    """1D PatchGAN: strided convs down to one score per patch of about 1.4k samples, averaged."""

    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int = 0):
        super().__init__()
        widths = [cfg.c, cfg.d, 2 * cfg.d, 4 * cfg.d, 8 * cfg.d]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, 15, 4, 7) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.score = nn.Conv1d(widths[-1], 1, 3, 1, 1)
        self.embed = nn.Embedding(n_classes, widths[-1]) if n_classes else None

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), 0.2)
        score = self.score(x)[:, 0].mean(dim=1)
        if self.embed is None:
            return score
        if label is None:
            raise ValueError("this critic is class-conditional: pass a label")
        return score + (self.embed(label) * x.mean(dim=2)).sum(dim=1)
