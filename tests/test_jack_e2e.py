"""The instrument end to end on real parts: jackd, `ganpad play`, JACK MIDI from another process."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import locked_kit
from helpers.jack_rig import Capture

from ganpad.app.clip import finish_clip
from ganpad.app.keymap import KeyMap
from ganpad.app.latents import latent_for_seed
from ganpad.presets import DEFAULT_NOTES_PRESET, find_preset, load_preset

NOTES_PRESET = DEFAULT_NOTES_PRESET

RIG = Path(__file__).parent / "helpers" / "jack_rig.py"
PERIOD = 128


def _expected(preset, kit, note: int, velocity: int) -> np.ndarray:
    """What the engine must play for a note: the locked latent through the graph, finished."""
    slot = KeyMap.for_preset(preset).slot_for(note)
    z = latent_for_seed(kit["slots"][slot]["seed"], preset.latent)[None]
    (audio,) = preset.session().run(["audio"], {"z": z, "label": np.array([slot])})
    clip = finish_clip(audio[0], preset.sample_rate, 48000)
    return np.clip(clip * (velocity / 127) ** 1.6 * 0.8, -1, 1)


# A drum preset's kick, snare, kick; the shipped notes preset's C4, G4, C5.
NOTES = {"drums": ["36:127:0", "38:100:1200", "36:64:1200"],
         "notes": ["60:127:0", "67:100:1200", "72:64:1200"]}  # fmt: skip


# Where each backend's audio leaves: PortAudio's JACK client, or ganpad's own.
SOURCES = {"sounddevice": "PortAudio", "jack": "ganpad.*:out_1"}


@pytest.mark.parametrize("backend", ["jack", "sounddevice"])
@pytest.mark.parametrize("kind", ["drums", "notes"])
def test_midi_note_plays_the_expected_hit_at_the_expected_time(jack_server, tiny_preset, tmp_path,
                                                               kind, backend):  # fmt: skip
    folder = tiny_preset if kind == "drums" else find_preset(NOTES_PRESET).root
    preset = load_preset(folder)
    kit = locked_kit(preset)
    (tmp_path / "kit.json").write_text(json.dumps(kit))
    # An xrun drops a cycle of the engine's output, and a hit it cuts matches nothing: the
    # claim is sample-exact timing in an undisturbed run, so a run the engine reports an xrun
    # in (a busy test machine; the benchmark counts them) is played again, up to three times.
    for attempt in (1, 2, 3):
        audio, sent, xruns = _play_and_capture(jack_server, folder, tmp_path, kind, backend)
        failure = _first_mismatch(preset, kit, audio, sent, backend)
        if failure is None or xruns == 0 or attempt == 3:
            break
    assert failure is None, f"{failure} ({xruns} xruns)"


def _play_and_capture(jack_server, folder: Path, tmp_path: Path, kind: str,
                      backend: str) -> tuple[np.ndarray, list[dict], int]:  # fmt: skip
    """`ganpad play` with the locked kit, NOTES[kind] sent from another process: (the audio
    captured from its output, the sends with their frame times, the xruns it reported)."""
    play = subprocess.Popen(
        [sys.executable, "-m", "ganpad", "play", "--preset", str(folder), "--virtual",
         "--kit", str(tmp_path / "kit.json"), "--period", str(PERIOD), "--backend", backend],
        env=jack_server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = play.stdout.readline()
        assert line.startswith("playing"), play.stderr.read()
        capture = Capture(jack_server, seconds=8.0)
        assert f"through {backend}" in line, line
        source = [p.name for p in capture.client.get_ports(SOURCES[backend], is_output=True,
                                                           is_audio=True)]  # fmt: skip
        capture.start(source[0])
        time.sleep(0.3)
        sender = [sys.executable, str(RIG), "send", "ganpad", *NOTES[kind]]
        sent = subprocess.run(
            sender, env=jack_server.env, capture_output=True, text=True, timeout=60
        )
        assert sent.returncode == 0, sent.stderr
        time.sleep(1.3)
        capture.close()
    finally:
        play.terminate()
        out, err = play.communicate(timeout=20)
    assert "0 missed notes" in out, out + err
    xruns = int(re.search(r"(\d+) xruns", out).group(1))
    events = [{**e, "frame": e["frame"] - capture.first_frame} for e in json.loads(sent.stdout)]
    return capture.audio[: capture.written], events, xruns


def _first_mismatch(preset, kit: dict, audio: np.ndarray, events: list[dict],
                    backend: str) -> str | None:  # fmt: skip
    """What is wrong with the first note that is not its expected hit at its time, or None."""
    for event in events:
        expected = _expected(preset, kit, event["note"], event["velocity"])[:4000]
        at = event["frame"]
        errors = [np.abs(audio[at + lag : at + lag + 4000] - expected).max()
                  for lag in range(0, 8 * PERIOD)]  # fmt: skip
        lag = int(np.argmin(errors))
        if errors[lag] >= 1e-4:
            return f"note {event['note']}: no matching hit ({errors[lag]:.3g})"
        if audio[at : at + lag].any():
            return f"note {event['note']}: sound before the hit"
        # The MIDI transport delivers a note at the start of the cycle after the send. The one
        # JACK client plays it in that cycle, at its frame; through rtmidi and PortAudio it can
        # wait a cycle more, and PortAudio's own buffering one more again.
        limit = PERIOD if backend == "jack" else 3 * PERIOD
        if lag > limit:
            return f"note {event['note']} started {lag} frames after it was sent"
    return None
