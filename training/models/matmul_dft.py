"""The inverse real DFT of power-of-two length as batched matrix products, for ONNX graphs.

ONNX Runtime's CPU `DFT` runs one radix-2 transform at a time on one thread (about 5 ms per
65536-point signal here). The same transform split the Cooley-Tukey way into stages of radix
8-16 is a product per stage, which the runtime's GEMM does on every core. Stages are numbered
from the outside, j = 0 (applied last) to s - 1 (applied first, on the input). With the input
index k = k_0 + r_0 k_1 + ... + (N / r_(s-1)) k_(s-1) and the output n = m_1 + L_1 n_0, where
L_j is the product of the radices from j on and m_j < L_j the output of the stages from j on:

    x[m_j] = sum over k_j of exp(2 pi i k_j m_j / L_j) * (stage j + 1's result for m_(j+1))

so stage j contracts its input digit k_j with a matrix for each m_(j+1): the twiddle factors
ride in the matrices, not in passes over the data. Every stage writes its output digit next
to those found before, so each stage's result is the next stage's input as it lies in
memory: no transposes (which cost ONNX Runtime more than the products). The samples come out
with their digits reversed, which `Plan.order` describes. The clip axis is innermost, so the
products are wide; complex numbers are 2 x 2 real blocks, so a stage is one product.

Only the half spectrum is read (the Nyquist bin as a row of its own, whose other entries must
be zero) and only the real part of the samples the clip keeps is computed. The DC bin must be
zero: it would count twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def radices(n: int, largest: int = 16) -> list[int]:
    """Stage radices for a power of two, outermost first: as few stages as `largest` allows,
    the largest innermost (its padding past Nyquist is the smallest share)."""
    bits = n.bit_length() - 1
    if n != 1 << bits or n < 4:
        raise ValueError(f"matmul DFT length {n} is not a power of two >= 4")
    stages = math.ceil(bits / (largest.bit_length() - 1))
    sizes = [bits // stages + (i < bits % stages) for i in range(stages)]
    return [1 << s for s in reversed(sizes)]


@dataclass(frozen=True)
class Plan:
    """How a transform of `length` points that keeps `samples` is split into stages."""

    length: int
    samples: int

    def __post_init__(self) -> None:
        radices(self.length)
        if not 0 < self.samples <= self.length:
            raise ValueError(f"matmul DFT of {self.length} points cannot keep {self.samples}")

    @property
    def radices(self) -> list[int]:
        """Stage radices, outermost first."""
        return radices(self.length)

    @property
    def stride(self) -> int:
        """Input rows per value of the last input digit."""
        return self.length // self.radices[-1]

    @property
    def rows(self) -> int:
        """Input rows: the bins up to Nyquist, then zeros to fill the Nyquist digit's row."""
        return (self.radices[-1] // 2 + 1) * self.stride

    @property
    def padding(self) -> int:
        """Zero rows after the Nyquist bin."""
        return self.rows - self.length // 2 - 1

    @property
    def kept(self) -> int:
        """Values of the first output digit that hold a kept sample."""
        return math.ceil(self.samples / (self.length // self.radices[0]))

    def order(self) -> np.ndarray:
        """The sample at each output row, [length / r_1 * kept] (some past the clip)."""
        m = _digits_value(self.radices[:0:-1])
        return (m[:, None] + (self.length // self.radices[0]) * np.arange(self.kept)).reshape(-1)

    def time_order(self) -> np.ndarray:
        """The output row of each kept sample, [samples]: gathering them puts time in order."""
        return np.argsort(self.order(), kind="stable")[: self.samples]

    def stage_phases(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage j's phases in 1/L_j of a turn, as two int32 parts whose sum is the phase:
        [matrices, 1, inputs] (from the outputs of stages j + 1 on) and [1, outputs, inputs].
        Integers, so no conversion to half precision rounds them."""
        r = self.radices
        inner, size = math.prod(r[j + 1 :]), math.prod(r[j:])
        k = np.arange(r[j] // 2 + 1 if j == len(r) - 1 else r[j])
        n = np.arange(self.kept if j == 0 else r[j])
        m = _digits_value(r[:j:-1])
        ph_m = np.mod(np.outer(m, k), size)[:, None, :]
        ph_n = np.mod(np.outer(n, k) * inner, size)[None]
        return torch.from_numpy(ph_m.astype(np.int32)), torch.from_numpy(ph_n.astype(np.int32))

    def stage_scale(self, j: int) -> torch.Tensor:
        """Stage j's weight on each input column (re, then im), float64: 1 / r_j, and twice
        that on the innermost stage's bins below Nyquist, so the stages together weigh as
        irfft does (2 / N, 1 / N at Nyquist, whose imaginary part counts for nothing) and
        the values stay near the input's size in every stage (half precision holds them)."""
        r = self.radices[j]
        if j != len(self.radices) - 1:
            return torch.full((2 * r,), 1.0 / r, dtype=torch.float64)
        half = torch.full((r // 2 + 1,), 2.0 / r, dtype=torch.float64)
        half[-1] = 1.0 / r
        imag = half.clone()
        imag[-1] = 0.0
        return torch.cat([half, imag])


def _digits_value(done: list[int]) -> np.ndarray:
    """m for each matrix of a stage: the digits found so far, the first stage's slowest."""
    m, weight = np.zeros(1, np.int64), 1
    for r in done:
        m = (m[:, None] + weight * np.arange(r)[None, :]).reshape(-1)
        weight *= r
    return m


class _StageMatrix(torch.autograd.Function):
    """A stage's matrices [count, outputs, 2 * inputs] from its phases: exp(2 pi i phase / L)
    as real blocks, rows (output, re/im) when `real` is false, else the real part alone.
    `forward` and `symbolic` compute the same formula and must change together.

    In an exported graph as operators on the phase tables, which ONNX Runtime folds when it
    loads the graph: the outermost stage's matrices are 6 MB at 44.1 kHz, its tables 0.3 MB.
    """

    @staticmethod
    def forward(ctx, ph_m, ph_n, scale, step, size: int, real: bool) -> torch.Tensor:  # noqa: ANN001, ARG004
        phase = (ph_m + ph_n) % size
        phase = torch.where(phase > size // 2, phase - size, phase)  # within half a turn of 0
        turns = phase.float() * step.float()
        cos, sin = torch.cos(turns), torch.sin(turns)
        re_row = torch.cat([cos, -sin], dim=-1) * scale.float()
        if real:
            return re_row
        im_row = torch.cat([sin, cos], dim=-1) * scale.float()
        rows = torch.stack([re_row, im_row], dim=2)  # [count, outputs, 2, 2 * inputs]
        return rows.reshape(rows.shape[0], -1, rows.shape[-1])

    @staticmethod
    def symbolic(g, ph_m, ph_n, scale, step, size: int, real: bool):  # noqa: ANN001
        def const(values, dtype=torch.int64) -> object:  # noqa: ANN001
            return g.op("Constant", value_t=torch.tensor(values, dtype=dtype))

        def as_float(value) -> object:  # noqa: ANN001
            return g.op("Cast", value, to_i=1)

        # The Abs first (phases are not negative) keeps the exporter from folding the table.
        # Integers and float64 until the sines: a half-precision export leaves them alone.
        size_i = const(size, torch.int32)
        phase = g.op("Mod", g.op("Add", g.op("Abs", ph_m), ph_n), size_i)
        wrapped = g.op("Sub", phase, size_i)
        phase = g.op("Where", g.op("Greater", phase, const(size // 2, torch.int32)), wrapped, phase)
        turns = g.op("Mul", as_float(phase), as_float(step))
        cos, sin = g.op("Cos", turns), g.op("Sin", turns)
        scale = as_float(scale)
        re_row = g.op("Mul", g.op("Concat", cos, g.op("Neg", sin), axis_i=-1), scale)
        if real:
            return re_row
        im_row = g.op("Mul", g.op("Concat", sin, cos, axis_i=-1), scale)
        rows = g.op("Concat", g.op("Unsqueeze", re_row, const([2])),
                    g.op("Unsqueeze", im_row, const([2])), axis_i=2)  # fmt: skip
        count, _, inputs = ph_m.type().sizes()
        return g.op("Reshape", rows, const([count, -1, 2 * inputs]))


def stage_matrix(plan: Plan, j: int) -> torch.Tensor:
    """Stage j's matrices (0 is the outermost, applied last; s - 1 the innermost)."""
    ph_m, ph_n = plan.stage_phases(j)
    size = math.prod(plan.radices[j:])
    step = torch.tensor(2 * math.pi / size, dtype=torch.float64)
    return _StageMatrix.apply(ph_m, ph_n, plan.stage_scale(j), step, size, j == 0)


def transform(spectrum: torch.Tensor, plan: Plan) -> torch.Tensor:
    """[2, plan.rows, M] real and imaginary parts of half spectra, the clip axis last ->
    [len(plan.order()), M] samples in plan.order()."""
    r = plan.radices
    columns = spectrum.shape[-1] * plan.stride
    x = spectrum.reshape(1, -1, columns)  # rows (re/im, k_s), columns (the other digits, clip)
    for j in range(len(r) - 1, -1, -1):
        x = stage_matrix(plan, j).to(x.dtype) @ x  # [matrices, (n_j, re/im), columns]
        if j:  # (n_j, re/im, k_(j-1), rest) -> matrices (.., n_j), rows (re/im, k_(j-1))
            columns //= r[j - 1]
            x = x.reshape(-1, 2 * r[j - 1], columns)
    return x.reshape(-1, spectrum.shape[-1])


def inverse_real_dft(re: torch.Tensor, im: torch.Tensor, length: int, samples: int) -> torch.Tensor:
    """[M, length/2 + 1] real and imaginary parts -> the first `samples` of numpy's irfft
    at `length`, [M, samples], by `transform` (the imaginary parts of the DC and Nyquist bins
    ignored, as irfft does); the tests' reference use of `transform`."""
    plan = Plan(length, samples)
    dc = re[:, :1] / length
    rows = [torch.nn.functional.pad(part[:, 1:], (1, plan.padding)) for part in (re, im)]
    out = transform(torch.stack(rows).transpose(1, 2), plan)  # [rows out, M]
    return out[torch.from_numpy(plan.time_order())].T + dc
