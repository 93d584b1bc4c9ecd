"""The instrument without a screen: preset -> worker -> voice pool -> mixer -> sounddevice or
JACK."""

from __future__ import annotations

import gc
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganpad.app.clip import finish_clip
from ganpad.app.heap import trim_heap
from ganpad.app.keymap import KeyMap
from ganpad.app.latents import FRESH, LatentBank, latent_for_seed
from ganpad.app.mixer import ALL_OFF, INVALIDATE, NOTE_OFF, NOTE_ON, Mixer, MixerConfig
from ganpad.app.portaudio import portaudio, release_portaudio, track
from ganpad.app.voice_pool import VELOCITY_BANDS, VoicePool
from ganpad.app.worker import GeneratorWorker
from ganpad.atomic import atomic_write_text
from ganpad.presets import Preset, provider_name

KIT_FORMAT = "ganpad-kit/1"


# How long a thread may hold the GIL while another waits for it (Python's default is 5 ms).
# The audio callbacks take no GIL, but rtmidi calls Python from its own JACK (or ALSA) thread
# for every MIDI message: behind the generator's thread it would wait longer than a 2.7 ms
# period, and JACK counts a late rtmidi client as an xrun. A shorter turn costs the generator
# a little switching. The JACK backend reads MIDI in its native callback and needs none.
GIL_SWITCH_S = 2e-4


class EngineError(RuntimeError):
    pass


@dataclass
class EngineStats:
    callbacks: int = 0
    xruns: int = 0  # what JACK reported to the engine's client, or PortAudio to the callback
    max_callback_s: float = 0.0
    busy_s: float = 0.0  # time spent inside the callback
    missed: int = 0  # note-ons that found no rendered variation
    rendered: int = 0


