"""Render dialog: folder, count, classes or notes, rate, format; progress and cancel."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from ganpad.app.gui.pads import drag_file
from ganpad.app.gui.tasks import Task
from ganpad.app.keymap import KeyMap
from ganpad.app.render import Job, layered, plan, render
from ganpad.presets import Preset


class ResultList(QListWidget):
    """Rendered files; drag one out to a DAW or file manager."""

    def startDrag(self, actions) -> None:
        item = self.currentItem()
        if item is not None:
            drag_file(self, item.data(Qt.UserRole))


class RenderDialog(QDialog):
    finished_files = Signal(list)

    def __init__(self, preset: Preset, names: tuple[str, ...], folder: str, parent=None,
                 playing: Callable[[int], tuple[np.ndarray, int] | None] | None = None,
                 play_now: bool = False, program: int = 0):  # fmt: skip
        """`playing(slot)`: the (latent, seed) a locked pad plays now (None where it rolls
        fresh sounds), offered as "The sounds the locked pads play now" (checked where
        `play_now`: a notes preset's one timbre); `program`: the instrument it plays, for a
        preset with programs."""
        super().__init__(parent)
        self.setWindowTitle(f"Render {preset.name}")
        self.preset = preset
        self.playing = playing
        self.program = program
        self.task: Task | None = None
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.count = QSpinBox(minimum=1, maximum=1000, value=8)
        self.now = QCheckBox("The sounds the locked pads play now, one each")
        self.now.setEnabled(playing is not None)
        self.now.toggled.connect(lambda on: self.count.setEnabled(not on or not play_now))
        self.now.setChecked(playing is not None and play_now)
        self.slots = names
        self.labels = QListWidget()  # what some key plays (not a class all its keys have left)
        played = KeyMap.for_preset(preset).played_labels()
        for name in (n for n, on in zip(names, played, strict=True) if on):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked)
            self.labels.addItem(item)
        self.rate = QComboBox()
        self.rate.addItems(["48000", "44100"])
        self.fmt = QComboBox()
        self.fmt.addItems(["wav24", "wav32f"])
        # Instrument files a sampler loads, written beside the WAVs.
        self.sfz = QCheckBox("SFZ instrument")
        self.hydrogen = QCheckBox("Hydrogen drumkit")
        self.hydrogen.setEnabled(preset.kind == "drums")
        self.progress = QProgressBar()
        self.go = QPushButton("Render")
        self.go.clicked.connect(self.start)
        self.stop = QPushButton("Cancel")
        self.stop.clicked.connect(self.cancel)
        self.stop.setEnabled(False)
        self.results = ResultList()
        self.results.setDragEnabled(True)

        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Sounds each", self.count)
        form.addRow(self.now)
        form.addRow("Classes" if preset.kind == "drums" else "Notes", self.labels)
        form.addRow("Rate", self.rate)
        form.addRow("Format", self.fmt)
        kits = QHBoxLayout()
        kits.addWidget(self.sfz)
        kits.addWidget(self.hydrogen)
        form.addRow("Also write", kits)
        buttons = QHBoxLayout()
        buttons.addWidget(self.go)
        buttons.addWidget(self.stop)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        layout.addWidget(self.results)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Render into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def chosen(self) -> list[str]:
        return [self.labels.item(i).text() for i in range(self.labels.count())
                if self.labels.item(i).checkState() == Qt.Checked]  # fmt: skip

    def start(self) -> None:
        names = self.chosen()
        if not names:
            self.progress.setFormat("choose at least one")
            return
        jobs = self.jobs(names)
        self.progress.setRange(0, len(layered(self.preset, jobs)))  # a file per layer
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m")
        kinds = [k for k, box in (("sfz", self.sfz), ("hydrogen", self.hydrogen))
                 if box.isChecked() and box.isEnabled()]  # fmt: skip
        self.task = Task(partial(render, instruments=kinds), self.preset,
                         Path(self.folder.text()), jobs, int(self.rate.currentText()),
                         self.fmt.currentText(), parent=self, with_progress=True)  # fmt: skip
        self.task.progress.connect(lambda done, total: self.progress.setValue(done))
        self.task.done.connect(self._done)
        self.task.failed.connect(lambda message: self.progress.setFormat(message))
        self.go.setEnabled(False)
        self.stop.setEnabled(True)
        self.task.start()

    def jobs(self, names: list[str]) -> list[Job]:
        """What to render: the locked pads' sounds as they play now (`count` new ones for a
        pad that rolls fresh sounds), or `count` new ones each."""
        if not self.now.isChecked() or self.playing is None:
            return plan(self.preset, self.count.value(), seed=0, names=names,
                        program=self.program)  # fmt: skip
        jobs = []
        for name in names:
            now = self.playing(self.slots.index(name))
            if now is None:
                jobs += plan(self.preset, self.count.value(), seed=0, names=[name],
                             program=self.program)  # fmt: skip
            else:
                program = self.program if self.preset.programs else None
                jobs.append(Job(self.slots.index(name), name, now[1], now[0], program=program))
        return jobs

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()  # the render stops between batches; written files are whole

    def _done(self, files: list[Path]) -> None:
        self.go.setEnabled(True)
        self.stop.setEnabled(False)
        self.results.clear()
        for path in files:
            item = QListWidgetItem(str(path.relative_to(Path(self.folder.text()))))
            item.setData(Qt.UserRole, str(path))
            self.results.addItem(item)
        self.progress.setFormat(f"{len(files)} files written")
        self.finished_files.emit(files)
