import copy

import numpy as np
import pytest
from numba import njit

from ganpad.app import mixer as mixing
from ganpad.app.keymap import KeyMap
from ganpad.app.latents import LatentBank
from ganpad.app.mixer import ALL_OFF, NOTE_OFF, NOTE_ON, Mixer, MixerConfig
from ganpad.app.voice_pool import LOST, VoicePool
from ganpad.app.worker import GeneratorWorker
from ganpad.presets import load_preset

RATE = 48000


@pytest.fixture(scope="module")
def filled_pool(tiny_preset):
    """Every variation of the tiny preset rendered once by the real worker code."""
    preset = load_preset(tiny_preset)
    keymap = KeyMap.for_preset(preset)
    pool = VoicePool(keymap.slots, 2, 16384 * 3 + 64)
    worker = GeneratorWorker(preset, preset.session(), pool, LatentBank(keymap.slots, 100, 0),
                             keymap, RATE)  # fmt: skip
    while pool.wanted:
        worker._render(worker._take_jobs())
    assert pool.ready()
    return pool, keymap


def _run(pool, keymap, events, block, frames=RATE // 2, config=None, note_off=False):
    mixer = Mixer(copy.deepcopy(pool), RATE, keymap.choke_group, config or MixerConfig(), note_off)
    for frame, kind, slot, velocity in events:
        mixer.post(kind, slot, velocity, frame)
    out = np.zeros((frames, 2), np.float32)
    for start in range(0, frames, block):
        mixer.process(out[start : start + block])
    return out, mixer


EVENTS = [(0, NOTE_ON, 0, 127), (777, NOTE_ON, 1, 90), (1500, NOTE_ON, 3, 60),
          (4000, NOTE_ON, 4, 100), (9000, NOTE_ON, 3, 127), (9001, NOTE_ON, 0, 30),
          (20000, NOTE_ON, 6, 127), (20000, NOTE_ON, 6, 127), (20000, NOTE_ON, 6, 127)]  # fmt: skip


def test_output_is_identical_at_every_block_size(filled_pool):
    pool, keymap = filled_pool
    outputs = [_run(pool, keymap, EVENTS, block)[0] for block in (32, 64, 128, 1024)]
    assert np.abs(outputs[0]).max() > 0.1
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])


@pytest.mark.parametrize("note_off", [False, True])
def test_random_play_is_identical_however_the_blocks_fall(filled_pool, note_off):
    """Steals, chokes, note-offs, panics and clip ends falling anywhere in a block: the same
    samples at every block size."""
    pool, keymap = filled_pool
    rng = np.random.default_rng(7)
    frames = np.cumsum(rng.integers(0, 2500, 60))
    kinds = rng.choice([NOTE_ON, NOTE_ON, NOTE_ON, NOTE_OFF, ALL_OFF], 60)
    events = [(int(f), int(k), int(rng.integers(keymap.slots)), int(rng.integers(1, 128)))
              for f, k in zip(frames, kinds, strict=True)]  # fmt: skip
    config = MixerConfig(polyphony=5)  # small: voices are stolen
    outputs = [_run(pool, keymap, events, block, int(frames[-1]) + RATE, config, note_off)[0]
               for block in (37, 128, 1000, 4096)]  # fmt: skip
    assert np.abs(outputs[0]).max() > 0.1
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])


def test_hit_starts_on_its_frame_with_velocity_gain(filled_pool):
    pool, keymap = filled_pool
    events = [(1000, NOTE_ON, 0, 127), (30000, NOTE_ON, 0, 64)]
    out, mixer = _run(pool, keymap, events, 128, frames=RATE)
    assert not out[:1000].any() and out[1000:1010].any()
    v = int(mixer.last_variation[0])
    first = pool.buffer(0, 0 if v == 1 else 1)  # the first hit took the other variation
    np.testing.assert_allclose(out[1000:2000, 0], np.clip(first[:1000] * 0.8, -1, 1), atol=1e-6)
    soft = (64 / 127) ** 1.6 * 0.8
    expected = pool.buffer(0, v)[:500] * soft + first[29000:29500] * 0.8
    np.testing.assert_allclose(out[30000:30500, 0], expected, atol=1e-6)
    assert (out[:, 0] == out[:, 1]).all()


def test_closed_hat_chokes_open_hat(filled_pool):
    pool, keymap = filled_pool
    open_hat, closed = keymap.names.index("open_hat"), keymap.names.index("closed_hat")
    alone, _ = _run(pool, keymap, [(0, NOTE_ON, open_hat, 127)], 128)
    choked, mixer = _run(pool, keymap, [(0, NOTE_ON, open_hat, 127), (5000, NOTE_ON, closed, 1)],
                         128)  # fmt: skip
    fade = mixer.choke_frames
    np.testing.assert_array_equal(choked[:5000], alone[:5000])
    # After the fade only the (nearly silent, velocity 1) closed hat remains.
    assert np.abs(choked[5000 + fade + 1 : 20000]).max() < 0.01 < np.abs(alone[5000:20000]).max()


