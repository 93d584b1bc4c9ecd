"""The PortAudio stream callback, compiled: PortAudio calls it on its audio thread as native
code, with no GIL, as libjack calls `jack_process`. Notes reach it from Python (rtmidi's thread,
the window) on the mixer's event ring."""

from __future__ import annotations

import numpy as np
from numba import carray, cfunc, njit, types

from ganpad.app import mixer, voice_pool
from ganpad.app.native import as_f32, as_i64

OUTPUT_UNDERFLOW = 0x4  # paOutputUnderflow in PaStreamCallbackFlags

# The callback's table: the channel count, then the pool's table, then the mixer's.
CHANNELS = 0
POOL_AT = 1
MIX_AT = POOL_AT + voice_pool.TABLE
SIZE = MIX_AT + mixer.TABLE


def table(mix: mixer.Mixer, channels: int) -> np.ndarray:
    """The callback's table for `mix` playing `channels` interleaved channels; keep it alive
    while the stream runs."""
    return np.array([channels, *mix.table()], np.int64)


@njit(cache=True, nogil=True)
def block(t, output, frames: int, flags: int) -> None:
    """One period: mix, and the same signal on every interleaved channel."""
    p = voice_pool.from_table(t, POOL_AT)
    m = mixer.from_table(t, MIX_AT)
    if flags & OUTPUT_UNDERFLOW:
        m.ctr[mixer.UNDERFLOWS] += 1
    out = carray(as_f32(output), (frames, t[CHANNELS]))
    done = 0
    while done < frames:  # in pieces the mixer's buffer holds (PortAudio may vary its block)
        n = min(frames - done, m.mono.shape[0])
        mixer.mix(p, m, n)
        mixer.write_out(m, out[done : done + n])
        done += n


# int callback(const void *input, void *output, unsigned long frames,
#              const PaStreamCallbackTimeInfo *time, PaStreamCallbackFlags flags, void *user)
@cfunc(types.int32(types.voidptr, types.voidptr, types.uint64, types.voidptr, types.uint64,
                   types.voidptr), cache=True)  # fmt: skip
def process(input, output, frames, time, flags, arg):
    block(carray(as_i64(arg), (SIZE,)), output, frames, flags)
    return 0  # paContinue
