"""Sample-accurate voice mixer: events in, audio blocks out, the same at any block size.

The mixing is compiled (numba) and runs without the GIL over numpy arrays allocated once: the
JACK and PortAudio callbacks call it as native code, and `Mixer.process` calls the same code
from Python (offline renders, tests). Events come in on a lock-free ring (`post`, any thread);
notes that started and were heard go out on another (`started`, `drain_notes`).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import carray, njit

from ganpad.app import ring, voice_pool
from ganpad.app.midi import parse_byte, parser_state
from ganpad.app.native import (
    CLOCK_MONOTONIC,
    as_bool,
    as_f32,
    as_f64,
    as_i64,
    as_void,
    clock_gettime,
    fence,
)
from ganpad.app.ring import HEAD, TAIL, Ring
from ganpad.app.voice_pool import PoolState, VoicePool

NOTE_ON = 1
NOTE_OFF = 2
ALL_OFF = 3
INVALIDATE = 4  # a slot's latents changed: its pool is re-rendered (pool flags stay audio-owned)
NOW = -1  # event frame: at the start of the next block

# Records on the notes ring: (kind, slot, frame, seed or note, velocity)
STARTED = 1  # a voice started: (STARTED, slot, frame, seed, velocity)
HEARD = 2  # the JACK callback read a note-on: (HEARD, slot, frame, note, velocity)

# ctr: counters the audio thread keeps (Python reads them)
FRAME, SOUNDING, MISSED, CALLBACKS, BUSY_NS, MAX_NS, DROPPED, P_START, P_END = range(9)
UNDERFLOWS = 9  # output underflows PortAudio reported to the callback
# params: configuration as numbers
MASTER, VEL_EXP, CLIP, NOTE_OFF_ON, CHOKE_FRAMES, RELEASE_FRAMES = range(6)


@dataclass(frozen=True)
class MixerConfig:
    polyphony: int = 32
    max_block: int = 4096
    choke_ms: float = 4.0  # fade when a voice is choked (a stolen voice is cut)
    release_ms: float = 60.0  # fade after note-off (pitched presets)
    velocity_exponent: float = 1.6  # gain = (velocity / 127) ** exponent
    master_gain: float = 0.8
    clip: bool = True  # a live output clips at full scale; an offline render limits instead


class MixState(NamedTuple):
    """The mixer's arrays (in the order of the address table)."""

    active: np.ndarray  # bool [polyphony]
    slot: np.ndarray  # int64 [polyphony]
    buf: np.ndarray  # the pool variation each voice reads
    pos: np.ndarray
    age: np.ndarray  # start frame, for stealing the oldest
    fade_len: np.ndarray  # 0 = not fading
    fade_pos: np.ndarray
    gain: np.ndarray  # float32 [polyphony]
    choke_group: np.ndarray  # int64 [slots]; 0 = none
    note_slot: np.ndarray  # int64 [128]: MIDI note -> slot or -1 (the JACK callback's MIDI)
    last_variation: np.ndarray  # int64 [slots]: what each slot played last
    last_seed: np.ndarray  # and that variation's seed
    events: np.ndarray  # ring (frame, kind, slot, velocity, 0) from Python
    events_index: np.ndarray
    pending: np.ndarray  # int64 [n, 5]: events by frame, ctr[P_START]..ctr[P_END]
    notes: np.ndarray  # ring of STARTED / HEARD records to Python
    notes_index: np.ndarray
    ctr: np.ndarray  # int64 [16]
    params: np.ndarray  # float64 [8]
    mono: np.ndarray  # float32 [max_block]: the block being mixed
    clock: np.ndarray  # int64 [2]: a struct timespec
    midi: np.ndarray  # int64 [4]: the JACK callback's MIDI parser (midi.parser_state)


def table(m: MixState) -> list[int]:
    """The state's addresses, then its sizes: what `from_table` reads in compiled code."""
    sizes = [m.active.shape[0], m.choke_group.shape[0], m.events.shape[0], m.pending.shape[0],
             m.notes.shape[0], m.mono.shape[0]]  # fmt: skip
    return [a.ctypes.data for a in m] + sizes


