"""The desktop instrument, offscreen, on a real JACK server with a real MIDI port."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytestqt  # noqa: E402,F401  (the test extra; a missing install fails here, never skips)
import soundfile as sf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from ganpad.app.gui.pads import LIT, file_mime  # noqa: E402

RIG = Path(__file__).parent / "helpers" / "jack_rig.py"


@pytest.fixture
def window(qtbot, jack_server, tiny_preset, tmp_path, monkeypatch):
    yield from _window(qtbot, tiny_preset, tmp_path, monkeypatch)


@pytest.fixture
def notes_window(qtbot, jack_server, tiny_notes, tmp_path, monkeypatch):
    yield from _window(qtbot, tiny_notes[1], tmp_path, monkeypatch)


def _window(qtbot, preset, tmp_path, monkeypatch):
    import sounddevice as sd

    # PortAudio lists JACK's devices when it starts: start it again for this test's server,
    # and stop it before that server goes (PortAudio aborts the process if it outlives it).
    while sd._initialized:
        sd._terminate()
    sd._initialize()
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from ganpad.app.gui.window import MainWindow

    win = MainWindow(str(preset))
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.engine_ready, timeout=60_000):
        win.show()
    from ganpad.app.jack_backend import JackBackend

    # A JACK server runs, so the window plays as the one JACK client and reads MIDI itself.
    assert isinstance(win.engine.stream, JackBackend), win.audio_combo.currentText()
    yield win
    win.close()
    while sd._initialized:
        sd._terminate()


def _kick_pad(win):
    return win.instrument.pads[36]


def _wait_played(qtbot, win, slot: int, previous: int = -2):
    """Until the audio thread has started a voice for the slot."""
    qtbot.waitUntil(lambda: int(win.engine.mixer.last_variation[slot]) != previous
                    and win.engine.mixer.last_variation[slot] >= 0, timeout=5000)  # fmt: skip


def test_click_plays_through_the_engine_and_shows_the_sound(qtbot, window, tiny_preset):
    assert window.engine.preset.name == "tiny-drums"
    # A folder outside the preset list is remembered as that folder, so the next start finds it.
    assert QSettings("ganpad", "ganpad").value("preset") == str(tiny_preset.resolve())
    assert "tiny-drums" in window.details.text() and "kick" in window.details.text()
    started = len(window.engine.mixer.started)
    qtbot.mouseClick(_kick_pad(window), Qt.LeftButton)
    qtbot.waitUntil(lambda: len(window.engine.mixer.started) > started, timeout=5000)
    slot, _frame, _seed = window.engine.mixer.started[-1]
    assert window.engine.keymap.names[slot] == "kick"
    assert _kick_pad(window).styleSheet() == LIT
    qtbot.waitUntil(lambda: window.wave.audio is not None, timeout=5000)
    assert window.wave.title.startswith("kick")
    qtbot.keyClick(window.instrument, "c")  # computer keyboard: C is the snare pad
    qtbot.waitUntil(lambda: window.engine.keymap.names[window.engine.mixer.started[-1][0]]
                    == "snare", timeout=5000)  # fmt: skip


def test_reroll_changes_the_sound_and_lock_keeps_it(qtbot, window):
    engine = window.engine

    def hit() -> tuple[np.ndarray, int]:
        before = len(engine.mixer.started)
        qtbot.mouseClick(_kick_pad(window), Qt.LeftButton)
        qtbot.waitUntil(lambda: len(engine.mixer.started) > before, timeout=5000)
        return engine.last_clip(0)

    def settled() -> bool:
        """Every kick variation re-rendered for the slot's current seed (voices still playing
        keep the old sound until they end, so this can take a clip's length)."""
        seed = engine.bank.slots[0].seed
        pool = engine.pool
        return bool(
            pool.filled[0].all() and (pool.seed[0] == seed).all() and not pool.stale[0].any()
        )

    hit()
    window.lock_box.setChecked(True)
    locked = window.seed_box.value()
    qtbot.waitUntil(settled, timeout=10000)
    a, seed_a = hit()
    b, seed_b = hit()
    assert seed_a == seed_b == locked
    np.testing.assert_allclose(a, b, atol=1e-6)
    qtbot.mouseClick(window.reroll_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: engine.bank.slots[0].seed != locked and settled(), timeout=10000)
    c, seed_c = hit()
    assert seed_c != locked and window.seed_box.value() == seed_c
    assert not np.allclose(a[:2000], c[:2000], atol=1e-3)


