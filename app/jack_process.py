"""The JACK process callback, compiled: libjack calls it on its real-time thread as native code.

One cycle reads the cycle's MIDI events from the `midi_in` port, schedules each note at its own
frame, mixes and writes the output ports: a note JACK delivers in cycle N sounds in cycle N,
sample-exactly. It takes no GIL, so no Python thread can make it late. What must not run there
(waking the generator, telling the window) is left to a dispatcher thread, woken by one byte
on a non-blocking pipe when a note-on was heard.

Importing this module loads libjack (OSError where it is missing).
"""

from __future__ import annotations

from numba import carray, cfunc, njit, types

from ganpad.app import mixer, voice_pool
from ganpad.app.native import as_f32, as_i64, as_u8, as_void, c_write, load_symbols

load_symbols("jack", "libjack.so.0")
port_buffer = types.ExternalFunction(
    "jack_port_get_buffer", types.voidptr(types.voidptr, types.uint32)
)
midi_event_count = types.ExternalFunction("jack_midi_get_event_count", types.uint32(types.voidptr))
# jack_midi_event_get(jack_midi_event_t *event, void *port_buffer, uint32_t index): 0 on success
midi_event_get = types.ExternalFunction(
    "jack_midi_event_get", types.int32(types.voidptr, types.voidptr, types.uint32)
)

# The callback's table: these, then the pool's table, then the mixer's.
MIDI, OUT_1, OUT_2, WAKE_FD, EVENT, WAKE_BYTE = range(6)
POOL_AT = 6
MIX_AT = POOL_AT + voice_pool.TABLE
SIZE = MIX_AT + mixer.TABLE


@njit(cache=True, nogil=True)
def _out(t, which: int, frames: int):
    return carray(as_f32(port_buffer(as_void(t[which]), frames)), (frames,))


@njit(cache=True, nogil=True)
def cycle(t, frames: int) -> None:
    """One JACK period: MIDI in, mix, audio out."""
    m = mixer.from_table(t, MIX_AT)
    midi = port_buffer(as_void(t[MIDI]), frames)
    count = midi_event_count(midi)
    if count == 0 and mixer.idle(m):  # at rest: silence, and nothing else
        tick = mixer._now_ns(m)
        for which in (OUT_1, OUT_2):
            if t[which]:
                out = _out(t, which, frames)
                for k in range(frames):
                    out[k] = 0.0
        m.ctr[mixer.FRAME] += frames
        mixer.count_callback(m, tick)
        return
    p = voice_pool.from_table(t, POOL_AT)
    base = m.ctr[mixer.FRAME]
    mixer.collect(m)  # what Python posted before this cycle goes before the cycle's MIDI
    event = carray(as_i64(t[EVENT]), (3,))  # jack_midi_event_t: time, size, buffer
    heard = False
    for i in range(count):
        if midi_event_get(as_void(t[EVENT]), midi, i) == 0:
            data = carray(as_u8(event[2]), (event[1],))
            heard |= mixer.feed_midi(m, data, base + (event[0] & 0xFFFFFFFF))
    done = 0
    while done < frames:  # in pieces the mixer's buffer holds (JACK may grow its period)
        n = min(frames - done, m.mono.shape[0])
        mixer.mix(p, m, n)
        for which in (OUT_1, OUT_2):
            if t[which]:
                out = _out(t, which, frames)
                for k in range(n):
                    out[done + k] = m.mono[k]
        done += n
    if heard:  # a full pipe already holds a wake-up: the write's result does not matter
        c_write(t[WAKE_FD], as_void(t[WAKE_BYTE]), 1)


@cfunc(types.int32(types.uint32, types.voidptr), cache=True)
def process(frames, arg):
    cycle(carray(as_i64(arg), (SIZE,)), frames)
    return 0
