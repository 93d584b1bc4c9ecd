"""GAN objectives: WGAN-GP, LSGAN, WGAN with weight clipping, Banach WGAN (Sobolev norm), hinge.

Each loss gives the critic loss with its parts for logging, the generator loss, and an optional
step to run after each critic update (weight clipping).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ganpad.training.config import TrainConfig

Critic = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass
class CriticResult:
    loss: torch.Tensor
    parts: dict[str, torch.Tensor]  # detached scalars for logging


def gradient_penalty(grads: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """(||grad||_2 - target)^2 per example, averaged (Gulrajani et al. 2017)."""
    norms = grads.float().flatten(1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


def sobolev_dual_norm(grads: torch.Tensor, s: float, p: float) -> torch.Tensor:
    """||g||_{W^{-s,p*}} per example (Adler & Lunz 2018): the dual of the W^{s,p} norm.

    The Fourier multiplier (1 + |xi|^2)^(-s/2), xi in radians per sample, is applied along
    time, then the L^{p*} norm
    with p* = p / (p - 1) is taken over all values. s = 0, p = 2 is the plain L2 norm.
    """
    if p <= 1:
        raise ValueError(f"bwgan needs p > 1 (its dual exponent is p / (p - 1)), got {p}")
    g = grads.float()
    if s != 0:  # along the last axis: time for waveforms, frames for spectrograms
        n = g.shape[-1]
        xi = 2 * math.pi * torch.fft.rfftfreq(n, device=g.device)
        g = torch.fft.irfft(torch.fft.rfft(g, dim=-1) * (1 + xi**2) ** (-s / 2), n=n, dim=-1)
    p_star = p / (p - 1)
    return g.flatten(1).abs().pow(p_star).sum(dim=1).pow(1 / p_star)


def _critic_scores(critic: Critic, batches: list[torch.Tensor], label: torch.Tensor | None):
    """One critic pass over several equal-sized batches (one forward, one backward)."""
    labels = None if label is None else label.repeat(len(batches))
    return critic(torch.cat(batches), labels).float().split(batches[0].shape[0])


def _scores_and_input_grads(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                            label: torch.Tensor | None):  # fmt: skip
    """D(real), D(fake) in one pass, and the gradient of D at random interpolates.

    The interpolates get a pass of their own: differentiated with create_graph, a pass shared
    with real and fake would carry all three batches through the gradient and its backward
    (the double backward) where only the interpolates count: 1.4 to 2x the time. Every
    critic here scores each clip independently, so this is the same sum as one pass.
    """
    d_real, d_fake = _critic_scores(critic, [real, fake], label)
    interp = _interpolates(real, fake)
    (grads,) = torch.autograd.grad(critic(interp, label).float().sum(), interp, create_graph=True)
    return d_real, d_fake, grads


def _interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device,
                       dtype=real.dtype)  # fmt: skip
    return (real + alpha * (fake - real)).detach().requires_grad_(True)


def wgan_gp_critic(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                   label: torch.Tensor | None, cfg: TrainConfig) -> CriticResult:  # fmt: skip
    """E[D(fake)] - E[D(real)] + lambda * GP (Gulrajani et al. 2017)."""
    d_real, d_fake, grads = _scores_and_input_grads(critic, real, fake, label)
    gp = gradient_penalty(grads)
    wasserstein = d_real.mean() - d_fake.mean()
    loss = -wasserstein + cfg.gp_lambda * gp
    parts = {"wasserstein": wasserstein.detach(), "gp": gp.detach()}
    if cfg.drift:  # Karras et al. 2018: keeps the critic's scores from wandering off
        drift = (d_real**2).mean()
        loss = loss + cfg.drift * drift
        parts["drift"] = drift.detach()
    return CriticResult(loss, parts)


def bwgan_critic(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                 label: torch.Tensor | None, cfg: TrainConfig) -> CriticResult:  # fmt: skip
    """(E[D(fake)] - E[D(real)]) / gamma + lambda * E[(||dD||_{W^{-s,p*}} / gamma - 1)^2]."""
    d_real, d_fake, grads = _scores_and_input_grads(critic, real, fake, label)
    norms = sobolev_dual_norm(grads, cfg.bw_s, cfg.bw_p)
    gp = ((norms / cfg.bw_gamma - 1) ** 2).mean()
    wasserstein = d_real.mean() - d_fake.mean()
    loss = -wasserstein / cfg.bw_gamma + cfg.gp_lambda * gp
    return CriticResult(loss, {"wasserstein": wasserstein.detach(), "gp": gp.detach()})


def wgan_critic(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                label: torch.Tensor | None, cfg: TrainConfig) -> CriticResult:  # fmt: skip
    """E[D(fake)] - E[D(real)]; the Lipschitz bound comes from clip_weights after the step."""
    d_real, d_fake = _critic_scores(critic, [real, fake], label)
    wasserstein = d_real.mean() - d_fake.mean()
    return CriticResult(-wasserstein, {"wasserstein": wasserstein.detach()})


def wgan_generator(critic: Critic, fake: torch.Tensor, label: torch.Tensor | None,
                   cfg: TrainConfig) -> torch.Tensor:  # fmt: skip
    return -critic(fake, label).float().mean()


def lsgan_critic(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                 label: torch.Tensor | None, cfg: TrainConfig) -> CriticResult:  # fmt: skip
    """1/2 E[(D(real) - b)^2] + 1/2 E[(D(fake) - a)^2] (Mao et al. 2017)."""
    d_real, d_fake = _critic_scores(critic, [real, fake], label)
    loss = 0.5 * ((d_real - cfg.ls_b) ** 2).mean() + 0.5 * ((d_fake - cfg.ls_a) ** 2).mean()
    return CriticResult(loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()})


def lsgan_generator(critic: Critic, fake: torch.Tensor, label: torch.Tensor | None,
                    cfg: TrainConfig) -> torch.Tensor:  # fmt: skip
    """1/2 E[(D(G(z)) - c)^2]."""
    return 0.5 * ((critic(fake, label).float() - cfg.ls_c) ** 2).mean()


def hinge_critic(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                 label: torch.Tensor | None, cfg: TrainConfig) -> CriticResult:  # fmt: skip
    """E[relu(1 - D(real))] + E[relu(1 + D(fake))] (Lim & Ye 2017; SNGAN, BigGAN)."""
    d_real, d_fake = _critic_scores(critic, [real, fake], label)
    loss = torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()
    return CriticResult(loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()})


def feature_matching(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of L1 between the batch-mean critic features of real and fake clips.

    Each position of a feature map is kept (averaged over the batch only), so the match
    covers how a hit evolves in time, not just its overall level (Salimans et al. 2016's
    statistic, per layer as MelGAN weighs it).
    """
    terms = [(r.float().mean(0) - f.float().mean(0)).abs().mean() for r, f in zip(real, fake,
                                                                          strict=True)]  # fmt: skip
    return torch.stack(terms).mean()