def test_render_dialog_writes_the_files(qtbot, window, tmp_path):
    dialog = window.open_render()
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.count.setValue(2)
    for i in range(dialog.labels.count()):
        item = dialog.labels.item(i)
        item.setCheckState(Qt.Checked if item.text() in ("kick", "snare") else Qt.Unchecked)
    dialog.sfz.setChecked(True)
    # drum pads roll fresh sounds: "the locked pads play now" is off, and renders new ones
    assert not dialog.now.isChecked()
    dialog.now.setChecked(True)
    assert len(dialog.jobs(["kick"])) == 2 and dialog.count.isEnabled()
    dialog.now.setChecked(False)
    with qtbot.waitSignal(dialog.finished_files, timeout=60_000) as done:
        qtbot.mouseClick(dialog.go, Qt.LeftButton)
    files = done.args[0]
    assert len(files) == 4 and all(f.exists() for f in files)
    assert {f.parent.name for f in files} == {"kick", "snare"}
    assert dialog.results.count() == 4
    assert sf.info(str(files[0])).samplerate == 48000
    assert not list((tmp_path / "out").rglob("*.part"))
    sfz = next((tmp_path / "out").rglob("*.sfz")).read_text()
    assert sfz.count("<region>") == 2 * 2 + 2 * 2  # kick on 35 and 36, snare on 38 and 40
    assert not list((tmp_path / "out").rglob("drumkit.xml"))  # not asked for


def test_drag_offers_an_existing_wav_as_a_file_url(qtbot, window):
    path = window.drag_file_for(36)
    assert path.exists() and path.suffix == ".wav"
    info = sf.info(str(path))
    assert info.samplerate == 48000 and info.frames > 1000
    mime = file_mime(str(path))
    assert "text/uri-list" in mime.formats()
    assert [u.toLocalFile() for u in mime.urls()] == [str(path)]


def test_midi_note_from_a_real_port_lights_the_pad(qtbot, window, jack_server):
    snare = window.instrument.pads[38]
    assert snare.styleSheet() != LIT
    seen = []
    window.note_seen.connect(lambda slot, note, vel: seen.append(note))
    sender = [sys.executable, str(RIG), "send", "ganpad", "38:110:0"]
    sent = subprocess.run(sender, env=jack_server.env, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    qtbot.waitUntil(lambda: 38 in seen, timeout=5000)
    assert snare.styleSheet() == LIT


def test_no_display_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "ganpad"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0]
    assert "ganpad render" in lines[0] and "ganpad play" in lines[0]


def _bare_window(qtbot, tmp_path, preset=None, remembered=None):
    """A window with no audio and its own settings, once its engine is ready."""
    from ganpad.app.gui.window import MainWindow

    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    if remembered is not None:
        QSettings("ganpad", "ganpad").setValue("preset", remembered)
    win = MainWindow(preset, audio=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.engine_ready, timeout=60_000):
        win.show()
    return win


def test_pad_banks_reach_every_gm_drum_key_of_the_default_kit(qtbot, tmp_path):
    """The default kit plays 47 GM keys, each its own: the kit bank's 16 pads, then two banks
    of the rest (a cowbell on the kit bank, congas, agogos and triangles on the others). The
    computer keys play the shown bank."""
    from ganpad.drums import KEY_LABELS

    win = _bare_window(qtbot, tmp_path, "drums")
    grid, keymap = win.instrument, win.engine.keymap
    assert sorted(grid.pads) == list(range(35, 82))
    assert all(pad.playable for pad in grid.pads.values())
    assert [b.text() for b in grid.bank_buttons] == ["kit", "35-66", "67-81"]
    for bank, key, note in ((0, "z", 36), (1, "z", 35), (1, "1", 63), (2, "z", 67), (2, "3", 81)):
        qtbot.mouseClick(grid.bank_buttons[bank], Qt.LeftButton)
        assert grid.pages.currentIndex() == bank and grid.bank_buttons[bank].isChecked()
        with qtbot.waitSignal(grid.note, timeout=2000) as hit:
            qtbot.keyClick(grid, key)
        assert hit.args == [note]
        assert keymap.names[keymap.slot_for(note)] == KEY_LABELS[note]  # its own sound
    grid.light(56)  # a MIDI cowbell while the last bank shows: the kit bank's button lights
    assert grid.bank_buttons[0].styleSheet() == LIT and grid.pages.currentIndex() == 2
    qtbot.waitUntil(lambda: grid.bank_buttons[0].styleSheet() == "", timeout=2000)
    # Closed while the hit's drag file renders on a QThread, the window waits for it: a
    # QThread destroyed running aborts the process (it did, in the next test).
    qtbot.keyClick(grid, "z")
    qtbot.waitUntil(lambda: bool(win.side_tasks), timeout=2000)
    rendering = list(win.side_tasks)
    win.close()
    assert all(task.isFinished() for task in rendering)


