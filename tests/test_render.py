import filecmp
import json
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf

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
