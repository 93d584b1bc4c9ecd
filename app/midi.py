"""MIDI in through python-rtmidi: a port by name or index, or a virtual port named `ganpad`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

VIRTUAL_PORT = "ganpad"

NoteHandler = Callable[[int, int], object]  # (note, velocity); velocity 0 means note-off

# A parser's state: int64 [4]
STATUS = 0  # running status: the last channel-voice status byte (0: none)
DATA0 = 1  # the first data byte, while the second is awaited
HELD = 2  # data bytes held (0 or 1)
CHANNEL = 3  # the channel listened to, or -1 for every channel


def parser_state(channel: int | None = None) -> np.ndarray:
    return np.array([0, 0, 0, -1 if channel is None else channel], np.int64)


@njit(cache=True, nogil=True)
def parse_byte(state, byte: int) -> int:
    """Feed one byte: running status, velocity-0 note-on as note-off, the rest ignored.
    Returns note * 256 + velocity when it completes a note-on or note-off (velocity 0), else -1.
    Compiled: the JACK callback parses with it too."""
    if byte >= 0xF8:  # real-time (clock, start, stop, sensing) may sit anywhere
        return -1
    if byte >= 0xF0:  # sysex and system common cancel running status; skip their data
        state[STATUS], state[HELD] = 0, 0
        return -1
    if byte >= 0x80:
        state[STATUS], state[HELD] = byte, 0
        return -1
    status = state[STATUS]
    if status == 0:
        return -1
    if state[HELD] == 0 and (status & 0xF0) != 0xC0 and (status & 0xF0) != 0xD0:
        state[DATA0], state[HELD] = byte, 1
        return -1
    state[HELD] = 0
    if state[CHANNEL] >= 0 and status & 0x0F != state[CHANNEL]:
        return -1
    if (status & 0xF0) == 0x90:
        return state[DATA0] * 256 + byte
    if (status & 0xF0) == 0x80:
        return state[DATA0] * 256
    return -1


class MidiParser:
    """Bytes -> (note, velocity) events; velocity 0 is a note-off."""

    def __init__(self, channel: int | None = None):  # None: every channel
        self.state = parser_state(channel)
        # The first call loads the compiled parser (milliseconds): here, not in the MIDI
        # thread's first note, where JACK would count the wait as an xrun. 0xF8 is ignored.
        parse_byte(self.state, 0xF8)

    def feed(self, data: list[int] | bytes) -> list[tuple[int, int]]:
        events = []
        for byte in data:
            event = parse_byte(self.state, byte)
            if event >= 0:
                events.append((event >> 8, event & 0xFF))
        return events


def list_inputs() -> list[str]:
    import rtmidi

    names = []
    for api in rtmidi.get_compiled_api():
        try:
            midi = rtmidi.MidiIn(api)
            names += midi.get_ports()
        except rtmidi.SystemError:
            continue  # an API compiled in but absent on this machine (ALSA without /dev/snd)
        # Only delete() closes rtmidi's JACK client: a dropped MidiIn keeps it active for the
        # process's life, woken every period.
        midi.delete()
    return names


class MidiInput:
    """Delivers note events to `handler` from python-rtmidi's own thread."""

    def __init__(self, handler: NoteHandler, port: str | int | None = None, virtual: bool = False,
                 channel: int | None = None, api: int | None = None):  # fmt: skip
        import rtmidi

        self.parser = MidiParser(channel=channel)
        self.handler = handler
        self.midi = self._open_api(rtmidi, api)
        self.midi.ignore_types(sysex=True, timing=True, active_sense=True)
        if virtual:
            self.midi.open_virtual_port(VIRTUAL_PORT)
            self.name = VIRTUAL_PORT
        else:
            self.name = self._open_port(port)
        self.midi.set_callback(self._on_message)

    @staticmethod
    def _open_api(rtmidi, api: int | None):
        apis = [api] if api is not None else [rtmidi.API_UNIX_JACK, rtmidi.API_LINUX_ALSA,
                                              rtmidi.API_UNSPECIFIED]  # fmt: skip
        errors = []
        for candidate in apis:
            if candidate not in rtmidi.get_compiled_api() and candidate != rtmidi.API_UNSPECIFIED:
                continue
            try:
                midi = rtmidi.MidiIn(candidate, name="ganpad")
                if candidate == rtmidi.API_UNIX_JACK:
                    midi.get_ports()  # fails here if no JACK server runs
                return midi
            except rtmidi.SystemError as exc:
                errors.append(str(exc))
        raise OSError(f"no MIDI system available ({'; '.join(errors) or 'none compiled in'})")

    def _open_port(self, port: str | int | None) -> str:
        ports = self.midi.get_ports()
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if port is None:
            if not ports:
                raise OSError("no MIDI input ports; use --virtual to open one named 'ganpad'")
            port = 0
        if isinstance(port, int):
            if not 0 <= port < len(ports):
                raise OSError(f"MIDI port {port} does not exist (ports: {ports})")
            index = port
        else:
            matches = [i for i, name in enumerate(ports) if port.lower() in name.lower()]
            if not matches:
                raise OSError(f"no MIDI port matches {port!r} (ports: {ports})")
            index = matches[0]
        self.midi.open_port(index)
        return ports[index]

    def _on_message(self, message: tuple[list[int], float], data: object = None) -> None:
        for note, velocity in self.parser.feed(message[0]):
            self.handler(note, velocity)

    def close(self) -> None:
        self.midi.cancel_callback()
        self.midi.close_port()
        self.midi.delete()
