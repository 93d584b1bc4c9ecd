import numpy as np
import pytest
import soundfile as sf

from ganpad.audio import (
    RESAMPLE_CHUNK,
    AudioError,
    decode,
    load_mono,
    resample,
    resample_in_chunks,
    to_mono,
)
from ganpad.drums import (
    CLASS_PRIMARY_NOTE,
    DRUM_CLASSES,
    GM_NOTE_CLASS,
    GM_NOTE_NAMES,
    class_for_note,
    classify_name,
    key_for_name,
)


def test_decode_reads_real_kit_file(gmrock):
    decoded = decode(gmrock / "Kick-Hard.wav")
    assert decoded.sample_rate == 44100
    assert decoded.audio.dtype == np.float32 and decoded.audio.ndim == 2
    assert np.abs(decoded.audio).max() > 0.1


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("zero.wav", b"", "empty"),
        ("text.wav", b"this is not audio at all, just text\n" * 20, "unsupported"),
        ("notes.doc", b"hello", "unsupported"),
    ],
)
def test_decode_rejects_with_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError) as err:
        decode(path)
    assert err.value.reason == reason
    assert str(path) in str(err.value)


def test_decode_detects_truncated_wav(gmrock, tmp_path):
    data = (gmrock / "Snare-Hard.wav").read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError) as err:
        decode(path)
    assert err.value.reason == "truncated"


def test_mono_and_resample_keep_level():
    rate = 48000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1)
    mono = to_mono(stereo)
    out = resample(mono, rate, 16000)
    assert out.shape == (16000,)
    assert abs(np.abs(out[100:-100]).max() - 0.5) < 0.01


@pytest.mark.parametrize("rates", [(44100, 48000), (16000, 48000), (48000, 44100)])
def test_resampling_in_chunks_gives_resamples_samples(gmrock, rates):
    """The engine's worker resamples in chunks (soxr holds the GIL while it works): the same
    samples as one call, at chunk edges too, and again after a clip has gone through the stream."""
    import threading

    kick = to_mono(decode(next(gmrock.glob("*Kick*.wav"))).audio)
    rng = np.random.default_rng(3)
    clips = [kick, rng.standard_normal(RESAMPLE_CHUNK).astype(np.float32),
             rng.standard_normal(RESAMPLE_CHUNK + 1).astype(np.float32), kick[:1]]  # fmt: skip
    for clip in clips + clips[:1]:
        np.testing.assert_array_equal(resample_in_chunks(clip, *rates), resample(clip, *rates))
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(resample_in_chunks(kick, *rates)))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(elsewhere[0], resample(kick, *rates))


def test_load_mono_handles_float_96k_multichannel(gmrock, tmp_path):
    x = decode(gmrock / "Kick-Hard.wav").audio[:, 0]
    wide = resample(x, 44100, 96000)
    path = tmp_path / "wide.wav"
    sf.write(path, np.stack([wide] * 8, axis=1), 96000, subtype="FLOAT")
    out = load_mono(path, 16000)
    assert abs(out.shape[0] - round(len(x) * 16000 / 44100)) <= 1


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("Kick-Hard", "kick"), ("BassDrum", "kick"), ("Snare Rimshot", "snare"),
        ("HatClosed-Soft", "closed_hat"), ("Pedal HH", "closed_hat"), ("HatOpen-Med", "open_hat"),
        ("Open HH", "open_hat"), ("Hand Clap", "clap"), ("Tom Hi", "tom"),
        ("24Ride-1", "cymbal"), ("Crash Jazz", "cymbal"), ("Cowbell-Med", "percussion"),
        ("Tambourine", "percussion"), ("Djembe1 Slap", "percussion"), ("17", None),
        # named one-shots of lmms-common and sonic-pi-samples
        ("drum_bass_hard", "kick"), ("drum_cymbal_closed", "closed_hat"),
        ("drum_cymbal_open", "open_hat"), ("drum_cymbal_soft", "cymbal"), ("clav01", "percussion"),
    ],
)  # fmt: skip
def test_classify_name(name, cls):
    assert classify_name(name) == cls


def test_every_gm_drum_name_names_its_own_key():
    assert {k: key_for_name(n) for k, n in GM_NOTE_NAMES.items()} == {k: k for k in GM_NOTE_NAMES}


@pytest.mark.parametrize(
    ("name", "key"),
    [  # instrument names of Debian's Hydrogen kits
        ("Kick", 36), ("Stick", 37), ("Snare Jazz", 38), ("Floor Tom", 41), ("Hat Pedal", 44),
        ("Hat Semi-Open", 46), ("Bell", 53), ("Ride 2", 59), ("Tom Mid", 48), ("b3 - low tom", 45),
        ("f4 - ride bell", 53), ("Agogo Low (Pearl ECB-23)", 68), ("Bongo Lo", 61),
        ("Woodblock Hi", 76), ("China (Paiste Alpha 18\")", 52), ("Crash/Ride Bell", 53),
        ("Tom 2", None), ("Djembe1 Slap", None), ("17", None), ("Conga-Low1", 64),
        ("TomLow01", 45), ("agogo_lo2", 68), ("crash-02", 49), ("Crash Cymbal 2", 57),
        ("Cymbals", None), ("Bell Tree", None), ("Sangban1 Bell Hit", None),
        ("drum_bass_soft", 36), ("drum_cymbal_open", 46), ("drum_cymbal_closed", 42),
        ("clav02", 75), ("Clavinet", None),
        ("Rim Click", None),  # a snare by its name's class, a side stick by its key: no key
    ],
)  # fmt: skip
def test_key_for_name(name, key):
    assert key_for_name(name) == key
    if key is not None:
        assert GM_NOTE_CLASS[key] == classify_name(name)


def test_gm_map_covers_the_classes():
    assert class_for_note(36) == "kick" and class_for_note(42) == "closed_hat"
    assert class_for_note(46) == "open_hat" and class_for_note(49) == "cymbal"
    for cls in DRUM_CLASSES:
        assert class_for_note(CLASS_PRIMARY_NOTE[cls]) == cls
