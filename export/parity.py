"""ONNX Runtime against PyTorch on the same inputs: the largest difference, and the speed."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

# The largest |ORT - PyTorch| a preset may ship with, per precision (audio is in [-1, 1]).
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "int8": 1e-1}
# However badly a model rounds on its own, fp32 never gets more room than fp16 has.
FP32_CAP = 1e-2
# Griffin-Lim's phase normalisations grow float rounding a little: spectral models get 1e-3.
SPECTRAL_FP32 = 1e-3


def tolerance(precision: str, spectral: bool, rounding: float = 0.0) -> float:
    """The limit for one precision; at fp32 never tighter than twice the model's own rounding.

    A deep generator's fp32 output can sit further than 1e-4 from the exact (fp64) answer in
    PyTorch itself (GANSynth's exp(log magnitude) magnifies it); ONNX Runtime is then held to
    being about as close to the exact answer as PyTorch is.
    """
    if precision != "fp32":
        return TOLERANCE[precision]
    return min(max(SPECTRAL_FP32 if spectral else TOLERANCE["fp32"], 2.0 * rounding), FP32_CAP)


INPUT_ORDER = ("z", "label", "velocity", "program")  # the contract's, in the graph


def feeds(
    latent: int,
    n_labels: int,
    per_label: int = 4,
    seed: int = 0,
    velocity: bool = False,
    programs: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Random latents for every label (or unconditional), velocities from soft to hard where
    the graph takes them and each of its `programs` in turn, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    labels = range(n_labels) if n_labels else [None]
    out = []
    for label in labels:
        feed = {"z": rng.standard_normal((per_label, latent)).astype(np.float32)}
        if label is not None:
            feed["label"] = np.full(per_label, label, np.int64)
        if velocity:
            feed["velocity"] = np.linspace(0.0, 1.0, per_label, dtype=np.float32)
        if programs:
            feed["program"] = np.arange(per_label, dtype=np.int64) % programs
        out.append(feed)
    return out


def preset_feeds(preset, per_label: int = 4, seed: int = 0) -> list[dict[str, np.ndarray]]:  # noqa: ANN001
    """`feeds` for what a preset's graph takes (its labels, velocity and programs)."""
    n_labels = len(preset.labels) if preset.conditional else 0
    return feeds(preset.latent, n_labels, per_label, seed, preset.velocity, len(preset.programs))


def torch_inputs(feed: dict[str, np.ndarray], double: bool = False) -> list[torch.Tensor]:
    """A feed as the contract generator's arguments: z, then label, velocity and program,
    those it has."""
    out = [torch.from_numpy(feed[name]) for name in INPUT_ORDER if name in feed]
    return [x.double() if double and x.is_floating_point() else x for x in out]


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def torch_audio(model: torch.nn.Module, feed: dict[str, np.ndarray]) -> np.ndarray:
    return model(*torch_inputs(feed)).numpy()


@torch.no_grad()
def rounding_error(model: torch.nn.Module, inputs: list[dict[str, np.ndarray]]) -> float:
    """max |PyTorch fp32 - PyTorch fp64| over `inputs`: how far the model's rounding goes."""
    exact = copy.deepcopy(model).double()
    worst = 0.0
    for feed in inputs:
        ref = exact(*torch_inputs(feed, double=True)).numpy()
        worst = max(worst, float(np.abs(torch_audio(model, feed) - ref).max()))
    return worst


def max_abs_error(model: torch.nn.Module, path: Path, inputs: list[dict[str, np.ndarray]]) -> float:
    sess = session(path)
    worst = 0.0
    for feed in inputs:
        (onnx_out,) = sess.run(["audio"], feed)
        ref = torch_audio(model, feed)
        if onnx_out.shape != ref.shape or not np.isfinite(onnx_out).all():
            return float("inf")
        worst = max(worst, float(np.abs(onnx_out - ref).max()))
    return worst


def clips_per_second(run, feed: dict[str, np.ndarray], repeats: int = 5) -> float:
    """Median clips/s of `run(feed)` after one warm-up call."""
    run(feed)
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        run(feed)
        times.append(time.perf_counter() - tick)
    return len(feed["z"]) / float(np.median(times))