TABLE = len(MixState._fields) + 6


@njit(cache=True, nogil=True)
def from_table(t, at: int) -> MixState:
    voices, slots, events = t[at + 22], t[at + 23], t[at + 24]
    pending, notes, block = t[at + 25], t[at + 26], t[at + 27]
    return MixState(
        carray(as_bool(t[at]), (voices,)),
        carray(as_i64(t[at + 1]), (voices,)),
        carray(as_i64(t[at + 2]), (voices,)),
        carray(as_i64(t[at + 3]), (voices,)),
        carray(as_i64(t[at + 4]), (voices,)),
        carray(as_i64(t[at + 5]), (voices,)),
        carray(as_i64(t[at + 6]), (voices,)),
        carray(as_f32(t[at + 7]), (voices,)),
        carray(as_i64(t[at + 8]), (slots,)),
        carray(as_i64(t[at + 9]), (128,)),
        carray(as_i64(t[at + 10]), (slots,)),
        carray(as_i64(t[at + 11]), (slots,)),
        carray(as_i64(t[at + 12]), (events, ring.WIDTH)),
        carray(as_i64(t[at + 13]), (16,)),
        carray(as_i64(t[at + 14]), (pending, ring.WIDTH)),
        carray(as_i64(t[at + 15]), (notes, ring.WIDTH)),
        carray(as_i64(t[at + 16]), (16,)),
        carray(as_i64(t[at + 17]), (16,)),
        carray(as_f64(t[at + 18]), (8,)),
        carray(as_f32(t[at + 19]), (block,)),
        carray(as_i64(t[at + 20]), (2,)),
        carray(as_i64(t[at + 21]), (4,)),
    )


# ---- compiled: the audio thread -------------------------------------------------------------


@njit(cache=True, nogil=True)
def _now_ns(m: MixState) -> int:
    clock_gettime(CLOCK_MONOTONIC, as_void(m.clock.ctypes.data))
    return m.clock[0] * 1_000_000_000 + m.clock[1]


@njit(cache=True, nogil=True)
def idle(m: MixState) -> bool:
    """Nothing sounds and no event waits: the next block is silence."""
    return (
        m.ctr[SOUNDING] == 0
        and ring.waiting(m.events_index) == 0
        and m.ctr[P_START] == m.ctr[P_END]
    )


@njit(cache=True, nogil=True)
def schedule(m: MixState, frame: int, kind: int, slot: int, velocity: int) -> None:
    """Queue an event by frame (after those of the same frame); dropped only if 512 wait."""
    start, end = m.ctr[P_START], m.ctr[P_END]
    q = m.pending
    if end == q.shape[0]:
        if start == 0:
            m.ctr[DROPPED] += 1
            return
        for i in range(end - start):
            for k in range(4):
                q[i, k] = q[start + i, k]
        end -= start
        start = 0
    i = end
    while i > start and q[i - 1, 0] > frame:
        for k in range(4):
            q[i, k] = q[i - 1, k]
        i -= 1
    q[i, 0], q[i, 1], q[i, 2], q[i, 3] = frame, kind, slot, velocity
    m.ctr[P_START], m.ctr[P_END] = start, end + 1


@njit(cache=True, nogil=True)
def collect(m: MixState) -> None:
    """Move posted events into the pending queue (NOW, or a past frame, means this block)."""
    index, records = m.events_index, m.events
    head = index[HEAD]
    fence()
    for n in range(index[TAIL], head):
        r = records[n % records.shape[0]]
        frame = r[0]
        if frame == NOW or frame < m.ctr[FRAME]:
            frame = m.ctr[FRAME]
        schedule(m, frame, r[1], r[2], r[3])
    fence()
    index[TAIL] = head


@njit(cache=True, nogil=True)
def _stop(p: PoolState, m: MixState, i: int) -> None:
    m.active[i] = False
    m.ctr[SOUNDING] -= 1
    voice_pool.release(p, m.slot[i], m.buf[i])


