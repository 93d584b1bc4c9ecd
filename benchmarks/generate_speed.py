"""Clips/s for a preset: PyTorch eager vs ONNX Runtime (transposed / polyphase fp32, fp16, int8),
and on a GPU PyTorch CUDA and ONNX Runtime's CUDA provider (where onnxruntime-gpu is installed).

Run:  python benchmarks/generate_speed.py [--preset NAME] [--batches 1 16] [--repeats 7] [--quick]
                                         [--against OTHER]
--against also times another preset's shipped graph (a shorter clip, say), same batches.
Every engine is timed on the same inputs in the same process, so the ratios hold on a busy machine.
A GPU engine's time includes copying the audio back to the host, as a player needs it there.
--quick times the shipped graph only (no fp16, int8 or transposed conversions).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from ganpad.export import parity
from ganpad.export.graph import ContractGenerator, export_onnx, preset_model
from ganpad.export.precision import convert
from ganpad.presets import DEFAULT_PRESET, find_preset


def plain_graph(model: ContractGenerator, preset, path: Path) -> Path:
    """The same generator exported with ConvTranspose nodes, for comparison."""
    export_onnx(model, preset.latent, path, {})
    return path


@torch.no_grad()
def cuda_audio(model: ContractGenerator, feed: dict) -> np.ndarray:
    return model(*[x.cuda() for x in parity.torch_inputs(feed)]).cpu().numpy()


def _feed(preset, batch: int) -> dict:
    """A batch of latents for a preset's first label (velocities and programs where it takes
    them)."""
    return parity.preset_feeds(preset, batch, seed=1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--against", help="another preset whose shipped graph is timed too")
    args = parser.parse_args()

    preset = find_preset(args.preset)
    model = preset_model(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        graphs = {"onnx_fp32": preset.generator_path}
        if not args.quick:
            graphs["onnx_transposed"] = plain_graph(model, preset, Path(tmp) / "plain.onnx")
            calibration = parity.preset_feeds(preset, 8, seed=2)
            for precision in ("fp16", "int8"):
                graphs[f"onnx_{precision}"] = Path(tmp) / f"{precision}.onnx"
                convert(precision, preset.generator_path, graphs[f"onnx_{precision}"], calibration)
        sessions = {name: parity.session(path) for name, path in graphs.items()}
        check = parity.preset_feeds(preset, 4, seed=3)
        errors = {name: parity.max_abs_error(model, path, check) for name, path in graphs.items()}
        if "CUDAExecutionProvider" in ort.get_available_providers():
            sessions["onnx_cuda"] = preset.session(["CUDAExecutionProvider"])
        gpu = copy.deepcopy(model).cuda() if torch.cuda.is_available() else None
        other = find_preset(args.against) if args.against else None
        if other is not None:
            sessions["against_onnx_fp32"] = parity.session(other.generator_path)

        if other is not None:
            print(f"against: {other.root}, {other.samples} samples")
        print(f"preset {preset.name}: {preset.samples} samples at {preset.sample_rate} Hz, "
              f"torch {torch.__version__} with {torch.get_num_threads()} threads")  # fmt: skip
        print(f"{'engine':<16} {'batch':>5} {'clips/s':>9} {'ms/call':>8} {'x realtime':>11} "
              f"{'vs torch':>9} {'max|err|':>9}")  # fmt: skip
        for batch in args.batches:
            feed = _feed(preset, batch)
            rates = {"torch_eager": parity.clips_per_second(
                lambda f: parity.torch_audio(model, f), feed, args.repeats)}  # fmt: skip
            if gpu is not None:
                rates["torch_cuda"] = parity.clips_per_second(
                    lambda f: cuda_audio(gpu, f), feed, args.repeats)  # fmt: skip
            for name, sess in sessions.items():
                mine = feed if not name.startswith("against") else _feed(other, batch)
                rates[name] = parity.clips_per_second(
                    lambda f, s=sess: s.run(["audio"], f), mine, args.repeats
                )
            for name, rate in rates.items():
                realtime = rate * (other if name.startswith("against") else preset).seconds
                error = f"{errors[name]:.2g}" if name in errors else "-"
                print(f"{name:<16} {batch:>5} {rate:>9.1f} {1000 * batch / rate:>8.1f} "
                      f"{realtime:>11.1f} "
                      f"{rate / rates['torch_eager']:>8.2f}x {error:>9}")  # fmt: skip


if __name__ == "__main__":
    main()
