"""GANSynth (Engel et al. 2019): a pitch-conditioned progressive GAN on log magnitude + IF.

Representation (`phase_spec.MagIF`): STFT 1024 / hop 256, Nyquist bin and last frame dropped,
so a 16384-sample note is an image [2, 64 frames, 512 bins]: log magnitude (per-bin
standardised, clipped at 3 sigma, scaled to [-1, 1]; statistics in the generator's buffers)
and instantaneous frequency (in [-1, 1]; the mel variant's can reach past that and is clipped;
zeroed in bins that never come within 60 dB of the note's peak, whose phase is noise).
`model.representation = "mel-if"` warps both through the mel filterbank first (M-IF-Mel).

Widths for d = 32 are the paper's; it has one more stage because its notes are 4 s long.

Generator                                        Critic
z [256] ++ one-hot pitch [P]                     x [64, 512, 2] conv 1x1 [2d]
conv 2x16 on 1x1 (= dense) [2, 16, 8d]           conv 3x3, conv 3x3 [64, 512, 2d]; avg pool
conv 3x3 [2, 16, 8d]                             conv 3x3 [4d] x2 [32, 256]; avg pool
up x2; conv 3x3 x2 [4, 32, 8d]                   conv 3x3 [8d] x2 [16, 128]; avg pool
up x2; conv 3x3 x2 [8, 64, 8d]                   conv 3x3 [8d] x2 [8, 64]; avg pool
up x2; conv 3x3 x2 [16, 128, 8d]                 conv 3x3 [8d] x2 [4, 32]; avg pool
up x2; conv 3x3 x2 [32, 256, 4d]                 minibatch stddev [2, 16, 8d + 1]
up x2; conv 3x3 x2 [64, 512, 2d]                 conv 3x3 [8d]; conv 2x16 valid [1, 1, 8d]
conv 1x1 [64, 512, 2] tanh                       dense [1] (Wasserstein), dense [P] (pitch)

Every generator conv is followed by leaky ReLU (0.2) and pixel norm, every critic conv by
leaky ReLU; upsampling is nearest-neighbour, downsampling 2x2 average pooling; all weights
use the equalised learning rate (N(0, 1) init, He scale applied at run time).

Progressive growing is replaced by training at the final resolution from the start, as
later work found (StyleGAN2, Karras et al. 2020) works as well with far simpler code; the
architecture and losses are otherwise the paper's, so a preset is a fixed-shape graph. The
critic's pitch head is the AC-GAN term (Odena et al. 2017), applied by the training loop.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ganpad.training.config import ModelConfig
from ganpad.training.models.phase_spec import MagIF

N_FFT, HOP = 1024, 256
BINS = N_FFT // 2  # Nyquist dropped
STAGES = 5  # upsamplings from the 2x16 seed
CLIP_SIGMA = 3.0
GROUP = 4  # minibatch stddev group; training batches must be a multiple of it
QUIET_NATS = math.log(1000.0)  # 60 dB below the note's loudest bin
REPRESENTATIONS = ("if", "mel-if")


def check_shape(slice_len: int) -> None:
    frames = slice_len // HOP
    if slice_len % HOP or frames % 2**STAGES:
        raise ValueError(
            f"gansynth needs clips of a multiple of {HOP * 2**STAGES} samples "
            f"({2**STAGES} STFT frames of {HOP}), not {slice_len}"
        )


def _widths(d: int) -> list[int]:
    """Channels at each resolution, coarsest first: [8d] * 4 + [4d, 2d]."""
    return [8 * d] * 4 + [4 * d, 2 * d]


class EqConv2d(nn.Conv2d):
    """Conv2d with the equalised learning rate: weights N(0, 1), scaled by He's constant."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], padding: int = 0):
        super().__init__(cin, cout, kernel, padding=padding)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = math.sqrt(2.0 / self.weight[0].numel())  # He: fan-in = cin * kh * kw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)


