"""Pre-rendered variations per playable slot, handed between the worker and the audio thread.

The audio thread (compiled code, `take`/`release`/`invalidate`) only flips flags and counters
here, and hands played buffers back to the worker on a lock-free ring; the worker writes audio
into a buffer only while no voice plays it, and publishes it by setting `filled` last. No locks
on the audio side.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import carray, njit

from ganpad.app import ring
from ganpad.app.native import as_bool, as_f32, as_i32, as_i64, fence, memory_fence
from ganpad.app.ring import WIDTH, Ring

LOST = 0  # flags[LOST]: the wanted ring was full once; the worker rescans the flags
# flags[BANDS]: how many velocity bands a slot's variations are split into, softest first
# (1: none). A velocity-aware preset renders each band's variations at the band's velocity.
BANDS = 1


class PoolState(NamedTuple):
    """The arrays the audio thread reads and writes (in the order of the address table)."""

    audio: np.ndarray  # float32 [frames of all buffers]: each slot's variations end to end
    start: np.ndarray  # int64 [slots, variations]: where each buffer begins in `audio`
    length: np.ndarray  # int64 [slots, variations]
    filled: np.ndarray  # bool: rendered and published
    stale: np.ndarray  # bool: played once, wants a fresh variation
    users: np.ndarray  # int32: voices reading it now
    seed: np.ndarray  # int64
    generation: np.ndarray  # int64 [slots]: bumped when a slot's latent changes
    cursor: np.ndarray  # int64 [slots]: where the next take starts looking
    wanted: np.ndarray  # ring records (slot, variation, ...) for the worker
    wanted_index: np.ndarray
    flags: np.ndarray  # int64 [8]
    # bool [slots]: every render of the slot is one sound (a locked latent), so a buffer stays
    # fresh after it is played: re-rendering it would give the same samples
    keep: np.ndarray


# A velocity-aware preset's variations come in this many velocity bands (MIDI 1-42, 43-84,
# 85-127), each rendered at its band's middle; gain still follows the velocity on top. Renders
# for a DAW write the same bands as velocity layers.
VELOCITY_BANDS = 3


@njit(cache=True, nogil=True)
def band_of(velocity: int, bands: int) -> int:
    """The velocity band (0: the softest) a MIDI velocity 1..127 plays from."""
    return min(bands - 1, (max(velocity, 1) - 1) * bands // 126)


def band_range(band: int, bands: int) -> tuple[int, int]:
    """The MIDI velocities (lowest, highest) that play from a band."""
    return 1 + -(-126 * band // bands), -(-126 * (band + 1) // bands) + (band == bands - 1)


def band_velocity(band: int, bands: int) -> float:
    """The velocity (0..1) a band's variations are rendered at: its middle."""
    return (band + 0.5) / bands


def rendered_velocity(velocity: int, bands: int = VELOCITY_BANDS) -> float:
    """The velocity (0..1) the variation a MIDI note-on of `velocity` plays was rendered at."""
    return band_velocity(band_of(velocity, bands), bands)


@njit(cache=True, nogil=True)
def take(p: PoolState, slot: int, velocity: int) -> int:
    """A buffer to play for a MIDI velocity: a fresh one of its band if any, else one of its
    band played before, else (nothing of the band rendered yet) any; -1 if none is ready. A
    kept slot plays its current sound from another band before an invalidated one of its own
    (a morph dragged while the last preview rings)."""
    variations = p.filled.shape[1]
    bands = max(1, p.flags[BANDS])
    count = variations // bands
    first = band_of(velocity, bands) * count
    chosen = -1
    if p.keep[slot]:  # its latent's sound from any band before its old latent's from its own
        chosen = _current(p, slot, first, count)
        if chosen < 0:
            chosen = _current(p, slot, 0, variations)
    if chosen < 0:
        chosen = _choose(p, slot, first, count)
    if chosen < 0 and bands > 1:
        chosen = _choose(p, slot, 0, variations)
    if chosen >= 0:
        p.users[slot, chosen] += 1
        if not p.keep[slot]:  # set, never cleared: an invalidation's stale flag must hold
            p.stale[slot, chosen] = True
        p.cursor[slot] = chosen + 1
    return chosen


