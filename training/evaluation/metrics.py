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


def kid(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Kernel inception distance (Binkowski et al. 2018) and its standard error.

    The unbiased estimate of the squared MMD between two embedding sets [N, D] and [M, D]
    under the cubic polynomial kernel (x.y / D + 1)^3, over all pairs at once; the standard
    error is the two-sample jackknife's (every leave-one-out estimate from row sums, so
    O(N^2) like the estimate itself). Unlike the Frechet distance it has no bias at small N.
    """
    a, b = a.astype(np.float64), b.astype(np.float64)
    n, m = len(a), len(b)
    if n < 3 or m < 3:
        raise ValueError(f"KID needs at least 3 clips a side, got {n} and {m}")
    kab = _kernel(a, b)
    # Off-diagonal row sums: what leaving one clip out takes away from each sum.
    raa, rbb = _within(a), _within(b)
    saa, sbb, sab = raa.sum(), rbb.sum(), kab.sum()

    def mmd(saa, sbb, sab, n, m):
        return saa / (n * (n - 1)) + sbb / (m * (m - 1)) - 2 * sab / (n * m)

    value = mmd(saa, sbb, sab, n, m)
    drop_a = mmd(saa - 2 * raa, sbb, sab - kab.sum(1), n - 1, m)
    drop_b = mmd(saa, sbb - 2 * rbb, sab - kab.sum(0), n, m - 1)
    var = (n - 1) / n * ((drop_a - drop_a.mean()) ** 2).sum()
    var += (m - 1) / m * ((drop_b - drop_b.mean()) ** 2).sum()
    return float(value), float(np.sqrt(var))


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's cubic polynomial kernel between every row of x and every row of y."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _within(x: np.ndarray) -> np.ndarray:
    """Each row's kernel sum with the other rows of its own set (the diagonal left out)."""
    k = _kernel(x, x)
    return k.sum(1) - np.diag(k)


def kid_difference(a: np.ndarray, b: np.ndarray, real: np.ndarray,
                   paired: bool = False) -> tuple[float, float]:  # fmt: skip
    """KID(a, real) - KID(b, real) and its standard error: two generators judged against the
    same real clips. The real-real term cancels and what the real sample adds to both KIDs
    moves them together, so the difference is known far better than either KID. The error is
    the jackknife's: each real clip left out in turn, and each clip of a and of b, or with
    `paired` (a[i] and b[i] made from the same latent) each pair, which keeps what the
    latents add to both sides together too.
    """
    a, b, r = (x.astype(np.float64) for x in (a, b, real))
    n, k, m = len(a), len(b), len(r)
    if min(n, k, m) < 3:
        raise ValueError(f"a KID difference needs at least 3 clips a set, got {n}, {k}, {m}")
    if paired and n != k:
        raise ValueError(f"paired sets must be as long: {n} and {k} clips")
    kar, kbr = _kernel(a, r), _kernel(b, r)
    raa, rbb = _within(a), _within(b)
    saa, sbb, sar, sbr = raa.sum(), rbb.sum(), kar.sum(), kbr.sum()

    def diff(saa, sbb, sar, sbr, n, k, m):
        return saa / (n * (n - 1)) - 2 * sar / (n * m) - sbb / (k * (k - 1)) + 2 * sbr / (k * m)

    value = diff(saa, sbb, sar, sbr, n, k, m)
    without_a = (saa - 2 * raa, sbb, sar - kar.sum(1), sbr, n - 1, k, m)
    without_b = (saa, sbb - 2 * rbb, sar, sbr - kbr.sum(1), n, k - 1, m)
    without_real = (saa, sbb, sar - kar.sum(0), sbr - kbr.sum(0), n, k, m - 1)
    if paired:
        pairs = (saa - 2 * raa, sbb - 2 * rbb, sar - kar.sum(1), sbr - kbr.sum(1), n - 1, n - 1, m)
        drops = [diff(*pairs), diff(*without_real)]
    else:
        drops = [diff(*without_a), diff(*without_b), diff(*without_real)]
    var = sum((len(x) - 1) / len(x) * ((x - x.mean()) ** 2).sum() for x in drops)
    return float(value), float(np.sqrt(var))


