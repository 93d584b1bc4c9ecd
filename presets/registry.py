"""Where presets live: the shipped ones (package data) and the user's folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ganpad.presets.preset import PRESET_FILE, Preset, PresetError, load_preset

DEFAULT_PRESET = "drums-keys-44k"
DEFAULT_NOTES_PRESET = "notes-notesynth-44k"
# `--preset drums` or `--preset notes`: the shipped default of that kind.
DEFAULTS = {"drums": DEFAULT_PRESET, "notes": DEFAULT_NOTES_PRESET}


def shipped_dir() -> Path:
    return Path(__file__).resolve().parent


def user_dir() -> Path:
    """$GANPAD_PRESETS, else the platform's user data folder."""
    env = os.environ.get("GANPAD_PRESETS")
    return Path(env) if env else Path(platformdirs.user_data_dir("ganpad")) / "presets"


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    source: str  # "shipped" | "user"
    preset: Preset | None
    error: str | None


def _folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / PRESET_FILE).is_file())


def list_presets(check_graph: bool = False) -> list[Entry]:
    """Every preset found; a broken one is listed with its error rather than hidden."""
    entries = []
    for source, root in (("user", user_dir()), ("shipped", shipped_dir())):
        for folder in _folders(root):
            try:
                preset = load_preset(folder, check_graph=check_graph)
                entries.append(Entry(preset.name, folder, source, preset, None))
            except PresetError as exc:
                entries.append(Entry(folder.name, folder, source, None, str(exc)))
    return entries


def looks_like_path(arg: str) -> bool:
    """A separator, a leading '.' or '~', or an absolute path: the user means a folder."""
    return os.sep in arg or "/" in arg or arg.startswith((".", "~"))


def is_preset_name(name: str) -> bool:
    """Whether `name` (not a path) names an installed preset or an alias."""
    if looks_like_path(name):
        return False
    return name in DEFAULTS or any(name in (e.name, e.path.name) for e in list_presets())


def find_preset(name_or_path: str, check_graph: bool = True) -> Preset:
    """The one resolver for every command and the window.

    An argument that looks like a path is a preset folder. Otherwise it is a preset's name or
    folder name (user presets shadow shipped ones), then an alias ("drums", "notes": the shipped
    default of that kind), and only then a folder of that name in the working directory, so a
    render's own output folder never shadows the preset it was rendered from.
    """
    if looks_like_path(name_or_path):
        return load_preset(Path(name_or_path).expanduser(), check_graph)
    entries = list_presets()
    for entry in entries:
        if name_or_path in (entry.name, entry.path.name):
            return load_preset(entry.path, check_graph)
    if name_or_path in DEFAULTS:
        return find_preset(DEFAULTS[name_or_path], check_graph)
    if (Path(name_or_path) / PRESET_FILE).is_file():
        return load_preset(Path(name_or_path), check_graph)
    names = ", ".join(sorted({e.name for e in entries})) or "none"
    raise PresetError(name_or_path, f"no such preset (installed: {names}; a folder is "
                                    f"written as ./{name_or_path})")  # fmt: skip