class EqLinear(nn.Linear):
    """Linear layer with the equalised learning rate."""

    def __init__(self, cin: int, cout: int, gain: float = math.sqrt(2.0)):
        super().__init__(cin, cout)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = gain / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Each position's feature vector scaled to unit mean square (Karras et al. 2018)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def minibatch_stddev(x: torch.Tensor, group: int = GROUP) -> torch.Tensor:
    """Append one channel: the feature standard deviation over groups of consecutive clips.

    Groups are consecutive, so with a per-kind batch that `group` divides (the trainer insists)
    a pass over [real; fake] never mixes kinds; any other batch (inference, a single clip) uses
    the largest divisor of its size below `group`.
    """
    b, c, h, w = x.shape
    g = max(n for n in range(1, min(group, b) + 1) if b % n == 0)
    y = x.reshape(b // g, g, c, h, w)
    std = torch.sqrt(y.var(dim=1, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # [b / g]
    std = std.repeat_interleave(g).reshape(b, 1, 1, 1).expand(b, 1, h, w)
    return torch.cat([x, std], dim=1)


class GANSynthGenerator(nn.Module):
    spectral = True  # exported audio passes through an inverse STFT: parity allows for it

    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int):
        super().__init__()
        check_shape(slice_len)
        if n_classes < 1:
            raise ValueError(f"gansynth is pitch-conditional: it needs labelled notes, "
                             f"got {n_classes} classes")  # fmt: skip
        self.slice_len = slice_len
        self.n_classes = n_classes
        self.seed_shape = (slice_len // HOP // 2**STAGES, BINS // 2**STAGES)
        widths = _widths(cfg.d)
        self.seed = EqLinear(cfg.latent + n_classes,
                             widths[0] * self.seed_shape[0] * self.seed_shape[1],
                             gain=math.sqrt(2.0) / 4)  # fmt: skip
        self.seed_conv = EqConv2d(widths[0], widths[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqConv2d(a, b, 3, padding=1), EqConv2d(b, b, 3, padding=1)])
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.to_spec = EqConv2d(widths[-1], 2, 1)
        self.register_buffer("one_hot", torch.eye(n_classes), persistent=False)
        self.rep = MagIF(N_FFT, HOP, mel=cfg.representation == "mel-if")
        self.register_buffer("mean", torch.zeros(BINS))
        self.register_buffer("std", torch.ones(BINS))

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """(z, pitch index) -> normalised [B, 2 (log magnitude, IF), frames, bins]."""
        if label is None:
            raise ValueError("this generator is pitch-conditional: pass a label")
        x = self.seed(torch.cat([z, self.one_hot[label]], dim=1))
        x = pixel_norm(F.leaky_relu(x.view(z.shape[0], -1, *self.seed_shape), 0.2))
        x = pixel_norm(F.leaky_relu(self.seed_conv(x), 0.2))
        for first, second in self.blocks:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = pixel_norm(F.leaky_relu(first(x), 0.2))
            x = pixel_norm(F.leaky_relu(second(x), 0.2))
        return torch.tanh(self.to_spec(x))

    def _log_mag_if(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_mag, inst_freq = self.rep(audio.reshape(audio.shape[0], -1))
        frames = self.slice_len // HOP
        return log_mag[:, :BINS, :frames], inst_freq[:, :BINS, :frames]

    @torch.no_grad()
    def fit_features(self, audio: torch.Tensor, batch: int = 64) -> None:
        """Per-bin mean and standard deviation of the training notes' log magnitudes."""
        logs = torch.cat([self._log_mag_if(audio[i : i + batch])[0]
                          for i in range(0, len(audio), batch)])  # fmt: skip
        self.mean.copy_(logs.mean(dim=(0, 2)))
        self.std.copy_(logs.std(dim=(0, 2)).clamp_min(1e-3))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, c, T] -> the critic's view of a real note, as the generator outputs it."""
        log_mag, inst_freq = self._log_mag_if(audio)
        # The phase of a bin that never comes within 60 dB of the note's peak is noise: a
        # critic could tell real from fake by that noise alone, so its IF is zeroed. (Only
        # whole bins: zeroing quiet frames of a bin that sounds later would shift its phase.)
        loudest = log_mag.amax(dim=2, keepdim=True)  # per bin, over time
        quiet = loudest < loudest.amax(dim=1, keepdim=True) - QUIET_NATS
        inst_freq = inst_freq.masked_fill(quiet, 0.0)
        norm = (log_mag - self.mean[:, None]) / self.std[:, None]
        norm = norm.clamp(-CLIP_SIGMA, CLIP_SIGMA) / CLIP_SIGMA
        return torch.stack([norm, inst_freq.clamp(-1.0, 1.0)], dim=1).transpose(2, 3)

    def to_audio(self, spec: torch.Tensor) -> torch.Tensor:
        """Normalised [B, 2, frames, bins] -> audio [B, 1, T]: IF summed to phase, inverse STFT."""
        spec = spec.transpose(2, 3)
        log_mag = spec[:, 0] * CLIP_SIGMA * self.std[:, None] + self.mean[:, None]
        # Back to the full STFT grid: a silent Nyquist bin and a silent last frame.
        silent = math.log(1e-6)
        log_mag = F.pad(log_mag, (0, 1, 0, 1), value=silent)
        inst_freq = F.pad(spec[:, 1], (0, 1, 0, 1))
        audio = self.rep.inverse(log_mag, inst_freq, self.slice_len)
        return audio.clamp(-1.0, 1.0)[:, None, :]


class GANSynthCritic(nn.Module):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int):
        super().__init__()
        check_shape(slice_len)
        widths = _widths(cfg.d)[::-1]  # finest first
        self.from_spec = EqConv2d(2, widths[0], 1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqConv2d(a, a, 3, padding=1), EqConv2d(a, b, 3, padding=1)])
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        top = widths[-1]
        seed = (slice_len // HOP // 2**STAGES, BINS // 2**STAGES)
        self.final_conv = EqConv2d(top + 1, top, 3, padding=1)
        self.final_full = EqConv2d(top, top, seed)
        self.score = EqLinear(top, 1, gain=1.0)
        self.classifier = EqLinear(top, n_classes, gain=1.0)  # pitch, for the AC-GAN term

    def forward(
        self, x: torch.Tensor, label: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, 2, frames, bins] -> (Wasserstein score [B], pitch logits [B, P]).

        The label is not used: pitch enters the critic only through its classifier head.
        """
        x = F.leaky_relu(self.from_spec(x), 0.2)
        for first, second in self.blocks:
            x = F.leaky_relu(first(x), 0.2)
            x = F.leaky_relu(second(x), 0.2)
            x = F.avg_pool2d(x, 2)
        x = F.leaky_relu(self.final_conv(minibatch_stddev(x)), 0.2)
        h = F.leaky_relu(self.final_full(x), 0.2).flatten(1)
        return self.score(h).squeeze(1), self.classifier(h)
