"""A true-peak limiter for offline renders: a MIDI file's bounce never clips.

The gain needed to keep every 4x-oversampled peak under the ceiling is taken as a sliding
minimum over the look-ahead, ramped in over that same look-ahead (so the gain is already down
when the peak arrives) and let back up at a fixed linear rate. It runs on whole arrays, offline:
no sample-by-sample loop, and where nothing exceeds the ceiling the audio is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

CEILING_DB = -1.0  # dBTP, as streaming services ask of masters
OVERSAMPLE = 4  # ITU-R BS.1770's true-peak meter oversamples 4x at 44.1/48 kHz


@dataclass(frozen=True)
class LimitReport:
    peak_db: float  # true peak before, dBTP
    limited_peak_db: float  # true peak after
    max_reduction_db: float
    reduced_share: float  # share of samples with any gain reduction

    def describe(self) -> str:
        if self.max_reduction_db == 0:
            return f"true peak {self.peak_db:.1f} dBTP, under the {CEILING_DB:.0f} dBTP ceiling"
        return (f"true peak {self.peak_db:.1f} dBTP limited to {self.limited_peak_db:.1f} dBTP: "
                f"gain reduced on {100 * self.reduced_share:.2f} % of the file, at most "
                f"{self.max_reduction_db:.1f} dB")  # fmt: skip


def true_peak_envelope(audio: np.ndarray, rate: int, chunk: int = 1 << 18) -> np.ndarray:
    """|x| at each sample, taking the largest of its 4x-oversampled values (streamed in chunks,
    so a long bounce needs a few bytes a sample, not a 4x copy)."""
    stream = soxr.ResampleStream(rate, rate * OVERSAMPLE, 1, dtype="float32", quality="VHQ")
    envelope = np.abs(audio).astype(np.float32)
    pending, done = np.zeros(0, np.float32), 0
    for start in range(0, len(audio), chunk):
        part = np.ascontiguousarray(audio[start : start + chunk], np.float32)
        up = stream.resample_chunk(part, last=start + chunk >= len(audio))
        pending = np.concatenate([pending, up])
        whole = min(len(pending) // OVERSAMPLE, len(audio) - done)
        peaks = np.abs(pending[: whole * OVERSAMPLE]).reshape(-1, OVERSAMPLE).max(axis=1)
        np.maximum(envelope[done : done + whole], peaks, out=envelope[done : done + whole])
        pending, done = pending[whole * OVERSAMPLE :], done + whole
    return envelope


def true_peak_db(audio: np.ndarray, rate: int) -> float:
    return _db(true_peak_envelope(audio, rate).max()) if len(audio) else -240.0


def sliding_min_ahead(x: np.ndarray, ahead: int) -> np.ndarray:
    """y[i] = min(x[i : i + ahead + 1]), past the end counting as 1 (van Herk / Gil-Werman)."""
    w = ahead + 1
    n = len(x)
    padded = np.ones(-(-(n + ahead) // w) * w)
    padded[:n] = x
    blocks = padded.reshape(-1, w)
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:n], prefix[ahead : ahead + n])


def limit_gain(need: np.ndarray, ahead: int, release: int) -> np.ndarray:
    """A smooth gain at or under `need` everywhere: down over `ahead` samples before a peak,
    back up to 1 over `release` samples at most."""
    floor = sliding_min_ahead(need, ahead)
    # A causal mean over ahead + 1 samples: every sample averaged into a peak's gain saw it.
    total = np.concatenate([[0.0], np.cumsum(floor)])
    index = np.arange(len(need))
    start = np.maximum(index - ahead, 0)
    ramped = (total[index + 1] - total[start]) / (index + 1 - start)
    # Linear release: g[n] = min over j <= n of ramped[j] + (n - j) / release.
    slope = index / release
    return np.minimum(ramped, slope + np.minimum.accumulate(ramped - slope))


def limit(audio: np.ndarray, rate: int, ceiling_db: float = CEILING_DB, lookahead_ms: float = 1.5,
          release_ms: float = 100.0) -> tuple[np.ndarray, LimitReport]:  # fmt: skip
    """(audio whose true peak is at most the ceiling, what it took)."""
    audio = np.asarray(audio, np.float32)
    if len(audio) == 0:
        return audio, LimitReport(-240.0, -240.0, 0.0, 0.0)
    ceiling = 10 ** (ceiling_db / 20)
    ahead = max(1, round(lookahead_ms * rate / 1000))
    release = max(1, round(release_ms * rate / 1000))
    out, gain = audio, np.ones(len(audio), np.float32)
    envelope = true_peak_envelope(audio, rate)
    before = _db(envelope.max())
    # Gain moves between samples, so the limited file's own peaks are measured again; a second
    # pass catches the few that the smoothing left a hair over.
    for _ in range(3):
        if envelope.max() <= ceiling:
            break
        gain *= _gain(envelope, ceiling * 0.999, ahead, release)
        out = audio * gain
        envelope = true_peak_envelope(out, rate)
    if envelope.max() > ceiling:  # never seen; a plain scale keeps the promise regardless
        gain *= np.float32(ceiling / envelope.max())
        out = audio * gain
        envelope = true_peak_envelope(out, rate)
    reduced = float(np.mean(gain < 1.0))
    return out, LimitReport(before, _db(envelope.max()), -_db(gain.min()), reduced)


def _gain(envelope: np.ndarray, ceiling: float, ahead: int, release: int) -> np.ndarray:
    """limit_gain over the stretches that need it: the gain is 1 more than 2 look-aheads before
    a peak over the ceiling and a look-ahead plus a release after it, so each stretch is worked
    out alone, padded so that it comes out as it would over the whole file."""
    gain = np.ones(len(envelope), np.float32)
    over = np.flatnonzero(envelope > ceiling)
    if not len(over):
        return gain
    breaks = np.flatnonzero(np.diff(over) > 3 * ahead + release + 1)
    for first, last in zip(over[np.r_[0, breaks + 1]], over[np.r_[breaks, len(over) - 1]],
                           strict=True):  # fmt: skip
        lo, hi = max(0, first - 2 * ahead), min(len(envelope), last + ahead + release + 1)
        need = np.minimum(1.0, ceiling / np.maximum(envelope[lo:hi], 1e-12))
        gain[lo:hi] = limit_gain(need, ahead, release)
    return gain


def _db(x: float) -> float:
    return float(20 * np.log10(max(float(x), 1e-12)))
