import json
import time

import numpy as np
import pytest
from conftest import locked_kit

from ganpad.app.engine import Engine, EngineError
from ganpad.app.keymap import KeyMap
from ganpad.app.latents import latent_for_seed, slerp
from ganpad.presets import load_preset


@pytest.fixture
def engine(tiny_preset):
    eng = Engine(load_preset(tiny_preset), variations=2, seed=5)
    eng.start(timeout=60)
    yield eng
    eng.close()


def _settle(eng: Engine, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not eng.pool.ready() or eng.pool.wanted:
        assert time.monotonic() < deadline, "worker did not re-render in time"
        time.sleep(0.01)
    time.sleep(0.05)


def _hit(eng: Engine, slot: int) -> np.ndarray:
    """Play a slot through the real mixer and return the first 2048 frames."""
    eng.trigger(slot, 127)
    out = np.zeros((2048, 2), np.float32)
    for start in range(0, 2048, 128):
        eng.mixer.process(out[start : start + 128])
    eng.panic()
    eng.mixer.process(np.zeros((4096, 2), np.float32))
    return out[:, 0]


def test_gm_drum_map(tiny_preset):
    keymap = KeyMap.for_preset(load_preset(tiny_preset))
    names = keymap.names
    assert names[keymap.slot_for(36)] == "kick" and names[keymap.slot_for(35)] == "kick"
    assert names[keymap.slot_for(38)] == names[keymap.slot_for(40)] == "snare"
    assert names[keymap.slot_for(39)] == "clap"
    assert names[keymap.slot_for(42)] == names[keymap.slot_for(44)] == "closed_hat"
    assert names[keymap.slot_for(46)] == "open_hat"
    assert {names[keymap.slot_for(n)] for n in (41, 43, 45, 47, 48, 50)} == {"tom"}
    assert {names[keymap.slot_for(n)] for n in (49, 57, 51, 59)} == {"cymbal"}
    assert keymap.slot_for(20) == -1
    assert keymap.choke_group[names.index("closed_hat")] == keymap.choke_group[
        names.index("open_hat")] > 0  # fmt: skip


def test_unlocked_pads_vary_locked_pads_repeat_and_reroll_changes(engine):
    kick = 0
    first, second = _hit(engine, kick), _hit(engine, kick)
    assert not np.allclose(first, second)  # round-robin variations differ
    seed = engine.lock(kick)
    _settle(engine)
    a, b = _hit(engine, kick), _hit(engine, kick)
    _settle(engine)
    c = _hit(engine, kick)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)  # re-rendered after playing: same sound
    assert (engine.pool.seed[kick] == seed).all()
    engine.reroll(kick)
    _settle(engine)
    d = _hit(engine, kick)
    assert not np.allclose(a, d, atol=1e-3)
    assert engine.bank.slots[kick].locked and engine.bank.slots[kick].seed != seed


def test_worker_sleeps_at_rest_and_wakes_for_work(engine):
    from ganpad.app.worker import GRACE_S, IDLE_S

    _settle(engine)
    time.sleep(GRACE_S + 0.1)
    before = engine.worker.idle_wakeups
    time.sleep(4 * IDLE_S)
    assert engine.worker.idle_wakeups - before <= 6  # polling every 2 ms would be ~1000
    seeds = engine.pool.seed[1].copy()
    engine.reroll(1)  # from the GUI or MIDI thread: the worker is poked, not left asleep
    _settle(engine)
    assert not np.array_equal(engine.pool.seed[1], seeds)
    assert engine.worker.errors == []


def test_set_seed_and_morph(engine):
    engine.lock(1, seed=1234)
    _settle(engine)
    a = _hit(engine, 1)
    engine.morph(1, 1234, 99, 0.0)
    _settle(engine)
    np.testing.assert_allclose(_hit(engine, 1), a, atol=1e-6)
    engine.morph(1, 1234, 99, 0.5)
    _settle(engine)
    assert not np.allclose(_hit(engine, 1), a, atol=1e-3)
    with pytest.raises(ValueError, match="within 0..1"):
        engine.morph(1, 1, 2, 1.5)
    z = slerp(latent_for_seed(1, 100), latent_for_seed(2, 100), 0.5)
    assert abs(np.linalg.norm(z) - 10) < 2.0  # stays on the Gaussian shell
    # what a slot plays now, drawing nothing: the morph's latent under a seed of its own
    now, seed = engine.bank.current(1)
    np.testing.assert_allclose(now, slerp(latent_for_seed(1234, 100), latent_for_seed(99, 100),
                                          0.5), atol=1e-6)  # fmt: skip
    assert seed not in (1234, 99) and engine.bank.current(1)[1] == seed
    engine.lock(1, seed=1234)
    assert engine.bank.current(1)[1] == 1234 and engine.bank.current(0) is None  # 0 rolls


def test_kit_round_trip_sounds_the_same(engine, tiny_preset, tmp_path):
    engine.lock(0, seed=77)
    engine.lock(3, seed=78)
    engine.morph(5, 1, 2, 0.25)
    _settle(engine)
    before = [_hit(engine, s) for s in (0, 3, 5)]
    engine.save_kit(tmp_path / "kit.json")
    kit = json.loads((tmp_path / "kit.json").read_text())
    assert kit["slots"][0] == {"name": "kick", "seed": 77, "morph_to": -1, "amount": 0.0}

    other = Engine(load_preset(tiny_preset), variations=2, seed=999)
    try:
        other.load_kit(tmp_path / "kit.json")
        other.start()
        _settle(other)
        after = [_hit(other, s) for s in (0, 3, 5)]
    finally:
        other.close()
    for x, y in zip(before, after, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_bad_kits_are_named(engine, tmp_path):
    path = tmp_path / "kit.json"
    path.write_text(json.dumps({**locked_kit(engine.preset), "preset": "another"}))
    with pytest.raises(EngineError, match="kit.json.*not 'tiny-drums'"):
        engine.load_kit(path)
    path.write_text("[")
    with pytest.raises(EngineError, match="cannot load kit"):
        engine.load_kit(path)


def test_the_jack_backend_lets_portaudio_go_and_a_stream_takes_it_back(engine, jack_server):
    """PortAudio keeps a JACK client of its own while initialized, stream or not: beside the
    engine's client it would wake every period at rest."""
    import jack

    from ganpad.app.portaudio import portaudio, release_portaudio

    probe = jack.Client("probe-pa", no_start_server=True, servername=jack_server.name)

    def has_client(name: str) -> bool:
        try:
            probe.get_uuid_for_client_name(name)
            return True
        except jack.JackError:
            return False

    try:
        portaudio()
        assert has_client("PortAudio")
        engine.open_jack(connect=False)
        assert has_client("ganpad") and not has_client("PortAudio")
        engine.stream.close()
        stream = engine.open_audio(period=128)
        assert stream.active and has_client("PortAudio")
        assert not release_portaudio()  # not while a stream of it plays
        stream.close()
        assert release_portaudio() and not has_client("PortAudio")
    finally:
        engine.stream = None
        release_portaudio()  # before the server goes: PortAudio asserts on a vanished server
        probe.close()
