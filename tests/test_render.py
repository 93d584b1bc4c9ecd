import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.midi_files import write_song

from ganpad.app.render import RenderError, plan, render, render_kit
from ganpad.cli import main
from ganpad.presets import load_preset


@pytest.mark.parametrize(("rate", "fmt", "subtype"), [(44100, "wav24", "PCM_24"),
                                                       (48000, "wav32f", "FLOAT")])  # fmt: skip
def test_files_open_at_rate_and_format_with_metadata(tiny_preset, tmp_path, rate, fmt, subtype):
    preset = load_preset(tiny_preset)
    jobs = plan(preset, 2, seed=3, names=["kick", "open_hat"])
    files = render(preset, tmp_path, jobs, rate=rate, fmt=fmt)
    assert len(files) == 4
    for path, job in zip(files, jobs, strict=True):
        assert path == tmp_path / "tiny-drums" / job.name / f"tiny-drums_{job.name}_{job.seed}.wav"
        with sf.SoundFile(path) as f:
            assert f.samplerate == rate and f.subtype == subtype and f.channels == 1
            assert 0 < f.frames <= round(16384 * rate / 16000) + 1
            assert json.loads(f.comment) == {"preset": "tiny-drums", "class": job.name,
                                             "seed": job.seed}  # fmt: skip
            assert f.title == f"tiny-drums {job.name} {job.seed}"
            audio = f.read()
        assert 0.85 < abs(audio).max() <= 0.9  # peak at -1 dBFS
        assert abs(audio[-1]) < 1e-3  # faded
    assert not list(tmp_path.rglob("*.part"))


def test_kit_renders_identical_files(tiny_preset, tmp_path):
    preset = load_preset(tiny_preset)
    first = render(preset, tmp_path / "a", plan(preset, 2, seed=9))
    kit = tmp_path / "a" / "tiny-drums" / "kit.json"
    again = render_kit(kit, tmp_path / "b", preset_name=str(tiny_preset))
    assert len(first) == len(again) == 16
    for x, y in zip(first, again, strict=True):
        assert x.relative_to(tmp_path / "a") == y.relative_to(tmp_path / "b")
        assert filecmp.cmp(x, y, shallow=False)


def test_bad_requests_are_named(tiny_preset, tmp_path):
    preset = load_preset(tiny_preset)
    with pytest.raises(RenderError, match=r"no \['bongo'\]"):
        plan(preset, 1, 0, names=["bongo"])
    with pytest.raises(RenderError, match=r"nothing on MIDI notes \[20\]"):
        plan(preset, 1, 0, notes=[20])
    with pytest.raises(RenderError, match="rate 22050"):
        render(preset, tmp_path, plan(preset, 1, 0), rate=22050)
    assert plan(preset, 1, 0, notes=[36, 35])[0].name == "kick"


def test_cancel_leaves_only_whole_files(tiny_preset, tmp_path):
    preset = load_preset(tiny_preset)
    calls = []
    files = render(preset, tmp_path, plan(preset, 4, 1), batch=8,
                   cancelled=lambda: calls.append(1) or len(calls) > 2)  # fmt: skip
    assert len(files) == 16
    assert sorted(tmp_path.rglob("*.wav")) == sorted(files)
    kit = json.loads((tmp_path / "tiny-drums" / "kit.json").read_text())
    assert len(kit["sounds"]) == 16