@njit(cache=True, nogil=True)
def _choose(p: PoolState, slot: int, first: int, count: int) -> int:
    """Among variations first..first+count-1, from the slot's cursor on: a fresh unplayed one,
    else the first filled one, else -1."""
    chosen = -1
    for k in range(count):
        v = first + (p.cursor[slot] + k) % count
        if not p.filled[slot, v]:
            continue
        if not p.stale[slot, v] and p.users[slot, v] == 0:
            return v
        if chosen < 0:
            chosen = v
    return chosen


@njit(cache=True, nogil=True)
def _current(p: PoolState, slot: int, first: int, count: int) -> int:
    """A kept slot's buffer among first..first+count-1 that holds its latent's sound now (not
    stale: voices may share it), or -1."""
    for v in range(first, first + count):
        if p.filled[slot, v] and not p.stale[slot, v]:
            return v
    return -1


@njit(cache=True, nogil=True)
def _want(p: PoolState, slot: int, v: int) -> None:
    if not ring.push(p.wanted, p.wanted_index, slot, v, 0, 0, 0):
        p.flags[LOST] = 1


@njit(cache=True, nogil=True)
def release(p: PoolState, slot: int, v: int) -> None:
    """A voice stopped reading; a played buffer goes back for re-rendering."""
    p.users[slot, v] -= 1
    if p.users[slot, v] == 0 and p.stale[slot, v]:
        p.filled[slot, v] = False
        _want(p, slot, v)


@njit(cache=True, nogil=True)
def invalidate(p: PoolState, slot: int) -> None:
    """Latents changed: every variation of the slot is re-rendered once no voice reads it."""
    p.generation[slot] += 1
    fence()  # the new generation before the flags are read: `fill` does the mirror image
    for v in range(p.filled.shape[1]):
        p.stale[slot, v] = True
        if p.users[slot, v] == 0 and p.filled[slot, v]:
            p.filled[slot, v] = False
            _want(p, slot, v)


def table(p: PoolState) -> list[int]:
    """The state's addresses, then its sizes: what `from_table` reads in compiled code."""
    return [a.ctypes.data for a in p] + [*p.start.shape, len(p.audio), p.wanted.shape[0]]


TABLE = len(PoolState._fields) + 4


@njit(cache=True, nogil=True)
def from_table(t, at: int) -> PoolState:
    slots, variations, frames, wanted = t[at + 13], t[at + 14], t[at + 15], t[at + 16]
    grid = (slots, variations)
    return PoolState(
        carray(as_f32(t[at]), (frames,)),
        carray(as_i64(t[at + 1]), grid),
        carray(as_i64(t[at + 2]), grid),
        carray(as_bool(t[at + 3]), grid),
        carray(as_bool(t[at + 4]), grid),
        carray(as_i32(t[at + 5]), grid),
        carray(as_i64(t[at + 6]), grid),
        carray(as_i64(t[at + 7]), (slots,)),
        carray(as_i64(t[at + 8]), (slots,)),
        carray(as_i64(t[at + 9]), (wanted, WIDTH)),
        carray(as_i64(t[at + 10]), (16,)),
        carray(as_i64(t[at + 11]), (8,)),
        carray(as_bool(t[at + 12]), (slots,)),
    )