def test_a_remembered_preset_that_is_gone_falls_back_to_the_default(qtbot, tmp_path):
    from ganpad.presets import DEFAULT_PRESET

    win = _bare_window(qtbot, tmp_path, remembered="deleted-preset")
    assert win.engine.preset.name == DEFAULT_PRESET
    assert win.notice.isVisible() and "'deleted-preset'" in win.notice.text()
    win.close()


def test_the_notes_alias_opens_the_notes_preset(qtbot, tmp_path):
    from ganpad.presets import DEFAULT_NOTES_PRESET

    win = _bare_window(qtbot, tmp_path, "notes")  # the README's `ganpad --preset notes`
    assert win.engine.preset.name == DEFAULT_NOTES_PRESET
    assert win.preset_list.currentItem().data(Qt.UserRole + 1).name == DEFAULT_NOTES_PRESET
    assert not win.notice.isVisible()
    # Four octaves of keys scroll sideways rather than widen the window past a laptop screen.
    # (Unscrolled, the 49 keys alone asked for 1438 px.)
    assert win.instrument.minimumSizeHint().width() < 400 and len(win.instrument.pads) == 49
    win.close()


def test_a_missing_preset_says_so_on_screen_after_the_default_loaded(qtbot, tmp_path):
    from ganpad.presets import DEFAULT_PRESET

    win = _bare_window(qtbot, tmp_path, "no-such-kit")
    assert win.engine.preset.name == DEFAULT_PRESET
    assert "ready" in win.statusBar().currentMessage()  # the status bar has moved on; not it
    text = win.notice.text()
    assert win.notice.isVisible()
    assert "'no-such-kit'" in text and "no such preset" in text and DEFAULT_PRESET in text
    win.close()


def test_preset_panel_shows_the_headline_figures_and_their_reference():
    from ganpad.app.gui.window import describe
    from ganpad.presets import DEFAULT_NOTES_PRESET, DEFAULT_PRESET, find_preset

    drums = describe(find_preset(DEFAULT_PRESET))
    assert "evaluation against heldout-drums, 1000 clips:" in drums
    for figure in ("IS 3.94 (real 4.31, baseline 2.42)", "FD 2.33 (real 0.407", "KID 0.0489",
                   "log-mel FD 55.8 ", "class accuracy 0.98",
                   "percussion keys heard right 0.46 (real 0.52)",
                   "crashes ring 2.51 s, the whole clip (real 2.50 s)",
                   "hard snares 1.43x as bright as soft (real 1.28)",
                   "over 6 runs, each fine-tuning the one before"):  # fmt: skip
        assert figure in drums
    notes = describe(find_preset(DEFAULT_NOTES_PRESET))
    assert "evaluation against heldout-notes" in notes
    assert "pitch accuracy by pYIN 0.9 (real 0.864, baseline 1)" in notes
    assert "log-mel FD 37.7 (real 47.8, baseline 2239)" in notes
    assert "locked latents that stay one instrument 1.00 (real 0.89)" in notes
    assert "IS " not in notes and "evaluation:" not in notes + drums


def test_preset_panel_has_no_evaluation_line_for_an_unevaluated_preset(tiny_preset):
    from ganpad.app.gui.window import describe
    from ganpad.presets import load_preset

    text = describe(load_preset(tiny_preset))
    assert "tiny-drums" in text and "evaluation" not in text