@njit(cache=True, nogil=True)
def _fade(m: MixState, i: int, frames: int) -> None:
    """Fade voice i out over `frames`, from wherever an earlier fade has got to."""
    if m.fade_len[i] == 0:
        m.fade_len[i], m.fade_pos[i] = frames, 0
    elif m.fade_len[i] - m.fade_pos[i] > frames:
        m.gain[i] *= np.float32(1.0 - m.fade_pos[i] / m.fade_len[i])
        m.fade_len[i], m.fade_pos[i] = frames, 0


@njit(cache=True, nogil=True)
def _free_voice(p: PoolState, m: MixState) -> int:
    """An idle voice, or the oldest one stolen (cut: a fade would need a voice of its own)."""
    oldest = 0
    for i in range(m.active.shape[0]):
        if not m.active[i]:
            return i
        if m.age[i] < m.age[oldest]:
            oldest = i
    _stop(p, m, oldest)
    return oldest


@njit(cache=True, nogil=True)
def _note_on(p: PoolState, m: MixState, slot: int, velocity: int, frame: int) -> None:
    group = m.choke_group[slot]
    if group:
        for i in range(m.active.shape[0]):
            if m.active[i] and m.choke_group[m.slot[i]] == group:
                _fade(m, i, int(m.params[CHOKE_FRAMES]))
    v = voice_pool.take(p, slot, velocity)
    if v < 0:
        m.ctr[MISSED] += 1
        return
    i = _free_voice(p, m)
    m.active[i] = True
    m.ctr[SOUNDING] += 1
    m.slot[i], m.buf[i], m.pos[i], m.age[i] = slot, v, 0, frame
    m.gain[i] = (velocity / 127.0) ** m.params[VEL_EXP]
    m.fade_len[i], m.fade_pos[i] = 0, 0
    m.last_variation[slot] = v
    m.last_seed[slot] = p.seed[slot, v]
    ring.push(m.notes, m.notes_index, STARTED, slot, frame, p.seed[slot, v], velocity)


@njit(cache=True, nogil=True)
def _apply(p: PoolState, m: MixState, kind: int, slot: int, velocity: int, frame: int) -> None:
    if kind == NOTE_ON:
        _note_on(p, m, slot, velocity, frame)
    elif kind == NOTE_OFF and m.params[NOTE_OFF_ON]:
        for i in range(m.active.shape[0]):
            if m.active[i] and m.slot[i] == slot and m.fade_len[i] == 0:
                _fade(m, i, int(m.params[RELEASE_FRAMES]))
    elif kind == ALL_OFF:
        for i in range(m.active.shape[0]):
            if m.active[i]:
                _fade(m, i, int(m.params[CHOKE_FRAMES]))
    elif kind == INVALIDATE:
        voice_pool.invalidate(p, slot)


@njit(cache=True, nogil=True)
def _mix(p: PoolState, m: MixState, offset: int, n: int) -> None:
    """Add `n` frames of every active voice into mono[offset:offset + n]."""
    mono = m.mono
    for i in range(m.active.shape[0]):
        if not m.active[i]:
            continue
        slot, v, pos = m.slot[i], m.buf[i], m.pos[i]
        length = p.length[slot, v]
        count = min(n, length - pos)
        fading = m.fade_len[i] > 0
        if fading:
            count = min(count, m.fade_len[i] - m.fade_pos[i])
        if count > 0:
            gain = m.gain[i]
            audio = p.audio[p.start[slot, v] :]
            if fading:  # linear to zero over fade_len frames, continuing across blocks
                left, step = m.fade_len[i] - m.fade_pos[i], np.float32(1.0 / m.fade_len[i])
                for k in range(count):
                    ramp = np.float32(left - k) * step
                    mono[offset + k] += audio[pos + k] * gain * ramp
                m.fade_pos[i] += count
            else:
                for k in range(count):
                    mono[offset + k] += audio[pos + k] * gain
            m.pos[i] = pos + count
        if m.pos[i] >= length or (fading and m.fade_pos[i] >= m.fade_len[i]):
            _stop(p, m, i)


