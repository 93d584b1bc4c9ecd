"""One JACK client for the engine: MIDI in and audio out in the same process callback.

Through rtmidi and PortAudio a note that JACK delivers in cycle N can only sound in cycle N + 1
(two clients, and the MIDI client's thread in between). Here the process callback is compiled
code (`jack_process`) that libjack calls with no GIL: it reads the cycle's MIDI, mixes and
writes the ports, so a note-on in cycle N sounds in cycle N, sample-exactly, whatever Python's
threads are doing. This class sets it up and runs the dispatcher thread that does the
callback's Python errands (waking the generator, telling the window what was played).

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

import numpy as np

from ganpad.app import midi

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

        if channels not in (1, 2):
            raise ValueError(f"the JACK backend plays 1 or 2 channels, not {channels}")
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
        try:
            from ganpad.app import jack_process
        except OSError as exc:
            self.client.close()
            raise OSError(f"libjack cannot be loaded for the callback ({exc})") from exc
        engine.mixer.midi[midi.CHANNEL] = -1 if channel is None else channel
        self.midi = self.client.midi_inports.register(MIDI_PORT)
        self.outs = [self.client.outports.register(f"out_{i + 1}") for i in range(channels)]
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closing = False
        # What the callback reads: port handles, the pipe, scratch, then the engine's state.
        self._scratch = np.zeros(4, np.int64)  # a jack_midi_event_t, then the wake-up byte
        ffi = jack._ffi
        ports = [int(ffi.cast("uintptr_t", p._ptr)) for p in [self.midi, *self.outs[:2]]]
        ports += [0] * (3 - len(ports))
        self._table = np.array(
            [*ports, self._wake_w, self._scratch.ctypes.data, self._scratch.ctypes.data + 24,
             *engine.mixer.table()],
            np.int64,
        )  # fmt: skip
        assert len(self._table) == jack_process.SIZE
        self.active = False
        callback = ffi.cast("JackProcessCallback", jack_process.process.address)
        table = ffi.cast("void *", self._table.ctypes.data)
        if jack._lib.jack_set_process_callback(self.client._ptr, callback, table):
            self.client.close()
            raise OSError("JACK refused the process callback")
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

    def _xrun(self, delay_us: float) -> None:  # JACK's notification thread, not the callback
        self.engine.jack_xruns += 1

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
            for slot, _frame, note, velocity in self.engine.mixer.drain_notes():
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