def test_notes_preset_plays_from_a_keyboard_and_releases_on_let_go(qtbot, notes_window):
    from ganpad.app.gui.pads import Keyboard

    win = notes_window
    assert isinstance(win.instrument, Keyboard)
    assert sorted(win.instrument.pads) == [60, 61, 62, 63, 64]
    key = win.instrument.pads[62]
    assert key.text() == "D4\n62"  # a key's name and note, no computer-key brackets
    slot = win.engine.keymap.slot_for(62)
    assert win.engine.keymap.names[slot] == "62"
    qtbot.mousePress(key, Qt.LeftButton)
    _wait_played(qtbot, win, slot)
    assert key.styleSheet() == LIT
    qtbot.waitUntil(lambda: win.engine.mixer.active.any(), timeout=2000)
    qtbot.mouseRelease(key, Qt.LeftButton)
    # Let go well before the 1 s note ends: its voice fades out over the 60 ms release.
    qtbot.waitUntil(lambda: not win.engine.mixer.active.any(), timeout=500)


@pytest.fixture
def shipped_notes_window(qtbot, jack_server, tmp_path, monkeypatch):
    yield from _window(qtbot, "notes", tmp_path, monkeypatch)


def test_one_timbre_across_two_octaves_of_the_shipped_notes(qtbot, shipped_notes_window):
    """The shipped notes open with every key locked to one latent; played over two octaves
    through JACK, each note sounds that latent; a re-roll moves every key to a new one, and
    without "Same timbre on every key" a re-roll moves only the chosen key."""
    win, engine = shipped_notes_window, shipped_notes_window.engine
    assert win.every_key.isChecked() and not win.every_key.isHidden()
    timbre = engine.timbre()
    assert timbre is not None and win.lock_box.isChecked()

    def played(notes: list[int]) -> set[int]:
        """The seeds the audio thread started for these notes."""
        before = len(engine.mixer.started)
        for note in notes:
            win.play(note, 100)
            qtbot.wait(30)
        qtbot.waitUntil(lambda: len(engine.mixer.started) >= before + len(notes), timeout=10000)
        slots = {engine.keymap.slot_for(n) for n in notes}
        started = list(engine.mixer.started)[before:]
        assert {slot for slot, _, _ in started} == slots
        return {int(seed) for _, _, seed in started}

    def settled(seed: int) -> bool:
        pool = engine.pool
        return bool(pool.filled.all() and (pool.seed == seed).all() and not pool.stale.any())

    two_octaves = list(range(48, 73, 2))
    # a wait for the pool, not a speed check: 49 keys x 3 s take 12 s alone, more on a busy machine
    qtbot.waitUntil(lambda: settled(timbre), timeout=60000)
    assert played(two_octaves) == {timbre}
    qtbot.mouseClick(win.reroll_button, Qt.LeftButton)
    new = engine.timbre()
    assert new is not None and new != timbre and win.seed_box.value() == new
    qtbot.waitUntil(lambda: settled(new), timeout=60000)
    assert played(two_octaves) == {new}
    # the render dialog offers the timbre the keyboard plays, checked, one sound a note
    dialog = win.open_render()
    assert dialog.now.isChecked() and not dialog.count.isEnabled()
    assert {j.seed for j in dialog.jobs(["48", "60", "72"])} == {new}
    dialog.now.setChecked(False)
    assert len(dialog.jobs(["48", "60"])) == 2 * dialog.count.value()
    dialog.close()
    win.every_key.setChecked(False)
    win._select_slot(engine.keymap.slot_for(60))
    qtbot.mouseClick(win.reroll_button, Qt.LeftButton)
    seeds = {s.seed for s in engine.bank.slots}
    assert len(seeds) == 2 and new in seeds and engine.timbre() is None


def test_a_broken_default_is_said_and_not_claimed_opened(qtbot, tmp_path, monkeypatch):
    """A user preset folder named like the default, but broken, shadows the shipped one: the
    notice says why both could not be opened, and claims nothing opened."""
    from ganpad.app.gui.window import MainWindow
    from ganpad.presets import DEFAULT_PRESET

    broken = tmp_path / "user" / DEFAULT_PRESET
    broken.mkdir(parents=True)
    (broken / "preset.json").write_text("{not json")
    monkeypatch.setenv("GANPAD_PRESETS", str(tmp_path / "user"))
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    win = MainWindow("no-such-kit", audio=False)
    qtbot.addWidget(win)
    win.show()
    text = win.notice.text()
    assert win.notice.isVisible() and win.engine is None
    assert "'no-such-kit'" in text and f"'{DEFAULT_PRESET}'" in text and "instead" not in text
    win.close()
