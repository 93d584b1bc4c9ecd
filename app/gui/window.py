"""The main window: preset browser, pads or keyboard, per-pad latent controls, meters."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganpad.app.engine import Engine, EngineError
from ganpad.app.gui.pads import Keyboard, PadGrid, drag_file
from ganpad.app.gui.render_dialog import RenderDialog
from ganpad.app.gui.tasks import Task
from ganpad.app.gui.waveview import WaveView, XYPad
from ganpad.app.jack_backend import JackBackend, jack_running
from ganpad.app.latents import FRESH
from ganpad.app.portaudio import portaudio, release_portaudio
from ganpad.app.render import wav_tags, write_wav
from ganpad.presets import DEFAULT_PRESET, PresetError, find_preset, list_presets
from ganpad.presets.preset import Preset, load_preset

PERIODS = ("64", "128", "256", "512", "1024")
VIRTUAL_MIDI = "virtual port 'ganpad'"
NO_AUDIO = "no audio (render and drag only)"
JACK_AUDIO = "JACK: one client, MIDI and audio in the same cycle"
NOTICE_STYLE = "QLabel { background: #fff3cd; color: #664d03; padding: 4px; }"
# The evaluation's headline figures in preset.json (metrics.evaluation), as the panel names them.
HEADLINE = (
    ("inception_score", "IS"),
    ("frechet_distance", "FD"),
    ("kid", "KID"),
    ("logmel_frechet", "log-mel FD"),
    ("logmel_kid", "log-mel KID"),
    ("pitch_accuracy", "pitch accuracy"),
    ("pitch_accuracy_pyin", "pitch accuracy by pYIN"),
)


def output_devices() -> list[str]:
    """The audio choices: the one JACK client first where a JACK server runs, then
    PortAudio's outputs."""
    return ([JACK_AUDIO] if jack_running() else []) + _portaudio_outputs()


def _portaudio_outputs() -> list[str]:
    try:
        sd = portaudio()
    except OSError:  # no PortAudio library at all
        return []
    try:
        return [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
    except sd.PortAudioError:
        return []
    finally:
        release_portaudio()  # until a stream needs it: its JACK client wakes every period


def build_engine(preset_dir: str, device: str | None, period: int) -> Engine:
    """Runs on a worker thread: ONNX session, the first variations, the audio stream."""
    engine = Engine(load_preset(preset_dir))
    engine.start()
    if device == JACK_AUDIO:
        engine.open_jack()
    elif device is not None:
        engine.open_audio(device, period=period)
    return engine


def describe(p: Preset) -> str:
    """Rich text for the preset browser: what it is, what it plays, how it was made."""
    labels = ", ".join(label.name for label in p.labels) or "unconditional"
    training = p.meta.get("training", {})
    lines = [
        f"<b>{p.name}</b>",
        f"{p.kind}, {p.family}, {p.sample_rate} Hz, {p.seconds:.2f} s clips",
        f"labels: {labels}",
        _trained(training),
    ]
    metrics = p.meta.get("metrics", {})
    for name, value in metrics.items():
        if name == "evaluation":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.3g}" for k, v in value.items() if isinstance(v, float))
        lines.append(f"{name}: {value}")
    return "<br>".join(lines + evaluation_lines(metrics.get("evaluation")))


