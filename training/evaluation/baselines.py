"""No-learning baselines every evaluation reports beside a model: what a trained generator
has to beat to be worth anything.

- drums: a noise synth that knows nothing of drums or of the data: per clip, a sine swept
  down to a random low pitch and a coloured noise burst, each under its own exponential
  decay, mixed at random;
- notes: a plain sine at the asked pitch with a short attack and an exponential decay.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def _decay(t: np.ndarray, seconds: float) -> np.ndarray:
    return np.exp(-t / seconds)


def noise_synth(n: int, samples: int, rate: int, seed: int = 0) -> np.ndarray:
    """[n, samples] float32 one-shots, peak-normalised, from random synth settings."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    out = np.zeros((n, samples), np.float32)
    for i in range(n):
        end_hz = np.exp(rng.uniform(np.log(40), np.log(400)))
        sweep = end_hz * rng.uniform(0, 3) * _decay(t, rng.uniform(0.005, 0.05))
        phase = 2 * np.pi * np.cumsum(end_hz + sweep) / rate
        tone = np.sin(phase) * _decay(t, np.exp(rng.uniform(np.log(0.03), np.log(0.5))))
        pole = rng.uniform(0.0, 0.95)  # one-pole low-pass of white noise: a random brightness
        noise = lfilter([1 - pole], [1, -pole], rng.standard_normal(samples))
        noise *= _decay(t, np.exp(rng.uniform(np.log(0.01), np.log(0.5))))
        mix = rng.uniform(0, 1)
        clip = mix * tone / np.abs(tone).max() + (1 - mix) * noise / np.abs(noise).max()
        out[i] = clip / max(np.abs(clip).max(), 1e-9)
    return out


def sine_at_pitch(midi: np.ndarray, samples: int, rate: int) -> np.ndarray:
    """[len(midi), samples] float32: a sine at each MIDI pitch, 5 ms attack, 1 s decay."""
    t = np.arange(samples) / rate
    hz = 440.0 * 2.0 ** ((np.asarray(midi, float)[:, None] - 69) / 12)
    envelope = np.minimum(t / 0.005, 1.0) * _decay(t, 1.0)
    return (np.sin(2 * np.pi * hz * t) * envelope).astype(np.float32)
