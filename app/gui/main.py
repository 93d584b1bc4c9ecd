"""`ganpad` with no sub-command: open the instrument, or say in one line why it cannot."""

from __future__ import annotations

import os
import sys

HEADLESS_HINT = "use `ganpad play` (MIDI in, audio out) or `ganpad render` (sample folders)"


def display_problem() -> str | None:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform.startswith("linux") and not platform:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def run(preset: str | None = None) -> int:
    problem = display_problem()
    if problem:
        print(f"ganpad: {problem}; {HEADLESS_HINT}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from ganpad.app.gui.window import MainWindow, output_devices

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ganpad")
    audio = bool(output_devices())
    if not audio:
        print(f"ganpad: no audio output device; playing is silent, {HEADLESS_HINT}",
              file=sys.stderr)  # fmt: skip
    window = MainWindow(preset, audio=audio)
    window.show()
    return app.exec()
