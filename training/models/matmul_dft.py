"""The inverse real DFT of power-of-two length as a few small matrix products, for ONNX graphs.

ONNX Runtime's CPU `DFT` runs one radix-2 transform at a time on one thread (about 5 ms per
65536-point signal here). The same transform split the Cooley-Tukey way into stages of radix
16-64 is a matrix product per stage (a dense DFT of the radix, which the runtime's GEMM does
fast and on every core) and a twiddle multiplication between stages. With n = n' + (N/r) n1
and k = k1 + r k':

    x[n' + (N/r) n1] = sum_k1 W_r^(k1 n1) W_N^(k1 n') [sum_k' X[k1 + r k'] W_(N/r)^(k' n')]

so each stage takes a transform of a decimated sequence (the inner sum, the next stage) to
one r times longer. Complex numbers travel as separate real and imaginary tensors. Only the
half spectrum is non-zero (numpy's irfft convention), so the innermost stage reads half its
inputs, and the outermost computes the real part of the samples that are kept.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def radices(n: int, largest: int = 64) -> list[int]:
    """Stage radices for a power of two: as few stages as `largest` allows, the largest first."""
    bits = n.bit_length() - 1
    if n != 1 << bits or n < 4:
        raise ValueError(f"matmul DFT length {n} is not a power of two >= 4")
    stages = math.ceil(bits / (largest.bit_length() - 1))
    sizes = [bits // stages + (i < bits % stages) for i in range(stages)]
    return [1 << s for s in sizes]


def _table(angle: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi `angle` (in turns), computed in float64."""
    turns = 2 * np.pi * np.mod(angle, 1.0)
    return torch.from_numpy(np.cos(turns).astype(np.float32)), torch.from_numpy(
        np.sin(turns).astype(np.float32)
    )


def _stage(re: torch.Tensor, im: torch.Tensor, sizes: list[int], rows: int | None = None,
           real: bool = False):  # fmt: skip
    """The unnormalised inverse DFT (length prod(sizes)) of a sequence whose first half is
    given (the rest zero), along the last axis; `rows` of the outermost radix's outputs are
    kept (the samples before a crop), and only the real part where `real`."""
    r, length = sizes[0], math.prod(sizes)
    rows = rows or r
    if len(sizes) == 1:  # a dense DFT of the half that is not zero
        cos, sin = _table(np.outer(np.arange(r // 2), np.arange(rows)) / r)  # [k, n]
        out_re = re @ cos - im @ sin
        return (out_re, None) if real else (out_re, re @ sin + im @ cos)
    inner = length // r
    lead = re.shape[:-1]
    # k = k1 + r k': [.., k', k1] -> [.., k1, k'], then the inner transforms over k'
    re = re.reshape(*lead, inner // 2, r).transpose(-1, -2)
    im = im.reshape(*lead, inner // 2, r).transpose(-1, -2)
    z_re, z_im = _stage(re, im, sizes[1:])  # [.., k1, n']
    cos, sin = _table(np.outer(np.arange(r), np.arange(inner)) / length)
    z_re, z_im = z_re * cos - z_im * sin, z_re * sin + z_im * cos
    cos, sin = _table(np.outer(np.arange(rows), np.arange(r)) / r)  # [n1, k1]
    out_re = (cos @ z_re - sin @ z_im).reshape(*lead, rows * inner)
    if real:
        return out_re, None
    return out_re, (cos @ z_im + sin @ z_re).reshape(*lead, rows * inner)


def inverse_real_dft(re: torch.Tensor, im: torch.Tensor, length: int, samples: int) -> torch.Tensor:
    """[M, length/2 + 1] real and imaginary parts -> the first `samples` of numpy's irfft
    at `length`, [M, samples], by matrix products."""
    half = length // 2
    scale = torch.full((half,), 2.0 / length)
    scale[0] = 1.0 / length
    # irfft ignores the imaginary parts of the DC and Nyquist bins
    keep_im = torch.ones(half)
    keep_im[0] = 0.0
    sizes = radices(length)
    rows = math.ceil(samples / (length // sizes[0]))
    out, _ = _stage(re[:, :half] * scale, im[:, :half] * (scale * keep_im), sizes, rows, True)
    nyquist = torch.from_numpy(((-1.0) ** np.arange(samples) / length).astype(np.float32))
    return out[:, :samples] + re[:, half:] * nyquist
