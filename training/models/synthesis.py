"""Differentiable synthesis inside the generator: envelopes on knots, band noise, oscillators.

Every piece is ordinary tensor arithmetic (gathers, products, sines, an average pool), so the
same code runs in training and inside the exported ONNX graph. Nothing here is random at run
time: the noise is a fixed bank mixed by weights that come from the latent, so a preset gives
the same clip for the same latent, and different latents give different noise.

Controls live on `Knots`, a time grid that is dense at the start of the clip and sparse at
its end (geometric spacing), because a one-shot changes fastest at its attack. Between knots
values are linear; a frequency given on knots integrates to a phase exactly (piecewise
quadratic), so oscillators need no running sum over samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpad.training.models import matmul_dft

NOISE_SEED = 20261125  # the noise bank is part of the model: fixed, rebuilt the same everywhere
LOWEST_HZ = 20.0  # nothing below this is synthesised; the DC blocker cuts at about 13 Hz
DC_WINDOW_S = 0.025  # the DC blocker's moving averages: first null at 40 Hz
GAIN_TOP = 2.0  # exp_sigmoid's ceiling for band gains and amplitudes
INIT_DECAY_S = 0.15  # the decay the amplitude heads start from
TREND_KNOTS = 4  # a grid's tail knots continue the trend of this many last knots
# A clip made longer than its knots' span (model.synth_span) rings on past it, each amplitude
# falling at its own last rate but by at least this much a second in logit: about 12 dB/s once
# quiet (exp_sigmoid's gain is 10^logit there), so every tail ends.
TAIL_FALL = 0.6
# Above TAIL_HZ a tail falls faster, as (hz / TAIL_HZ)^TAIL_TILT times: a real crash's highs
# die first. FluidR3's and Hydrogen's crashes fall 14, 9, 16, 19 and 26 dB/s from 1.1 to 2.0 s
# in the octaves from 0.5 to 16 kHz; this gives 12 up to 2 kHz, 14 at 3, 19 at 6, 25 at 12.
TAIL_HZ = 2000.0
TAIL_TILT = 0.4


def exp_sigmoid(x: torch.Tensor, top: float = 2.0, floor: float = 1e-7) -> torch.Tensor:
    """A positive gain from a network output: top * sigmoid(x)^ln(10) + floor (DDSP's scale).

    It reaches far below -60 dB for negative inputs, so a hit can decay into silence.
    """
    return top * torch.sigmoid(x) ** math.log(10.0) + floor


class Knots(nn.Module):
    """A fixed time grid of `count` knots over `samples` at `rate`, with linear interpolation.

    Knot 0 is at t = 0, the others are spaced geometrically from `first_s` to the clip's end;
    or to `span` samples, with `tail` more knots spaced geometrically from there to the end
    (a clip made longer keeps its grid, so its first `span` samples play as they did).
    """

    def __init__(self, count: int, samples: int, rate: int, first_s: float = 5e-4,
                 span: int = 0, tail: int = 0):  # fmt: skip
        super().__init__()
        if count < 3:
            raise ValueError(f"synthesis needs at least 3 knots, got {count}")
        if (tail > 0) != (0 < span < samples):
            raise ValueError(
                f"knots spanning {span} of {samples} samples need tail knots after "
                f"them, and tail knots ({tail}) a span shorter than the clip"
            )
        end = (span or samples) / rate
        times = np.concatenate([[0.0], np.geomspace(min(first_s, end / count), end, count - 1),
                                np.geomspace(end, samples / rate, tail + 1)[1:]])  # fmt: skip
        count += tail
        t = np.arange(samples) / rate
        left = np.clip(np.searchsorted(times, t, side="right") - 1, 0, count - 2)
        width = times[left + 1] - times[left]
        offset = t - times[left]
        self.count, self.samples, self.rate = count, samples, rate
        self.span, self.tail = span or samples, tail
        own = count - tail  # the knots a network sets; the tail's continue them
        last = times[own - min(TREND_KNOTS, own - 1) : own]  # knot 0 is a hit's start: never
        fit = last - last.mean()
        trend = fit / (fit * fit).sum() if tail else np.zeros_like(fit)  # least squares
        self.register_buffer("trend", torch.tensor(trend[:, None], dtype=torch.float32),
                             persistent=False)  # fmt: skip
        beyond = times[own:] - times[own - 1]
        self.register_buffer("beyond", torch.tensor(beyond, dtype=torch.float32),
                             persistent=False)  # fmt: skip
        frac = offset / width
        # Row j: the hat function of knot j at every sample. A product with it interpolates
        # (several times faster than gathering both neighbours on a CPU).
        self.register_buffer("position", torch.from_numpy(left + frac).float(), persistent=False)
        self.register_buffer("basis", _KnotBasis.apply(self.position, count), persistent=False)
        self.register_buffer("times", torch.tensor(times, dtype=torch.float32), persistent=False)
        # Row j: the running integral of hat j, so a product with it integrates.
        self.register_buffer("seconds", torch.from_numpy(t).float(), persistent=False)
        ramps = _KnotIntegral.apply(torch.from_numpy(t), torch.from_numpy(times))  # float64
        self.register_buffer("ramps", ramps.float(), persistent=False)

    @property
    def own(self) -> int:
        """How many knots a network sets: those of the span, not the tail's."""
        return self.count - self.tail

    def extend(self, values: torch.Tensor, fall: float | torch.Tensor | None) -> torch.Tensor:
        """[..., own] knot values -> [..., count]: the tail's knots continue the least-squares
        trend of the last TREND_KNOTS in time, falling by at least `fall` a second (a number,
        or [..., 1] per row), or hold the last value (`fall` None: a frequency)."""
        if not self.tail:
            return values
        last = values[..., -1:]
        if fall is None:
            return torch.cat([values, last + 0.0 * self.beyond], dim=-1)
        slope = values[..., -len(self.trend) :] @ self.trend.to(values.dtype)
        slope = torch.minimum(slope, -torch.as_tensor(fall, dtype=values.dtype))
        return torch.cat([values, last + slope * self.beyond], dim=-1)

    def hats(self) -> torch.Tensor:
        """The hat functions [count, samples]: a product with them interpolates."""
        if torch.onnx.is_in_onnx_export():  # built when the graph loads: 4 MB less at 44.1 kHz
            return _KnotBasis.apply(self.position, self.count)
        return self.basis

    def interpolate(self, values: torch.Tensor) -> torch.Tensor:
        """[..., count] knot values -> [..., samples], linear between knots."""
        return values @ self.hats().to(values.dtype)

    def interpolate_each(self, *curves: torch.Tensor) -> list[torch.Tensor]:
        """Several curves at once, one basis: a product each, which an exported graph runs
        without the copies that splitting one product's result would cost ONNX Runtime."""
        hats = self.hats().to(curves[0].dtype)
        return [values @ hats for values in curves]

    def integrate(self, values: torch.Tensor) -> torch.Tensor:
        """[..., count] knot values -> the running integral over time [..., samples] (seconds).

        Exact for the piecewise-linear curve, so a frequency in Hz integrates to a phase in
        cycles. One product with the hats' integrals: gathering each sample's segment took
        PyTorch tens of times longer, and ONNX Runtime gathers slowly too.
        """
        ramps = self.ramps
        if torch.onnx.is_in_onnx_export():  # built when the graph loads: 8 MB less at 44.1 kHz
            ramps = _KnotIntegral.apply(self.seconds, self.times)
        # A phase runs to thousands of cycles: never in a mixed-precision product (bfloat16
        # would put the partials tens of cycles off).
        dtype = torch.promote_types(values.dtype, torch.float32)
        with torch.autocast(values.device.type, enabled=False):
            return values.to(dtype) @ ramps.to(dtype)


class _KnotBasis(torch.autograd.Function):
    """The hat functions [count, samples], max(0, 1 - |position - j|), from each sample's
    position on the knot axis (its left knot plus the fraction of the way to the next).

    In an exported graph as operators on the [samples] positions, which ONNX Runtime folds
    into the table when it loads the graph; the file stores the positions, not the table.
    The Relu first (positions are not negative) keeps the exporter from folding it itself.
    """

    @staticmethod
    def forward(ctx, position, count: int) -> torch.Tensor:  # noqa: ANN001, ARG004
        rows = torch.arange(count, device=position.device, dtype=position.dtype)[:, None]
        return (1 - (position - rows).abs()).clamp_min(0)

    @staticmethod
    def symbolic(g, position, count: int):  # noqa: ANN001
        rows = g.op("Constant", value_t=torch.arange(count, dtype=torch.float32)[:, None])
        one = g.op("Constant", value_t=torch.ones((), dtype=torch.float32))
        offset = g.op("Abs", g.op("Sub", g.op("Relu", position), rows))
        return g.op("Relu", g.op("Sub", one, offset))


class _KnotIntegral(torch.autograd.Function):
    """The running integrals of the hat functions [count, samples], from each sample's time
    and the knot times: knot j's hat rises over segment j - 1 and falls over segment j, and
    with u the time spent so far in a segment of length L, the rise has gathered
    u^2 / (2 L) and the fall u - u^2 / (2 L). Built once in PyTorch; in an exported graph as
    operators, which ONNX Runtime folds when it loads the graph (the table is 8 MB at
    44.1 kHz; the times are 180 kB).
    """

    @staticmethod
    def forward(ctx, seconds, times) -> torch.Tensor:  # noqa: ANN001, ARG004
        lo, hi = times[:-1, None], times[1:, None]
        u = torch.minimum(torch.maximum(seconds, lo), hi) - lo  # [segments, samples]
        rise = u * u / (2 * (hi - lo))
        zero = torch.zeros_like(u[:1])
        return torch.cat([u - rise, zero]) + torch.cat([zero, rise])

    @staticmethod
    def symbolic(g, seconds, times):  # noqa: ANN001
        def const(values) -> object:  # noqa: ANN001
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        count = times.type().sizes()[0]
        lo = g.op(
            "Unsqueeze",
            g.op("Slice", times, const([0]), const([count - 1]), const([0])),
            const([1]),
        )
        hi = g.op(
            "Unsqueeze", g.op("Slice", times, const([1]), const([count]), const([0])), const([1])
        )
        # The Relu first (times are not negative) keeps the exporter from folding the table.
        clamped = g.op("Min", g.op("Max", g.op("Relu", seconds), lo), hi)
        u = g.op("Sub", clamped, lo)
        two = g.op("Constant", value_t=torch.tensor(2.0))
        rise = g.op("Div", g.op("Mul", u, u), g.op("Mul", two, g.op("Sub", hi, lo)))
        zero = g.op("Mul", g.op("Slice", u, const([0]), const([1]), const([0])),
                    g.op("Constant", value_t=torch.tensor(0.0)))  # fmt: skip
        falls = g.op("Concat", g.op("Sub", u, rise), zero, axis_i=0)
        return g.op("Add", falls, g.op("Concat", zero, rise, axis_i=0))


BAND_SCALES = ("log", "mel", "linear")


_WARPS = {"log": (np.log, np.exp),
          "mel": (lambda f: 2595.0 * np.log10(1.0 + f / 700.0),
                  lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)),
          "linear": (lambda f: f, lambda f: f)}  # fmt: skip


