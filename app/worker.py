"""The generator worker: renders variations in batches with ONNX Runtime, off the audio path."""

from __future__ import annotations

import threading
import time

import numpy as np

from ganpad.app.clip import finish_clip
from ganpad.app.heap import trim_heap
from ganpad.app.keymap import KeyMap
from ganpad.app.latents import LatentBank
from ganpad.app.voice_pool import VoicePool
from ganpad.presets import Preset

# While voices play (or just after work or a poke) the worker polls, since the audio thread
# must not signal; at rest it sleeps until poked by a non-real-time thread, or IDLE_S passes.
POLL_S = 0.002
GRACE_S = 0.5
IDLE_S = 0.5
# Batches of 4: per clip about as fast as 16 (4.9 vs 5.7 ms for the 16 kHz drums), at a quarter
# of the peak memory while rendering.


class GeneratorWorker(threading.Thread):
    def __init__(
        self,
        preset: Preset,
        session,
        pool: VoicePool,
        bank: LatentBank,
        keymap: KeyMap,
        device_rate: int,
        batch: int = 4,
    ):
        super().__init__(name="ganpad-generator", daemon=True)
        self.preset = preset
        self.session = session
        self.pool = pool
        self.bank = bank
        self.keymap = keymap
        self.device_rate = device_rate
        self.batch = batch
        self._halt = threading.Event()
        self._wake = threading.Event()
        self.rendered = 0
        self.idle_wakeups = 0  # waits that ended with nothing to do (what costs CPU at rest)
        self.errors: list[str] = []

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def poke(self) -> None:
        """Work may come soon (a note, a latent change): poll again. Never from the audio thread."""
        self._wake.set()

    def run(self) -> None:
        busy_at = time.monotonic()
        worked = False
        while not self._halt.is_set():
            jobs = self._take_jobs()
            if not jobs:
                now = time.monotonic()
                if self.pool.users.any():  # a voice that ends hands its buffer back
                    busy_at = now
                resting = now - busy_at >= GRACE_S
                if resting and worked:  # not between a flood's renders: pages would refault
                    trim_heap()
                    worked = False
                self._wake.wait(IDLE_S if resting else POLL_S)
                self.idle_wakeups += 1
                if self._wake.is_set():
                    self._wake.clear()
                    busy_at = time.monotonic()
                continue
            busy_at = time.monotonic()
            try:
                self._render(jobs)
                worked = True
            except Exception as exc:  # keep playing what is there; report, back off, retry
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.pool.wanted.extend(jobs)
                self._halt.wait(0.5)

    def render_wanted(self) -> None:
        """Render every wanted variation now, in the caller's thread (offline rendering)."""
        while jobs := self._take_jobs():
            self._render(jobs)

    def _take_jobs(self) -> list[tuple[int, int]]:
        jobs = []
        while self.pool.wanted and len(jobs) < self.batch:
            jobs.append(self.pool.wanted.popleft())
        return jobs

    def generate(self, z: np.ndarray, labels: np.ndarray, velocity=None,
                 program: int | None = None) -> np.ndarray:  # fmt: skip
        """Raw generator output [B, samples] at the preset's rate (at `velocity`, 0..1, where
        the preset takes one; as `program`, else the bank's, where it has programs)."""
        program = self.bank.program if program is None else program
        return self.preset.generate(self.session, z, labels, velocity, program)

    def _render(self, jobs: list[tuple[int, int]]) -> None:
        # The generation first: a latent change after this makes fill() refuse the result.
        generations = [int(self.pool.generation[slot]) for slot, _ in jobs]
        draws = [self.bank.draw(slot) for slot, _ in jobs]
        z = np.stack([d[0] for d in draws])
        labels = np.array([self.keymap.label[slot] for slot, _ in jobs])
        velocity = None
        if self.preset.velocity:  # each variation at its velocity band's middle
            velocity = np.array([self.pool.velocity_of(v) for _, v in jobs], np.float32)
        audio = self.generate(z, labels, velocity)
        for (slot, v), (_, seed), gen, clip in zip(jobs, draws, generations, audio, strict=True):
            room = int(self.pool.rooms[slot])
            playable = finish_clip(clip, self.preset.sample_rate, self.device_rate, max_frames=room)
            if self.pool.fill(slot, v, playable, seed, gen):
                self.rendered += 1
            elif not self.pool.filled[slot, v] and self.pool.users[slot, v] == 0:
                self.pool.wanted.append((slot, v))  # the slot changed meanwhile: render anew
