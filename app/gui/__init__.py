"""The desktop instrument (PySide6). Widgets hold no audio logic: they drive ganpad.app."""
