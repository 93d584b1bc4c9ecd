"""Log-mel spectrograms in torch (mel filters from librosa), the input of the drum classifier."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import torch


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 64
    fmin: float = 20.0

    def to_json(self) -> dict:
        return asdict(self)


class LogMel(torch.nn.Module):
    """audio [B, T] -> log-mel [B, n_mels, frames]."""

    def __init__(self, cfg: MelConfig = MelConfig()):  # noqa: B008 (frozen dataclass)
        super().__init__()
        self.cfg = cfg
        fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                 fmin=cfg.fmin, fmax=cfg.sample_rate / 2)  # fmt: skip
        self.register_buffer("filters", torch.from_numpy(fb).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, self.cfg.n_fft, self.cfg.hop, window=self.window,
                          return_complex=True).abs() ** 2  # fmt: skip
        return torch.log(self.filters @ spec + 1e-6)