def ndb_bins(reference: np.ndarray, samples: np.ndarray, k: int = 20, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The NDB bin of each reference and sample clip: k-means on the reference features."""
    k = min(k, len(reference))
    centres, _ = kmeans2(reference.astype(np.float64), k, minit="++", seed=seed)
    # Both sets binned by the final centres (kmeans2's labels predate its last update).
    return _nearest(reference.astype(np.float64), centres), _nearest(
        samples.astype(np.float64), centres
    )


def ndb_from_bins(ref_bins: np.ndarray, sample_bins: np.ndarray, k: int,
                  alpha: float = 0.05) -> int:  # fmt: skip
    """Bins where a two-proportion z-test says the sets differ (p < alpha)."""
    p_ref = np.bincount(ref_bins, minlength=k) / len(ref_bins)
    p_gen = np.bincount(sample_bins, minlength=k) / len(sample_bins)
    n_ref, n_gen = len(ref_bins), len(sample_bins)
    pooled = (p_ref * n_ref + p_gen * n_gen) / (n_ref + n_gen)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_gen))
    z = np.abs(p_ref - p_gen) / np.maximum(se, 1e-12)
    return int((2 * (1 - norm.cdf(z)) < alpha).sum())


def ndb(reference: np.ndarray, samples: np.ndarray, k: int = 20, alpha: float = 0.05,
        seed: int = 0) -> tuple[int, float]:  # fmt: skip
    """Number of statistically different bins (Richardson & Weiss 2018), and NDB/k.

    k-means on the reference features defines k bins; a bin counts when a two-proportion
    z-test says the samples fall into it at a different rate than the reference (p < alpha).
    """
    k = min(k, len(reference))
    different = ndb_from_bins(*ndb_bins(reference, samples, k, seed), k, alpha)
    return different, different / k


def bootstrap(stat, sets: tuple[np.ndarray, ...], rounds: int = 200, seed: int = 0,
              level: float = 0.95) -> tuple[float, float]:  # fmt: skip
    """A 95 % interval for stat(*sets): the bootstrap's spread (each set's rows resampled with
    replacement), centred on the estimate.

    Resampling with replacement repeats clips, and a Frechet distance or an Inception score of
    a set with repeats is shifted (the distance up, by about what a smaller set adds): the raw
    percentiles can sit wholly above the estimate. The shift is the bootstrap's mean minus the
    estimate; taking it off keeps the spread and puts the interval around its own figure.
    """
    rng = np.random.default_rng(seed)
    estimate = float(stat(*sets))
    values = np.array([stat(*(x[rng.integers(0, len(x), len(x))] for x in sets))
                       for _ in range(rounds)])  # fmt: skip
    shift = float(values.mean()) - estimate
    lo, hi = np.percentile(values - shift, [50 * (1 - level), 50 * (1 + level)])
    return min(float(lo), estimate), max(float(hi), estimate)


def small_set_warnings(sizes: dict[str, int], dims: int) -> list[str]:
    """What a reader should distrust: Frechet distances on fewer clips than twice the
    embedding's dimensions (a singular covariance, a large bias), any set under 50 clips."""
    out = []
    for name, n in sizes.items():
        if n < 2 * dims:
            out.append(f"{name}: {n} clips for a {dims}-d embedding: Frechet distances are "
                       f"biased upward at this size; compare KID, or use {2 * dims}+ "
                       "clips")  # fmt: skip
        if n < 50:
            out.append(f"{name}: only {n} clips: intervals are wide, differences under them "
                       "mean nothing")  # fmt: skip
    return out


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
        out["pitch_accuracy"] = float(in_tune(pitches, targets).mean())
    return out


def in_tune(pitches: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per clip: the tracked pitch lies within half a semitone of the target (NaN: not)."""
    with np.errstate(invalid="ignore"):
        return np.abs(pitches - targets) < 0.5


def track_pitch(audio: np.ndarray, rate: int, frame: int = 2048) -> np.ndarray:
    """Median MIDI pitch of each clip's loud frames (librosa's YIN); NaN where it wanders.

    Fast (the training tools' and tests' tracker); `track_pitch_pyin` is the evaluation's.
    A clip counts as pitched when YIN's estimates over its loud frames agree within a semitone.
    """
    import librosa

    hop = frame // 4
    out = np.full(len(audio), np.nan)
    for i, clip in enumerate(audio):
        f0 = librosa.yin(clip, fmin=30.0, fmax=4200.0, sr=rate, frame_length=frame,
                         hop_length=hop, center=False)  # fmt: skip
        out[i] = _settled(f0, _loud(clip, frame, hop, len(f0)))
    return out


# pYIN over a note's first second at 16 kHz, 32 ms hops, from below MIDI 36's octave to
# above MIDI 84's: 0.2 s a note on one core (over the whole clip at 8 ms hops, 0.56 s).
PYIN_RATE, PYIN_SECONDS, PYIN_HOP = 16000, 1.0, 512
PYIN_RANGE_HZ = (30.0, 2100.0)


def track_pitch_pyin(audio: np.ndarray, rate: int) -> np.ndarray:
    """Median MIDI pitch of each clip's loud, voiced frames by pYIN (probabilistic YIN with
    a Viterbi path, so far fewer octave slips than YIN's per-frame minimum); NaN where it
    hears no pitch or the pitch wanders. Tracks the first second, where a note is loudest."""
    import librosa
    import soxr

    frame = 2048
    out = np.full(len(audio), np.nan)
    for i, clip in enumerate(audio):
        clip = np.ascontiguousarray(clip[: int(rate * PYIN_SECONDS) + 64], np.float32)
        if rate != PYIN_RATE:
            clip = soxr.resample(clip, rate, PYIN_RATE)
        clip = clip[: int(PYIN_RATE * PYIN_SECONDS)]
        if len(clip) < frame:
            continue
        f0, voiced, _ = librosa.pyin(clip, fmin=PYIN_RANGE_HZ[0], fmax=PYIN_RANGE_HZ[1],
                                     sr=PYIN_RATE, frame_length=frame, hop_length=PYIN_HOP,
                                     center=False)  # fmt: skip
        out[i] = _settled(f0, _loud(clip, frame, PYIN_HOP, len(f0)) & voiced)
    return out


def _loud(clip: np.ndarray, frame: int, hop: int, frames: int) -> np.ndarray:
    """Frames within 30 dB of the clip's loudest."""
    import librosa

    rms = librosa.feature.rms(y=clip, frame_length=frame, hop_length=hop, center=False)[0]
    rms = np.pad(rms[:frames], (0, max(0, frames - len(rms))))
    return rms >= rms.max() * 10 ** (-30 / 20) if rms.max() > 0 else rms > 0


def _settled(f0: np.ndarray, chosen: np.ndarray) -> float:
    """The median MIDI pitch of the chosen frames if 70 % of them lie within half a semitone
    of it, else NaN."""
    import librosa

    if not chosen.any():
        return np.nan
    midi = librosa.hz_to_midi(f0[chosen])
    centre = float(np.median(midi))
    return centre if np.mean(np.abs(midi - centre) < 0.5) >= 0.7 else np.nan


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
