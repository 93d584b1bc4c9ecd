"""One JACK client for the engine: MIDI in and audio out in the same process callback.

Through rtmidi and PortAudio a note that JACK delivers in cycle N can only sound in cycle N + 1
(two clients, and the MIDI client's thread in between). Here the callback reads the cycle's
MIDI events, posts each at its own frame offset and mixes the cycle, so a note-on in cycle N
sounds in cycle N, sample-exactly.

The callback keeps the mixer's rules: no locks, no ONNX, no logging, no allocation beyond the
few small objects Python makes per event. What must not run there (waking the generator,
the window's listeners) is handed to a dispatcher thread through a pipe; a write to a
non-blocking pipe never waits.

At rest (nothing sounds, no MIDI in the cycle) the callback only copies zeros into the ports
through libjack: building numpy views of the buffers was most of what the idle instrument cost.

The engine adds no latency of its own (a note is mixed in the cycle it arrives), so it sets
no latency callback: JACK's default propagation gives its ports the right ranges, and
`output_latency` reads the total to the speakers from the output port.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections import deque

from ganpad.app.midi import MidiParser
from ganpad.app.mixer import NOTE_OFF, NOTE_ON

CLIENT_NAME = "ganpad"
MIDI_PORT = "midi_in"
PLAYBACK_LATENCY = 1  # JackPlaybackLatency in jack_latency_callback_mode_t


def jack_running(servername: str | None = None) -> bool:
    """Whether a JACK server (or PipeWire's JACK) answers, without starting one."""
    try:
        import jack
    except (ImportError, OSError):  # JACK-Client, or libjack, not installed
        return False
    try:
        jack.Client("ganpad-probe", no_start_server=True, servername=servername).close()
        return True
    except jack.JackError:
        return False


class JackBackend:
    """Plays `engine` as one JACK client: `midi_in` and `out_1`, `out_2`.

    It stands where a sounddevice stream stands in the engine (blocksize, active, latency,
    stop, close).
    """

    def __init__(self, engine, channels: int = 2, channel: int | None = None,
                 connect: bool = True, servername: str | None = None):  # fmt: skip
        import jack

        self.engine = engine
        try:
            self.client = jack.Client(CLIENT_NAME, no_start_server=True, servername=servername)
        except jack.JackError as exc:
            raise OSError(f"no JACK server to connect to ({exc})") from exc
        if self.client.samplerate != engine.rate:
            rate = self.client.samplerate
            self.client.close()
            raise OSError(f"JACK runs at {rate} Hz, the engine at {engine.rate} Hz: "
                          f"pass --rate {rate}")  # fmt: skip
        if self.client.blocksize > engine.mixer.cfg.max_block:
            self.client.close()
            raise OSError(f"JACK's period {self.client.blocksize} exceeds the mixer's "
                          f"{engine.mixer.cfg.max_block} frames")  # fmt: skip
        self.parser = MidiParser(channel=channel)
        self.midi = self.client.midi_inports.register(MIDI_PORT)
        self.outs = [self.client.outports.register(f"out_{i + 1}") for i in range(channels)]
        # libjack through JACK-Client's own cffi handles, for the callback's rest path
        self._lib, self._ffi = jack._lib, jack._ffi
        self._midi_ptr = self.midi._ptr
        self._out_ptrs = [port._ptr for port in self.outs]
        self._silence = bytes(4 * engine.mixer.cfg.max_block)  # float32 zeros
        self.heard: deque[tuple[int, int, int]] = deque(maxlen=4096)  # (slot, note, velocity)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closing = False
        self.active = False
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self._dispatcher = threading.Thread(target=self._dispatch, name="ganpad-jack-events",
                                            daemon=True)  # fmt: skip
        self._dispatcher.start()
        self.client.activate()
        self.active = True
        if connect:
            self._connect_playback(jack)

    @property
    def name(self) -> str:
        """The MIDI input's full JACK name: what a sender connects to."""
        return self.midi.name

    @property
    def blocksize(self) -> int:
        return self.client.blocksize

    @property
    def latency(self) -> float:
        """Seconds from a cycle's start to the speakers: one period, or what JACK reports."""
        frames = output_latency(self.outs[0]) or self.client.blocksize
        return frames / self.client.samplerate

    def connect_midi(self, port: str) -> str:
        """Connect a JACK MIDI output (by name, or part of one) to `midi_in`; its full name."""
        outputs = self.client.get_ports(is_midi=True, is_output=True)
        ports = [p for p in outputs if p.name == port] or [
            p for p in outputs if port.lower() in p.name.lower()]  # fmt: skip
        if not ports:
            names = [p.name for p in outputs]
            raise OSError(f"no JACK MIDI output matches {port!r} (ports: {names})")
        self.client.connect(ports[0], self.midi)
        return ports[0].name

    def _connect_playback(self, jack) -> None:
        """Outputs to the first physical playback ports, as PortAudio's JACK host does."""
        playback = self.client.get_ports(is_audio=True, is_input=True, is_physical=True)
        for out, target in zip(self.outs, playback, strict=False):
            with contextlib.suppress(jack.JackError):  # someone else's routing: theirs
                self.client.connect(out, target)

    # ---- JACK's process thread ----------------------------------------------------------------

    def _process(self, frames: int) -> None:
        engine = self.engine
        lib = self._lib
        if engine.mixer.idle() and not lib.jack_midi_get_event_count(
            lib.jack_port_get_buffer(self._midi_ptr, frames)
        ):
            for ptr in self._out_ptrs:
                self._ffi.memmove(lib.jack_port_get_buffer(ptr, frames), self._silence, 4 * frames)
            engine.mixer.skip(frames)
            engine.stats.callbacks += 1
            return
        base = engine.mixer.frame  # the frame this cycle starts at
        heard = False
        for offset, data in self.midi.incoming_midi_events():
            for note, velocity in self.parser.feed(bytes(data)):
                slot = engine.keymap.slot_for(note)
                if slot < 0:
                    continue
                if velocity:
                    engine.mixer.post(NOTE_ON, slot, velocity, base + offset)
                    self.heard.append((slot, note, velocity))
                else:
                    engine.mixer.post(NOTE_OFF, slot, 0, base + offset)
                heard = True
        first = self.outs[0].get_array()
        engine.mix(first)
        for port in self.outs[1:]:
            port.get_array()[:] = first
        if heard:
            with contextlib.suppress(BlockingIOError):  # full: the dispatcher is due anyway
                os.write(self._wake_w, b"\0")

    def _xrun(self, delay_us: float) -> None:
        self.engine.stats.xruns += 1

    # ---- the dispatcher thread ----------------------------------------------------------------

    def _dispatch(self) -> None:
        """Wake the generator and tell the listeners (the window) what was played."""
        while True:
            try:
                os.read(self._wake_r, 256)
            except OSError:
                return
            if self._closing:
                return
            self.engine.worker.poke()
            while self.heard:
                slot, note, velocity = self.heard.popleft()
                for listener in self.engine.listeners:
                    listener(slot, note, velocity)

    # ---- life cycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        if self.active:
            self.client.deactivate()
            self.active = False

    def close(self) -> None:
        self.stop()
        self.client.close()
        self._closing = True
        os.write(self._wake_w, b"\0")
        self._dispatcher.join(timeout=2)
        os.close(self._wake_r)
        os.close(self._wake_w)


class _Range(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


def output_latency(port) -> int | None:
    """Frames from the port to the speakers, as JACK reports it (its playback latency range's
    maximum); None where libjack's latency call cannot be reached.

    JACK-Client does not wrap the latency API, so this calls libjack with the port's handle.
    """
    try:
        import jack

        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        handle = int(jack._ffi.cast("uintptr_t", port._ptr))
    except (OSError, AttributeError, TypeError):
        return None
    found = _Range()
    lib.jack_port_get_latency_range.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                ctypes.POINTER(_Range)]  # fmt: skip
    lib.jack_port_get_latency_range(handle, PLAYBACK_LATENCY, ctypes.byref(found))
    return int(found.max) or None