def evaluation_lines(evaluation: object) -> list[str]:
    """The headline figures beside real held-out clips and the baseline; none if unmeasured."""
    if not isinstance(evaluation, dict):
        return []
    figures = [f for key, label in HEADLINE if (f := _figure(label, evaluation.get(key)))]
    accuracy = evaluation.get("class_accuracy")
    if isinstance(accuracy, dict) and isinstance(accuracy.get("mean"), int | float):
        figures.append(f"class accuracy {accuracy['mean']:.2f}")
    figures += _beside_real(evaluation, "key_identity", "percussion_mean",
                            "percussion keys heard right")  # fmt: skip
    figures += _beside_real(evaluation, "program_identity", "kept",
                            "locked latents that stay one instrument")  # fmt: skip
    ring = evaluation.get("crash_ring")
    if isinstance(ring, dict) and all(
        isinstance(ring.get(k), int | float) for k in ("generated", "real")
    ):
        whole = ring["generated"] >= ring.get("generated_clip_s", float("inf")) - 0.01
        cut = ", the whole clip" if whole else ""
        figures.append(f"crashes ring {ring['generated']:.2f} s{cut} (real {ring['real']:.2f} s)")
    figures += _velocity_lines(evaluation.get("velocity_brightness"))
    if not figures:
        return []
    reference = evaluation.get("reference")
    if isinstance(reference, dict):  # a named reference set: its record
        reference = reference.get("name")
    n = evaluation.get("n")
    against = f"evaluation against {reference or 'real clips'}" + (f", {n} clips" if n else "")
    return [f"{against}:", *figures]


def _trained(training: dict) -> str:
    """Steps and time of the preset's run and of the presets it fine-tuned, back to the first."""
    runs = []
    while isinstance(training, dict) and training:
        runs.append(training)
        training = (training.get("started_from") or {}).get("training")
    steps = [r.get("steps") for r in runs]
    seconds = sum(r.get("wall_time_s") or 0 for r in runs)
    if not runs or not all(isinstance(n, int) for n in steps):
        return f"trained {runs[0].get('steps', '?') if runs else '?'} steps"
    each = f" over {len(runs)} runs, each fine-tuning the one before" if len(runs) > 1 else ""
    return f"trained {sum(steps)} steps in {seconds:.0f} s{each}"


def _velocity_lines(bright: object) -> list[str]:
    """How much brighter a hard hit is than a soft one, per class, beside real layered kits."""
    if not isinstance(bright, dict):
        return []
    return [f"hard {cls}s {f['generated']:.2f}x as bright as soft (real {f['real']:.2f})"
            for cls, f in bright.items()
            if isinstance(f, dict) and all(isinstance(f.get(k), int | float)
                                           for k in ("generated", "real"))]  # fmt: skip


def _beside_real(evaluation: dict, name: str, field: str, text: str) -> list[str]:
    """A judge's figure for the preset beside the real source's, where both were recorded."""
    judged = evaluation.get(name)
    if not isinstance(judged, dict) or not isinstance(judged.get(field), int | float):
        return []
    real = next(iter((judged.get("real") or {}).values()), {}).get(field)
    real = f"{real:.2f}" if isinstance(real, int | float) else "-"
    return [f"{text} {judged[field]:.2f} (real {real})"]


def _figure(label: str, metric: object) -> str:
    """'IS 3.69 (real 4.12, baseline 2.46)': only the ratio to real data means something."""
    if not isinstance(metric, dict) or not isinstance(metric.get("generated"), int | float):
        return ""
    beside = [f"{row} {_number(metric[row])}" for row in ("real", "baseline")
              if isinstance(metric.get(row), int | float)]  # fmt: skip
    return f"{label} {_number(metric['generated'])}" + (f" ({', '.join(beside)})" if beside else "")


