"""Turn a raw generated clip into a playable one-shot: device rate, trimmed, faded, normalised."""

from __future__ import annotations

import numpy as np

from ganpad.audio import TRIM_DB, audible_end, resample_in_chunks


def finish_clip(
    audio: np.ndarray,
    rate_in: int,
    rate_out: int,
    peak_db: float | None = -1.0,
    trim_db: float | None = TRIM_DB,
    fade_ms: float = 10.0,
    max_frames: int | None = None,
) -> np.ndarray:
    """Resample, cut the tail once it stays below trim_db (re the peak) and at `max_frames`
    (a label's length), fade out, set the peak."""
    out = resample_in_chunks(np.asarray(audio, np.float32), rate_in, rate_out).copy()
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak <= 0.0:
        return out[:max_frames]
    if trim_db is not None:
        out = out[: audible_end(out, trim_db)]
    out = out[:max_frames]
    fade = min(len(out), int(fade_ms * rate_out / 1000))
    if fade > 1:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    if peak_db is not None:
        out *= 10 ** (peak_db / 20) / peak
    return out
