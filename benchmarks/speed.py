"""Generation speed of a preset near this machine's limit: every engine, batch 1/8/64, one run.

For each engine (PyTorch eager, torch.compile, ONNX Runtime with the transposed and the
polyphase graph at fp32, fp16 and int8) it prints clips/s, the real-time factor, the achieved
GFLOP/s (FLOPs counted on the PyTorch model) against this CPU's peak FP32 rate (cores x clock x
FLOPs per cycle from its vector units), and the peak resident memory of a process running only
that engine. Each engine runs in a fresh process, one after the other, on the same inputs, and
the whole sequence repeats for --rounds; it prints medians over the rounds, and each ratio to
eager is the median of the ratios within a round (this machine's speed drifts by 30 % and more
from one minute to the next).

Run:  python benchmarks/speed.py [--preset NAME] [--batches 1 8 64] [--repeats 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import resource
import statistics
import tempfile
import time
from pathlib import Path

ENGINES = ("torch_eager", "torch_compile", "ort_transposed", "ort_polyphase", "ort_fp16",
           "ort_int8")  # fmt: skip


def cpu_peak_gflops() -> tuple[float, str]:
    """cores x GHz x FLOPs/cycle: 2 FMA pipes x lanes (8 with AVX2, 16 with AVX-512) x 2."""
    info = Path("/proc/cpuinfo").read_text()
    mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", info))
    flags = set(re.search(r"flags\s*:\s*(.*)", info).group(1).split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * lanes * 2 if "fma" in flags else lanes * 2
    cores = os.cpu_count() or 1
    desc = f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle"
    return cores * mhz / 1000 * per_cycle, desc


def _runner(engine: str, preset_name: str, tmp: str):
    """(callable on a feed, label count) for one engine; builds graphs as it needs them."""
    import numpy as np
    import torch

    from ganpad.export import parity
    from ganpad.export.graph import ContractGenerator, export_onnx, preset_model
    from ganpad.export.polyphase import rewrite
    from ganpad.export.precision import convert
    from ganpad.presets import find_preset

    preset = find_preset(preset_name)
    model = preset_model(preset_name)
    if engine == "torch_eager":
        return lambda f: parity.torch_audio(model, f)
    if engine == "torch_compile":
        compiled = torch.compile(model, dynamic=False)
        return lambda f: parity.torch_audio(compiled, f)
    plain, poly = Path(tmp) / "plain.onnx", Path(tmp) / "poly.onnx"
    if not poly.exists():
        export_onnx(model, preset.latent, plain, {})
        fast = ContractGenerator(rewrite(model.generator), model.conditional).eval()
        export_onnx(fast, preset.latent, poly, {})
    path = {"ort_transposed": plain, "ort_polyphase": poly}.get(engine)
    if path is None:
        precision = engine.split("_")[1]
        path = Path(tmp) / f"{precision}.onnx"
        if not path.exists():
            convert(
                precision,
                poly,
                path,
                parity.preset_feeds(preset, 8, seed=2),
            )
    session = parity.session(path)
    np.seterr(all="ignore")
    return lambda f: session.run(["audio"], f)


def _measure(engine: str, preset_name: str, batches: list[int], repeats: int, tmp: str, out):
    from torch.utils.flop_counter import FlopCounterMode

    from ganpad.export import parity
    from ganpad.export.graph import preset_model
    from ganpad.presets import find_preset

    preset = find_preset(preset_name)
    try:
        run = _runner(engine, preset_name, tmp)
    except Exception as exc:  # torch.compile where it does not work: say so, go on
        out.put((engine, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"))
        return
    model = preset_model(preset_name)
    rows = []
    for batch in batches:
        feed = parity.preset_feeds(preset, per_label=batch, seed=1)[0]
        with FlopCounterMode(display=False) as counter:
            parity.torch_audio(model, feed)
        flops = counter.get_total_flops()
        run(feed)  # warm-up (and compilation)
        times = []
        for _ in range(repeats):
            tick = time.perf_counter()
            run(feed)
            times.append(time.perf_counter() - tick)
        seconds = statistics.median(times)
        rows.append((batch, batch / seconds, flops / seconds / 1e9))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((engine, (rows, peak_mb, preset.seconds), None))


def _run_engine(ctx, engine: str, preset_name: str, args: argparse.Namespace, tmp: str):
    """(engine, result, error) from a fresh process that runs only this engine."""
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(engine, preset_name, args.batches, args.repeats,
                                              tmp, queue))  # fmt: skip
    proc.start()
    found = queue.get()
    proc.join()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="times every engine runs, in turn; figures are medians")  # fmt: skip
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    args = parser.parse_args()
    from ganpad.presets import DEFAULT_PRESET

    preset_name = args.preset or DEFAULT_PRESET
    peak, desc = cpu_peak_gflops()
    print(f"preset {preset_name}; CPU peak FP32 {peak:.0f} GFLOP/s ({desc}); "
          f"medians of {args.rounds} rounds, ratios taken within each round")  # fmt: skip
    ctx = mp.get_context("spawn")
    rounds: dict[str, list] = {engine: [] for engine in args.engines}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Engines take turns, round after round, so a noisy minute hits them all alike.
        for _ in range(args.rounds):
            for engine in args.engines:
                if engine not in errors:
                    name, result, error = _run_engine(ctx, engine, preset_name, args, tmp)
                    if result is None:
                        errors[name] = error
                    else:
                        rounds[name].append(result)
    print(f"{'engine':<15} {'batch':>5} {'clips/s':>9} {'x realtime':>10} {'GFLOP/s':>8} "
          f"{'% peak':>7} {'vs eager':>8} {'peak MB':>8}")  # fmt: skip
    eager = rounds.get("torch_eager", [])
    for engine, results in rounds.items():
        if engine in errors:
            print(f"{engine:<15} failed: {errors[engine]}")
            continue
        peak_mb = max(r[1] for r in results)
        seconds = results[0][2]
        for i, batch in enumerate(args.batches):
            rate = statistics.median(r[0][i][1] for r in results)
            gflops = statistics.median(r[0][i][2] for r in results)
            ratios = [r[0][i][1] / e[0][i][1] for r, e in zip(results, eager, strict=False)]
            ratio = statistics.median(ratios) if ratios else float("nan")
            print(f"{engine:<15} {batch:>5} {rate:>9.1f} {rate * seconds:>10.0f} {gflops:>8.1f} "
                  f"{100 * gflops / peak:>6.1f}% {ratio:>7.2f}x {peak_mb:>8.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