def _warp(scale: str, inverse: bool = False):  # noqa: ANN202
    if scale not in BAND_SCALES:
        raise ValueError(f"band scale {scale!r} is not one of {', '.join(BAND_SCALES)}")
    return _WARPS[scale][int(inverse)]


def band_centres(rate: int, bands: int, scale: str = "log") -> np.ndarray:
    """The Hz at which each of `_band_filters`' bands peaks."""
    return _warp(scale, True)(np.linspace(_warp(scale)(LOWEST_HZ), _warp(scale)(rate / 2), bands))


def tail_fall(hz: torch.Tensor) -> torch.Tensor:
    """The least a control of a sound at `hz` falls a second in a tail (logit, as TAIL_FALL):
    TAIL_FALL up to TAIL_HZ, then rising as (hz / TAIL_HZ)^TAIL_TILT, so highs die first."""
    return TAIL_FALL * (hz / TAIL_HZ).clamp_min(1.0) ** TAIL_TILT


def _band_filters(bins: int, rate: int, bands: int, scale: str = "log") -> np.ndarray:
    """[bands, bins] power-complementary filters, triangles evenly spaced on a log, mel or
    linear frequency axis: their squares sum to one between LOWEST_HZ and Nyquist.

    Mel spacing gives the top octaves more bands (cymbals and hats are shaped there); log
    spacing gives every octave the same number; linear spacing resolves the metal's
    inharmonic lines as finely at 6 kHz as at 600 Hz.
    """
    warp = _warp(scale)
    axis = warp(np.maximum(np.linspace(0, rate / 2, bins), 1e-3))
    centres = np.linspace(warp(LOWEST_HZ), warp(rate / 2), bands)
    width = centres[1] - centres[0]
    tri = np.clip(1 - np.abs(axis[None, :] - centres[:, None]) / width, 0, None)
    tri[0, axis < centres[0]] = 0.0  # nothing below the lowest band's centre
    tri[-1, axis > centres[-1]] = 1.0
    power = tri / np.maximum(tri.sum(0, keepdims=True), 1e-12)
    return np.sqrt(power)


