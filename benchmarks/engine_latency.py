"""End-to-end note-on latency and xruns of `ganpad play` on a real JACK server, under a flood.

A private jackd (dummy backend, 48 kHz, period 128) runs `ganpad play` with every pad locked
to a known seed; another process floods the instrument's JACK MIDI port with note-ons (50/s
for 60 s by default) while the worker keeps re-rendering each played variation; a JACK client
records the output and the frame JACK delivers each note at. Because every pad's waveform is
known exactly, each note is found in the recording by matching its waveform after the earlier
notes are subtracted, and its latency is (first output frame of the hit) - (JACK frame time when
the note-on was sent); beside it, how many hits began exactly at the frame JACK delivered their
note at (the sender's own lateness is not the instrument's). Cycles the server skipped are
seen by the recorder (a jump in frame time): nobody ran then, and every voice resumes a gap
later, so the subtraction follows it. A
hit not found with an xrun or a skipped cycle from 1.1 s before it (what rings on in the
recording past an xrun can be off) to 0.6 s after (JACK reports xruns late) is counted as near
an xrun, subtracted where JACK delivered it, and passed over.

Both backends are measured one after the other in one run, each on a fresh server: the one
JACK client (MIDI and audio in the same cycle) and sounddevice with rtmidi; then the same flood
into jackd2's `jack_midisine` (C, no Python), the rig's own xrun floor. For every xrun jackd
names the client that had not finished, and whether it was still running or not yet woken.

Each run prints the CPU steal /proc/stat counted while it flooded (time the hypervisor gave
this machine's cores to others: cycles nobody here could have made).

Run:  python benchmarks/engine_latency.py [--preset NAME] [--rate-hz 50] [--seconds 60]
                                          [--backend jack sounddevice floor] [--realtime]
"""

from __future__ import annotations

import argparse
import json
import re
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
from ganpad.app.voice_pool import rendered_velocity  # noqa: E402
from ganpad.presets import DEFAULT_PRESET, find_preset  # noqa: E402

PERIOD = 128
RATE = 48000
VELOCITY = 12  # quiet enough that 50 overlapping hits never clip, so the mix stays linear
MATCH = 256  # frames of each hit compared
XRUN_REACH = int(0.6 * RATE)  # JACK tells clients of an xrun late on a loaded machine
RING = int(1.1 * RATE)  # what an xrun spoils rings on in the recording this long (a drum hit)


