"""Where the JACK callback's period goes under a flood, and what the xruns follow.

The engine runs in this process as the one JACK client on a private jackd (`-R`, dummy, 48 kHz,
period 128) with the shipped preset and polyphony 128; the rig's sender floods its MIDI port
with note-ons (50/s). Every cycle records how late the callback began (JACK's frames since the
cycle started, at entry: waking up plus waiting for the GIL) and how long it ran; jackd names the
client each xrun caught unfinished; /proc/stat gives the hypervisor's steal over the flood.

Variants, each in a fresh process, taking turns for --rounds (medians):
  default      the engine as it ships
  no-worker    the generator stopped once the pool is full (voices replay what is there):
               what the worker's rendering costs the callback
  switch-5ms   Python's own GIL switch interval instead of the engine's 0.2 ms

Run:  python benchmarks/callback_timing.py [--seconds 15] [--rounds 3]
                                           [--variants default no-worker switch-5ms]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.jack_rig import JackServer  # noqa: E402

from ganpad.app import jack_backend  # noqa: E402
from ganpad.app.engine import Engine  # noqa: E402
from ganpad.app.keymap import KeyMap  # noqa: E402
from ganpad.app.mixer import MixerConfig  # noqa: E402
from ganpad.presets import DEFAULT_PRESET, find_preset, load_preset  # noqa: E402

RATE, PERIOD = 48000, 128
VARIANTS = ("default", "no-worker", "switch-5ms")


def steal_and_total() -> tuple[int, int]:
    """(steal, all) CPU ticks so far, from /proc/stat's first line."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[7], sum(ticks)


def one(variant: str, preset_name: str, seconds: float) -> dict:
    """One flood of the in-process engine: its figures."""
    cycles = int((seconds + 5) * RATE / PERIOD)
    late, spent, n = np.zeros(cycles, np.int64), np.zeros(cycles), [0]
    process = jack_backend.JackBackend._process

    def timed(self, frames: int) -> None:
        i = n[0]
        if i < cycles:
            late[i] = self.client.frames_since_cycle_start
        tick = time.perf_counter()
        process(self, frames)
        if i < cycles:
            spent[i] = time.perf_counter() - tick
            n[0] = i + 1

    jack_backend.JackBackend._process = timed
    server = JackServer(RATE, PERIOD, realtime=True).start()
    try:
        preset = load_preset(find_preset(preset_name).root)
        keymap = KeyMap.for_preset(preset)
        engine = Engine(preset, mixer=MixerConfig(polyphony=128))
        engine.start()
        engine.open_jack()
        if variant == "no-worker":
            engine.worker.stop()
            engine.worker.join()
        elif variant == "switch-5ms":
            sys.setswitchinterval(0.005)
        rng = np.random.default_rng(0)
        notes = sorted({int(keymap.note_slot.tolist().index(s)) for s in range(keymap.slots)})
        spec = [f"{int(rng.choice(notes))}:12:{20 if i else 0}" for i in range(int(50 * seconds))]
        time.sleep(1.0)
        since, xruns0 = len(server.messages()), engine.stats.xruns
        rendered0 = engine.worker.rendered
        n[0] = 0
        steal0, total0 = steal_and_total()
        subprocess.run([sys.executable, str(ROOT / "tests/helpers/jack_rig.py"), "send", "ganpad",
                        *spec], env=server.env, capture_output=True, check=True)  # fmt: skip
        steal1, total1 = steal_and_total()
        blamed = server.xrun_culprits(since)
        count = n[0]
        engine.close()
    finally:
        server.stop()
    late_ms, spent_ms = late[:count] * 1000 / RATE, spent[:count] * 1000
    return {
        "xruns": engine.stats.xruns - xruns0,
        "engine running": blamed[("ganpad", "Running")],
        "engine not woken": blamed[("ganpad", "Triggered")],
        "steal %": 100 * (steal1 - steal0) / max(total1 - total0, 1),
        "late p99 ms": float(np.percentile(late_ms, 99)),
        "callback p50 ms": float(np.percentile(spent_ms, 50)),
        "callback p99 ms": float(np.percentile(spent_ms, 99)),
        "over a period": int((late_ms + spent_ms > PERIOD * 1000 / RATE).sum()),
        "rendered/s": (engine.worker.rendered - rendered0) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.preset, args.seconds)))
        return
    results: dict[str, list[dict]] = {v: [] for v in args.variants}
    for r in range(args.rounds):
        for variant in args.variants:
            out = subprocess.run([sys.executable, __file__, "--one", variant, "--preset",
                                  args.preset, "--seconds", str(args.seconds)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            seen = json.loads(out.stdout.strip().splitlines()[-1])
            results[variant].append(seen)
            print(f"round {r + 1} {variant:<10} " + "  ".join(
                f"{k} {v:.3g}" for k, v in seen.items()), flush=True)  # fmt: skip
    keys = list(next(iter(results.values()))[0])
    print(f"\nmedians of {args.rounds} rounds, {args.seconds:g} s floods of 50 notes/s")
    print("| variant | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for variant, rows in results.items():
        cells = [f"{statistics.median(r[k] for r in rows):.3g}" for k in keys]
        print(f"| {variant} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