class VoicePool:
    def __init__(self, slots: int, variations: int, frames: int | Sequence[int], bands: int = 1):
        """`frames`: the most a buffer holds, for every slot or for each (its label's length:
        a kick's buffers need not be as long as a crash's)."""
        if bands < 1 or variations % bands:
            raise ValueError(f"{variations} variations do not split into {bands} velocity bands")
        rooms = np.broadcast_to(np.asarray(frames, np.int64), (slots,)).copy()
        starts = np.cumsum(np.repeat(rooms, variations)) - np.repeat(rooms, variations)
        records, index = ring.ring_arrays(max(1024, 4 * slots * variations))
        self.rooms = rooms  # frames each slot's buffers hold
        self.state = PoolState(
            audio=np.zeros(int(rooms.sum()) * variations, np.float32),
            start=starts.reshape(slots, variations),
            length=np.zeros((slots, variations), np.int64),
            filled=np.zeros((slots, variations), bool),
            stale=np.zeros((slots, variations), bool),
            users=np.zeros((slots, variations), np.int32),
            seed=np.zeros((slots, variations), np.int64),
            generation=np.zeros(slots, np.int64),
            cursor=np.zeros(slots, np.int64),
            wanted=records,
            wanted_index=index,
            flags=np.zeros(8, np.int64),
            keep=np.zeros(slots, bool),
        )
        self.flags[BANDS] = bands
        self._returned = Ring(records, index)  # the audio thread's hand-backs
        self._lock = threading.Lock()
        # (slot, variation) pairs the worker should render, oldest first
        self._queue: deque[tuple[int, int]] = deque(
            (slot, v) for slot in range(slots) for v in range(variations)
        )

    def __getattr__(self, name: str):  # audio, length, filled, ...: the state's arrays
        if name in PoolState._fields:
            return getattr(self.__dict__["state"], name)
        raise AttributeError(name)

    def __deepcopy__(self, memo) -> VoicePool:
        copy = VoicePool(self.slots, self.variations, self.rooms, self.bands)
        for mine, theirs in zip(copy.state, self.state, strict=True):
            mine[...] = theirs
        copy._queue = deque(self._queue)
        return copy

    @property
    def slots(self) -> int:
        return self.start.shape[0]

    @property
    def variations(self) -> int:
        return self.start.shape[1]

    def buffer(self, slot: int, v: int) -> np.ndarray:
        """Variation v of a slot: a view of its whole room (`length` frames of it rendered)."""
        at = int(self.start[slot, v])
        return self.audio[at : at + int(self.rooms[slot])]

    @property
    def bands(self) -> int:
        return int(self.flags[BANDS])

    def velocity_of(self, v: int) -> float:
        """The velocity (0..1) variation v is rendered at: the middle of its band."""
        return band_velocity(v * self.bands // self.variations, self.bands)

    @property
    def wanted(self) -> deque[tuple[int, int]]:
        """The worker's queue, with what the audio thread handed back since the last look."""
        with self._lock:
            self._queue.extend((r[0], r[1]) for r in self._returned.take_all())
            if self.flags[LOST]:  # the ring overflowed once: find every hand-back by its flags
                self.flags[LOST] = 0
                queued = set(self._queue)
                for slot, v in zip(*np.nonzero(~self.filled & (self.users == 0)), strict=True):
                    if (int(slot), int(v)) not in queued:
                        self._queue.append((int(slot), int(v)))
            return self._queue

    # Without a running stream (offline, tests) Python may do the audio thread's part.
    def take(self, slot: int, velocity: int = 127) -> int:
        return take(self.state, slot, velocity)

    def release(self, slot: int, v: int) -> None:
        release(self.state, slot, v)

    def invalidate(self, slot: int) -> None:
        invalidate(self.state, slot)

    def fill(self, slot: int, v: int, audio: np.ndarray, seed: int, generation: int) -> bool:
        """Worker: store a rendering unless the slot changed meanwhile or a voice reads it."""
        if generation != self.generation[slot] or self.users[slot, v] > 0 or self.filled[slot, v]:
            return False
        n = min(len(audio), int(self.rooms[slot]))
        self.buffer(slot, v)[:n] = audio[:n]
        self.length[slot, v] = n
        self.seed[slot, v] = seed
        self.stale[slot, v] = False
        self.filled[slot, v] = True  # last: the audio thread reads nothing before this
        # The flag before the generation is read, as `invalidate` stores the generation before
        # it reads the flags: one side then always sees the other (else both could miss, and
        # the old timbre would play once).
        memory_fence()
        if generation != self.generation[slot]:  # invalidated while we wrote: not fresh after all
            self.stale[slot, v] = True
            if self.users[slot, v] == 0:
                self.filled[slot, v] = False
                self.wanted.append((slot, v))
            return False
        return True

    def ready(self) -> bool:
        return bool(self.filled.all())