class NoiseBank(nn.Module):
    """`noises` fixed white noises, each split into `bands` log- or mel-spaced bands of unit
    RMS (so equal band gains give equal power per band: pink noise on the log scale).

    The mix `weights [B, noises]` (unit length) picks one noise per clip: a different mix is
    a different noise with the same statistics. The bank is made from the noises' spectra
    (`ShapedNoise`'s, one band per component) by an inverse DFT: once here in PyTorch, and in
    an exported graph from the spectra, which ONNX Runtime folds into a constant when it
    loads the graph: a 44.1 kHz bank would put 9 MB in the file, its spectra put 1 MB.
    """

    def __init__(self, noises: int, bands: int, samples: int, rate: int, scale: str = "log",
                 seed: int = NOISE_SEED):  # fmt: skip
        super().__init__()
        self.noises, self.bands, self.samples = noises, bands, samples
        self.spectra = ShapedNoise(noises, bands, samples, rate, scale, seed)
        with torch.no_grad():
            self.register_buffer("bank", _SplitBank.apply(*self._split_args()), persistent=False)

    def _split_args(self) -> tuple:
        s = self.spectra
        return s.lower_seen, s.upper_seen, s.lower, s.upper, self.bands, s.length, self.samples

    def forward(self, weights: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """weights [B, noises], gains [B, bands, samples] -> noise [B, samples]."""
        return (self._mixed(weights) * gains).sum(dim=1)

    def _mixed(self, weights: torch.Tensor) -> torch.Tensor:
        """The bank mixed into one noise per clip, split in bands: [B, bands, samples]."""
        bank = self.bank
        if torch.onnx.is_in_onnx_export():
            bank = _SplitBank.apply(*self._split_args())
        return (weights @ bank.to(weights.dtype)).view(-1, self.bands, self.samples)


class _SplitBank(torch.autograd.Function):
    """A noise bank made from its spectra, as ONNX operators; export-time only.

    A function rather than traced code because the exporter folds whatever depends on
    constants alone: it would store the expanded spectra (12 MB at 44.1 kHz) in the file.
    Left as operators, they are folded by ONNX Runtime when it loads the graph instead.
    """

    @staticmethod
    def forward(ctx, lower_seen, upper_seen, lower, upper, bands: int, length: int,
                samples: int) -> torch.Tensor:  # noqa: ANN001, ARG004  # fmt: skip
        n, shaped = lower_seen.shape[0], 0.0
        which = torch.arange(bands, device=lower.device)[:, None]
        for band, seen in ((lower, lower_seen), (upper, upper_seen)):
            mask = (band[None, :] == which).float()[None, :, None, :]  # [1, bands, 1, bins]
            shaped = shaped + seen.float().view(n, 1, 2, -1) * mask
        shaped = shaped.reshape(n * bands, 2, -1)
        waves = irfft(shaped[:, 0], shaped[:, 1], length)[:, :samples]
        return waves.reshape(n, -1)

    @staticmethod
    def symbolic(g, lower_seen, upper_seen, lower, upper, bands: int, length: int,
                 samples: int):  # noqa: ANN001  # fmt: skip
        def const(values) -> object:  # noqa: ANN001
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        which, shaped = const([[k] for k in range(bands)]), None  # [bands, 1]
        for band, seen in ((lower, lower_seen), (upper, upper_seen)):
            hit = g.op("Equal", g.op("Unsqueeze", band, const([0])), which)  # [bands, bins]
            mask = g.op("Unsqueeze", g.op("Cast", hit, to_i=1), const([0, 3]))
            planar = g.op("Reshape", g.op("Cast", seen, to_i=1), const([0, 2, -1]))
            wide = g.op("Unsqueeze", g.op("Transpose", planar, perm_i=[0, 2, 1]), const([1]))
            term = g.op("Mul", wide, mask)  # [noises, bands, bins, 2]
            shaped = term if shaped is None else g.op("Add", shaped, term)
        flat = g.op("Reshape", shaped, const([-1, length // 2 + 1, 2]))
        wave = g.op("DFT", flat, const(length), axis_i=1, inverse_i=1, onesided_i=1)
        clip = g.op("Slice", wave, const([0]), const([samples]), const([1]))
        rows = g.op("Reshape", clip, const([0, -1]))  # [noises * bands, samples]
        return g.op("Reshape", rows, g.op("Concat", g.op("Shape", lower_seen, end_i=1),
                                          const([-1]), axis_i=0))  # fmt: skip


class ShapedNoise(nn.Module):
    """`noises` fixed white noises whose spectra a clip shapes over `bands` fine bands: R
    noises of fixed spectrum per clip, each under its own envelope.

    A time-varying spectrum of low rank, as in non-negative matrix factorisation: a snare is
    a drum-head component and a wire component that decay at their own rates. It equals band
    splitting as `NoiseBank` does it (every band of every noise at unit RMS) followed by a
    sum weighted by the spectrum, but is made in the frequency domain: each bin lies in at
    most two neighbouring bands, so a spectrum reaches the bins by two gathers, and an
    inverse DFT gives the waveform. The graph stores the noises' spectra (kilobytes), where a
    bank of 128 bands would store megabytes.
    """

    def __init__(self, noises: int, bands: int, samples: int, rate: int,
                 scale: str = "linear", seed: int = NOISE_SEED):  # fmt: skip
        super().__init__()
        rng = np.random.default_rng(seed)
        # The DFT runs at a power-of-two length and the clip is its start: runtimes' inverse
        # DFTs are fast at such lengths only (ONNX Runtime's falls back to an O(n^2) sum).
        self.length = 1 << (samples - 1).bit_length()
        spectrum = np.fft.rfft(rng.standard_normal((noises, self.length)), axis=-1)
        filters = _band_filters(spectrum.shape[-1], rate, bands, scale)
        lower, upper = _two_bands(filters)
        bins = np.arange(filters.shape[1])
        rms = _band_rms(spectrum, filters, self.length)  # [noises, bands]
        if filters[:, 0].any():  # the graph's inverse DFT counts a DC bin twice
            raise ValueError("shaped noise bands must leave the DC bin out")
        self.noises, self.bands, self.samples = noises, bands, samples
        for name, band in (("lower", lower), ("upper", upper)):
            # The noises' spectra as each bin's lower or upper band sees them: the real parts,
            # then the imaginary parts, [noises, 2 * bins]; half precision, like the bank.
            seen = spectrum * (filters[band, bins] / rms[:, band])
            ri = np.concatenate([seen.real, seen.imag], axis=-1)
            self.register_buffer(name, torch.from_numpy(band).long(), persistent=False)
            self.register_buffer(f"{name}_seen", torch.from_numpy(ri).half(), persistent=False)

    def components(self, weights: torch.Tensor, spectra: torch.Tensor, knots: Knots,
                   envelopes: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """weights [B, noises], spectra [B, R, bands], envelopes [B, R, knots.count] (knot
        values) -> noise [B, samples]."""
        if torch.onnx.is_in_onnx_export():
            return self._components_in_graph(weights, spectra, knots, envelopes)
        return (self.waves(weights, spectra) * knots.interpolate(envelopes)).sum(dim=1)

    def waves(self, weights: torch.Tensor, spectra: torch.Tensor) -> torch.Tensor:
        """weights [B, noises], spectra [B, R, bands] -> R shaped noises [B, R, samples]."""
        b, r = spectra.shape[:2]
        re = im = 0.0
        for band, seen in ((self.lower, self.lower_seen), (self.upper, self.upper_seen)):
            gain = spectra.index_select(-1, band)  # [B, R, bins]
            noise = (weights @ seen.to(weights.dtype)).view(b, 1, 2, -1)
            re, im = re + gain * noise[:, :, 0], im + gain * noise[:, :, 1]
        re, im = re.reshape(b * r, -1), im.reshape(b * r, -1)
        return irfft(re, im, self.length)[:, : self.samples].reshape(b, r, self.samples)

    def _components_in_graph(self, weights: torch.Tensor, spectra: torch.Tensor, knots: Knots,
                             envelopes: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """`components` as ONNX Runtime runs it fast: the inverse DFT by matrix products
        (`matmul_dft`, its DFT node takes several times longer), with the clip axis last
        throughout and the samples in the order the transform leaves them until the sum."""
        plan = matmul_dft.Plan(self.length, self.samples)
        b, r, bands = spectra.shape
        gains = spectra.reshape(b * r, bands).T  # [bands, B R]
        spectrum = 0.0
        for band, seen in ((self.lower, self.lower_seen), (self.upper, self.upper_seen)):
            band = nn.functional.pad(band, (0, plan.padding))
            # [2, rows, noises]: the bins down the rows, zero past Nyquist
            rows = nn.functional.pad(seen.float().view(self.noises, 2, -1), (0, plan.padding))
            noise = rows.permute(1, 2, 0) @ weights.T  # [2, rows, B]
            spectrum = spectrum + gains[band].view(1, -1, b, r) * noise[..., None]
        waves = matmul_dft.transform(spectrum.reshape(2, plan.rows, b * r), plan)
        order = torch.from_numpy(plan.order()).clamp_max(self.samples - 1)
        hats = _KnotBasis.apply(knots.position[order], knots.count)  # [count, rows out]
        shaped = waves * (hats.T @ envelopes.reshape(b * r, -1).T)  # [rows out, B R]
        noise = shaped.view(-1, b, r).sum(dim=-1)
        return noise[torch.from_numpy(plan.time_order())].T


def _two_bands(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper band of each bin ([bins] each), from [bands, bins] triangles.

    A bin in one band only (or none) gets a zero-weight neighbour: the filters stay exact.
    """
    live = filters > 0
    if (live.sum(0) > 2).any():
        raise ValueError("fine bands overlap more than two to a bin")
    lower = np.where(live.any(0), live.argmax(0), 0)
    upper = np.minimum(lower + 1, filters.shape[0] - 1)
    return lower, upper


def _band_rms(spectrum: np.ndarray, filters: np.ndarray, samples: int) -> np.ndarray:
    """[noises, bands]: the RMS of each noise split by each filter, by Parseval."""
    twice = np.full(spectrum.shape[-1], 2.0)  # bins that stand for a conjugate pair
    twice[0] = 1.0
    if samples % 2 == 0:
        twice[-1] = 1.0
    power = (np.abs(spectrum) ** 2 * twice) @ (filters**2).T
    return np.sqrt(power) / samples + 1e-12


def irfft(re: torch.Tensor, im: torch.Tensor, length: int) -> torch.Tensor:
    """[N, bins] real and imaginary parts -> [N, length] real signals (numpy's irfft)."""
    dtype = torch.promote_types(re.dtype, torch.float32)  # half has no complex FFT here
    return torch.fft.irfft(torch.complex(re.to(dtype), im.to(dtype)), n=length, dim=1)


def unit_mix(z: torch.Tensor, noises: int) -> torch.Tensor:
    """The noise-bank weights of a latent: its first `noises` values, scaled to unit length.

    Not learned: the noise a clip gets is part of its randomness, like z itself.
    """
    w = z[:, :noises]
    return w * torch.rsqrt((w * w).sum(dim=1, keepdim=True) + 1e-8)


def weighted_partials(hz: torch.Tensor, phase0: torch.Tensor, weights: torch.Tensor,
                      hats: torch.Tensor, rate: int, block: int = 128) -> torch.Tensor:  # fmt: skip
    """sum_h (weights @ hats)[h, t] sin 2 pi (hz_h t + phase0_h): partials of constant
    frequency hz [B, H] under knot-interpolated amplitudes (weights [B, H, J], hats [J, T]).

    Computed by blocks of `block` samples, sin(a + b) = sin a cos b + cos a sin b: sines at
    each block's start and within one block, and the sum over partials as a matrix product,
    so no [B, H, T] tensor is made (64 partials at 16 kHz: 32 times fewer sines).
    """
    b, j, samples = hz.shape[0], hats.shape[0], hats.shape[1]
    blocks = -(-samples // block)
    starts = torch.arange(blocks, dtype=hz.dtype, device=hz.device) * (block / rate)
    steps = torch.arange(block, dtype=hz.dtype, device=hz.device) / rate
    outer = hz[:, :, None] * starts + phase0[:, None]  # [B, H, blocks], cycles
    inner = hz[:, :, None] * steps  # [B, H, block]
    w = weights.transpose(1, 2)[:, :, None, :]  # [B, J, 1, H]
    by_sin = (w * sines(outer).transpose(1, 2)[:, None]) @ sines(inner + 0.25)[:, None]
    by_cos = (w * sines(outer + 0.25).transpose(1, 2)[:, None]) @ sines(inner)[:, None]
    mixed = (by_sin + by_cos).reshape(b, j, blocks * block)[:, :, :samples]  # [B, J, T]
    return (mixed * hats.to(mixed.dtype)).sum(dim=1)


def sines(phase_cycles: torch.Tensor) -> torch.Tensor:
    """sin(2 pi phase), with the whole cycles removed first so float32 keeps the fraction."""
    return torch.sin(2 * math.pi * (phase_cycles - torch.floor(phase_cycles)))


def moving_average(x: torch.Tensor, width: int) -> torch.Tensor:
    """[B, T] averaged over the last `width` samples (zeros before the start): running sums.

    Causal, so nothing of the clip is smeared to before its start and lost there.
    """
    total = torch.cumsum(F.pad(x, (width, 0)), dim=-1)
    return (total[:, width:] - total[:, :-width]) / width


def dc_block(audio: torch.Tensor, rate: int) -> torch.Tensor:
    """[B, T] minus its twice moving-averaged self: zero gain at DC, -0.3 dB at 50 Hz.

    What the clip sums to (its DC) is kept by the averages unless they run past its end, so
    a hit that has ended inside the clip comes out with a zero mean.
    """
    width = int(round(DC_WINDOW_S * rate))
    return audio - moving_average(moving_average(audio, width), width)


def tail_fade(samples: int, rate: int, seconds: float = 0.05) -> torch.Tensor:
    """[samples] ones with a raised-cosine fade over the last `seconds`: every clip ends."""
    n = min(samples, max(1, int(seconds * rate)))
    fade = np.ones(samples, np.float32)
    fade[-n:] = 0.5 * (1 + np.cos(np.linspace(0, math.pi, n)))
    return torch.from_numpy(fade)


def midi_to_hz(midi: torch.Tensor) -> torch.Tensor:
    return 440.0 * torch.pow(2.0, (midi - 69.0) / 12.0)


def control_network(inputs: int, width: int, layers: int = 3) -> nn.Sequential:
    """Dense layers with leaky ReLU: the part of a synth generator that learns."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(inputs if i == 0 else width, width), nn.LeakyReLU(0.2)]
    return nn.Sequential(*mods)


def decaying_bias(head: nn.Linear, rows: int, knots: Knots, level: float) -> None:
    """Start an amplitude head near `level` * exp(-t / INIT_DECAY_S) on every row, small
    weights: training begins from quiet decaying hits rather than from loud noise."""
    gain = level * np.exp(-knots.times.numpy()[: knots.own] / INIT_DECAY_S) + 1e-6
    s = np.clip((gain / GAIN_TOP) ** (1 / math.log(10.0)), 1e-6, 1 - 1e-6)
    with torch.no_grad():
        head.weight.mul_(0.1)
        head.bias.copy_(torch.from_numpy(np.tile(np.log(s / (1 - s)), rows)).float())
