"""Render, eval and presets as a new user meets them: bad input stops before any work with one
line, names resolve one way, a seed means one sound, kits add up, MIDI bounces do not clip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from helpers.midi_files import write_song

from ganpad.app.keymap import KeyMap
from ganpad.app.limiter import CEILING_DB, limit, true_peak_db
from ganpad.app.render import plan, read_kit
from ganpad.cli import main
from ganpad.presets import DEFAULT_NOTES_PRESET, DEFAULT_PRESET, find_preset, load_preset


@pytest.fixture
def scratch(tmp_path: Path, tiny_preset: Path) -> dict[str, str]:
    """Files a user's mistakes name: a file, a folder, MIDI files, broken kits."""
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    write_song(tmp_path / "off.mid", [(i, 10, k, 100) for i, k in enumerate((20, 30, 90, 100))])
    write_song(tmp_path / "ok.mid", [(0, 10, 36, 100)])
    whole = (tmp_path / "ok.mid").read_bytes()
    (tmp_path / "cut.mid").write_bytes(whole[: len(whole) // 2])
    good = tmp_path / "kit"
    assert main(["render", "--preset", str(tiny_preset), "--out", str(good), "--count", "1",
                 "--classes", "kick", "--quiet"]) == 0  # fmt: skip
    kit = json.loads((good / "tiny-drums" / "kit.json").read_text())
    bad = json.loads(json.dumps(kit))
    bad["sounds"][0]["z"][3] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(bad).replace("NaN", "NaN"))
    bad["sounds"][0].update(name="bongo", z=kit["sounds"][0]["z"])
    (tmp_path / "bongo.json").write_text(json.dumps(bad))
    (tmp_path / "gone.json").write_text(json.dumps({**kit, "preset_path": str(tmp_path / "gone")}))
    window_kit = {"format": "ganpad-kit/1", "preset": "tiny-drums", "slots": [{"seed": 1}]}
    (tmp_path / "window.json").write_text(json.dumps(window_kit))
    shutil.copytree(tiny_preset, tmp_path / "tiny-drums")
    (tmp_path / "other" / "tiny-drums").mkdir(parents=True)
    (tmp_path / "other" / "tiny-drums" / "notes.txt").write_text("the user's own")
    smpte = mido.MidiFile(type=0, ticks_per_beat=-(17 << 8) + 40)
    smpte.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=9, note=36)]))
    smpte.save(tmp_path / "smpte17.mid")
    return {"dir": str(tmp_path), "preset": str(tiny_preset),
            "kit": str(good / "tiny-drums" / "kit.json")}  # fmt: skip


