"""Work off the GUI thread: a QThread that runs one function and signals its result back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal


class Task(QThread):
    """Runs `fn(*args, progress=..., cancelled=...)` if it takes them; signals done or failed."""

    done = Signal(object)
    failed = Signal(str)
    progress = Signal(int, int)

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None,
                 with_progress: bool = False, **kwargs: Any):  # fmt: skip
        super().__init__(parent)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.with_progress = with_progress
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        kwargs = dict(self.kwargs)
        if self.with_progress:
            kwargs["progress"] = lambda done, total: self.progress.emit(done, total)
            kwargs["cancelled"] = lambda: self._cancel
        try:
            result = self.fn(*self.args, **kwargs)
        except Exception as exc:  # shown to the musician, never raised into Qt
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self.done.emit(result)