class Engine:
    def __init__(
        self,
        preset: Preset,
        device_rate: int = 48000,
        variations: int = 4,
        mixer: MixerConfig | None = None,
        seed: int | None = None,
        providers: list[str] | None = None,
    ):
        self.preset = preset
        self.rate = device_rate
        self.keymap = KeyMap.for_preset(preset)
        # Each slot's buffers hold as much as its label ever rings (preset.json's label lengths)
        frames = [preset.frames_of(int(label), device_rate) for label in self.keymap.label]
        bands = VELOCITY_BANDS if preset.velocity else 1
        per_band = max(2, -(-variations // bands)) if bands > 1 else variations
        if preset.kind == "notes" and bands > 1:
            # Its keys play one locked timbre, whose renders are all alike: a played buffer
            # stays fresh, so one per band serves every note (half the memory and start-up of
            # two: 84 MB for 49 keys of 3 s at 48 kHz), whatever `variations` asks. A key
            # unlocked by hand re-renders after each note; a repeat meanwhile replays the old
            # one while it rings, else plays another band's.
            per_band = 1
        self.pool = VoicePool(self.keymap.slots, bands * per_band, frames, bands)
        self.bank = LatentBank(self.keymap.slots, preset.latent, seed)
        if preset.kind == "notes":  # one instrument across the keyboard, as a player expects
            self.bank.lock_all(self.bank.new_seed())
            self.pool.keep[:] = True
        self.mixer = Mixer(
            self.pool,
            device_rate,
            self.keymap.choke_group,
            mixer or MixerConfig(),
            note_off=preset.kind == "notes",
            note_slot=self.keymap.note_slot,
        )
        # No arena: an instrument runs for hours, and the arena would hold the largest batch's
        # peak all that time (about 100 MB for the 44.1 kHz drums) to save 10 % of a render.
        session = preset.session(providers, threads=1, arena=False)
        trim_heap()  # the session start's peak (it folds the graph's tables): about 300 MB
        self.provider = provider_name(session)  # what the pool is generated on: CUDA or CPU
        self.worker = GeneratorWorker(
            preset,
            session,
            self.pool,
            self.bank,
            self.keymap,
            device_rate,
        )
        self.stream = None
        self.stats = EngineStats()
        self.jack_xruns = 0  # counted by the JACK backend's xrun callback
        # Called with (slot, note, velocity) from whichever thread plays a note (MIDI, GUI).
        self.listeners: list = []

    # ---- life cycle --------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the worker and wait until every slot has its variations rendered."""
        if not self.worker.is_alive():
            self.worker.start()
        deadline = time.monotonic() + timeout
        while not self.pool.ready():
            if self.worker.errors:
                raise EngineError(f"generator failed: {self.worker.errors[-1]}")
            if time.monotonic() > deadline:
                raise EngineError(f"variations not rendered within {timeout} s")
            time.sleep(0.01)
        # Whichever thread allocates when the cyclic collector is due pays for its pass, the
        # audio callback too; what exists now (ONNX, Qt, the pool) never becomes garbage, so
        # it leaves the collector's generations and later passes stay short.
        gc.collect()
        gc.freeze()

    def open_audio(self, device: int | str | None = None, period: int = 128, channels: int = 2):
        """Play through PortAudio (sounddevice's stream), its callback compiled code."""
        from ganpad.app import portaudio_process

        sd = portaudio()
        if period > self.mixer.cfg.max_block:
            raise EngineError(f"period {period} exceeds the mixer's {self.mixer.cfg.max_block}")
        sys.setswitchinterval(GIL_SWITCH_S)
        self._table = portaudio_process.table(self.mixer, channels)
        ffi = sd._ffi
        try:
            # sounddevice's stream with a C callback and its user data (as rtmixer does)
            stream = sd._StreamBase(
                kind="output", wrap_callback=None, samplerate=self.rate, blocksize=period,
                device=device, channels=channels, dtype="float32", latency="low",
                callback=ffi.cast("PaStreamCallback *", portaudio_process.process.address),
                userdata=ffi.cast("void *", self._table.ctypes.data),
            )  # fmt: skip
            track(stream)
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:  # ValueError: no such device
            raise EngineError(f"audio device {device!r}: {exc}") from exc
        self.stream = stream
        return self.stream

    def open_jack(self, channel: int | None = None, connect: bool = True):
        """Play as one JACK client that reads MIDI itself (`<client>:midi_in`): a note sounds
        in the cycle it arrives in, at its own frame."""
        from ganpad.app.jack_backend import JackBackend

        release_portaudio()  # its own JACK client would wake every period beside ours
        self.stream = JackBackend(self, channel=channel, connect=connect)
        return self.stream

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
            self.stream = None
        self.worker.stop()
        if self.worker.is_alive():
            self.worker.join(timeout=5)

    def snapshot(self) -> EngineStats:
        """The counters now: the audio thread's, the worker's and the xruns."""
        s = self.stats
        s.callbacks, s.busy_s = self.mixer.callbacks, self.mixer.busy_s
        s.xruns = self.jack_xruns + self.mixer.underflows
        s.max_callback_s, s.missed = self.mixer.max_callback_s, self.mixer.missed
        s.rendered = self.worker.rendered
        return s

    # ---- playing -----------------------------------------------------------------------------

    def _post(self, kind: int, slot: int, velocity: int = 0) -> bool:
        """Hand an event to the audio thread (any thread); False if dropped. A full ring means
        no callback is running to take it: the event is dropped, as a stopped instrument would
        drop it. The voices that started since the last look go to `mixer.started` on the way."""
        self.mixer.drain_notes()
        try:
            self.mixer.post(kind, slot, velocity)
        except OverflowError:
            return False
        return True

    def note_on(self, note: int, velocity: int = 100) -> int:
        """Play a MIDI note; returns the slot it triggered, or -1 if the preset has none for it."""
        slot = self.keymap.slot_for(int(note))
        if slot >= 0 and velocity > 0:
            self._post(NOTE_ON, slot, int(velocity))
            for listener in self.listeners:
                listener(slot, int(note), int(velocity))
        elif slot >= 0:
            self._post(NOTE_OFF, slot)
        self.worker.poke()  # after the post: the note never waits on the worker's wake-up
        return slot

    def note_off(self, note: int) -> None:
        slot = self.keymap.slot_for(int(note))
        if slot >= 0:
            self._post(NOTE_OFF, slot)

    def trigger(self, slot: int, velocity: int = 100) -> None:
        self._post(NOTE_ON, self._check_slot(slot), int(velocity))
        self.worker.poke()

    def load(self) -> float:
        """Share of the audio period spent in the callback, averaged so far (0..1)."""
        if not self.mixer.callbacks or self.stream is None:
            return 0.0
        period_s = self.stream.blocksize / self.rate
        return self.mixer.busy_s / (self.mixer.callbacks * period_s)

    def last_clip(self, slot: int) -> tuple[np.ndarray, int] | None:
        """(audio at the device rate, seed) of what the slot played last, copied; None before."""
        v = int(self.mixer.last_variation[self._check_slot(slot)])
        if v < 0:
            return None
        n = int(self.pool.length[slot, v])
        return self.pool.buffer(slot, v)[:n].copy(), int(self.pool.seed[slot, v])

    def played_latent(self, slot: int) -> tuple[np.ndarray, str]:
        """(latent, name tag) of the sound the slot played last, or of its next one if none."""
        seed = int(self.mixer.last_seed[self._check_slot(slot)])
        if seed < 0:
            z, seed = self.bank.draw(slot)
            return z, str(seed)
        state = self.bank.slots[slot]
        if state.locked and state.seed == seed and state.morph_to != FRESH and state.amount > 0:
            return self.bank.locked_latent(state), f"{seed}-{state.morph_to}-{state.amount:.3f}"
        return latent_for_seed(seed, self.preset.latent), str(seed)

    def played_velocity(self, slot: int) -> float | None:
        """The velocity (0..1) the slot's last sound was rendered at: its band's; None for a
        preset without a velocity input, or before the slot played (the graph's default)."""
        v = int(self.mixer.last_variation[self._check_slot(slot)])
        return self.pool.velocity_of(v) if self.preset.velocity and v >= 0 else None

    def render_latent(self, slot: int, z: np.ndarray, velocity: float | None = None,
                      program: int | None = None) -> np.ndarray:  # fmt: skip
        """A slot's sound for a latent (at a velocity, 0..1, where the preset takes one; as
        `program`, else the one playing, where it has programs), finished at the device rate.
        Runs ONNX: call it from a worker thread, never from the audio or GUI thread."""
        played = None if velocity is None else np.array([velocity], np.float32)
        label = np.array([self.keymap.label[slot]])
        audio = self.worker.generate(z[None], label, played, program)[0]
        room = int(self.pool.rooms[slot])
        return finish_clip(audio, self.preset.sample_rate, self.rate, max_frames=room)

    def panic(self) -> None:
        self._post(ALL_OFF, 0)
        self.worker.poke()

    # ---- latent control (per slot) -----------------------------------------------------------

    def _check_slot(self, slot: int) -> int:
        if not 0 <= slot < self.keymap.slots:
            raise EngineError(f"slot {slot} is not within 0..{self.keymap.slots - 1}")
        return slot

    def last_seed(self, slot: int) -> int:
        """Seed of the variation the slot played last (or of a ready one, before any)."""
        # The mixer's copy: the pool's buffer may hold a fresh render since (an unlocked key)
        seed = int(self.mixer.last_seed[self._check_slot(slot)])
        return seed if seed >= 0 else int(self.pool.seed[slot, 0])

    def _invalidate(self, slot: int) -> None:
        """Re-render a slot's variations. While audio runs, the audio thread does the
        bookkeeping (it owns the pool's flags); without a stream nothing else touches them."""
        self.worker.poke()
        self.pool.keep[slot] = self.bank.fixed(slot)
        if self.stream is not None and self.stream.active:
            if not self._post(INVALIDATE, slot):  # lost: each buffer renders anew once played
                self.pool.keep[slot] = False
        else:
            self.pool.invalidate(slot)

    def reroll(self, slot: int) -> None:
        """A new sound: a new locked seed if the slot is locked, else fresh variations."""
        state = self.bank.slots[self._check_slot(slot)]
        if state.locked:
            self.bank.lock(slot, self.bank.new_seed())
        self._invalidate(slot)

    def lock(self, slot: int, seed: int | None = None) -> int:
        """Keep one sound: the one just heard, or the given seed."""
        seed = self.last_seed(slot) if seed is None else int(seed)
        self.bank.lock(slot, seed)
        self._invalidate(slot)
        return seed

    def lock_timbre(self, seed: int | None = None) -> int:
        """One sound on every key (a notes preset's timbre): the given seed, or a new one."""
        seed = self.bank.new_seed() if seed is None else int(seed)
        self.bank.lock_all(seed)
        for slot in range(self.keymap.slots):
            self._invalidate(slot)
        return seed

    def timbre(self) -> int | None:
        """The seed every key is locked to, or None where the keys differ or roll fresh."""
        seeds = {(s.seed, s.morph_to, s.amount) for s in self.bank.slots}
        only = seeds.pop() if len(seeds) == 1 else None
        return only[0] if only and only[0] != FRESH else None

    def cycle(self, slot: int, sounds: list[tuple[np.ndarray, int]]) -> None:
        """Play these (latent, seed) pairs in turn on the slot, as a sampler's round robins."""
        self.bank.cycle(self._check_slot(slot), sounds)
        self._invalidate(slot)

    def unlock(self, slot: int) -> None:
        self.bank.unlock(self._check_slot(slot))
        self._invalidate(slot)

    def morph(self, slot: int, seed_a: int, seed_b: int, amount: float) -> None:
        self.bank.morph(self._check_slot(slot), seed_a, seed_b, amount)
        self._invalidate(slot)

    @property
    def program(self) -> int:
        """The index of the preset's program every key plays (0 for a preset without any)."""
        return self.bank.program

    def set_program(self, index: int) -> None:
        """Play the preset's program `index` (preset.programs) on every key: the same latents,
        that instrument."""
        if not 0 <= index < max(1, len(self.preset.programs)):
            names = [p.name for p in self.preset.programs] or ["none"]
            raise EngineError(f"program {index} is not one of {self.preset.name}'s: "
                              f"{', '.join(f'{i} {n}' for i, n in enumerate(names))}")  # fmt: skip
        self.bank.program = index
        for slot in range(self.keymap.slots):
            self._invalidate(slot)

    # ---- kits ----------------------------------------------------------------------------------

    def kit_json(self) -> dict:
        slots = [
            {"name": n, **s} for n, s in zip(self.keymap.names, self.bank.to_json(), strict=True)
        ]
        kit = {"format": KIT_FORMAT, "preset": self.preset.name, "slots": slots}
        if self.preset.programs:
            kit["program"] = self.preset.programs[self.program].program  # its GM number
        return kit

    def save_kit(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.kit_json(), indent=1) + "\n")

    def load_kit(self, path: str | Path) -> None:
        slots, program = read_window_kit(path, self.preset)
        self.bank.load_json(slots)
        self.bank.program = program
        for slot in range(self.keymap.slots):
            self._invalidate(slot)


def read_window_kit(path: str | Path, preset: Preset) -> tuple[list[dict], int]:
    """(slots, program index) of a window kit file for `preset`, checked as a bank loads them,
    without an engine (so a command can refuse a bad kit before it builds one); EngineError
    names it. A kit names its program by GM number; the preset must play it."""
    try:
        kit = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(kit, dict) or kit.get("format") != KIT_FORMAT:
            raise ValueError(f"not a {KIT_FORMAT} file")
        if kit.get("preset") != preset.name:
            raise ValueError(f"kit is for preset {kit.get('preset')!r}, not {preset.name!r}")
        LatentBank(KeyMap.for_preset(preset).slots, preset.latent).load_json(kit["slots"])
        number = kit.get("program")
        program = 0 if number is None else preset.program_index(number)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"{path}: cannot load kit: {exc}") from exc
    return kit["slots"], program
