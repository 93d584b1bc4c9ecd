"""Timbre across the keyboard: does one latent stay one instrument, and do latents differ?

A note's timbre here is its pitch-normalised harmonic profile: the level of harmonics 1..16 in
dB under the strongest, indexed by harmonic number so that one instrument at two pitches lines
up, at 40, 200 and 600 ms after the onset, with how far the note's level has fallen by each
(its decay). Between two notes, the RMS difference of those levels in dB. Then (issue #29):

- variety: the mean distance between instruments (latents, or real programs) at one pitch;
- consistency: the mean distance between the pitches of one instrument over the variety. Real
  programs keep their timbre up the keyboard (well under 1); a latent whose timbre drifts
  with pitch as much as it differs from other latents scores 1 or more.
"""

from __future__ import annotations

import itertools

import numpy as np

TIMES_S = (0.04, 0.2, 0.6)
HARMONICS = 16
FLOOR_DB = -60.0
WINDOW_S = 0.1  # 10 periods of the lowest note judged (MIDI 48, 131 Hz)
PITCHES = (48, 54, 60, 66, 72)  # two octaves around middle C


def midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def profile(audio: np.ndarray, rate: int, midi: int) -> np.ndarray:
    """[len(TIMES_S) * (HARMONICS + 1)] dB: each time's harmonic levels under its strongest
    harmonic (NaN for a harmonic over Nyquist, which no rate can judge; the floor for a frame
    that has fallen silent), then each time's level under the note's first frame."""
    audio = np.asarray(audio, np.float64)
    peak = np.abs(audio).max(initial=0.0)
    if peak <= 0:
        raise ValueError("a silent note has no timbre")
    onset = int(np.argmax(np.abs(audio) >= 0.1 * peak))
    width = int(WINDOW_S * rate)
    window = np.hanning(width)
    freqs = np.fft.rfftfreq(width, 1 / rate)
    f0 = midi_hz(midi)
    levels, energies = [], []
    for t in TIMES_S:
        start = onset + int(t * rate)
        frame = np.zeros(width)
        piece = audio[start : start + width]
        frame[: len(piece)] = piece
        spectrum = np.abs(np.fft.rfft(frame * window))
        energies.append(np.sqrt(np.mean(frame**2)) + 1e-12)
        row = np.full(HARMONICS, np.nan)
        for h in range(1, min(HARMONICS, int(rate / 2 / f0)) + 1):
            near = np.abs(freqs - h * f0) <= 0.03 * h * f0  # a quarter-tone either side
            row[h - 1] = spectrum[near].max(initial=0.0)
        db = 20 * np.log10(row + 1e-12)
        if energies[-1] < 10 ** (FLOOR_DB / 20) * energies[0]:
            db = np.where(np.isnan(db), np.nan, FLOOR_DB)  # silence has no spectral shape
        else:
            db = np.clip(db - np.nanmax(db), FLOOR_DB, 0.0)
        levels.append(db)
    decay = np.clip(20 * np.log10(np.asarray(energies) / energies[0]), FLOOR_DB, 0.0)
    return np.concatenate([*levels, decay])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference of two profiles in dB, over what both can judge (under Nyquist)."""
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


def figures(profiles: np.ndarray) -> dict[str, float]:
    """Variety and consistency of [instruments, pitches, D] profiles (at least 2 of each)."""
    n, p = profiles.shape[:2]
    if n < 2 or p < 2:
        raise ValueError(f"timbre figures need 2 instruments and 2 pitches, got {n} and {p}")
    between = [distance(profiles[i, k], profiles[j, k])
               for k in range(p) for i, j in itertools.combinations(range(n), 2)]  # fmt: skip
    within = [distance(profiles[i, k], profiles[i, q])
              for i in range(n) for k, q in itertools.combinations(range(p), 2)]  # fmt: skip
    variety = float(np.mean(between))
    return {"variety_db": round(variety, 3), "within_db": round(float(np.mean(within)), 3),
            "consistency": round(float(np.mean(within)) / variety, 3)}  # fmt: skip
