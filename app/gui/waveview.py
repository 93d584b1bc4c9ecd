"""Waveform and spectrogram of the last sound played."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget


def spectrogram(audio: np.ndarray, n_fft: int = 512, floor_db: float = -80.0) -> np.ndarray:
    """Log-magnitude STFT scaled to 0..255 (uint8), low frequencies in the last row."""
    hop = n_fft // 4
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1)).T
    db = 20 * np.log10(np.maximum(mag, 1e-7))
    db = np.clip(db - db.max(), floor_db, 0)
    return np.ascontiguousarray(((db - floor_db) / -floor_db * 255).astype(np.uint8)[::-1])


class WaveView(QWidget):
    def __init__(self):
        super().__init__()
        self.setMinimumHeight(160)
        self.audio: np.ndarray | None = None
        self.title = "play something"
        self.image: QImage | None = None

    def show_clip(self, audio: np.ndarray, rate: int, title: str) -> None:
        self.audio = audio
        self.title = f"{title} - {len(audio) / rate * 1000:.0f} ms"
        spec = spectrogram(audio)
        self._spec = spec  # QImage borrows the buffer
        self.image = QImage(spec.data, spec.shape[1], spec.shape[0], spec.shape[1],
                            QImage.Format_Grayscale8)  # fmt: skip
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1d1f22"))
        w, h = self.width(), self.height()
        half = h // 2
        if self.audio is not None and len(self.audio):
            cols = max(1, w)
            chunks = np.array_split(self.audio, cols)
            top = [float(c.max()) if len(c) else 0.0 for c in chunks]
            bottom = [float(c.min()) if len(c) else 0.0 for c in chunks]
            mid = half / 2
            points = [QPointF(x, mid - v * mid) for x, v in enumerate(top)]
            points += [QPointF(x, mid - v * mid) for x, v in reversed(list(enumerate(bottom)))]
            p.setPen(QPen(QColor("#f0a020"), 1))
            p.setBrush(QColor("#f0a020"))
            p.drawPolygon(QPolygonF(points))
        if self.image is not None:
            p.drawImage(self.rect().adjusted(0, half, 0, 0), self.image)
        p.setPen(QColor("#e8e8e8"))
        p.drawText(6, 14, self.title)
        p.end()


class XYPad(QWidget):
    """Left-right morphs latent A into B; up-down is the audition velocity."""

    def __init__(self, on_move):
        super().__init__()
        self.setMinimumSize(140, 110)
        self.on_move = on_move
        self.x, self.y = 0.0, 0.8

    def _set(self, pos) -> None:
        self.x = min(1.0, max(0.0, pos.x() / max(1, self.width())))
        self.y = min(1.0, max(0.0, 1 - pos.y() / max(1, self.height())))
        self.update()
        self.on_move(self.x, self.y)

    def mousePressEvent(self, event) -> None:
        self._set(event.position())

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.LeftButton:
            self._set(event.position())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#26292d"))
        p.setPen(QColor("#777"))
        p.drawText(4, self.height() - 4, "A")
        p.drawText(self.width() - 12, self.height() - 4, "B")
        p.setBrush(QColor("#f0a020"))
        p.drawEllipse(QPointF(self.x * self.width(), (1 - self.y) * self.height()), 6, 6)
        p.end()
