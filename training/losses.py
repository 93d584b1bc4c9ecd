"""GAN objectives. Each returns the critic loss with its parts, and the generator loss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

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


def wgan_gp_critic(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    label: torch.Tensor | None,
    cfg: TrainConfig,
) -> CriticResult:
    """E[D(fake)] - E[D(real)] + lambda * GP; real, fake and interpolates go in one critic pass."""
    batch = real.shape[0]
    alpha = torch.rand(batch, *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    interp = (real + alpha * (fake - real)).detach().requires_grad_(True)
    labels = None if label is None else label.repeat(3)
    scores = critic(torch.cat([real, fake, interp]), labels).float()
    d_real, d_fake, d_interp = scores.split(batch)
    (grads,) = torch.autograd.grad(d_interp.sum(), interp, create_graph=True)
    gp = gradient_penalty(grads)
    wasserstein = d_real.mean() - d_fake.mean()
    loss = -wasserstein + cfg.gp_lambda * gp
    return CriticResult(loss, {"wasserstein": wasserstein.detach(), "gp": gp.detach()})


def wgan_generator(
    critic: Critic, fake: torch.Tensor, label: torch.Tensor | None, cfg: TrainConfig
) -> torch.Tensor:
    return -critic(fake, label).float().mean()


LOSSES = {"wgan-gp": (wgan_gp_critic, wgan_generator)}


def get_loss(name: str) -> tuple[Callable[..., CriticResult], Callable[..., torch.Tensor]]:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
