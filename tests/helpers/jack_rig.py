"""Real-server test rig: a private jackd (dummy backend), a JACK capture client, a MIDI sender.

Also runnable as a script, so that nothing of it shares a process (or a GIL) with what it tests:
- `python jack_rig.py send PORT NOTE:VEL:GAP_MS ...` plays notes into a JACK MIDI port and prints,
  as JSON, the JACK frame time of each send;
- `python jack_rig.py record PORT SOURCE OUT.npz NOTE:VEL:GAP_MS ...` does the same while it
  records SOURCE (an audio output) and the frame each note is delivered at, into OUT.npz.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np


class JackServer:
    def __init__(self, rate: int = 48000, period: int = 128, realtime: bool = False):
        self.rate, self.period, self.realtime = rate, period, realtime
        self.name = f"ganpad-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen | None = None
        # jackd's messages go to a file: a pipe nobody drains fills up in a long run, and
        # jackd's next message would then block it.
        handle, path = tempfile.mkstemp(prefix="jackd-", suffix=".log")
        os.close(handle)
        self.log = Path(path)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1",
                "JACK_NO_START_SERVER": "1"}  # fmt: skip

    def start(self) -> JackServer:
        jackd = shutil.which("jackd")
        if jackd is None:
            raise RuntimeError("jackd is not installed: apt-get install jackd2 (.ci/run does this)")
        with self.log.open("wb") as log:  # jackd keeps its own descriptor
            self.proc = subprocess.Popen(
                [jackd, "-n", self.name, "-R" if self.realtime else "--no-realtime", "-d",
                 "dummy", "-r", str(self.rate), "-p", str(self.period)],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("JACK_")})
        deadline = time.monotonic() + 15
        import jack

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jackd exited: {self.messages()[-2000:]}")
            try:
                jack.Client("probe", no_start_server=True, servername=self.name).close()
                return self
            except jack.JackOpenError:
                time.sleep(0.1)
        raise RuntimeError("jackd did not come up within 15 s")

    def messages(self) -> str:
        """What jackd has printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def xrun_culprits(self, since: int = 0) -> Counter:
        """Each xrun jackd blamed on a client, as (client, state) counts, from character `since`
        of its messages on: "Triggered" means the client had not been woken to run yet (the
        scheduler's delay), "Running" that it was still inside its process callback."""
        found = re.findall(r"XRun: client = (.+?) was not finished, state = (\w+)",
                           self.messages()[since:])  # fmt: skip
        return Counter(found)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.unlink(missing_ok=True)


