"""Screenshot of the instrument in a real X server (Xvfb), playing through a private jackd.

Run:  python tools/screenshot.py [--preset NAME] [--out ganpad.png] [--play NOTE ...]
Needs Debian's xvfb, libxcb-cursor0 (Qt's xcb plugin) and jackd2. Plays a few pads so the
waveform and spectrogram show a sound.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None, help="preset name or folder (default preset)")
    parser.add_argument("--out", default="ganpad.png")
    parser.add_argument("--display", default=":97")
    parser.add_argument("--play", type=int, nargs="+", default=[36, 38, 42, 46, 49, 36],
                        help="MIDI notes played before the shot")  # fmt: skip
    args = parser.parse_args()
    if shutil.which("Xvfb") is None:
        print("Xvfb is missing: apt-get install xvfb", file=sys.stderr)
        return 2
    xvfb = subprocess.Popen(["Xvfb", args.display, "-screen", "0", "1280x760x24", "-nolisten",
                             "tcp"], stderr=subprocess.DEVNULL)  # fmt: skip
    os.environ["DISPLAY"] = args.display
    os.environ.pop("QT_QPA_PLATFORM", None)
    from helpers.jack_rig import JackServer

    server = JackServer().start()
    try:
        time.sleep(0.5)
        import tempfile

        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QApplication

        # Fresh settings: the shot shows the defaults, not this machine's last choices.
        QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, tempfile.mkdtemp())

        from ganpad.app.gui.window import MainWindow

        app = QApplication([])
        window = MainWindow(args.preset)
        window.move(0, 0)
        window.show()
        notes = iter(args.play)

        def step() -> None:
            note = next(notes, None)
            if note is not None:
                window.play(note, 110)
                QTimer.singleShot(250, step)
                return
            QTimer.singleShot(400, shoot)

        def shoot() -> None:
            app.primaryScreen().grabWindow(0).save(args.out)
            print(f"wrote {args.out}")
            window.close()
            app.quit()

        window.engine_ready.connect(lambda: QTimer.singleShot(500, step))
        QTimer.singleShot(120_000, app.quit)
        app.exec()
        import sounddevice as sd

        while sd._initialized:
            sd._terminate()
    finally:
        server.stop()
        xvfb.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
