"""The AC-GAN term (Odena et al. 2017): a critic that also names the class of what it sees.

A critic with a classifier head returns (score, logits). The GAN losses only want scores, so
the training loop hands them an `AuxiliaryTap`, which passes scores on and keeps the logits of
each pass. The critic learns the class of real clips; the generator is pushed to make fakes
the critic classifies as the class they were asked for. (The critic is not trained on fakes'
classes: early fakes are noise, and teaching the classifier noise only slows it down.)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def has_classifier(critic: nn.Module) -> bool:
    return hasattr(getattr(critic, "module", critic), "classifier")


class AuxiliaryTap:
    """Callable critic for the losses: returns the score, records the logits of each pass
    and, with `features`, every layer's output (for feature matching)."""

    def __init__(self, critic: nn.Module, features: bool = False):
        self.critic = critic
        self.logits: list[torch.Tensor] = []
        self.features: list[list[torch.Tensor]] = []
        self.keep_features = features

    def __call__(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.keep_features:
            score, logits, feats = self.critic.forward_features(x, label)
            self.features.append(feats)
        else:
            score, logits = self.critic(x, label)
        self.logits.append(logits)
        return score

    def first(self, n: int) -> torch.Tensor:
        """Logits of the first pass's first n clips (every loss puts the clips it is asked
        about first: real ones in a critic step, fakes in a generator step)."""
        if not self.logits:
            raise RuntimeError("the critic was not called")
        return self.logits[0][:n]

    def loss(self, label: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.first(len(label)).float(), label)


def accuracy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == label).float().mean()