def templates(preset, seeds: dict[int, int]) -> dict[int, np.ndarray]:
    session = preset.session()
    out = {}
    for slot, seed in seeds.items():
        z = latent_for_seed(seed, preset.latent)[None]
        audio = preset.generate(session, z, [slot], rendered_velocity(VELOCITY))
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
    parser.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="keep each run's recording, notes and xruns here (BACKEND.json/.npy)",
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
        run = flood(preset, kit, plan, backend, args)
        if args.save:
            save(run, args.save, backend)
        print(f"   {run['summary']}; CPU steal {run['steal']:.1f} %")
        print("   xruns jackd blamed: " + (", ".join(
            f"{client} {state.lower()} {n}" for (client, state), n in run["culprits"].most_common())
            or "none"))  # fmt: skip
        found = {} if backend == "floor" else measure(run, keymap, shapes)
        rows.append((backend, found, run))
    period_ms = PERIOD / RATE * 1000
    print(f"\n{len(plan)} notes at {args.rate_hz:g}/s for {args.seconds:g} s, period {PERIOD} at "
          f"{RATE} Hz ({period_ms:.2f} ms; goal p99 <= {period_ms + 1:.2f} ms)")  # fmt: skip
    print(
        "| backend | timed/sent | p50 ms | p99 ms | max ms | at delivery frame | "
        "send to delivery p99 ms | near an xrun | lost | xruns | skipped cycles | steal % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, found, run in rows:
        lat = found.get("latency_ms", np.array([]))
        cells = ["", "", "", "", "", "", ""]
        if len(lat):
            p50, p99 = np.percentile(lat, [50, 99])
            exact = found["after_delivery"]
            cells = [f"{p50:.2f}", f"{p99:.2f}", f"{lat.max():.2f}",
                     f"{(exact == 0).sum()}/{len(exact)}",
                     f"{np.percentile(found['transport_ms'], 99):.2f}", f"{found['near_xrun']}",
                     f"{found['lost']}"]  # fmt: skip
        timed = f"{len(lat)}/{len(plan)}" if found else ""
        skipped = sum(n for _, n in run["gaps"]) // PERIOD
        print(f"| {backend} | {timed} | {' | '.join(cells)} | {run['xruns']} | {skipped} | "
              f"{run['steal']:.1f} |")  # fmt: skip


def save(run: dict, folder: Path, backend: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{backend}.npy", run["recording"].astype(np.float32))
    keep = {k: v for k, v in run.items() if k not in ("recording", "culprits")}
    keep["xrun_frames"] = run["xrun_frames"].tolist()
    (folder / f"{backend}.json").write_text(json.dumps(keep))


def cpu_times() -> np.ndarray:
    """The machine's CPU times from /proc/stat: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        return np.array(f.readline().split()[1:9], np.int64)


def flood(preset, kit: dict, plan: list, backend: str, args: argparse.Namespace) -> dict:
    """`ganpad play` (or the C floor) on a fresh private jackd, flooded: the recording, the
    sent and delivered notes, the xruns during the flood (their frames too), the clients jackd
    blamed, the CPU steal and the player's last line."""
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
            capture = Capture(server, seconds=args.seconds + 5, midi=True)
            xruns = capture.xrun_frames
            source = wait_for_port(capture.client, source_port, is_audio=True)
            capture.start(source.name)
            time.sleep(0.5)
            xruns.clear()  # count only the flood
            since, cpu0 = len(server.messages()), cpu_times()
            spec = [f"{n}:{v}:{w}" for n, v, w in plan]
            sender = subprocess.Popen(
                [sys.executable, str(ROOT / "tests/helpers/jack_rig.py"), "send", target, *spec],
                env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            capture.listen_to("sender:")  # within the half second it waits before the first note
            sent, err = sender.communicate(timeout=args.seconds * 3 + 60)
            if sender.returncode:
                raise SystemExit(f"the sender failed: {err[-2000:]}")
            time.sleep(1.5)
            ticks = cpu_times() - cpu0
            xrun_frames = [x - capture.first_frame for x in xruns]
            culprits = server.xrun_culprits(since)
            capture.close()
            play.terminate()
            out, _ = play.communicate(timeout=30)
    finally:
        server.stop()
    summary = out.strip().splitlines()[-1] if out.strip() else f"{command[0]} ended"
    delivered = [(frame, data[1]) for frame, data in capture.midi_events
                 if data[0] & 0xF0 == 0x90 and data[2]]  # fmt: skip
    return {
        "recording": capture.audio[: capture.written].astype(np.float64),
        "first": capture.first_frame,
        "sent": json.loads(sent),
        "delivered": delivered,
        "xruns": len(xrun_frames),
        "xrun_frames": np.array(xrun_frames),
        "gaps": capture.gaps,
        "culprits": culprits,
        "steal": 100 * ticks[7] / max(ticks.sum(), 1),
        "summary": summary,
        "missed": int(missed.group(1)) if (missed := re.search(r"(\d+) missed", summary)) else 0,
    }


def pieces(start: int, n: int, gaps: list[tuple[int, int]]):
    """(recording from, to, template from) of a hit of n frames from `start`: a gap (skipped
    cycles) holds nothing, and the voice resumes after it where it stopped."""
    done, t = 0, start
    for gap, length in gaps:
        if gap + length <= t:
            continue
        if done >= n:
            return
        if gap > t:
            k = min(gap - t, n - done)
            yield t, t + k, done
            done += k
        t = max(t, gap + length)
    if done < n:
        yield t, t + n - done, done


def subtract(residual: np.ndarray, template: np.ndarray, start: int, gaps) -> None:
    for a, b, p in pieces(start, len(template), gaps):
        b = min(b, len(residual))
        residual[a:b] -= template[p : p + b - a]


def pair(sent: list[dict], delivered: list[tuple[int, int]], first: int) -> list[int | None]:
    """The delivery frame of each sent note, or None where the recorder did not see it (it
    misses events in skipped cycles, and never sees one that was not sent): the deliveries
    are the sends in order, some left out. Of two sends of one key in a row, a delivery goes
    to the one whose send frame is nearer."""
    out: list[int | None] = [None] * len(sent)
    j = 0
    for i, event in enumerate(sent):
        if j == len(delivered):
            break
        frame, note = delivered[j]
        if note != event["note"]:
            continue  # this send's delivery was not seen
        after = sent[i + 1] if i + 1 < len(sent) else None
        if (
            after
            and after["note"] == note
            and (abs(frame - (after["frame"] - first)) < abs(frame - (event["frame"] - first)))
        ):
            continue
        out[i], j = frame, j + 1
    return out


def measure(run: dict, keymap: KeyMap, shapes: dict[int, np.ndarray]) -> dict:
    """Each sent note found in the recording: latencies (ms from the send), how many started
    exactly at their delivery frame, and the notes not found, near an xrun or not."""
    residual, xrun_frames, gaps = run["recording"].copy(), run["xrun_frames"], run["gaps"]
    spoilers = np.array(sorted([*xrun_frames.tolist(), *(g for g, _ in gaps)]))
    deliveries = pair(run["sent"], run["delivered"], run["first"])
    latencies, after_delivery, transport, near_xrun, lost = [], [], [], 0, 0
    for event, delivered in zip(run["sent"], deliveries, strict=True):
        at = event["frame"] - run["first"]
        template = shapes[keymap.slot_for(event["note"])]
        # From a period before: a note sent while a cycle is processed can be delivered in
        # that cycle. After skipped cycles the sender's frame clock runs ahead of the delivery,
        # and a sender the machine held up sends late: the delivery says when it came.
        near = at if delivered is None else delivered
        lo, hi = min(at, near) - PERIOD, min(near + 8 * PERIOD + MATCH, len(residual))
        if hi - lo < MATCH:
            lost += 1
            continue
        windows = np.lib.stride_tricks.sliding_window_view(residual[lo:hi], MATCH)
        errors = np.abs(windows - template[:MATCH]).max(axis=1)
        best = int(np.argmin(errors))
        if errors[best] <= 1e-4:
            start = lo + best
            latencies.append(start - at)
            if delivered is not None:
                after_delivery.append(start - delivered)
                transport.append(delivered - at)
        else:
            near = len(spoilers) and ((spoilers >= at - RING) & (spoilers <= at + XRUN_REACH)).any()
            near_xrun += bool(near)
            lost += not near
            if not near and lost <= 3:
                print(f"   not found, no xrun near: note {event['note']} sent at frame {at}: "
                      f"best error {errors[best]:.3g} at lag {best - PERIOD}")  # fmt: skip
            if delivered is None:
                continue
            # Where the one JACK client plays it; if the player missed notes (no variation
            # ready: silence), only where subtracting leaves less than it found.
            span = slice(delivered, delivered + 4096)
            before = np.square(residual[span]).sum()
            subtract(residual, template, delivered, gaps)
            if run["missed"] and np.square(residual[span]).sum() > before:
                subtract(residual, -template, delivered, gaps)
            continue
        subtract(residual, template, start, gaps)
    return {"latency_ms": np.array(latencies) * 1000 / RATE, "near_xrun": near_xrun,
            "after_delivery": np.array(after_delivery), "lost": lost,
            "transport_ms": np.array(transport) * 1000 / RATE}  # fmt: skip


if __name__ == "__main__":
    main()
