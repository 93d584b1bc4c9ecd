"""End-to-end note-on latency and xruns of `ganpad play` on a real JACK server, under a flood.

A private jackd (dummy backend, 48 kHz, period 128) runs `ganpad play` with every pad locked
to a known seed; another process floods the instrument's JACK MIDI port with note-ons (50/s
for 60 s by default) while the worker keeps re-rendering each played variation; a JACK client
records the output. Because every pad's waveform is known exactly, each note is found in the
recording by matching its waveform after the earlier notes are subtracted, and its latency is
(first output frame of the hit) - (JACK frame time when the note-on was sent).

Run:  python benchmarks/engine_latency.py [--preset NAME] [--rate-hz 50] [--seconds 60]
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

from helpers.jack_rig import Capture, JackServer  # noqa: E402

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

    server = JackServer(RATE, PERIOD, realtime=args.realtime).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "kit.json").write_text(json.dumps(kit))
            play = subprocess.Popen(
                [sys.executable, "-m", "ganpad", "play", "--preset", str(preset.root),
                 "--virtual", "--kit", str(Path(tmp) / "kit.json"), "--period", str(PERIOD),
                 "--polyphony", "128"],
                env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            print(play.stdout.readline().strip())
            capture = Capture(server, seconds=args.seconds + 5)
            xruns = []
            capture.client.set_xrun_callback(lambda delay: xruns.append(delay))
            source = [p.name for p in capture.client.get_ports("PortAudio", is_output=True)][0]
            capture.start(source)
            time.sleep(0.5)
            xruns.clear()  # count only the flood
            spec = [f"{n}:{v}:{w}" for n, v, w in plan]
            sent = subprocess.run(
                [sys.executable, str(ROOT / "tests/helpers/jack_rig.py"), "send", "ganpad", *spec],
                env=server.env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            time.sleep(1.5)
            flood_xruns = len(xruns)
            capture.close()
            play.terminate()
            out, _ = play.communicate(timeout=30)
    finally:
        server.stop()

    events = json.loads(sent.stdout)
    shapes = templates(preset, seeds)
    residual = capture.audio[: capture.written].astype(np.float64)
    latencies, engine_part, unmatched = [], [], 0
    for event in events:
        slot = keymap.slot_for(event["note"])
        template = shapes[slot]
        at = event["frame"] - capture.first_frame
        errors = [np.abs(residual[at + lag : at + lag + MATCH] - template[:MATCH]).max()
                  for lag in range(0, 4 * PERIOD)]  # fmt: skip
        lag = int(np.argmin(errors))
        if errors[lag] > 1e-4:
            unmatched += 1
            if unmatched <= 3:
                print(f"  not found: note {event['note']} sent at frame {at}: best error "
                      f"{errors[lag]:.3g} at lag {lag}")  # fmt: skip
            continue
        end = min(len(residual), at + lag + len(template))
        residual[at + lag : end] -= template[: end - at - lag]
        latencies.append(lag)
        # JACK delivers MIDI at cycle starts: the first cycle after the send is the transport.
        arrival = -(-event["frame"] // PERIOD) * PERIOD - event["frame"]
        engine_part.append(lag - arrival)
    lat_ms = np.array(latencies) / RATE * 1000
    print(f"{len(events)} notes sent at {args.rate_hz:g}/s for {args.seconds:g} s; "
          f"{len(latencies)} found in the recording, {unmatched} not found")  # fmt: skip
    if len(lat_ms):
        p50, p99 = np.percentile(lat_ms, [50, 99])
        period_ms = PERIOD / RATE * 1000
        print(f"note-on -> first output sample: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"max {lat_ms.max():.2f} ms (one period = {period_ms:.2f} ms)")  # fmt: skip
        eng_ms = np.array(engine_part) / RATE * 1000
        print(
            f"  of which after the MIDI reached ganpad (the cycle after the send): "
            f"p50 {np.percentile(eng_ms, 50):.2f} ms, p99 {np.percentile(eng_ms, 99):.2f} ms"
        )
    print(f"JACK xruns during the flood: {flood_xruns}")
    print(f"ganpad play: {out.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