def test_voice_stealing_takes_the_oldest(filled_pool):
    pool, keymap = filled_pool
    config = MixerConfig(polyphony=2)
    events = [(0, NOTE_ON, 0, 100), (10, NOTE_ON, 1, 100), (20, NOTE_ON, 5, 100)]
    _, mixer = _run(pool, keymap, events, 64, frames=128, config=config)
    assert sorted(mixer.slot[mixer.active].tolist()) == [1, 5]
    assert mixer.pool.users[0].sum() == 0  # the stolen voice gave its buffer back


def test_idle_tracks_voices_through_steals_chokes_and_ends(filled_pool):
    """idle() (the JACK callback's rest path) counts voices without numpy: the count must
    follow every start, steal, choke and end."""
    pool, keymap = filled_pool
    mixer = Mixer(copy.deepcopy(pool), RATE, keymap.choke_group, MixerConfig(polyphony=2))
    assert mixer.idle()
    for frame, kind, slot, velocity in EVENTS:
        mixer.post(kind, slot, velocity, frame)
    assert not mixer.idle()
    out, busy = np.zeros(128, np.float32), 0
    for _ in range(RATE * 3 // 128):
        mixer.process(out)
        assert mixer.sounding == mixer.active.sum()
        busy += not mixer.idle()
    assert busy > 100 and mixer.idle() and mixer.pool.users.sum() == 0


def test_note_off_only_for_pitched_presets(filled_pool):
    pool, keymap = filled_pool
    events = [(0, NOTE_ON, 2, 127), (2000, NOTE_OFF, 2, 0)]
    drum, _ = _run(pool, keymap, events, 128)
    pitched, mixer = _run(pool, keymap, events, 128, note_off=True)
    np.testing.assert_array_equal(drum[:2000], pitched[:2000])
    assert not pitched[2000 + mixer.release_frames :].any() and drum[6000:].any()
    silenced, _ = _run(pool, keymap, [(0, NOTE_ON, 2, 127), (100, ALL_OFF, 0, 0)], 128)
    assert not silenced[100 + 200 :].any()


def test_missing_variation_counts_and_stays_silent(filled_pool):
    pool, keymap = filled_pool
    empty = copy.deepcopy(pool)
    empty.filled[:] = False
    mixer = Mixer(empty, RATE, keymap.choke_group)
    mixer.post(NOTE_ON, 0, 100)
    out = np.zeros((128, 2), np.float32)
    mixer.process(out)
    assert mixer.missed == 1 and not out.any()


@njit
def _first(table):
    return table[0]


def test_the_callback_allocates_nothing(filled_pool):
    """The compiled PortAudio callback, through its address table as PortAudio calls it, under
    notes, offs and panics: the numba runtime allocates nothing beyond what handing it the one
    table array from Python costs (a plain function taking one array, called as often)."""
    from numba.core.runtime import _nrt_python, rtsys

    from ganpad.app import portaudio_process

    pool, keymap = filled_pool
    mixer = Mixer(copy.deepcopy(pool), RATE, keymap.choke_group, MixerConfig(max_block=1024))
    table = portaudio_process.table(mixer, 2)
    out = np.zeros((4096, 2), np.float32)
    for slot in (0, 1, 2, 5, 6, 7):  # no hats: one would choke the other
        mixer.post(NOTE_ON, slot, 100)
    portaudio_process.block(table, out.ctypes.data, 4096, 0)  # warm-up (compiles)
    _first(table)
    _nrt_python.memsys_enable_stats()
    try:
        start, peak = rtsys.get_allocation_stats().alloc, 0.0
        for i in range(8):
            mixer.post(NOTE_OFF if i % 2 else ALL_OFF, 0, 0, mixer.frame + 100)
            mixer.post(NOTE_ON, 1 + i % 2, 90, mixer.frame + 2000)
            portaudio_process.block(table, out.ctypes.data, 4096, 0)
            peak = max(peak, float(np.abs(out).max()))
        callbacks = rtsys.get_allocation_stats().alloc - start
        for _ in range(8):
            _first(table)
        boundary = rtsys.get_allocation_stats().alloc - start - callbacks
    finally:
        _nrt_python.memsys_disable_stats()
    assert peak > 0.01 and len(mixer.started) > 6  # it played
    assert callbacks == boundary


def test_jack_midi_bytes_play_at_their_frames(filled_pool):
    """What the JACK callback does with a cycle's MIDI: note-ons scheduled at their frames and
    reported as heard, note-offs (and velocity 0) as note-offs, other messages ignored."""
    pool, keymap = filled_pool
    mixer = Mixer(copy.deepcopy(pool), RATE, keymap.choke_group, note_off=True,
                  note_slot=keymap.note_slot)  # fmt: skip
    kick, snare = keymap.slot_for(36), keymap.slot_for(38)
    played = np.array([0xB0, 7, 100, 0x90, 36, 100, 38, 90, 0x80, 36, 0], np.uint8)
    assert mixing.feed_midi(mixer.state, played, 500)
    assert not mixing.feed_midi(mixer.state, np.array([0x90, 38, 0], np.uint8), 700)
    start, end = mixer.ctr[mixing.P_START], mixer.ctr[mixing.P_END]
    assert mixer.pending[start:end, :4].tolist() == [
        [500, NOTE_ON, kick, 100], [500, NOTE_ON, snare, 90], [500, NOTE_OFF, kick, 0],
        [700, NOTE_OFF, snare, 0]]  # fmt: skip
    assert mixer.drain_notes() == [(kick, 500, 36, 100), (snare, 500, 38, 90)]
    out = np.zeros(1024, np.float32)
    mixer.process(out)
    assert not out[:500].any() and out[500:510].any()
    assert [s for s, frame, _ in mixer.started] == [kick, snare]


def test_a_full_event_ring_is_an_error_not_a_lost_note(filled_pool):
    pool, keymap = filled_pool
    mixer = Mixer(copy.deepcopy(pool), RATE, keymap.choke_group)
    for _ in range(mixer._events.capacity):
        mixer.post(NOTE_ON, 0, 100)
    with pytest.raises(OverflowError, match="event ring is full"):
        mixer.post(NOTE_ON, 0, 100)
    mixer.process(np.zeros(128, np.float32))  # the callback empties it
    mixer.post(NOTE_ON, 0, 100)


def test_hand_backs_survive_a_full_ring():
    """Played buffers go back to the worker on a ring; if it ever fills, the worker finds
    every one by the pool's flags instead."""
    pool = VoicePool(1, 2, 64)
    pool.wanted.clear()
    capacity = pool._returned.capacity
    for _ in range(capacity + 10):
        pool.filled[0] = True
        v = pool.take(0)
        pool.release(0, v)
    assert pool.flags[LOST]
    queue = pool.wanted
    assert not pool.flags[LOST] and len(queue) == capacity and set(queue) == {(0, 0), (0, 1)}
    queue.clear()
    pool.filled[0, 0] = True  # one rendered again meanwhile; the other still wanted
    pool.flags[LOST] = 1
    assert list(pool.wanted) == [(0, 1)]


def test_a_kept_slots_played_buffer_stays_fresh_until_its_latent_changes():
    """A locked slot renders one sound: played, its buffer is not rendered again; invalidated,
    it is, even when taken once more while a voice still reads it."""
    pool = VoicePool(2, 1, 8)
    pool.wanted.clear()
    pool.keep[0] = True
    for slot in (0, 1):
        assert pool.fill(slot, 0, np.ones(8, np.float32), 5, 0)
    for slot in (0, 1):
        pool.release(slot, pool.take(slot))
    assert list(pool.wanted) == [(1, 0)] and pool.filled[0, 0] and not pool.filled[1, 0]
    assert pool.take(0) == 0 == pool.take(0)  # two voices on one buffer
    pool.invalidate(0)
    assert pool.take(0) == 0  # still the only one there, played until re-rendered
    for _ in range(3):
        pool.release(0, 0)
    assert list(pool.wanted) == [(1, 0), (0, 0)] and not pool.filled[0, 0]


def test_a_kept_slot_plays_its_new_sound_from_another_band_before_its_old_one():
    """One buffer a band: after a latent change, a note whose band still rings the old sound
    takes the new one from another band once that is rendered (a morph being dragged)."""
    pool = VoicePool(1, 3, 8, bands=3)
    pool.wanted.clear()
    pool.keep[0] = True
    for v in range(3):
        pool.fill(0, v, np.ones(8, np.float32), 1, 0)
    assert pool.take(0, 127) == 2  # rings on
    pool.invalidate(0)
    assert pool.take(0, 127) == 2  # nothing new yet: the old sound rather than none
    assert pool.fill(0, 0, np.ones(8, np.float32), 2, 1)
    assert pool.take(0, 127) == 0 == pool.take(0, 127)  # the new sound, shared
    assert pool.users[0].tolist() == [2, 0, 2]


def test_the_portaudio_callback_mixes_a_block_longer_than_its_buffer(filled_pool):
    """The compiled PortAudio callback, through its address table as PortAudio calls it, on a
    block four times the mixer's buffer (PortAudio may vary its blocks): the same interleaved
    samples as the mixer played in small blocks."""
    from ganpad.app import portaudio_process

    pool, keymap = filled_pool
    config = MixerConfig(max_block=256)
    played = [(300, NOTE_ON, 0, 127), (700, NOTE_ON, 3, 90)]
    expected, _ = _run(pool, keymap, played, 128, frames=1024, config=config)
    mixer = Mixer(copy.deepcopy(pool), RATE, keymap.choke_group, config)
    for frame, kind, slot, velocity in played:
        mixer.post(kind, slot, velocity, frame)
    table = portaudio_process.table(mixer, 2)
    out = np.full((1024, 2), np.nan, np.float32)
    portaudio_process.block(table, out.ctypes.data, 1024, 0)
    np.testing.assert_array_equal(out, expected)
    assert mixer.frame == 1024 and mixer.underflows == 0
