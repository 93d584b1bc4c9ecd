"""TensorBoard output: scalars, audio clips and log-spectrogram images."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter


def spectrogram_image(
    audio: torch.Tensor, n_fft: int = 512, floor_db: float = -80.0
) -> torch.Tensor:
    """audio [T] -> [1, freq, time] in [0, 1], low frequencies at the bottom."""
    window = torch.hann_window(n_fft, device=audio.device)
    spec = torch.stft(audio.float(), n_fft, n_fft // 4, window=window, return_complex=True).abs()
    db = 20 * torch.log10(spec.clamp_min(1e-7))
    db = (db - db.max()).clamp_min(floor_db)
    return ((db - floor_db) / -floor_db).flip(0).unsqueeze(0)


class TensorBoardLog:
    def __init__(self, run_dir: Path, sample_rate: int):
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))
        self.rate = sample_rate

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def samples(self, step: int, audio: torch.Tensor, names: list[str]) -> None:
        """audio [B, T]: one clip and one spectrogram per name."""
        for clip, name in zip(audio, names, strict=True):
            clip = clip.detach().float().cpu()
            self.writer.add_audio(f"audio/{name}", clip.unsqueeze(0), step, self.rate)
            self.writer.add_image(f"spectrogram/{name}", spectrogram_image(clip), step)

    def close(self) -> None:
        self.writer.close()
