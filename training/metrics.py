"""The papers' sample-quality metrics: Inception score, Frechet distance, NDB/k, pitch metrics,
and a log-mel timbre embedding."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.cluster.vq import kmeans2
from scipy.stats import norm


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when each clip is confidently one class and all appear."""
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (probs * (np.log(probs + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets [N, D].

    Tr(sqrt(A B)) is taken as the sum of the square roots of the eigenvalues of
    sqrt(A) B sqrt(A), which is symmetric: stable even when N < D makes A or B singular.
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_covmean)


def ndb(reference: np.ndarray, samples: np.ndarray, k: int = 20, alpha: float = 0.05,
        seed: int = 0) -> tuple[int, float]:  # fmt: skip
    """Number of statistically different bins (Richardson & Weiss 2018), and NDB/k.

    k-means on the reference features defines k bins; a bin counts when a two-proportion
    z-test says the samples fall into it at a different rate than the reference (p < alpha).
    """
    k = min(k, len(reference))
    centres, _ = kmeans2(reference.astype(np.float64), k, minit="++", seed=seed)
    # Both sets binned by the final centres (kmeans2's labels predate its last update).
    ref_bins = _nearest(reference.astype(np.float64), centres)
    sample_bins = _nearest(samples.astype(np.float64), centres)
    p_ref = np.bincount(ref_bins, minlength=k) / len(reference)
    p_gen = np.bincount(sample_bins, minlength=k) / len(samples)
    pooled = (p_ref * len(reference) + p_gen * len(samples)) / (len(reference) + len(samples))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(reference) + 1 / len(samples)))
    z = np.abs(p_ref - p_gen) / np.maximum(se, 1e-12)
    different = int((2 * (1 - norm.cdf(z)) < alpha).sum())
    return different, different / k


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)


def pitch_metrics(pitches: np.ndarray, targets: np.ndarray | None = None) -> dict[str, float]:
    """Pitch accuracy (tracked pitch within half a semitone of the target) and pitch entropy."""
    valid = np.isfinite(pitches)
    rounded = np.round(pitches[valid]).astype(int)
    _, counts = np.unique(rounded, return_counts=True)
    p = counts / max(1, counts.sum())
    out = {"pitch_entropy": float(-(p * np.log2(p)).sum()) if len(p) else 0.0,
           "voiced": float(valid.mean())}  # fmt: skip
    if targets is not None:
        hit = np.zeros(len(pitches), bool)
        hit[valid] = np.abs(pitches[valid] - targets[valid]) < 0.5
        out["pitch_accuracy"] = float(hit.mean())
    return out


def track_pitch(audio: np.ndarray, rate: int, frame: int = 2048) -> np.ndarray:
    """Median MIDI pitch of each clip's loud frames (librosa's YIN); NaN where it wanders.

    pYIN would also give voicing but ran about 300 times slower here; a clip counts as
    pitched when YIN's estimates over its loud frames agree within a semitone.
    """
    import librosa

    hop = frame // 4
    out = np.full(len(audio), np.nan)
    for i, clip in enumerate(audio):
        f0 = librosa.yin(clip, fmin=30.0, fmax=4200.0, sr=rate, frame_length=frame,
                         hop_length=hop, center=False)  # fmt: skip
        rms = librosa.feature.rms(y=clip, frame_length=frame, hop_length=hop, center=False)[0]
        loud = rms[: len(f0)] >= rms.max() * 10 ** (-30 / 20) if rms.max() > 0 else rms > 0
        if not loud.any():
            continue
        midi = librosa.hz_to_midi(f0[loud])
        centre = float(np.median(midi))
        if np.mean(np.abs(midi - centre) < 0.5) >= 0.7:
            out[i] = centre
    return out


def spectral_features(audio: np.ndarray, rate: int) -> np.ndarray:
    """Flattened log spectrograms (coarse) for NDB: [N, features]."""
    n_fft, hop = 512, 256
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=1)[:, ::hop]
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1))
    # 32 bands of 8 bins: the clustering sees the spectral shape, not bin-level noise.
    bands = mag[..., :256].reshape(*mag.shape[:2], 32, 8).mean(-1)
    return np.log(bands + 1e-5).reshape(len(audio), -1)


def logmel_embedding(audio: np.ndarray, rate: int, bands: int = 40) -> np.ndarray:
    """Per clip, the mean and the standard deviation over time of each log-mel band [N, 2
    bands]: a timbre embedding that needs no trained classifier (for notes as for drums)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=rate, n_fft=1024,
                                         hop_length=256, n_mels=bands)  # fmt: skip
    log = np.log(mel + 1e-6)
    return np.concatenate([log.mean(axis=-1), log.std(axis=-1)], axis=-1)