@njit(cache=True, nogil=True)
def mix(p: PoolState, m: MixState, frames: int) -> None:
    """The next `frames` frames into m.mono[:frames], events on their exact samples."""
    tick = _now_ns(m)
    begin = m.ctr[FRAME]
    end = begin + frames
    mono = m.mono
    for k in range(frames):
        mono[k] = 0.0
    if not idle(m):
        collect(m)
        cursor, q = begin, m.pending
        while m.ctr[P_START] < m.ctr[P_END] and q[m.ctr[P_START], 0] < end:
            row = m.ctr[P_START]
            frame, kind, slot, velocity = q[row, 0], q[row, 1], q[row, 2], q[row, 3]
            m.ctr[P_START] = row + 1
            at = max(frame, cursor)
            if at > cursor:  # split the block at the event's frame
                _mix(p, m, cursor - begin, at - cursor)
                cursor = at
            _apply(p, m, kind, slot, velocity, at)
        if m.ctr[P_START] == m.ctr[P_END]:
            m.ctr[P_START], m.ctr[P_END] = 0, 0
        if cursor < end:
            _mix(p, m, cursor - begin, end - cursor)
        master = np.float32(m.params[MASTER])
        for k in range(frames):
            mono[k] *= master
        if m.params[CLIP]:
            for k in range(frames):
                mono[k] = min(max(mono[k], np.float32(-1.0)), np.float32(1.0))
    m.ctr[FRAME] = end
    count_callback(m, tick)


@njit(cache=True, nogil=True)
def count_callback(m: MixState, tick: int) -> None:
    """One more callback, and the time it took since `tick`."""
    spent = _now_ns(m) - tick
    m.ctr[CALLBACKS] += 1
    m.ctr[BUSY_NS] += spent
    if spent > m.ctr[MAX_NS]:
        m.ctr[MAX_NS] = spent


@njit(cache=True, nogil=True)
def write_out(m: MixState, out) -> None:
    """m.mono into `out`: [frames], or [frames, channels] with every channel the same."""
    if out.ndim == 1:
        for k in range(out.shape[0]):
            out[k] = m.mono[k]
    else:
        for k in range(out.shape[0]):
            for c in range(out.shape[1]):
                out[k, c] = m.mono[k]


@njit(cache=True, nogil=True)
def process(p: PoolState, m: MixState, out) -> None:
    mix(p, m, out.shape[0])
    write_out(m, out)


@njit(cache=True, nogil=True)
def feed_midi(m: MixState, data, frame: int) -> bool:
    """One JACK MIDI event's bytes, parsed and scheduled at `frame`; whether a note-on was
    heard."""
    heard = False
    for byte in data:
        event = parse_byte(m.midi, byte)
        if event < 0:
            continue
        note, velocity = event >> 8, event & 0xFF
        slot = m.note_slot[note]
        if slot < 0:
            continue
        if velocity:
            schedule(m, frame, NOTE_ON, slot, velocity)
            ring.push(m.notes, m.notes_index, HEARD, slot, frame, note, velocity)
            heard = True
        else:
            schedule(m, frame, NOTE_OFF, slot, 0)
    return heard


# ---- Python ---------------------------------------------------------------------------------


def _counter(index: int, doc: str) -> property:
    """One of the audio thread's counters, read from Python."""
    return property(lambda self: int(self.ctr[index]), doc=doc)


