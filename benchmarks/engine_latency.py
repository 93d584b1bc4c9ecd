"""End-to-end note-on latency and xruns of `ganpad play` on a real JACK server, under a flood.

A private jackd (dummy backend, 48 kHz, period 128) runs `ganpad play` with every pad locked
to a known seed; another process floods the instrument's JACK MIDI port with note-ons (50/s
for 60 s by default) while the worker keeps re-rendering each played variation; a JACK client
records the output. Because every pad's waveform is known exactly, each note is found in the
recording by matching its waveform after the earlier notes are subtracted, and its latency is
(first output frame of the hit) - (JACK frame time when the note-on was sent).

Both backends are measured one after the other in one run, each on a fresh server: the one
JACK client (MIDI and audio in the same cycle) and sounddevice with rtmidi; then the same flood
into jackd2's `jack_midisine` (C, no Python), the rig's own xrun floor. For every xrun jackd
names the client that had not finished, and whether it was still running or not yet woken.

Run:  python benchmarks/engine_latency.py [--preset NAME] [--rate-hz 50] [--seconds 60]
                                          [--backend jack sounddevice floor]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.jack_rig import Capture, JackServer, wait_for_port  # noqa: E402

from ganpad.app.clip import finish_clip  # noqa: E402
from ganpad.app.keymap import KeyMap  # noqa: E402
from ganpad.app.latents import latent_for_seed  # noqa: E402
from ganpad.presets import DEFAULT_PRESET, find_preset  # noqa: E402

PERIOD = 128
RATE = 48000
VELOCITY = 12  # quiet enough that 50 overlapping hits never clip, so the mix stays linear
MATCH = 256  # frames of each hit compared


def templates(preset, seeds: dict[int, int]) -> dict[int, np.ndarray]:
    session = preset.session()
    out = {}
    for slot, seed in seeds.items():
        feed = {"z": latent_for_seed(seed, preset.latent)[None]}
        if preset.conditional:
            feed["label"] = np.array([slot], np.int64)
        (audio,) = session.run(["audio"], feed)
        gain = (VELOCITY / 127) ** 1.6 * 0.8
        out[slot] = finish_clip(audio[0], preset.sample_rate, RATE) * gain
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--rate-hz", type=float, default=50.0, help="notes per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--backend",
        nargs="+",
        default=["jack", "sounddevice", "floor"],
        choices=["jack", "sounddevice", "floor"],
        help="measured one after the other",
    )
    parser.add_argument("--realtime", action="store_true",
                        help="run jackd and its clients with real-time priority (needs root "
                             "or rtprio); the default matches the test rig")  # fmt: skip
    args = parser.parse_args()

    preset = find_preset(args.preset)
    keymap = KeyMap.for_preset(preset)
    # Hats choke each other (not a linear mix), so the flood plays every other pad.
    slots = [s for s, n in enumerate(keymap.names) if n not in ("closed_hat", "open_hat")]
    seeds = {s: 1000 + s for s in range(keymap.slots)}
    notes = {s: int(np.flatnonzero(keymap.note_slot == s)[0]) for s in slots}
    kit = {"format": "ganpad-kit/1", "preset": preset.name,
           "slots": [{"name": n, "seed": seeds[s], "morph_to": -1, "amount": 0.0}
                     for s, n in enumerate(keymap.names)]}  # fmt: skip
    rng = np.random.default_rng(0)
    count = int(args.rate_hz * args.seconds)
    gap_ms = 1000 / args.rate_hz
    plan = [(notes[int(rng.choice(slots))], VELOCITY, gap_ms if i else 0) for i in range(count)]
    shapes = templates(preset, seeds)
    rows = []
    for backend in args.backend:
        print(f"-- {backend}")
        recording, first, events, xruns, culprits, summary = flood(preset, kit, plan, backend,
                                                                   args)  # fmt: skip
        print(f"   {summary}")
        print("   xruns jackd blamed: " + (", ".join(
            f"{client} {state.lower()} {n}" for (client, state), n in culprits.most_common())
            or "none"))  # fmt: skip
        if backend == "floor":  # no known waveform to find: xruns only
            rows.append((backend, np.array([]), np.array([]), 0, xruns))
        else:
            rows.append((backend, *measure(recording, first, events, keymap, shapes), xruns))
    period_ms = PERIOD / RATE * 1000
    print(f"\n{len(plan)} notes at {args.rate_hz:g}/s for {args.seconds:g} s, period {PERIOD} at "
          f"{RATE} Hz ({period_ms:.2f} ms; goal p99 <= {period_ms + 1:.2f} ms)")  # fmt: skip
    print("| backend | found | p50 ms | p99 ms | max ms | cycles after the send's, p99 | xruns |")
    print("|---|---|---|---|---|---|---|")
    for backend, lat_ms, cycles, unmatched, xruns in rows:
        found = f"{len(lat_ms)}/{len(lat_ms) + unmatched}"
        if len(lat_ms):
            p50, p99 = np.percentile(lat_ms, [50, 99])
            print(f"| {backend} | {found} | {p50:.2f} | {p99:.2f} | {lat_ms.max():.2f} | "
                  f"{np.percentile(cycles, 99):.0f} | {xruns} |")  # fmt: skip
        else:
            print(f"| {backend} | {found} | | | | | {xruns} |")


def flood(preset, kit: dict, plan: list, backend: str, args: argparse.Namespace):
    """`ganpad play` (or the C floor) on a fresh private jackd, flooded: (recording, its first
    frame, the sent events, xruns during the flood, the clients jackd blamed for them, the
    player's last line)."""
    source_port, target = {"jack": ("ganpad.*:out_1", "ganpad"),
                           "sounddevice": ("PortAudio", "ganpad"),
                           "floor": ("midisine:", "midisine")}[backend]  # fmt: skip
    server = JackServer(RATE, PERIOD, realtime=args.realtime).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "kit.json").write_text(json.dumps(kit))
            command = [sys.executable, "-m", "ganpad", "play", "--preset", str(preset.root),
                       "--virtual", "--kit", str(Path(tmp) / "kit.json"), "--period",
                       str(PERIOD), "--polyphony", "128", "--backend", backend]  # fmt: skip
            if backend == "floor":
                command = ["jack_midisine"]
            play = subprocess.Popen(
                command, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            if backend != "floor":
                print("  ", play.stdout.readline().strip())
            capture = Capture(server, seconds=args.seconds + 5)
            xruns = capture.xrun_frames
            source = wait_for_port(capture.client, source_port, is_audio=True)
            capture.start(source.name)
            time.sleep(0.5)
            xruns.clear()  # count only the flood
            since = len(server.messages())
            spec = [f"{n}:{v}:{w}" for n, v, w in plan]
            sent = subprocess.run(
                [sys.executable, str(ROOT / "tests/helpers/jack_rig.py"), "send", target, *spec],
                env=server.env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            time.sleep(1.5)
            flood_xruns = len(xruns)
            culprits = server.xrun_culprits(since)
            capture.close()
            play.terminate()
            out, _ = play.communicate(timeout=30)
    finally:
        server.stop()
    recording = capture.audio[: capture.written].astype(np.float64)
    last = out.strip().splitlines()[-1] if out.strip() else f"{command[0]} ended"
    return recording, capture.first_frame, json.loads(sent.stdout), flood_xruns, culprits, last


def measure(residual: np.ndarray, first_frame: int, events: list[dict], keymap: KeyMap,
            shapes: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """Each sent note found in the recording: (latencies ms, cycles from the send's to the
    hit's, notes not found). Found hits are subtracted, so later ones stand out; a hit that an
    xrun cut is not found, and it hides the hits that overlap it (the engine loses the cycle
    an xrun takes, so what still rings goes on a period late)."""
    latencies, cycles, unmatched = [], [], 0
    for event in events:
        template = shapes[keymap.slot_for(event["note"])]
        at = event["frame"] - first_frame
        # From a period before the send: a note sent while a cycle is being processed can be
        # delivered in that cycle, whose frames began before the send.
        lags = range(-PERIOD, 4 * PERIOD)
        errors = [np.abs(residual[at + lag : at + lag + MATCH] - template[:MATCH]).max()
                  for lag in lags]  # fmt: skip
        lag = lags[int(np.argmin(errors))]
        if min(errors) > 1e-4:
            unmatched += 1
            if unmatched <= 3:
                print(f"   not found: note {event['note']} sent at frame {at}: best error "
                      f"{min(errors):.3g} at lag {lag}")  # fmt: skip
            continue
        end = min(len(residual), at + lag + len(template))
        residual[at + lag : end] -= template[: end - at - lag]
        latencies.append(lag)
        # Cycles from the one running at the send to the one the hit starts in: JACK's MIDI
        # transport alone makes this 0 or 1.
        cycles.append((event["frame"] + lag) // PERIOD - event["frame"] // PERIOD)
    to_ms = 1000 / RATE
    return np.array(latencies) * to_ms, np.array(cycles), unmatched


if __name__ == "__main__":
    main()