def spectral_distance(x: torch.Tensor, y: torch.Tensor, rate: int,
                      ffts: tuple[int, ...] = (2048, 512, 128)) -> torch.Tensor:  # fmt: skip
    """Multi-resolution log-mel distance of audio [B, 1, T]: the mean |log M_x - log M_y|
    plus the spectral convergence ||M_x - M_y|| / ||M_y|| of mel-band magnitudes, over Hann
    STFTs at several sizes (hop a quarter), bands fewer for the shorter windows.

    Bands rather than bins: two noises with the same spectral envelope differ bin by bin by
    about a neper (their magnitudes are Rayleigh-distributed), which would drown the envelope
    a generator is to learn; summed over a band they agree. The log makes the quiet tail of a
    hit count as much as its attack.
    """
    x, y = x.reshape(x.shape[0], -1).float(), y.reshape(y.shape[0], -1).float()
    total = x.new_zeros(())
    for n in (at_rate(n, rate) for n in ffts):
        window = torch.hann_window(n, device=x.device)
        bands = _mel_filters(n, rate, max(16, n // 16)).to(x.device)
        mx, my = (torch.sqrt(bands @ torch.stft(a, n, n // 4, window=window,
                                                return_complex=True).abs().pow(2) + 1e-10)
                  for a in (x, y))  # fmt: skip
        convergence = torch.linalg.norm(mx - my) / (torch.linalg.norm(my) + 1e-7)
        total = total + convergence + (torch.log(mx + 1e-4) - torch.log(my + 1e-4)).abs().mean()
    return total / len(ffts)


TEXTURE_HZ = (500.0, 16000.0)  # texture_distance's third-octave bands: where metal rings
TEXTURE_FLOOR = 1e-6  # its frames and bands count within 60 dB of the real clip's loudest
TEXTURE_SILENCE = 1e-8  # ... and over this mean power a bin (-80 dB): a silent clip counts none


def texture_distance(x: torch.Tensor, y: torch.Tensor, rate: int, fft: int = 2048) -> torch.Tensor:
    """How differently peaked the spectra of audio x and y [B, 1, T] are within third-octave
    bands: the mean |log flatness_x - log flatness_y| over frames and bands that sound in y,
    flatness being a band's geometric over arithmetic mean power in a Hann STFT frame.

    spectral_distance sums power over bands, so it cannot tell a cymbal's dense lines from
    noise of the same envelope; this can (noise about -0.58 in log flatness, lines far lower),
    whatever the lines' exact frequencies. `fft` is for 16 kHz (`at_rate`, as spectral_distance's)
    (4096 points, 93 ms, at 44.1 kHz). The mean is over every heard band and frame of the
    batch, so a long cymbal weighs more than a short click.
    """
    x, y = x.reshape(x.shape[0], -1).float(), y.reshape(y.shape[0], -1).float()
    n = at_rate(fft, rate)
    # In float32 under autocast too: a flatness is a small difference of two large logs.
    with torch.autocast(x.device.type, enabled=False):
        flat_x, _ = _band_flatness(x, n, rate)
        flat_y, energy = _band_flatness(y, n, rate)
        loud = energy.flatten(1).amax(dim=1).view(-1, 1, 1)
        heard = (energy > (TEXTURE_FLOOR * loud).clamp(min=TEXTURE_SILENCE)).float()
        return ((flat_x - flat_y).abs() * heard).sum() / heard.sum().clamp(min=1.0)


def _band_flatness(audio: torch.Tensor, n_fft: int, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(log flatness, mean power) [B, K, frames] of audio [B, T] in each band of _third_octaves."""
    members = _third_octaves(n_fft, rate).to(audio.device)  # [K, F]
    count = members.sum(dim=1, keepdim=True)
    window = torch.hann_window(n_fft, device=audio.device)
    spec = torch.stft(audio, n_fft, n_fft // 4, window=window, return_complex=True)
    power = spec.abs().pow(2) + 1e-12
    mean = torch.einsum("kf,bfn->bkn", members, power) / count
    log_mean = torch.einsum("kf,bfn->bkn", members, power.log()) / count
    return log_mean - mean.log(), mean


_OCTAVES_CACHE: dict[tuple[int, int], torch.Tensor] = {}


def _third_octaves(n_fft: int, rate: int) -> torch.Tensor:
    """[K, F] 0/1: which rfft bins of an n_fft frame lie in each third-octave band of
    TEXTURE_HZ (bands of fewer than 4 bins, or past 0.45 of the rate, left out)."""
    if (n_fft, rate) not in _OCTAVES_CACHE:
        freqs = torch.fft.rfftfreq(n_fft, 1 / rate)
        top = min(TEXTURE_HZ[1], 0.45 * rate)
        centres = [c for c in TEXTURE_HZ[0] * 2.0 ** (torch.arange(64) / 3) if c <= top * 1.0001]
        half = 2 ** (1 / 6)
        rows = [(freqs >= c / half) & (freqs < c * half) for c in centres]
        rows = [r for r in rows if r.sum() >= 4]
        if not rows:
            raise ValueError(f"texture_distance: no third-octave band of {TEXTURE_HZ[0]:.0f} Hz "
                             f"or more fits under 0.45 of {rate} Hz")  # fmt: skip
        _OCTAVES_CACHE[(n_fft, rate)] = torch.stack(rows).float()
    return _OCTAVES_CACHE[(n_fft, rate)]


def at_rate(n_fft: int, rate: int) -> int:
    """An STFT size given for 16 kHz, at `rate`: the power-of-two multiple nearest the same
    duration (the loss's sizes are for 16 kHz)."""
    return int(n_fft * 2.0 ** round(math.log2(rate / 16000)))


_MEL_CACHE: dict[tuple[int, int, int], torch.Tensor] = {}


def _mel_filters(n_fft: int, rate: int, bands: int) -> torch.Tensor:
    key = (n_fft, rate, bands)
    if key not in _MEL_CACHE:
        import librosa

        mel = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=bands, fmin=20.0, norm=None)
        _MEL_CACHE[key] = torch.from_numpy(mel).float()
    return _MEL_CACHE[key]


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)), summed over latent dimensions, batch mean."""
    return 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(dim=1).mean()


@torch.no_grad()
def clip_weights(critic: nn.Module, cfg: TrainConfig) -> None:
    """WGAN's crude Lipschitz bound: every critic weight clamped to [-c, c] after each step."""
    for param in critic.parameters():
        param.clamp_(-cfg.clip_value, cfg.clip_value)


@dataclass(frozen=True)
class Loss:
    critic: Callable[..., CriticResult]
    generator: Callable[..., torch.Tensor]
    after_critic_step: Callable[[nn.Module, TrainConfig], None] | None = None


LOSSES = {
    "wgan-gp": Loss(wgan_gp_critic, wgan_generator),
    "lsgan": Loss(lsgan_critic, lsgan_generator),
    "wgan": Loss(wgan_critic, wgan_generator, clip_weights),
    "bwgan": Loss(bwgan_critic, wgan_generator),
    "hinge": Loss(hinge_critic, wgan_generator),
}


def get_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
