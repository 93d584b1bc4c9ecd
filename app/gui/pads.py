"""The 4x4 drum pad grid (in banks: every GM drum key) and the on-screen keyboard: they send
notes and light up on notes."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDrag, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ganpad.drums import GM_NOTE_NAMES, pad_banks
from ganpad.notes import note_name

# Computer keys for the grid, laid out like it: 1234 / qwer / asdf / zxcv.
PAD_KEYS = ("1234", "qwer", "asdf", "zxcv")
LIT = "background: #f0a020; color: black; font-weight: bold;"
IDLE = "background: #33363b; color: #e8e8e8;"
DEAD = "background: #222; color: #666;"


class Pad(QPushButton):
    pressed_note = Signal(int)
    released_note = Signal(int)
    drag_requested = Signal(int)

    def __init__(self, note: int, label: str, key: str, playable: bool):
        super().__init__(f"{label}\n[{key.upper()}]  {note}" if key else f"{label}\n{note}")
        self.note = note
        self.playable = playable
        self.setMinimumSize(110, 70)
        self.setStyleSheet(IDLE if playable else DEAD)
        self.setEnabled(playable)
        self._press: QPoint | None = None
        self._off = QTimer(self, singleShot=True, interval=160)
        self._off.timeout.connect(lambda: self.setStyleSheet(IDLE))

    def light(self) -> None:
        self.setStyleSheet(LIT)
        self._off.start()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton:
            self._press = event.position().toPoint()
            self.pressed_note.emit(self.note)
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton:
            self.released_note.emit(self.note)
        super().mouseReleaseEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        moved = self._press is not None and (
            (event.position().toPoint() - self._press).manhattanLength()
            > QApplication.startDragDistance()
        )
        if event.buttons() & Qt.LeftButton and moved:
            self._press = None
            self.drag_requested.emit(self.note)
        super().mouseMoveEvent(event)


class PadGrid(QWidget):
    """Banks of 4x4 pads, one shown at a time: the kit, then the rest of the GM drum keys
    (percussion, the second toms and cymbals). The computer keys play the shown bank; MIDI
    plays every key whatever is shown."""

    note = Signal(int)  # the musician hit a pad (mouse or key)
    drag = Signal(int)

    def __init__(self, playable: Callable[[int], bool]):
        super().__init__()
        self.pads: dict[int, Pad] = {}
        self.banks = pad_banks()
        self.bank_of = {n: b for b, bank in enumerate(self.banks) for row in bank for n in row
                        if n is not None}  # fmt: skip
        self.keys: dict[str, int] = {}
        self.pages = QStackedWidget()
        self.bank_buttons: list[QPushButton] = []
        group, row = QButtonGroup(self), QHBoxLayout()
        for b, bank in enumerate(self.banks):
            page = QWidget()
            grid = QGridLayout(page)
            for r, notes in enumerate(bank):
                for c, note in enumerate(notes):
                    if note is not None:
                        grid.addWidget(self._pad(note, PAD_KEYS[r][c], playable(note)), r, c)
            self.pages.addWidget(page)
            keys = [n for notes in bank for n in notes if n is not None]
            button = QPushButton("kit" if b == 0 else f"{min(keys)}-{max(keys)}")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.NoFocus)  # the computer keys stay with the pads
            button.setToolTip("GM drum keys " + ", ".join(map(str, sorted(keys))))
            group.addButton(button, b)
            row.addWidget(button)
            self.bank_buttons.append(button)
        group.idClicked.connect(self.show_bank)
        self._unlit = QTimer(self, singleShot=True, interval=160)
        self._unlit.timeout.connect(lambda: [b.setStyleSheet("") for b in self.bank_buttons])
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.pages)
        self.show_bank(0)
        self.setFocusPolicy(Qt.StrongFocus)

    def _pad(self, note: int, key: str, playable: bool) -> Pad:
        pad = Pad(note, GM_NOTE_NAMES.get(note, str(note)), key, playable)
        pad.pressed_note.connect(self.note)
        pad.drag_requested.connect(self.drag)
        self.pads[note] = pad
        return pad

    def show_bank(self, index: int) -> None:
        """Show bank `index`; the computer keys then play its pads."""
        self.pages.setCurrentIndex(index)
        self.bank_buttons[index].setChecked(True)
        self.keys = {PAD_KEYS[r][c]: note for r, notes in enumerate(self.banks[index])
                     for c, note in enumerate(notes) if note is not None}  # fmt: skip

    def keyPressEvent(self, event: QKeyEvent) -> None:
        note = self.keys.get(event.text().lower())
        if note is not None and not event.isAutoRepeat() and self.pads[note].playable:
            self.note.emit(note)
            return
        super().keyPressEvent(event)

    def light(self, note: int) -> None:
        """Light the note's pad, and its bank's button where another bank is shown (MIDI)."""
        if note in self.pads:
            self.pads[note].light()
            bank = self.bank_of[note]
            if bank != self.pages.currentIndex():
                self.bank_buttons[bank].setStyleSheet(LIT)
                self._unlit.start()


class Keyboard(QScrollArea):
    """A row of keys over a pitched preset's range; it scrolls sideways where the window is
    narrower than four octaves of keys, so the window fits a laptop's screen."""

    note = Signal(int)
    release = Signal(int)  # a key let go: pitched presets fade the note out
    drag = Signal(int)

    def __init__(self, low: int, high: int, playable: Callable[[int], bool] = lambda note: True):
        super().__init__()
        keys = QWidget()
        layout = QGridLayout(keys)
        layout.setSpacing(1)
        self.pads: dict[int, Pad] = {}
        for i, pitch in enumerate(range(low, high + 1)):
            name = note_name(pitch)
            key = Pad(pitch, name, "", playable(pitch))  # a pitch the data lacked is dead
            key.setMinimumSize(28, 90)
            key.pressed_note.connect(self.note)
            key.released_note.connect(self.release)
            key.drag_requested.connect(self.drag)
            layout.addWidget(key, 0 if "#" in name else 1, i)
            self.pads[pitch] = key
        self.setWidget(keys)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        bar = self.horizontalScrollBar().sizeHint().height()
        self.setMinimumHeight(keys.minimumSizeHint().height() + bar)

    def light(self, note: int) -> None:
        if note in self.pads:
            self.pads[note].light()


def file_mime(path: str) -> QMimeData:
    """A WAV file as a file URL (text/uri-list), the form DAWs and file managers accept."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    return mime


def drag_file(source: QWidget, path: str) -> Qt.DropAction:
    drag = QDrag(source)
    drag.setMimeData(file_mime(path))
    return drag.exec(Qt.CopyAction)