# (arguments, what the one line must say). {dir}, {preset} and {kit} are filled in; every row
# must stop before any work, write nothing under {dir}/out and exit 2. Add rows as users find them.
BAD_INPUTS = [
    ("render --preset {preset} --out {dir}/a-file", "a-file: is a file, not a folder"),
    ("render --preset {preset} --out {dir}/a-file/sub", "a-file is a file, not a folder"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/a-folder", "is a folder"),
    ("eval {preset} --reference {dir} --out {dir}/a-file", "--out"),
    ("render --preset {preset} --out {dir}/out --count 0", "count 0 (must be 1 or more)"),
    ("render --preset {preset} --out {dir}/out --count -3", "count -3 (must be 1 or more)"),
    ("render --preset {preset} --out {dir}/out --seed -1", "seed -1 (must be 0 or more)"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/out/x.wav --seed -1", "seed -1"),
    ("eval {preset} --reference {dir} --seed -1", "--seed -1 (must be 0 or more)"),
    ("eval {preset} --reference {dir} --n 0", "--n 0 (at least"),
    ("eval {preset} --reference {dir} --k 0", "--k 0 (NDB needs"),
    ("render --preset {preset} --midi {dir}/off.mid --out {dir}/out/x.wav",
     "plays none of its 4 notes (keys 20, 30, 90, 100)"),
    ("render --kit {kit} --out {dir}/out --count 2", "--count does not apply with --kit"),
    ("render --kit {kit} --out {dir}/out --seed 3", "--seed does not apply with --kit"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/out/x.wav --count 2",
     "--count does not apply with --midi"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/out/x.wav --classes kick",
     "--classes does not apply with --midi"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/out/x.wav --instrument sfz",
     "--instrument does not apply with --midi"),
    ("render --preset {preset} --out {dir}/out --channel 10", "--channel does not apply"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/out/x.wav --no-limit",
     "--no-limit needs --format wav32f"),
    ("render --kit {dir}/nan.json --out {dir}/out", "sound 0: latent holds NaN"),
    ("render --kit {dir}/bongo.json --out {dir}/out", "sound 0 names 'bongo', which tiny-drums"),
    ("render --kit {kit} --out {dir}/out --classes snare", "holds no sounds of ['snare']"),
    ("render --preset {preset} --midi {dir}/cut.mid --out {dir}/out/x.wav",
     "not a readable MIDI file (the file ends early)"),
    ("render --midi {dir}/ok.mid --out {dir}/out/x.wav", "--preset missing"),
    ("render --preset no-such-preset --out {dir}/out", "no-such-preset: no such preset"),
    ("render --preset {preset} --out {dir}/out --classes bongo", "has no ['bongo']"),
    ("render --preset {preset} --out {dir}/out --count x", "argument --count: invalid int"),
    ("render --preset {dir}/tiny-drums --out {dir} --replace", "into the preset's own folder"),
    ("render --preset {preset} --out {dir}/other --replace", "--replace empties only a render's"),
    ("render --kit {kit} --out {dir}/out --seed 0", "--seed does not apply with --kit"),
    ("render --kit {dir}/gone.json --out {dir}/out", "its preset folder"),
    ("render --preset {preset} --kit {dir}/window.json --midi {dir}/ok.mid --out {dir}/out/x.wav",
     "window.json: cannot load kit: kit needs a list of"),
    ("render --preset {preset} --midi {dir}/ok.mid --out {dir}/ok.mid", "is the MIDI file itself"),
    ("render --preset {preset} --midi {dir}/smpte17.mid --out {dir}/out/x.wav",
     "smpte17.mid: SMPTE division of 17 frames a second"),
    ("render --preset {preset} --out {dir}/" + "a" * 300 + "/out", "cannot be reached"),
    ("eval ./no-such-run --reference {dir}", "no such preset, run folder or folder of clips"),
    ("eval {preset} --reference {dir}/no-such-folder", "--reference"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "says"), BAD_INPUTS, ids=[r[0] for r in BAD_INPUTS])
def test_a_bad_input_stops_before_any_work_in_one_line(scratch, capsys, command, says):
    argv = [word.format(**scratch) for word in command.split()]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err, err
    line = err.splitlines()[-1]
    assert line.startswith(f"ganpad {argv[0]}: ") and "Traceback" not in err, err
    assert not (Path(scratch["dir"]) / "out").exists()  # refused before any work


def _exit_code(argv: list[str]) -> int:
    """What the command exits with, whether it returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.fixture
def read_only(tmp_path: Path):
    """A folder nothing can be written into, even by root: a read-only tmpfs mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                   check=True)  # fmt: skip
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_output_is_refused_before_the_work(tiny_preset, read_only, capsys):
    assert main(["render", "--preset", str(tiny_preset), "--out", str(read_only / "x")]) == 2
    assert "not writable" in capsys.readouterr().err
    song = write_song(read_only.parent / "ok.mid", [(0, 10, 36, 100)])
    argv = ["render", "--preset", str(tiny_preset), "--midi", str(song), "--out"]
    assert main([*argv, str(read_only / "x.wav")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_preset_names_win_over_folders_of_that_name(tmp_path, monkeypatch):
    """A samples folder holding drums/, notes/ and the render's own output folder."""
    monkeypatch.chdir(tmp_path)
    for name in ("drums", "notes"):
        (tmp_path / name / "junk").mkdir(parents=True)
    one_kick = ["--classes", "kick", "--count", "1", "--quiet"]
    for _ in range(2):  # the second run finds the first's drums-drumsynth-44k/ folder here
        assert main(["render", "--preset", DEFAULT_PRESET, "--out", ".", *one_kick]) == 0
    kit = f"{DEFAULT_PRESET}/kit.json"
    assert main(["render", "--kit", kit, "--out", "again", "--quiet"]) == 0
    assert main(["render", "--preset", "drums", "--out", "d", *one_kick]) == 0
    assert main(["render", "--preset", "notes", "--out", "n", "--notes", "60", "--count", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert len(list((tmp_path / "d" / DEFAULT_PRESET).rglob("*.wav"))) == 3  # velocity layers
    assert len(list((tmp_path / "n" / DEFAULT_NOTES_PRESET).rglob("*.wav"))) == 3  # layers too
    assert find_preset("drums") == find_preset(DEFAULT_PRESET)
    with pytest.raises(ValueError, match="missing"):
        find_preset("./drums")  # written as a path, it is the folder


def test_a_kit_from_a_preset_folder_renders_again_without_naming_it(tiny_preset, tmp_path):
    moved = tmp_path / "mykit"
    shutil.copytree(tiny_preset, moved)
    assert main(["render", "--preset", str(moved), "--out", str(tmp_path / "a"), "--count", "1",
                 "--quiet"]) == 0  # fmt: skip
    kit = tmp_path / "a" / "tiny-drums" / "kit.json"
    assert json.loads(kit.read_text())["preset_path"] == str(moved.resolve())
    assert main(["render", "--kit", str(kit), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    first = sorted((tmp_path / "a").rglob("*.wav"))
    again = sorted((tmp_path / "b").rglob("*.wav"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again] and first


def test_kit_renders_take_rate_format_and_classes(tiny_preset, tmp_path):
    out = tmp_path / "a"
    assert main(["render", "--preset", str(tiny_preset), "--out", str(out), "--count", "2",
                 "--quiet"]) == 0  # fmt: skip
    kit = out / "tiny-drums" / "kit.json"
    assert main(["render", "--kit", str(kit), "--out", str(tmp_path / "b"), "--rate", "44100",
                 "--format", "wav32f", "--classes", "snare", "--quiet"]) == 0  # fmt: skip
    files = sorted((tmp_path / "b").rglob("*.wav"))
    assert [p.parent.name for p in files] == ["snare", "snare"]
    for path in files:
        with sf.SoundFile(path) as f:
            assert f.samplerate == 44100 and f.subtype == "FLOAT"
    snares = sorted(p.name for p in (out / "tiny-drums" / "snare").glob("*.wav"))
    assert [p.name for p in files] == snares


@pytest.mark.parametrize("name", [DEFAULT_PRESET, DEFAULT_NOTES_PRESET])
def test_a_seed_means_one_sound_in_any_render(name):
    """For the shipped drums and notes: --count 2 is the prefix of --count 3 per class or note,
    and one class or note asked alone gets the same sounds as in the full render."""
    preset = find_preset(name)

    def sounds(jobs):
        out: dict[str, list] = {}
        for j in jobs:
            out.setdefault(j.name, []).append((j.seed, j.z.tobytes()))
        return out

    two, three = sounds(plan(preset, 2, 0)), sounds(plan(preset, 3, 0))
    # every sound MIDI plays: a drums preset's 47 GM keys, where each has its own label
    played = len(KeyMap.for_preset(preset).played_slots())
    assert two.keys() == three.keys() and len(two) == played
    for key in two:
        assert three[key][:2] == two[key]
    if preset.kind == "drums":
        assert played == 47
        alone = sounds(plan(preset, 3, 0, names=["acoustic_snare"]))
        assert alone == {"acoustic_snare": three["acoustic_snare"]}
    else:
        alone = sounds(plan(preset, 3, 0, notes=[60]))
        both = sounds(plan(preset, 3, 0, notes=[48, 60]))
        assert alone["60"] == both["60"] == three["60"]
    assert sounds(plan(preset, 2, 1)) != two  # another seed, other sounds


def test_the_same_seed_writes_the_same_files(tiny_preset, tmp_path):
    base = ["render", "--preset", str(tiny_preset), "--seed", "4", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "all"), "--count", "3"]) == 0
    assert main([*base, "--out", str(tmp_path / "one"), "--count", "2", "--classes", "snare"]) == 0
    one = sorted((tmp_path / "one" / "tiny-drums" / "snare").glob("*.wav"))
    assert len(one) == 2
    for path in one:
        assert path.read_bytes() == (tmp_path / "all" / path.relative_to(tmp_path / "one")
                                     ).read_bytes()  # fmt: skip


def test_a_second_render_into_a_folder_adds_to_its_kit(tiny_preset, tmp_path):
    import xml.etree.ElementTree as ET

    from test_render import _h2cli_check, _sfz_regions

    out = tmp_path / "out"
    base = ["render", "--preset", str(tiny_preset), "--out", str(out), "--count", "2",
            "--instrument", "sfz", "hydrogen", "--quiet"]  # fmt: skip
    assert main([*base, "--classes", "kick"]) == 0
    assert main([*base, "--classes", "snare"]) == 0
    folder = out / "tiny-drums"
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.wav"))
    assert len(on_disk) == 4
    kit = json.loads((folder / "kit.json").read_text())
    assert sorted(s["file"] for s in kit["sounds"]) == on_disk
    regions = _sfz_regions((folder / "tiny-drums.sfz").read_text())
    assert sorted({r["sample"] for r in regions}) == on_disk
    ns = {"h": "http://www.hydrogen-music.org/drumkit"}
    layers = ET.parse(folder / "drumkit.xml").getroot().findall(".//h:layer/h:filename", ns)
    assert sorted(x.text for x in layers) == on_disk
    log = _h2cli_check(folder)
    assert "] is valid" in log, log[-2000:]
    # The same render again writes the same files and lists them once.
    assert main([*base, "--classes", "snare"]) == 0
    assert len(json.loads((folder / "kit.json").read_text())["sounds"]) == 4
    # Another rate into the same kit is refused; --replace starts clean.
    assert main([*base, "--rate", "44100"]) == 2
    assert main([*base, "--classes", "tom", "--replace"]) == 0
    left = sorted(p.parent.name for p in folder.rglob("*.wav"))
    assert left == ["tom", "tom"]
    assert [s["name"] for s in json.loads((folder / "kit.json").read_text())["sounds"]] == [
        "tom", "tom"]  # fmt: skip


def _long_drum_file(path: Path, seconds: float) -> Path:
    """A dense GM groove: kick, snare, hats on sixteenths, crashes, at velocity 110-127."""
    notes, beat = [], 0.0
    while beat * 0.5 < seconds:
        notes.append((beat, 10, 42, 110))
        if beat % 1 == 0:
            notes += [(beat, 10, 36, 127), (beat, 10, 49, 127)]
        if beat % 2 == 1:
            notes += [(beat, 10, 38, 127), (beat, 10, 39, 120)]
        beat += 0.25
    return write_song(path, notes)


@pytest.mark.parametrize("fmt", ["wav24", "wav32f"])
def test_midi_bounces_stay_under_the_true_peak_ceiling(tmp_path, fmt, capsys):
    """A velocity-127 chord through the notes preset and a dense drum groove through the drums:
    no sample at full scale, the true peak at most -1 dBTP."""
    chord = write_song(tmp_path / "chord.mid", [(0, 1, n, 127) for n in (48, 55, 60, 64)])
    groove = _long_drum_file(tmp_path / "groove.mid", 6.0)
    for preset, song in (("notes", chord), ("drums", groove)):
        out = tmp_path / f"{preset}-{fmt}.wav"
        assert main(["render", "--preset", preset, "--midi", str(song), "--out", str(out),
                     "--format", fmt]) == 0  # fmt: skip
        captured = capsys.readouterr()
        audio, rate = sf.read(out, dtype="float32")
        assert np.abs(audio).max() < 10 ** (CEILING_DB / 20) + 1e-4
        assert true_peak_db(audio, rate) <= CEILING_DB + 0.05
        assert "dBTP" in captured.out and "100%" in captured.err  # the report and a progress bar


def test_the_limiter_leaves_quiet_audio_alone_and_holds_loud_audio_down():
    rate = 48000
    t = np.arange(rate) / rate
    quiet = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    same, report = limit(quiet, rate)
    assert np.array_equal(same, quiet) and report.max_reduction_db == 0
    loud = quiet * 6
    held, report = limit(loud, rate)
    assert true_peak_db(held, rate) <= CEILING_DB + 0.05 and report.max_reduction_db > 6
    # Only gain changes: the limited wave keeps the input's sign and zero crossings.
    assert np.all(np.sign(held) == np.sign(loud))


def test_type_2_and_smpte_files_play_at_their_times(tiny_preset, tmp_path):
    from ganpad.app.midi_render import read_midi

    rate = 48000
    song = mido.MidiFile(type=2, ticks_per_beat=480)
    for note in (36, 38):  # two one-note patterns of one beat each at 120 bpm
        song.tracks.append(mido.MidiTrack([
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120)),
            mido.Message("note_on", channel=9, note=note, velocity=100, time=0),
            mido.Message("note_off", channel=9, note=note, velocity=0, time=480)]))  # fmt: skip
    song.save(tmp_path / "two.mid")
    ons = [(e.frame, e.note) for e in read_midi(tmp_path / "two.mid", rate) if e.kind == 1]
    assert ons == [(0, 36), (rate // 2, 38)]  # the second pattern after the first's half second
    # SMPTE: 25 frames a second, 40 ticks a frame: a tick is a millisecond.
    smpte = mido.MidiFile(type=0, ticks_per_beat=-(25 << 8) + 40)
    smpte.tracks.append(mido.MidiTrack([
        mido.Message("note_on", channel=9, note=36, velocity=100, time=250),
        mido.Message("note_on", channel=9, note=38, velocity=100, time=500)]))  # fmt: skip
    smpte.save(tmp_path / "smpte.mid")
    ons = [(e.frame, e.note) for e in read_midi(tmp_path / "smpte.mid", rate) if e.kind == 1]
    assert ons == [(rate // 4, 36), (rate * 3 // 4, 38)]
    out = tmp_path / "two.wav"
    assert main(["render", "--preset", str(tiny_preset), "--midi", str(tmp_path / "two.mid"),
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip


def test_notes_a_preset_cannot_play_are_summed_up(tiny_preset, tmp_path, capsys):
    song = write_song(tmp_path / "some.mid", [(0, 10, 36, 100), (1, 10, 20, 100), (2, 10, 38, 100),
                                         (3, 10, 20, 90), (4, 10, 100, 90)])  # fmt: skip
    out = tmp_path / "some.wav"
    assert main(["render", "--preset", str(tiny_preset), "--midi", str(song), "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "2 notes" in said and "3 of 5 notes left out" in said and "keys 20 (2x), 100" in said


def test_midi_with_a_rendered_kit_plays_its_sounds_in_turn(tiny_preset, tmp_path):
    from ganpad.app.midi_render import read_midi, render_midi

    kit_dir = tmp_path / "kit"
    assert main(["render", "--preset", str(tiny_preset), "--out", str(kit_dir), "--count", "2",
                 "--classes", "kick", "--quiet"]) == 0  # fmt: skip
    kit = kit_dir / "tiny-drums" / "kit.json"
    song = write_song(tmp_path / "kicks.mid", [(b, 10, 36, 100) for b in range(4)])
    out = tmp_path / "kicks.wav"
    assert (
        main(["render", "--kit", str(kit), "--midi", str(song), "--out", str(out), "--quiet"]) == 0
    )  # fmt: skip  (no --preset: the kit names it)
    preset, jobs, _ = read_kit(kit)
    _, played = render_midi(preset, read_midi(song, 48000), 48000, sounds=jobs)
    assert [p.seed for p in played] == [j.seed for j in jobs] * 2


def test_float_renders_are_the_same_bytes_every_time(tiny_preset, tmp_path):
    import time

    base = ["render", "--preset", str(tiny_preset), "--format", "wav32f", "--count", "1",
            "--classes", "kick", "--quiet"]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    time.sleep(1.1)  # libsndfile's PEAK chunk stamps the second it wrote
    assert main([*base, "--out", str(tmp_path / "b")]) == 0
    (a,), (b,) = ((tmp_path / x).rglob("*.wav") for x in "ab")
    assert b"PEAK" in a.read_bytes() and a.read_bytes() == b.read_bytes()


def test_bootstrap_intervals_hold_their_estimate_and_ratios_skip_zero_straddlers():
    from ganpad.training.evaluation.evaluate import _row
    from ganpad.training.evaluation.metrics import bootstrap, frechet_distance

    rng = np.random.default_rng(0)
    for n in (40, 100):
        a, b = rng.standard_normal((n, 16)), rng.standard_normal((n, 16)) + 0.1
        estimate = frechet_distance(a, b)
        lo, hi = bootstrap(frechet_distance, (a, b), rounds=50)
        assert lo <= estimate <= hi and hi - lo > 0
    row = _row(
        {"generated": 0.02, "real": 0.001, "baseline": 0.5},
        {"generated": (0.01, 0.03), "real": (-0.004, 0.006), "baseline": (0.4, 0.6)},
    )
    assert row["ratio"] is None and row["ratio_baseline"] == 0.04  # fmt: skip


def test_presets_json_exits_1_when_a_preset_is_broken(tmp_path, monkeypatch, capsys):
    user = tmp_path / "user"
    broken = user / "broken"
    broken.mkdir(parents=True)
    (broken / "preset.json").write_text("{not json")
    monkeypatch.setenv("GANPAD_PRESETS", str(user))
    assert main(["presets", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [r["error"] is not None for r in rows if r["name"] == "broken"] == [True]
    monkeypatch.setenv("GANPAD_PRESETS", str(tmp_path / "none"))
    assert main(["presets", "--json"]) == 0


def test_the_window_kit_plays_a_midi_file_with_locked_slots(tiny_preset, tmp_path):
    from conftest import locked_kit

    preset = load_preset(tiny_preset)
    kit = tmp_path / "window-kit.json"
    kit.write_text(json.dumps(locked_kit(preset)))
    song = write_song(tmp_path / "k.mid", [(0, 10, 36, 100)])
    assert main(["render", "--preset", str(tiny_preset), "--kit", str(kit), "--midi", str(song),
                 "--out", str(tmp_path / "k.wav"), "--quiet"]) == 0  # fmt: skip


def test_eval_takes_a_preset_name_before_a_folder_of_that_name(tmp_path, monkeypatch):
    from ganpad.training.data.reference import resolve
    from ganpad.training.evaluation.evaluate import _generates

    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_PRESET / "kick").mkdir(parents=True)  # a render's output folder
    (tmp_path / "heldout-drums").mkdir()
    assert _generates(DEFAULT_PRESET) and not _generates(f"./{DEFAULT_PRESET}")
    assert resolve("./heldout-drums") == ("./heldout-drums", None)


def test_a_failed_folder_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    from ganpad import atomic

    target = tmp_path / "kit"
    target.mkdir()
    (target / "old.wav").write_bytes(b"old")
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the new folder's move into place
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(OSError, match="No space"), atomic.atomic_dir(target) as tmp:
        (tmp / "new.wav").write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kit"]
    assert [p.name for p in target.iterdir()] == ["old.wav"]
