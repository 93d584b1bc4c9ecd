"""The inverse real DFT of power-of-two length as batched matrix products, for ONNX graphs.

ONNX Runtime's CPU `DFT` runs one radix-2 transform at a time on one thread (about 5 ms per
65536-point signal here). The same transform split the Cooley-Tukey way into stages of radix
8-16 is a product per stage, which the runtime's GEMM does on every core. With the input
index k = k_1 + r_1 k_2 + ... + (N / r_s) k_s and the output n = m_2 + L_2 n_1, where L_j is
the product of the radices from j on and m_j < L_j the output of the stages inside j:

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
    """Stage radices for a power of two: as few stages as `largest` allows, the largest first."""
    bits = n.bit_length() - 1
    if n != 1 << bits or n < 4:
        raise ValueError(f"matmul DFT length {n} is not a power of two >= 4")
    stages = math.ceil(bits / (largest.bit_length() - 1))
    sizes = [bits // stages + (i < bits % stages) for i in range(stages)]
    return [1 << s for s in sizes]


@dataclass(frozen=True)
class Plan:
    """How a transform of `length` points that keeps `samples` is split into stages."""

    length: int
    samples: int

    @property
    def radices(self) -> list[int]:
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
    def kept(self) -> int:
        """Values of the first output digit that hold a kept sample."""
        return math.ceil(self.samples / (self.length // self.radices[0]))

    def order(self) -> np.ndarray:
        """The sample at each output row, [length / r_1 * kept] (some past the clip)."""
        m = _digits_value(self.radices[:0:-1])
        return (m[:, None] + (self.length // self.radices[0]) * np.arange(self.kept)).reshape(-1)

    def stage_phases(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage j's phases in 1/L_j of a turn, as two parts whose sum is the phase:
        [matrices, 1, inputs] (from the outputs found so far) and [1, outputs, inputs]."""
        r = self.radices
        inner, size = math.prod(r[j + 1 :]), math.prod(r[j:])
        k = np.arange(r[j] // 2 + 1 if j == len(r) - 1 else r[j])
        n = np.arange(self.kept if j == 0 else r[j])
        m = _digits_value(r[:j:-1])
        ph_m = np.mod(np.outer(m, k), size)[:, None, :]
        ph_n = np.mod(np.outer(n, k) * inner, size)[None]
        return torch.tensor(ph_m, dtype=torch.float32), torch.tensor(ph_n, dtype=torch.float32)

    def stage_scale(self, j: int) -> torch.Tensor:
        """Stage j's weight on each input column (re, then im): irfft's 2 / N per bin on the
        first stage (1 / N at Nyquist, whose imaginary part counts for nothing), else 1."""
        r = self.radices
        if j != len(r) - 1:
            return torch.ones(2 * r[j])
        half = torch.full((r[j] // 2 + 1,), 2.0 / self.length)
        half[-1] = 1.0 / self.length
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

    In an exported graph as operators on the phase tables, which ONNX Runtime folds when it
    loads the graph: the outermost stage's matrices are 6 MB at 44.1 kHz, its tables 0.3 MB.
    """

    @staticmethod
    def forward(ctx, ph_m, ph_n, scale, size: int, real: bool) -> torch.Tensor:  # noqa: ANN001, ARG004
        phase = ph_m + ph_n
        turns = (phase - torch.round(phase / size) * size) * (2 * math.pi / size)
        cos, sin = torch.cos(turns), torch.sin(turns)
        re_row = torch.cat([cos, -sin], dim=-1) * scale
        if real:
            return re_row
        im_row = torch.cat([sin, cos], dim=-1) * scale
        rows = torch.stack([re_row, im_row], dim=2)  # [count, outputs, 2, 2 * inputs]
        return rows.reshape(rows.shape[0], -1, rows.shape[-1])

    @staticmethod
    def symbolic(g, ph_m, ph_n, scale, size: int, real: bool):  # noqa: ANN001
        def const(values) -> object:  # noqa: ANN001
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        def scalar(value: float) -> object:
            return g.op("Constant", value_t=torch.tensor(value, dtype=torch.float32))

        # The Relu first (phases are not negative) keeps the exporter from folding the table.
        phase = g.op("Add", g.op("Relu", ph_m), ph_n)
        # within half a turn of zero, where float32 sines are most precise
        turns = g.op("Round", g.op("Div", phase, scalar(size)))
        phase = g.op("Sub", phase, g.op("Mul", turns, scalar(size)))
        turns = g.op("Mul", phase, scalar(2 * math.pi / size))
        cos, sin = g.op("Cos", turns), g.op("Sin", turns)
        re_row = g.op("Mul", g.op("Concat", cos, g.op("Neg", sin), axis_i=-1), scale)
        if real:
            return re_row
        im_row = g.op("Mul", g.op("Concat", sin, cos, axis_i=-1), scale)
        rows = g.op("Concat", g.op("Unsqueeze", re_row, const([2])),
                    g.op("Unsqueeze", im_row, const([2])), axis_i=2)  # fmt: skip
        count, _, inputs = ph_m.type().sizes()
        return g.op("Reshape", rows, const([count, -1, 2 * inputs]))


def stage_matrix(plan: Plan, j: int) -> torch.Tensor:
    """Stage j's matrices (0 is the outermost, applied last)."""
    ph_m, ph_n = plan.stage_phases(j)
    size = math.prod(plan.radices[j:])
    return _StageMatrix.apply(ph_m, ph_n, plan.stage_scale(j), size, j == 0)


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
    at `length`, [M, samples], by `transform` (the DC bin's imaginary part ignored)."""
    plan = Plan(length, samples)
    half = length // 2
    pad = plan.rows - half - 1
    dc = re[:, :1] / length
    rows = [
        torch.cat([part[:, 1:], part.new_zeros(part.shape[0], pad)], dim=1) for part in (re, im)
    ]
    spectrum = torch.stack([torch.cat([p.new_zeros(p.shape[0], 1), p], 1) for p in rows])
    out = transform(spectrum.transpose(1, 2), plan)  # [rows, M]
    where = np.argsort(plan.order())[:samples]
    return out[torch.from_numpy(where)].T + dc
