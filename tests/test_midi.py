import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganpad.app.midi import MidiInput, MidiParser

RIG = Path(__file__).parent / "helpers" / "jack_rig.py"


@pytest.mark.parametrize(
    ("data", "events"),
    [
        ([0x90, 36, 100], [(36, 100)]),
        ([0x90, 36, 100, 38, 90, 40, 0], [(36, 100), (38, 90), (40, 0)]),  # running status
        ([0x80, 36, 64], [(36, 0)]),  # note-off
        ([0x90, 36, 0], [(36, 0)]),  # velocity 0 is a note-off
        ([0xF8, 0x90, 0xF8, 36, 0xFA, 100], [(36, 100)]),  # clock inside a message
        ([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7, 0x90, 42, 1], [(42, 1)]),  # sysex skipped
        ([0x90, 36, 100, 0xF0, 1, 0xF7, 38, 100], [(36, 100)]),  # sysex cancels running status
        ([0xB0, 7, 100, 0xC0, 5, 0xE0, 0, 64], []),  # controllers, programs, bends ignored
        ([36, 100], []),  # data with no status
        ([0x90, 36], []),  # cut short
    ],
)
def test_parser(data, events):
    assert MidiParser().feed(data) == events


def test_parser_channel_filter():
    parser = MidiParser(channel=9)
    assert parser.feed([0x99, 36, 100, 0x90, 38, 100]) == [(36, 100)]


def _wait_for(items: list, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_virtual_port_receives_notes_from_another_process(jack_server):
    received = []
    midi = MidiInput(lambda note, vel: received.append((note, vel)), virtual=True)
    try:
        done = subprocess.run(
            [sys.executable, str(RIG), "send", "ganpad", "36:100:0", "38:0:20", "42:127:20"],
            env=jack_server.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)) == 3
        _wait_for(received, 3)
    finally:
        midi.close()
    assert received == [(36, 100), (38, 0), (42, 127)]


def test_port_by_name_and_errors(jack_server):
    import rtmidi

    keyboard = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="keys")
    keyboard.open_virtual_port("keyboard")
    received = []
    midi = MidiInput(lambda note, vel: received.append((note, vel)), port="keyboard")
    try:
        assert "keyboard" in midi.name
        time.sleep(0.2)
        keyboard.send_message([0x99, 49, 80])
        _wait_for(received, 1)
        assert received == [(49, 80)]
        with pytest.raises(OSError, match="no MIDI port matches 'nothing'"):
            MidiInput(print, port="nothing")
        with pytest.raises(OSError, match="MIDI port 99 does not exist"):
            MidiInput(print, port=99)
    finally:
        midi.close()
        keyboard.close_port()
