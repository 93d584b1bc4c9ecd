"""Signal checks that catch what ears catch and classifier metrics miss: a DC offset, a hit
that never ends, a fixed comb of tones (the transposed-conv checkerboard), a dull or a hissing
top end."""

from __future__ import annotations

import numpy as np

FRAME_S = 0.01  # envelope frames for the decay time
SILENCE_DB = -60.0
COMB_LOW_HZ = 50.0
COMB_HIGH_HZ = 16000.0  # lines above are out of most adults' hearing (a 44.1 kHz preset has some)
THIRD_OCTAVE = 2 ** (1 / 6)  # half a third of an octave either side
SPECTRUM_FFT = 1024  # 15.6 Hz bins at 16 kHz: a fixed tone stands out, a moving one not
HIGH_BAND_HZ = 4000.0  # the top octave at the evaluation's 16 kHz: hats' and cymbals' band


def dc_ratio(audio: np.ndarray) -> np.ndarray:
    """|mean| / RMS of each clip [N, T]."""
    rms = np.sqrt((audio.astype(np.float64) ** 2).mean(axis=1))
    return np.abs(audio.mean(axis=1)) / np.maximum(rms, 1e-12)


def decay_time(audio: np.ndarray, rate: int, db: float = SILENCE_DB) -> np.ndarray:
    """Seconds until each clip's 10 ms RMS envelope stays below `db` under its peak frame;
    the clip's whole length when it never does."""
    frame = max(1, int(FRAME_S * rate))
    usable = audio.shape[1] // frame * frame
    frames = audio[:, :usable].astype(np.float64).reshape(len(audio), -1, frame)
    level = 10 * np.log10((frames**2).mean(axis=2) + 1e-20)
    loud = level >= level.max(axis=1, keepdims=True) + db
    last = loud.shape[1] - 1 - np.argmax(loud[:, ::-1], axis=1)  # last loud frame
    return np.where(last >= loud.shape[1] - 1, audio.shape[1] / rate, (last + 1) * frame / rate)


def average_spectrum(audio: np.ndarray, n_fft: int = SPECTRUM_FFT) -> np.ndarray:
    """Mean power spectrum of the clips [N, T] (Welch: Hann frames, half overlap) ->
    [n_fft // 2 + 1]."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=1)[:, :: n_fft // 2]
    spectra = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)) ** 2
    return spectra.mean(axis=(0, 1))


def comb_peak(audio: np.ndarray, rate: int) -> tuple[float, float]:
    """(dB, Hz) of the narrowest strongest peak of the clips' average spectrum: the most
    any bin between COMB_LOW_HZ and COMB_HIGH_HZ stands over the mean power of its
    third-octave neighbourhood.

    A fixed tone in every clip (a comb at multiples of rate / 256, say) stands out by 15 to
    30 dB; real drums, whose resonances move from hit to hit, stay within a few dB.
    """
    power = average_spectrum(audio)
    freqs = np.fft.rfftfreq(SPECTRUM_FFT, 1 / rate)
    # Running sums give each bin's neighbourhood mean in one pass.
    total = np.concatenate([[0.0], np.cumsum(power)])
    lo = np.searchsorted(freqs, freqs / THIRD_OCTAVE, side="left")
    hi = np.searchsorted(freqs, freqs * THIRD_OCTAVE, side="right")
    mean = (total[hi] - total[lo]) / np.maximum(hi - lo, 1)
    excess = 10 * np.log10((power + 1e-30) / (mean + 1e-30))
    excess[(freqs < COMB_LOW_HZ) | (freqs > COMB_HIGH_HZ)] = -np.inf
    k = int(np.argmax(excess))
    return float(excess[k]), float(freqs[k])


def _power(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(each clip's whole power spectrum [N, bins], the bins' frequencies in Hz)."""
    power = np.abs(np.fft.rfft(audio.astype(np.float64), axis=1)) ** 2
    return power, np.fft.rfftfreq(audio.shape[1], 1 / rate)


def high_band_share(audio: np.ndarray, rate: int, above_hz: float = HIGH_BAND_HZ) -> np.ndarray:
    """Each clip's share of its energy above `above_hz`."""
    power, freqs = _power(audio, rate)
    return power[:, freqs >= above_hz].sum(axis=1) / np.maximum(power.sum(axis=1), 1e-30)


def spectral_centroid(audio: np.ndarray, rate: int) -> np.ndarray:
    """Each clip's spectral centroid in Hz (of its whole power spectrum): its brightness."""
    power, freqs = _power(audio, rate)
    return (power * freqs).sum(axis=1) / np.maximum(power.sum(axis=1), 1e-30)


def band_flatness(audio: np.ndarray, rate: int, window_s: tuple[float, float] = (0.05, 0.4),
                  band_hz: tuple[float, float] = (1000.0, 16000.0)) -> np.ndarray:  # fmt: skip
    """Mean within-band spectral flatness of each clip [N, T] (NaN where the window is silent).

    One power spectrum (a periodogram, Hann window) of `window_s` after the onset (the first
    sample within 20 dB of the peak); in each third-octave band whose centre lies in `band_hz`,
    the geometric over the arithmetic mean of the power; the mean over the bands. White noise
    scores about 0.56 (e^-gamma, a periodogram's own spread), a bank of pure sines near 0.01,
    a real cymbal's dense lines in between.
    """
    first, last = (int(s * rate) for s in window_s)
    centres = band_hz[0] * 2.0 ** (np.arange(64) / 3)
    centres = centres[centres <= band_hz[1] * 1.0001]
    freqs = np.fft.rfftfreq(last - first, 1 / rate)
    bands = [(freqs >= c / THIRD_OCTAVE) & (freqs < c * THIRD_OCTAVE) for c in centres]
    bands = [b for b in bands if b.sum() >= 2 and freqs[b].max() < rate / 2]
    out = np.full(len(audio), np.nan)
    for i, clip in enumerate(audio.astype(np.float64)):
        onset = int(np.argmax(np.abs(clip) >= 0.1 * np.abs(clip).max()))
        segment = clip[onset + first : onset + last]
        if len(segment) < last - first or not np.any(segment):
            continue
        power = np.abs(np.fft.rfft(segment * np.hanning(len(segment)))) ** 2 + 1e-30
        ratios = [np.exp(np.log(power[b]).mean()) / power[b].mean() for b in bands]
        out[i] = float(np.mean(ratios))
    return out


def signal_report(audio: np.ndarray, labels: list[str] | None, rate: int) -> dict[str, dict]:
    """Per class (or 'all'): median |mean|/RMS, median decay time, comb peak dB and Hz, median
    share of energy above HIGH_BAND_HZ."""
    names = np.array(labels if labels else ["all"] * len(audio))
    out = {}
    for name in sorted(set(names)):
        clips = audio[names == name]
        peak_db, peak_hz = comb_peak(clips, rate)
        out[str(name)] = {
            "clips": len(clips),
            "dc_ratio": round(float(np.median(dc_ratio(clips))), 5),
            "decay_s": round(float(np.median(decay_time(clips, rate))), 3),
            "comb_peak_db": round(peak_db, 2),
            "comb_peak_hz": round(peak_hz, 1),
            "high_share": round(float(np.median(high_band_share(clips, rate))), 4),
        }
    return out