class Capture:
    """A JACK client recording one input port into a preallocated buffer, with frame times, and
    the frame time of every xrun the server reports (to any client). With `midi`, it also logs
    what reaches its MIDI input: (frame since the recording's start, bytes), the frame being the
    one at which the event is delivered in that cycle, to every port it is connected to."""

    def __init__(self, server: JackServer, seconds: float, midi: bool = False):
        import jack

        self.client = jack.Client("capture", no_start_server=True, servername=server.name)
        self.port = self.client.inports.register("in")
        self.midi = self.client.midi_inports.register("midi_in") if midi else None
        self.midi_events: list[tuple[int, bytes]] = []
        self.audio = np.zeros(int(seconds * server.rate), np.float32)
        self.first_frame = -1
        self.written = 0
        self.xrun_frames: list[int] = []
        # (frame, length) of each stretch of cycles the server skipped: nobody ran then, so
        # the recording holds zeros there and every client resumes where it stopped.
        self.gaps: list[tuple[int, int]] = []
        self._last = -1
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(lambda delay: self.xrun_frames.append(self.client.frame_time))

    def _process(self, frames: int) -> None:
        now = self.client.last_frame_time
        if self.first_frame < 0:
            self.first_frame = now
        at = now - self.first_frame  # by frame time: a skipped cycle leaves zeros, not a shift
        if self._last >= 0 and now - self._last > frames:
            self.gaps.append((self._last + frames - self.first_frame, now - self._last - frames))
        self._last = now
        n = min(frames, len(self.audio) - at)
        if n > 0:
            self.audio[at : at + n] = self.port.get_array()[:n]
            self.written = at + n
        if self.midi is not None:
            for offset, data in self.midi.incoming_midi_events():
                self.midi_events.append((at + offset, bytes(data)))

    def start(self, source_port: str) -> None:
        self.client.activate()
        self.client.connect(source_port, self.port)

    def listen_to(self, pattern: str) -> str:
        """Connect the first MIDI output matching `pattern` to the MIDI input, once it exists."""
        port = wait_for_port(self.client, pattern, is_midi=True)
        self.client.connect(port, self.midi)
        return port.name

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def wait_for_port(client, pattern: str, timeout: float = 10.0, **kind):
    """The first output port matching `pattern` (and `kind`: is_audio, is_midi), once a client
    has registered it."""
    deadline = time.monotonic() + timeout
    while not (ports := client.get_ports(pattern, is_output=True, **kind)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no JACK output port matching {pattern!r} within {timeout} s")
        time.sleep(0.01)
    return ports[0]


def send_notes(port_match: str, notes: list[tuple[int, int, float]]) -> list[dict]:
    """Play (note, velocity, wait_ms_before) into the JACK MIDI port matching `port_match`."""
    import jack
    import rtmidi

    clock = jack.Client("clock", no_start_server=True)
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="sender")
    ports = out.get_ports()
    match = [i for i, p in enumerate(ports) if port_match in p]
    if not match:
        raise SystemExit(f"no MIDI port matching {port_match!r} in {ports}")
    out.open_port(match[0])
    time.sleep(0.5)  # let the connection settle (a busy machine took over 0.2 s: a late first note)
    sent = []
    for note, velocity, wait_ms in notes:
        time.sleep(wait_ms / 1000)
        frame = clock.frame_time
        out.send_message([0x90, note, velocity])
        sent.append({"note": note, "velocity": velocity, "frame": frame})
    time.sleep(1.0)  # a client leaving the graph makes JACK report an xrun: after the last hit
    out.close_port()
    clock.close()
    return sent


def parse_notes(items: list[str]) -> list[tuple[int, int, float]]:
    spec = [tuple(float(x) for x in item.split(":")) for item in items]
    return [(int(n), int(v), w) for n, v, w in spec]


def record_notes(port_match: str, source: str, notes: list[tuple[int, int, float]],
                 out: Path) -> None:  # fmt: skip
    """Send `notes` while recording `source`; OUT.npz gets the audio, each note-on's delivery
    frame (`delivered`: frame, note, velocity) and the xrun frames, all from the start."""
    server = JackServer()
    server.name = os.environ["JACK_DEFAULT_SERVER"]
    seconds = 2.5 + sum(wait for _, _, wait in notes) / 1000
    capture = Capture(server, seconds=seconds, midi=True)
    capture.start(source)
    sender = subprocess.Popen([sys.executable, __file__, "send", port_match,
                               *[f"{n}:{v}:{w}" for n, v, w in notes]])  # fmt: skip
    capture.listen_to("sender:")
    sender.wait(timeout=60)
    capture.close()
    delivered = [(f, d[1], d[2]) for f, d in capture.midi_events if d[0] & 0xF0 == 0x90 and d[2]]
    xruns = [x - capture.first_frame for x in capture.xrun_frames]
    np.savez(out, audio=capture.audio[: capture.written],
             delivered=np.array(delivered).reshape(-1, 3), xruns=np.array(xruns))  # fmt: skip


if __name__ == "__main__" and sys.argv[1] == "send":
    print(json.dumps(send_notes(sys.argv[2], parse_notes(sys.argv[3:]))))
elif __name__ == "__main__" and sys.argv[1] == "record":
    record_notes(sys.argv[2], sys.argv[3], parse_notes(sys.argv[5:]), Path(sys.argv[4]))