class Mixer:
    def __init__(
        self,
        pool: VoicePool,
        rate: int,
        choke_group: np.ndarray,
        config: MixerConfig = MixerConfig(),
        note_off: bool = False,
        note_slot: np.ndarray | None = None,
    ):
        self.pool = pool
        self.cfg = config
        self.choke_frames = max(1, int(config.choke_ms * rate / 1000))
        self.release_frames = max(1, int(config.release_ms * rate / 1000))
        p, slots = config.polyphony, pool.slots
        events, events_index = ring.ring_arrays(4096)
        notes, notes_index = ring.ring_arrays(4096)
        params = np.zeros(8, np.float64)
        params[[MASTER, VEL_EXP, CLIP, NOTE_OFF_ON, CHOKE_FRAMES, RELEASE_FRAMES]] = (
            config.master_gain, config.velocity_exponent, config.clip, note_off,
            self.choke_frames, self.release_frames,
        )  # fmt: skip
        self.state = MixState(
            active=np.zeros(p, bool),
            slot=np.zeros(p, np.int64),
            buf=np.zeros(p, np.int64),
            pos=np.zeros(p, np.int64),
            age=np.zeros(p, np.int64),
            fade_len=np.zeros(p, np.int64),
            fade_pos=np.zeros(p, np.int64),
            gain=np.zeros(p, np.float32),
            choke_group=np.ascontiguousarray(choke_group, np.int64),
            note_slot=np.full(128, -1, np.int64) if note_slot is None
            else np.ascontiguousarray(note_slot, np.int64),
            last_variation=np.full(slots, -1, np.int64),
            last_seed=np.full(slots, -1, np.int64),
            events=events,
            events_index=events_index,
            pending=np.zeros((512, ring.WIDTH), np.int64),
            notes=notes,
            notes_index=notes_index,
            ctr=np.zeros(16, np.int64),
            params=params,
            mono=np.zeros(config.max_block, np.float32),
            clock=np.zeros(2, np.int64),
            midi=parser_state(),
        )  # fmt: skip
        self._events = Ring(events, events_index)
        self._notes = Ring(notes, notes_index)
        self._drain_lock = threading.Lock()
        # (slot, frame, seed) of each note that sounded: meters, and what a MIDI render played.
        self._started: deque[tuple[int, int, int]] = deque(maxlen=4096)

    def __getattr__(self, name: str):  # active, slot, gain, last_variation, ...: state arrays
        if name in MixState._fields:
            return getattr(self.__dict__["state"], name)
        raise AttributeError(name)

    # ---- counters ------------------------------------------------------------------------------

    frame = _counter(FRAME, "Frames mixed so far.")
    sounding = _counter(SOUNDING, "Voices sounding now.")
    missed = _counter(MISSED, "Note-ons with no rendered variation ready.")
    underflows = _counter(UNDERFLOWS, "Output underflows PortAudio reported to the callback.")
    callbacks = _counter(CALLBACKS, "Audio callbacks so far.")

    @property
    def busy_s(self) -> float:
        """Time spent mixing, all callbacks together."""
        return int(self.ctr[BUSY_NS]) * 1e-9

    @property
    def max_callback_s(self) -> float:
        return int(self.ctr[MAX_NS]) * 1e-9

    # ---- any thread ----------------------------------------------------------------------------

    def post(self, kind: int, slot: int, velocity: int = 0, frame: int = NOW) -> None:
        if not self._events.put(frame, kind, slot, velocity):
            raise OverflowError("the mixer's event ring is full: is the audio callback running?")

    def drain_notes(self) -> list[tuple[int, int, int, int]]:
        """(slot, frame, note, velocity) of the note-ons the JACK callback read since the last
        call; the voices that started go to `started`."""
        heard = []
        with self._drain_lock:
            for kind, slot, frame, value, velocity in self._notes.take_all():
                if kind == STARTED:
                    self._started.append((slot, frame, value))
                else:
                    heard.append((slot, frame, value, velocity))
        return heard

    @property
    def started(self) -> deque[tuple[int, int, int]]:
        """(slot, frame, seed) of the voices that started, oldest first (the last 4096)."""
        self.drain_notes()
        return self._started

    def table(self) -> list[int]:
        """What a compiled callback reads (after its own entries): the pool's table, then the
        mixer's (`voice_pool.from_table`, then `from_table`)."""
        return voice_pool.table(self.pool.state) + table(self.state)

    # ---- the audio thread, or Python while none runs ---------------------------------------

    def idle(self) -> bool:
        return idle(self.state)

    def process(self, out: np.ndarray) -> None:
        """Mix the next len(out) frames into `out` ([frames] or [frames, channels])."""
        if out.shape[0] > self.cfg.max_block:
            raise ValueError(
                f"block of {out.shape[0]} frames exceeds max_block {self.cfg.max_block}"
            )
        process(self.pool.state, self.state, out)