def test_killed_render_leaves_no_partial_wav(tiny_preset, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ganpad", "render", "--preset", str(tiny_preset), "--out",
           str(out), "--count", "400", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.rglob("*.wav"))) < 20:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wavs = list(out.rglob("*.wav"))
    assert 20 <= len(wavs) < 3200
    for path in wavs:
        with sf.SoundFile(path) as f:  # every WAV there is whole
            assert f.frames > 0 and len(f.read()) == f.frames
    assert not (out / "tiny-drums" / "kit.json").exists()  # the kit is written last
    # The next render sweeps what the killed one left behind.
    assert main(["render", "--preset", str(tiny_preset), "--out", str(out), "--count", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert not list(out.rglob("*.part"))


def _sfz_regions(text: str) -> list[dict[str, str]]:
    """Each <region> of an SFZ file with its <group>'s opcodes (headers start their lines)."""
    regions, group = [], {}
    for line in text.splitlines():
        tokens = line.split("//")[0].split()
        if not tokens or not tokens[0].startswith("<"):
            continue
        opcodes = dict(t.split("=", 1) for t in tokens[1:])
        if tokens[0] == "<group>":
            group = opcodes
        elif tokens[0] == "<region>":
            regions.append({**group, **opcodes})
    return regions


def test_sfz_kit_maps_every_gm_note_to_its_rendered_round_robins(tiny_preset, tmp_path):
    assert main(["render", "--preset", str(tiny_preset), "--out", str(tmp_path), "--count", "3",
                 "--instrument", "sfz", "--quiet"]) == 0  # fmt: skip
    folder = tmp_path / "tiny-drums"
    kit = json.loads((folder / "kit.json").read_text())
    regions = _sfz_regions((folder / "tiny-drums.sfz").read_text())
    preset = load_preset(tiny_preset)
    by_key: dict[int, list[dict]] = {}
    for region in regions:
        assert region["lokey"] == region["hikey"]
        by_key.setdefault(int(region["lokey"]), []).append(region)
    for label in preset.labels:
        expected = sorted(s["file"] for s in kit["sounds"] if s["name"] == label.name)
        for note in label.gm_notes:
            got = by_key.pop(note)
            assert sorted(r["sample"] for r in got) == expected  # the rendered files, all of them
            assert sorted(int(r["seq_position"]) for r in got) == [1, 2, 3]
            assert {r["seq_length"] for r in got} == {"3"}
    assert not by_key  # no key the preset does not play
    for region in regions:
        with sf.SoundFile(folder / region["sample"]) as f:
            assert f.samplerate == 48000 and f.frames > 0
    # the hats choke each other, as in the engine; nothing else chokes
    hats = {n for label in preset.labels if label.name.endswith("_hat") for n in label.gm_notes}
    assert hats
    for region in regions:
        choke = {k: region.get(k) for k in ("group", "off_by", "off_mode")}
        expected = ("1", "1", "time") if int(region["lokey"]) in hats else (None, None, None)
        assert tuple(choke.values()) == expected, region


def test_a_notes_render_is_one_timbre_on_every_key(tiny_notes, tiny_preset):
    """The n-th sound of every note shares its latent (an SFZ of the render is one
    instrument); the n-th kick and snare do not."""
    jobs = plan(load_preset(tiny_notes[1]), 2, seed=5)
    seeds = {(j.name, j.seed) for j in jobs}
    by_index = [{s for n, s in seeds if n == name} for name in ("60", "64")]
    assert by_index[0] == by_index[1] and len(by_index[0]) == 2
    drums = plan(load_preset(tiny_preset), 1, seed=5, names=["kick", "snare"])
    assert drums[0].seed != drums[1].seed


def test_sfz_notes_cover_the_keyboard_around_the_rendered_pitches(tiny_notes, tmp_path):
    _, preset_dir = tiny_notes
    preset = load_preset(preset_dir)
    files = render(preset, tmp_path, plan(preset, 2, 0, notes=[60, 62]), instruments=["sfz"])
    assert len(files) == 4
    regions = _sfz_regions((tmp_path / preset.name / f"{preset.name}.sfz").read_text())
    spans = sorted({(int(r["lokey"]), int(r["hikey"]), int(r["pitch_keycenter"]))
                    for r in regions})  # fmt: skip
    assert spans == [(0, 61, 60), (62, 127, 62)]  # halfway between, the whole keyboard
    for region in regions:
        assert (tmp_path / preset.name / region["sample"]).is_file()
    with pytest.raises(RenderError, match="notes preset: a Hydrogen kit is for drums"):
        render(preset, tmp_path / "h", plan(preset, 1, 0), instruments=["hydrogen"])
    assert not (tmp_path / "h").exists()  # refused before any sound was generated


def test_hydrogen_kit_loads_in_hydrogen_with_round_robin_layers(tiny_preset, tmp_path):
    import xml.etree.ElementTree as ET

    import xmlschema

    preset = load_preset(tiny_preset)
    render(preset, tmp_path, plan(preset, 2, 1), instruments=["hydrogen"])
    folder = tmp_path / "tiny-drums"
    xml = folder / "drumkit.xml"
    xmlschema.XMLSchema("/usr/share/hydrogen/data/xsd/drumkit.xsd").validate(xml)
    ns = {"h": "http://www.hydrogen-music.org/drumkit"}
    instruments = ET.parse(xml).getroot().findall("h:instrumentList/h:instrument", ns)
    assert [i.findtext("h:name", namespaces=ns) for i in instruments] == [
        label.name for label in sorted(preset.labels, key=lambda x: x.gm_notes[0])
    ]
    for inst in instruments:
        layers = inst.findall(".//h:layer", ns)
        assert len(layers) == 2 and inst.findtext("h:sampleSelectionAlgo", namespaces=ns) == (
            "ROUND_ROBIN")  # fmt: skip
        for layer in layers:
            assert (folder / layer.findtext("h:filename", namespaces=ns)).is_file()
    groups = {i.findtext("h:name", namespaces=ns): i.findtext("h:muteGroup", namespaces=ns)
              for i in instruments}  # fmt: skip
    assert groups["closed_hat"] == groups["open_hat"] != "-1"  # a closed hat chokes the open
    # Hydrogen itself: h2cli -c reads the kit and checks it against the schema it builds in
    # (it does not open samples; the loop above does). It logs the installed kits' faults too.
    system_kits = Path("/usr/share/hydrogen/data/drumkits")
    before = sorted(system_kits.rglob("*"))
    log = _h2cli_check(folder)
    assert "Provided drumkit [" in log and "] is valid" in log, log[-2000:]
    assert sorted(system_kits.rglob("*")) == before  # it left the installed kits alone


def _h2cli_check(kit: Path) -> str:
    """`h2cli -c` on a copy of `kit`, as an unprivileged user when the tests run as root:
    as root, Hydrogen 1.2 writes a backup beside every installed kit's drumkit.xml."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ganpad-h2-") as scratch:
        root = Path(scratch)
        shutil.copytree(kit, root / "kit")
        (root / "home").mkdir()
        command = ["h2cli", "-c", str(root / "kit")]
        if os.geteuid() == 0:
            for path in [root, *root.rglob("*")]:
                os.chown(path, 65534, 65534)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        out = subprocess.run(command, capture_output=True, text=True, timeout=120,
                             env={"HOME": str(root / "home"), "PATH": "/usr/bin:/bin"})  # fmt: skip
        return out.stdout + out.stderr


def test_midi_file_render_places_each_generated_hit_on_its_exact_sample(tiny_preset, tmp_path):
    from ganpad.app.clip import finish_clip
    from ganpad.app.latents import latent_for_seed
    from ganpad.app.limiter import limit
    from ganpad.app.midi_render import read_midi, render_midi
    from ganpad.app.mixer import MixerConfig

    song = tmp_path / "groove.mid"
    # 120 bpm: a beat is 0.5 s. Channel 1's note is not a drum and is left out.
    write_song(song, [(0, 10, 36, 100), (0.5, 10, 38, 64), (1.37, 10, 36, 127),
                      (1.37, 10, 42, 90), (2, 1, 60, 100)])  # fmt: skip
    out = tmp_path / "groove.wav"
    assert main(["render", "--preset", str(tiny_preset), "--midi", str(song),
                 "--out", str(out), "--rate", "44100", "--seed", "5"]) == 0  # fmt: skip
    wav, rate = sf.read(out, dtype="float32")
    assert rate == 44100
    preset = load_preset(tiny_preset)
    audio, played = render_midi(preset, read_midi(song, 44100, channel=10), 44100, seed=5)
    limited, _ = limit(audio, 44100)
    assert np.abs(wav - limited).max() < 1e-6  # the CLI's file is this render, limited, 24-bit
    # Beat 1.37 is tick 658 of 480 a beat: 0.685417 s, frame 30226.9 at 44.1 kHz.
    assert [(p.frame, p.note) for p in played] == [(0, 36), (11025, 38), (30227, 36),
                                                   (30227, 42)]  # fmt: skip
    # The render is the sum of each generated clip, at its frame, at its velocity's gain.
    cfg = MixerConfig()
    expected = np.zeros(len(audio) + 44100, np.float32)
    session = preset.session()
    for p, velocity in zip(played, (100, 64, 127, 90), strict=True):
        clip = preset.generate(session, latent_for_seed(p.seed, preset.latent)[None],
                               [p.slot])[0]  # fmt: skip
        clip = finish_clip(clip, preset.sample_rate, 44100)
        expected[p.frame : p.frame + len(clip)] += clip * (velocity / 127) ** cfg.velocity_exponent
    expected = (expected * cfg.master_gain)[: len(audio)]  # unclipped: the limiter comes after
    assert np.abs(audio - expected).max() < 1e-5
    again, _ = render_midi(preset, read_midi(song, 44100, channel=10), 44100, seed=5)
    assert np.array_equal(again, audio)  # a file renders the same every time


def test_midi_render_names_a_bad_file(tiny_preset, tmp_path, capsys):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00")
    out = tmp_path / "x.wav"
    assert main(["render", "--preset", str(tiny_preset), "--midi", str(bad),
                 "--out", str(out)]) == 2  # fmt: skip
    assert "broken.mid: not a readable MIDI file" in capsys.readouterr().err
    assert not out.exists()
    empty = tmp_path / "empty.mid"
    write_song(empty, [(0, 1, 60, 100)])
    assert main(["render", "--preset", str(tiny_preset), "--midi", str(empty), "--channel", "10",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "no note-on on channel 10" in capsys.readouterr().err
