"""Audio decode, resampling and mix-down shared by training and the instrument (no torch, no Qt)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".ogg", ".mp3"})

# libsndfile notes "data : N (should be M)" when a header promises more audio than the file holds.
_TRUNCATED = re.compile(r"^\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
RESAMPLE_CHUNK = 4096  # frames soxr works on between two chances for another thread to run
# A one-shot's tail is cut once it stays this far under the clip's peak (dB): the player's
# pools, the rendered files and a preset's label lengths all cut there.
TRIM_DB = -60.0
_streams = threading.local()  # a soxr stream is not to be shared between threads


class AudioError(Exception):
    """A file that cannot be used as audio; `reason` is one short word, the message says why."""

    def __init__(self, path: str | Path, reason: str, detail: str):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    audio: np.ndarray  # float32 [frames, channels]
    sample_rate: int


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def decode(path: str | Path) -> Decoded:
    """Read any libsndfile-supported file as float32 [frames, channels]; raise AudioError if bad."""
    path = Path(path)
    if not is_audio_file(path):
        raise AudioError(path, "unsupported", f"extension {path.suffix or '(none)'!r} is not audio")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(path, "unreadable", exc.strerror or str(exc)) from exc
    if size == 0:
        raise AudioError(path, "empty", "file has 0 bytes")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        message = str(exc).split(": ", 1)[-1]
        reason = "unsupported" if "not recognised" in message.lower() else "corrupt"
        raise AudioError(path, reason, message) from exc
    truncated = _TRUNCATED.search(info.extra_info or "")
    if truncated and int(truncated.group(2)) > int(truncated.group(3)):
        raise AudioError(
            path,
            "truncated",
            f"header declares {truncated.group(2)} bytes of audio, file holds {truncated.group(3)}",
        )
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, "corrupt", str(exc).split(": ", 1)[-1]) from exc
    if audio.shape[0] == 0:
        raise AudioError(path, "empty", "no audio frames")
    if not np.all(np.isfinite(audio)):
        raise AudioError(path, "corrupt", "samples are NaN or infinite")
    return Decoded(audio, int(rate))


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of [frames, channels] (or pass through [frames])."""
    if audio.ndim == 1:
        return audio.astype(np.float32, copy=False)
    return audio.mean(axis=1, dtype=np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling with soxr along the first axis."""
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def resample_in_chunks(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """`resample` of a mono clip, the same samples, through a soxr stream fed in chunks.

    soxr holds the GIL while it works: a whole 44.1 kHz drum hit at once holds it about 1.5 ms
    here, and a real-time Python thread of the same process (the audio callback) waits that
    long; between chunks it gets its turn. The stream is kept per thread and rate pair, so the
    filter is designed once, not for every clip.
    """
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    streams = _streams.__dict__
    stream = streams.get((rate_in, rate_out))
    if stream is None:
        stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality="HQ")
        streams[rate_in, rate_out] = stream
    else:
        stream.clear()
    clip = np.asarray(audio, np.float32)
    step = RESAMPLE_CHUNK
    parts = [stream.resample_chunk(clip[i : i + step], last=i + step >= len(clip))
             for i in range(0, max(len(clip), 1), step)]  # fmt: skip
    return np.concatenate(parts)


def load_mono(path: str | Path, rate: int) -> np.ndarray:
    """Decode, mix down to mono and resample to `rate`: float32 [frames]."""
    decoded = decode(path)
    return resample(to_mono(decoded.audio), decoded.sample_rate, rate)


def audible_end(audio: np.ndarray, floor_db: float = TRIM_DB) -> int:
    """Samples up to and with the last one at least `floor_db` under the clip's peak (0 for
    silence): where a one-shot is cut without being heard to stop."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 0.0:
        return 0
    return int(np.flatnonzero(np.abs(audio) >= peak * 10 ** (floor_db / 20))[-1]) + 1
