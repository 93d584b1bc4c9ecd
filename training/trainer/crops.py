"""What the critic judges of a one-shot: a crop, not the whole clip (the vocoders' 0.2-0.4 s
segments), so an adversarial step costs a fraction of a whole-clip one.

A clip's onset crop holds its attack; a crop at a random later start holds its body or tail,
which a critic on onsets alone would never judge. Each clip gets one or the other, evenly. The
trainer crops a real and a fake batch at the same starts, so feature matching (which compares
the batches' mean features position by position) sets attack against attack, tail against
tail.
"""

from __future__ import annotations

import torch


def crop_starts(clips: int, length: int, samples: int, device: torch.device) -> torch.Tensor:
    """Per clip, where its crop of `samples` starts in `length`: 0 (the onset) with probability
    1/2, else anywhere (uniformly)."""
    later = (torch.rand(clips, device=device) * (length - samples + 1)).long()
    return torch.where(torch.rand(clips, device=device) < 0.5, 0, later)


def crop(audio: torch.Tensor, samples: int, starts: torch.Tensor | None = None) -> torch.Tensor:
    """audio [B, c, T] -> [B, c, samples] from `starts` [B] (crop_starts' when None). Clips no
    longer than `samples` pass."""
    b, c, t = audio.shape
    if samples >= t:
        return audio
    if starts is None:
        starts = crop_starts(b, t, samples, audio.device)
    index = starts[:, None] + torch.arange(samples, device=audio.device)
    return torch.gather(audio, -1, index[:, None, :].expand(b, c, samples))
