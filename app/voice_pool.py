"""Pre-rendered variations per playable slot, handed between the worker and the audio thread.

The audio thread only flips flags and counters here (single writes under the GIL); the worker
writes audio into a buffer only while no voice plays it. No locks.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class VoicePool:
    def __init__(self, slots: int, variations: int, max_frames: int):
        self.audio = np.zeros((slots, variations, max_frames), np.float32)
        self.length = np.zeros((slots, variations), np.int64)
        self.filled = np.zeros((slots, variations), bool)
        self.stale = np.zeros((slots, variations), bool)  # played once: wants a fresh variation
        self.users = np.zeros((slots, variations), np.int32)  # voices reading it now
        self.seed = np.zeros((slots, variations), np.int64)
        self.generation = np.zeros(slots, np.int64)  # bumped when a slot's latent changes
        self.cursor = np.zeros(slots, np.int64)
        # (slot, variation) pairs the worker should render; appended by either thread.
        self.wanted: deque[tuple[int, int]] = deque()
        for slot in range(slots):
            for v in range(variations):
                self.wanted.append((slot, v))

    @property
    def slots(self) -> int:
        return self.audio.shape[0]

    @property
    def variations(self) -> int:
        return self.audio.shape[1]

    def take(self, slot: int) -> int:
        """Audio thread: a buffer to play (a fresh one if any), or -1 if none is ready yet."""
        start = int(self.cursor[slot])
        fallback = -1
        for k in range(self.variations):
            v = (start + k) % self.variations
            if not self.filled[slot, v]:
                continue
            if not self.stale[slot, v] and self.users[slot, v] == 0:
                fallback = v
                break
            if fallback < 0:
                fallback = v
        if fallback >= 0:
            self.users[slot, fallback] += 1
            self.stale[slot, fallback] = True
            self.cursor[slot] = (fallback + 1) % self.variations
        return fallback

    def release(self, slot: int, v: int) -> None:
        """Audio thread: a voice stopped reading; a played buffer goes back for re-rendering."""
        self.users[slot, v] -= 1
        if self.users[slot, v] == 0 and self.stale[slot, v]:
            self.filled[slot, v] = False
            self.wanted.append((slot, v))

    def invalidate(self, slot: int) -> None:
        """Latents changed: every variation of the slot is re-rendered once no voice reads it."""
        self.generation[slot] += 1
        for v in range(self.variations):
            self.stale[slot, v] = True
            if self.users[slot, v] == 0 and self.filled[slot, v]:
                self.filled[slot, v] = False
                self.wanted.append((slot, v))

    def fill(self, slot: int, v: int, audio: np.ndarray, seed: int, generation: int) -> bool:
        """Worker: store a rendering unless the slot changed meanwhile or a voice reads it."""
        if generation != self.generation[slot] or self.users[slot, v] > 0 or self.filled[slot, v]:
            return False
        n = min(len(audio), self.audio.shape[2])
        self.audio[slot, v, :n] = audio[:n]
        self.length[slot, v] = n
        self.seed[slot, v] = seed
        self.stale[slot, v] = False
        self.filled[slot, v] = True  # last: the audio thread reads nothing before this
        if generation != self.generation[slot]:  # invalidated while we wrote: not fresh after all
            self.stale[slot, v] = True
            if self.users[slot, v] == 0:
                self.filled[slot, v] = False
                self.wanted.append((slot, v))
            return False
        return True

    def ready(self) -> bool:
        return bool(self.filled.all())
