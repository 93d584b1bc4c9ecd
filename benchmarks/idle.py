"""The instrument at rest: CPU share, RSS, wakeups per thread and JACK xruns with no notes.

A private jackd (dummy backend, 48 kHz, period 128) hosts, in turn, the floor (a bare
sounddevice stream whose Python callback writes zeros), `ganpad play --virtual` (headless) and
the window (`ganpad`, Qt offscreen); once each has rendered its variations and settled, the
process is watched for --seconds: CPU time from /proc/PID/stat, RSS and private memory from
/proc/PID/smaps_rollup, and the context switches of each thread (what wakes the process).

Run:  python benchmarks/idle.py [--preset NAME] [--seconds 30] [--realtime] [--rounds 3]
      [--only floor headless window]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.jack_rig import JackServer  # noqa: E402

from ganpad.presets import DEFAULT_PRESET  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
FLOOR = """
import threading, sounddevice as sd
def silence(out, frames, time, status):
    out.fill(0)
with sd.OutputStream(samplerate=48000, blocksize=128, channels=2, dtype="float32",
                     latency="low", callback=silence):
    threading.Event().wait()
"""
# The same floor without PortAudio: one JACK-Client client whose Python callback writes zeros.
FLOOR_JACK = """
import threading, jack
client = jack.Client("floor")
outs = [client.outports.register(f"out_{i}") for i in (1, 2)]
def silence(frames):
    for port in outs:
        port.get_array().fill(0)
client.set_process_callback(silence)
client.activate()
threading.Event().wait()
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, private) in MB. RSS counts mapped shared pages too, JACK's shared-memory segment
    above all (about 200 MB once a client maps it), which the process does not own."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024
    return fields["Rss"], fields["Private_Clean"] + fields["Private_Dirty"]


def switches(pid: int) -> dict[str, int]:
    """Context switches (voluntary + not) per thread name, summed over same-named threads."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text().splitlines()
        except OSError:  # the thread ended while we looked
            continue
        count = sum(int(x.split()[1]) for x in status if "ctxt_switches:" in x)
        out[name] = out.get(name, 0) + count
    return out


def settle(pid: int, limit_s: float = 90.0) -> float:
    """Wait until a second passes with under 10 % of a core used; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.1:
            break
    return time.monotonic() - start


def watch(name: str, proc: subprocess.Popen, seconds: float, xruns: list) -> dict | None:
    waited = settle(proc.pid)
    if proc.poll() is not None:
        print(f"{name}: exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        return None
    cpu0, sw0, t0, x0 = cpu_seconds(proc.pid), switches(proc.pid), time.monotonic(), len(xruns)
    time.sleep(seconds)
    cpu1, sw1, t1, x1 = cpu_seconds(proc.pid), switches(proc.pid), time.monotonic(), len(xruns)
    wall = t1 - t0
    rates = {k: (v - sw0.get(k, 0)) / wall for k, v in sw1.items()}
    top = sorted(rates.items(), key=lambda kv: -kv[1])[:5]
    rss, private = memory_mb(proc.pid)
    seen = {"cpu": 100 * (cpu1 - cpu0) / wall, "rss": rss, "private": private,
            "xruns": x1 - x0, "wakeups": sum(rates.values())}  # fmt: skip
    print(f"{name:<9} cpu {seen['cpu']:5.2f} % of a core   "
          f"rss {rss:6.1f} MB (private {private:6.1f} MB)   xruns {x1 - x0}   "
          f"wakeups/s {seen['wakeups']:7.1f}   (settled after {waited:.0f} s)")  # fmt: skip
    print("          busiest threads: " + ", ".join(f"{k} {v:.1f}/s" for k, v in top))
    return seen


def summary(results: dict[str, list[dict]]) -> None:
    """Medians over the rounds, one row per process."""
    print(f"\nmedians of {max(map(len, results.values()))} rounds (each process in turn, "
          "one round after another)")  # fmt: skip
    print("| process | CPU, % of a core | RSS, MB | private, MB | xruns | wakeups/s |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        m = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"| {name} | {m['cpu']:.2f} | {m['rss']:.0f} | {m['private']:.0f} | "
              f"{m['xruns']:g} | {m['wakeups']:.0f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--realtime", action="store_true",
                        help="jackd with real-time priority (needs root or rtprio)")  # fmt: skip
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="watch only the processes whose names start with these")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1,
                        help="watch each process this many times, in turn: medians")  # fmt: skip
    args = parser.parse_args()

    import jack

    server = JackServer(48000, 128, realtime=args.realtime).start()
    watcher = jack.Client("idle-watch", no_start_server=True, servername=server.name)
    xruns: list[float] = []
    watcher.set_xrun_callback(lambda delay: xruns.append(delay))
    watcher.activate()
    ganpad = [sys.executable, "-m", "ganpad"]
    commands = {
        # The floor: PortAudio's JACK client calling a Python callback that writes zeros.
        "floor": [sys.executable, "-c", FLOOR],
        "floor jack": [sys.executable, "-c", FLOOR_JACK],
        # An instrument written in C (jackd2's example: MIDI in, a sine out), no Python at all.
        "floor C": ["jack_midisine"],
        "headless sounddevice": [
            *ganpad,
            "play",
            "--virtual",
            "--period",
            "128",
            "--preset",
            args.preset,
            "--backend",
            "sounddevice",
        ],
        # The one JACK client: no PortAudio, no rtmidi client beside it.
        "headless jack": [
            *ganpad,
            "play",
            "--virtual",
            "--preset",
            args.preset,
            "--backend",
            "jack",
        ],
        "window (JACK)": [*ganpad, "--preset", args.preset],
    }
    # A fresh settings folder: the window's first choices (JACK, its own MIDI port), not the
    # audio device and MIDI port a user (or a test) last picked.
    config = tempfile.mkdtemp(prefix="ganpad-idle-")
    env = {**server.env, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1",
           "XDG_CONFIG_HOME": config}  # fmt: skip
    chosen = {name: command for name, command in commands.items()
              if not args.only or any(name.startswith(o) for o in args.only)}  # fmt: skip
    results: dict[str, list[dict]] = {name: [] for name in chosen}
    try:
        for _ in range(args.rounds):
            for name, command in chosen.items():
                proc = subprocess.Popen(
                    command,
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
                try:
                    if seen := watch(name, proc, args.seconds, xruns):
                        results[name].append(seen)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        summary({name: rows for name, rows in results.items() if rows})
    finally:
        watcher.deactivate()
        watcher.close()
        server.stop()


if __name__ == "__main__":
    main()