def _number(value: float) -> str:
    """Three significant figures, without the exponent .3g gives from 1000 up."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _not_opened(asked: str, exc: PresetError, instead: str | None) -> str:
    """The notice for a preset that could not be opened: which, why, and what opened."""
    why = exc.problem if exc.path == asked else str(exc)  # name the file when it is another
    text = f"Preset {asked!r} could not be opened: {why}."
    return text + (f" Opened {instead} instead." if instead else "")


class MainWindow(QMainWindow):
    note_seen = Signal(int, int, int)  # slot, note, velocity (from any thread)
    engine_ready = Signal()

    def __init__(self, preset: str | None = None, audio: bool = True):
        super().__init__()
        self.setWindowTitle("ganpad")
        self.settings = QSettings("ganpad", "ganpad")
        self.engine: Engine | None = None
        self.midi = None
        self.audio_enabled = audio
        self.slot = 0
        self.task: Task | None = None
        self.drag_paths: dict[int, Path] = {}  # slot -> WAV of the sound it played last
        self.side_tasks: list[Task] = []
        self._build()
        self.note_seen.connect(self._on_note)
        self.meter_timer = QTimer(self, interval=500)
        self.meter_timer.timeout.connect(self._update_meter)
        self.meter_timer.start()
        self._fill_presets()
        wanted = preset or self.settings.value("preset", DEFAULT_PRESET)
        self.select_preset(wanted)

    # ---- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        self.preset_list = QListWidget()
        self.preset_list.itemActivated.connect(lambda item: self.load(item.data(Qt.UserRole)))
        self.preset_list.currentItemChanged.connect(self._show_details)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignTop)
        # Why the window opened another preset than the one asked for: stays until the next load.
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.PlainText)  # an error may quote a file's "<...>"
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.hide()
        left = QVBoxLayout()
        left.addWidget(self.notice)
        left.addWidget(QLabel("<b>Presets</b> (double-click to load)"))
        left.addWidget(self.preset_list, 2)
        left.addWidget(self.details, 3)

        self.instrument_box = QVBoxLayout()
        self.instrument: PadGrid | Keyboard | None = None
        self.wave = WaveView()
        centre = QVBoxLayout()
        centre.addLayout(self.instrument_box, 3)
        centre.addWidget(self.wave, 2)

        self.pad_name = QLabel("-")
        self.reroll_button = QPushButton("Re-roll")
        self.reroll_button.clicked.connect(self.reroll)
        self.lock_box = QCheckBox("Lock this sound")
        self.lock_box.toggled.connect(self.set_lock)
        # Notes: lock, re-roll, seed and morph act on every key, so the keyboard stays one
        # instrument (how a notes preset opens).
        self.every_key = QCheckBox("Same timbre on every key")
        self.every_key.toggled.connect(self.set_every_key)
        self.every_key.setVisible(False)
        # A notes preset trained on several instruments: which one the keys play.
        self.program_combo = QComboBox()
        self.program_combo.currentIndexChanged.connect(self.set_program)
        self.program_label = QLabel("Instrument")
        self.seed_box = QSpinBox(minimum=0, maximum=2**31 - 2)
        use_seed = QPushButton("Use seed")
        use_seed.clicked.connect(lambda: self.use_seed(self.seed_box.value()))
        self.morph_b = QSpinBox(minimum=0, maximum=2**31 - 2, value=1)
        self.xy = XYPad(self.morph)
        save_kit, load_kit = QPushButton("Save kit…"), QPushButton("Load kit…")
        save_kit.clicked.connect(self._save_kit_dialog)
        load_kit.clicked.connect(self._load_kit_dialog)
        render_button = QPushButton("Render…")
        render_button.clicked.connect(self.open_render)
        pad_box = QGroupBox("Pad")
        form = QFormLayout(pad_box)
        form.addRow(self.pad_name)
        form.addRow(self.reroll_button, self.lock_box)
        form.addRow(self.every_key)
        form.addRow(self.program_label, self.program_combo)
        form.addRow(use_seed, self.seed_box)
        form.addRow("Morph to seed", self.morph_b)
        form.addRow(self.xy)
        right = QVBoxLayout()
        right.addWidget(pad_box)
        right.addWidget(save_kit)
        right.addWidget(load_kit)
        right.addWidget(render_button)
        right.addStretch()

        self.audio_combo = QComboBox()
        self.audio_combo.addItems([*output_devices(), NO_AUDIO])
        self.midi_combo = QComboBox()
        self.period_combo = QComboBox()
        self.period_combo.addItems(PERIODS)
        self.period_combo.setCurrentText(str(self.settings.value("period", "128")))
        self._restore_combo(self.audio_combo, "audio")
        apply = QPushButton("Apply")
        apply.clicked.connect(lambda: self.load(self.current_preset_dir))
        devices = QHBoxLayout()
        for label, widget in (("Audio", self.audio_combo), ("MIDI", self.midi_combo),
                              ("Period", self.period_combo)):  # fmt: skip
            devices.addWidget(QLabel(label))
            devices.addWidget(widget, 1)
        devices.addWidget(apply)
        self.meter = QLabel("")
        self.statusBar().addPermanentWidget(self.meter)

        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addLayout(centre, 5)
        body.addLayout(right, 2)
        root = QVBoxLayout()
        root.addLayout(devices)
        root.addLayout(body)
        holder = QWidget()
        holder.setLayout(root)
        self.setCentralWidget(holder)
        self.resize(1280, 720)
        self._fill_midi()

    def _restore_combo(self, combo: QComboBox, key: str) -> None:
        saved = self.settings.value(key)
        if saved and combo.findText(saved) >= 0:
            combo.setCurrentText(saved)

    def _fill_midi(self) -> None:
        from ganpad.app.midi import list_inputs

        self.midi_combo.clear()
        try:
            ports = list_inputs()
        except Exception:  # no MIDI system at all: the virtual port choice stays
            ports = []
        self.midi_combo.addItems([VIRTUAL_MIDI, *ports, "none"])
        self._restore_combo(self.midi_combo, "midi")

    def _fill_presets(self) -> None:
        self.preset_list.clear()
        for entry in list_presets():
            label = entry.name if entry.error is None else f"{entry.name} (broken)"
            item = QListWidgetItem(f"{label}  [{entry.source}]")
            item.setData(Qt.UserRole, str(entry.path))
            item.setData(Qt.UserRole + 1, entry)
            self.preset_list.addItem(item)

    def _show_details(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        entry = item.data(Qt.UserRole + 1)
        if entry.preset is None:
            self.details.setText(f"<b>{entry.name}</b><br>{entry.error}")
            return
        self.details.setText(describe(entry.preset))

    # ---- presets and the engine --------------------------------------------------------------

    def select_preset(self, name_or_path: str) -> bool:
        """Open a preset by name, alias ("drums", "notes") or folder, as every command does;
        one that cannot be opened leaves a notice on screen and the default loads instead.
        The graph itself is checked where the engine is built, off the GUI thread."""
        try:
            preset = find_preset(name_or_path, check_graph=False)
        except PresetError as exc:
            # A remembered preset that has gone, or a typo: the default, if it opens.
            opened = name_or_path != DEFAULT_PRESET and self.select_preset(DEFAULT_PRESET)
            why = self.notice.text() if name_or_path != DEFAULT_PRESET and not opened else ""
            notice = _not_opened(name_or_path, exc, DEFAULT_PRESET if opened else None)
            self.show_notice(f"{notice} {why}".strip())
            return False
        self.preset_list.setCurrentItem(self._item_for(preset.root))
        self.load(str(preset.root))
        return True

    def _item_for(self, root: Path) -> QListWidgetItem | None:
        """The list entry of that preset folder; None for a folder outside the list."""
        for i in range(self.preset_list.count()):
            item = self.preset_list.item(i)
            if Path(item.data(Qt.UserRole)).resolve() == root.resolve():
                return item
        return None

    def _remembered(self, preset: Preset) -> str:
        """What the next start opens: a listed preset by name, another by its folder."""
        return preset.name if self._item_for(preset.root) else str(preset.root.resolve())

    def show_notice(self, text: str) -> None:
        """A message that stays on screen until the next load (the status bar's do not)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def load(self, preset_dir: str) -> None:
        """Build an engine for a preset on a worker thread; swap it in when ready."""
        self.current_preset_dir = preset_dir
        self.show_notice("")
        self._close_engine()
        device = self.audio_combo.currentText()
        if not self.audio_enabled or device == NO_AUDIO:
            device = None
        self.statusBar().showMessage(f"loading {Path(preset_dir).name}…")
        self.task = Task(build_engine, preset_dir, device, int(self.period_combo.currentText()),
                         parent=self)  # fmt: skip
        self.task.done.connect(self._engine_built)
        self.task.failed.connect(lambda message: self._load_failed(preset_dir, message))
        self.task.start()

    def _load_failed(self, preset_dir: str, message: str) -> None:
        """A preset whose graph or audio would not open: said where it stays on screen."""
        self.statusBar().showMessage(message)
        self.show_notice(f"{Path(preset_dir).name} could not be opened: {message}")

    def _engine_built(self, engine: Engine) -> None:
        if self.sender() is not self.task:  # a load that another load overtook
            engine.close()
            return
        self._close_engine()
        self.engine = engine
        self.drag_paths.clear()
        engine.listeners.append(lambda slot, note, vel: self.note_seen.emit(slot, note, vel))
        preset = engine.preset
        self.details.setText(describe(preset))
        if self.instrument is not None:
            self.instrument.deleteLater()
        if preset.kind == "notes" and preset.pitch_range:
            self.instrument = Keyboard(
                *preset.pitch_range, lambda note: engine.keymap.slot_for(note) >= 0
            )
            self.instrument.release.connect(lambda note: self.release(note))
        else:
            self.instrument = PadGrid(lambda note: engine.keymap.slot_for(note) >= 0)
        self.instrument.note.connect(lambda note: self.play(note))
        self.instrument.drag.connect(self.drag_pad)
        self.instrument_box.addWidget(self.instrument)
        self.instrument.setFocus()
        self.every_key.setVisible(preset.kind == "notes")
        self._sync_every_key()
        self._fill_programs()
        self._open_midi()
        self.settings.setValue("preset", self._remembered(preset))
        self.settings.setValue("audio", self.audio_combo.currentText())
        self.settings.setValue("period", self.period_combo.currentText())
        audio = "no audio" if engine.stream is None else f"{engine.rate} Hz"
        if isinstance(engine.stream, JackBackend):
            audio += f", JACK, MIDI in at {engine.stream.name}"
        self.statusBar().showMessage(f"{preset.name} ready ({audio}; generating on "
                                     f"{engine.provider})")  # fmt: skip
        self._select_slot(0)
        self.engine_ready.emit()

    def _open_midi(self) -> None:
        from ganpad.app.midi import MidiInput

        if self.midi is not None:
            self.midi.close()
            self.midi = None
        choice = self.midi_combo.currentText()
        self.settings.setValue("midi", choice)
        try:
            if isinstance(self.engine.stream, JackBackend):
                self._route_jack_midi(self.engine.stream, choice)
            elif choice == "none":
                return
            elif choice == VIRTUAL_MIDI:
                self.midi = MidiInput(self.engine.note_on, virtual=True)
            else:
                self.midi = MidiInput(self.engine.note_on, port=choice)
        except OSError as exc:
            self.statusBar().showMessage(f"MIDI: {exc}")

    @staticmethod
    def _route_jack_midi(jack: JackBackend, choice: str) -> None:
        """The JACK client reads MIDI itself: its own port is the virtual one, and a chosen
        port is connected to it."""
        jack.midi.disconnect()
        if choice not in (VIRTUAL_MIDI, "none"):
            jack.connect_midi(choice)

    def _close_engine(self) -> None:
        if self.midi is not None:
            self.midi.close()
            self.midi = None
        # A drag file still rendering reads the engine, and a QThread destroyed with the
        # window while it runs aborts the process: let them finish (one clip each).
        for task in list(self.side_tasks):
            task.wait()
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def closeEvent(self, event) -> None:
        self._close_engine()
        super().closeEvent(event)

    # ---- playing ---------------------------------------------------------------------------

    def play(self, note: int, velocity: int = 100) -> None:
        if self.engine is not None:
            self.engine.note_on(note, velocity)

    def release(self, note: int) -> None:
        if self.engine is not None:
            self.engine.note_off(note)

    def _on_note(self, slot: int, note: int, velocity: int) -> None:
        if self.instrument is not None:
            self.instrument.light(note)
        self._select_slot(slot)
        # The audio thread starts the voice within a period; then show what it plays, and
        # write it as a WAV on a worker thread, ready for a drag.
        QTimer.singleShot(40, lambda: self._show_last(slot))
        QTimer.singleShot(40, lambda: self._prepare_drag(slot))

    def _prepare_drag(self, slot: int) -> None:
        if self.engine is None:
            return
        task = Task(self.write_played, self.engine, slot, parent=self)
        task.done.connect(lambda result: self.drag_paths.__setitem__(*result))
        task.finished.connect(lambda: self.side_tasks.remove(task))
        self.side_tasks.append(task)
        task.start()

    @staticmethod
    def write_played(engine: Engine, slot: int) -> tuple[int, Path]:
        """Render the slot's last sound from its latent and write it (worker thread)."""
        z, tag = engine.played_latent(slot)
        velocity = engine.played_velocity(slot)  # the band it was played in
        program = engine.program  # the instrument playing now: another is another file
        if engine.preset.programs:
            tag += f"_p{engine.preset.programs[program].program:03d}"
        tag += "" if velocity is None else f"_v{round(velocity * 127):03d}"
        name, preset = engine.keymap.names[slot], engine.preset.name
        path = Path(platformdirs.user_cache_dir("ganpad")) / "drag" / f"{preset}_{name}_{tag}.wav"
        if not path.exists():
            audio = engine.render_latent(slot, z, velocity, program)
            write_wav(path, audio, engine.rate, "PCM_24", wav_tags(preset, name, tag))
        return slot, path

    def _show_last(self, slot: int) -> None:
        last = self.engine.last_clip(slot) if self.engine else None
        if last is not None:
            audio, seed = last
            self.wave.show_clip(
                audio, self.engine.rate, f"{self.engine.keymap.names[slot]} #{seed}"
            )

    def _select_slot(self, slot: int) -> None:
        if self.engine is None:
            return
        self.slot = slot
        state = self.engine.bank.slots[slot]
        self.pad_name.setText(f"<b>{self.engine.keymap.names[slot]}</b>")
        self.lock_box.blockSignals(True)
        self.lock_box.setChecked(state.locked)
        self.lock_box.blockSignals(False)
        if state.locked:
            self.seed_box.setValue(state.seed)

    # ---- latent control --------------------------------------------------------------------

    def _sync_every_key(self) -> None:
        """The box says whether every key plays one sound (after a load or a kit)."""
        self.every_key.blockSignals(True)
        self.every_key.setChecked(self.engine is not None and self.engine.timbre() is not None)
        self.every_key.blockSignals(False)

    def _fill_programs(self) -> None:
        """The instrument list of a preset with programs (hidden for the others)."""
        programs = self.engine.preset.programs if self.engine is not None else ()
        self.program_combo.blockSignals(True)
        self.program_combo.clear()
        self.program_combo.addItems([p.name for p in programs])
        if programs:
            self.program_combo.setCurrentIndex(self.engine.program)
        self.program_combo.blockSignals(False)
        self.program_combo.setVisible(bool(programs))
        self.program_label.setVisible(bool(programs))

    def set_program(self, index: int) -> None:
        """Every key plays this instrument, with the latents it had (re-rendered)."""
        if self.engine is not None and self.engine.preset.programs and index >= 0:
            self.engine.set_program(index)
            self._select_slot(self.slot)

    def _targets(self) -> list[int]:
        """The slots a latent control acts on: every key's with "Same timbre on every key"."""
        if self.engine is None:
            return []
        if self.engine.preset.kind == "notes" and self.every_key.isChecked():
            # the chosen key first: what a morph previews is rendered before the rest
            return [self.slot, *(s for s in range(self.engine.keymap.slots) if s != self.slot)]
        return [self.slot]

    def reroll(self) -> None:
        if self.engine is None:
            return
        if len(self._targets()) > 1 and self.engine.bank.slots[self.slot].locked:
            self.engine.lock_timbre()
        else:
            for slot in self._targets():
                self.engine.reroll(slot)
        self._select_slot(self.slot)

    def set_lock(self, on: bool) -> None:
        if self.engine is None:
            return
        if on:
            self.use_seed(self.engine.last_seed(self.slot))
        else:
            for slot in self._targets():
                self.engine.unlock(slot)

    def set_every_key(self, on: bool) -> None:
        """Every key plays the sound the chosen key plays (locked, morph and all), or keys go
        their own way."""
        if not on or self.engine is None:
            return
        state = self.engine.bank.slots[self.slot]
        if state.locked and state.morph_to != FRESH:
            for slot in self._targets():
                self.engine.morph(slot, state.seed, state.morph_to, state.amount)
            self._select_slot(self.slot)
        else:
            self.use_seed(state.seed if state.locked else self.engine.last_seed(self.slot))

    def use_seed(self, seed: int) -> None:
        if self.engine is not None:
            for slot in self._targets():
                self.engine.lock(slot, seed)
            self._select_slot(self.slot)

    def morph(self, x: float, y: float) -> None:
        if self.engine is None:
            return
        state = self.engine.bank.slots[self.slot]
        seed_a = state.seed if state.locked else self.engine.lock(self.slot)
        for slot in self._targets():
            self.engine.morph(slot, seed_a, self.morph_b.value(), x)
        self._select_slot(self.slot)
        note = int(self.engine.keymap.note_slot.tolist().index(self.slot))
        QTimer.singleShot(60, lambda: self.play(note, max(1, int(y * 127))))

    def _save_kit_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save kit", "", "Kit (*.json)")
        if path and self.engine is not None:
            self.engine.save_kit(path)

    def _load_kit_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load kit", "", "Kit (*.json)")
        if path and self.engine is not None:
            try:
                self.engine.load_kit(path)
            except EngineError as exc:
                self.statusBar().showMessage(str(exc))
            self._sync_every_key()
            self._fill_programs()
            self._select_slot(self.slot)

    # ---- files out ---------------------------------------------------------------------------

    def drag_file_for(self, note: int) -> Path | None:
        """The WAV of the pad's last sound (written after each hit); made now if not yet."""
        if self.engine is None:
            return None
        slot = self.engine.keymap.slot_for(note)
        path = self.drag_paths.get(slot)
        if path is None or not path.exists():  # dragged before the pad was ever played
            path = self.write_played(self.engine, slot)[1]
        return path

    def drag_pad(self, note: int) -> None:
        path = self.drag_file_for(note)
        if path is not None:
            drag_file(self, str(path))

    def open_render(self) -> RenderDialog | None:
        if self.engine is None:
            return None
        folder = self.settings.value("render_dir", str(Path.home() / "ganpad-samples"))
        engine = self.engine
        one_timbre = engine.timbre() is not None
        dialog = RenderDialog(engine.preset, engine.keymap.names, folder, self,
                              engine.bank.current, play_now=one_timbre,
                              program=engine.program)  # fmt: skip
        dialog.finished_files.connect(
            lambda files: self.settings.setValue("render_dir", dialog.folder.text())
        )
        dialog.show()
        return dialog

    # ---- meters --------------------------------------------------------------------------------

    def _update_meter(self) -> None:
        if self.engine is None:
            self.meter.setText("")
            return
        s = self.engine.snapshot()
        if self.engine.stream is None:
            self.meter.setText("audio off")
            return
        period = self.engine.stream.blocksize
        self.meter.setText(
            f"period {period} ({period / self.engine.rate * 1000:.1f} ms) · "
            f"load {self.engine.load() * 100:.1f}% · xruns {s.xruns} · missed {s.missed}"
        )
