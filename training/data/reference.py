"""Named real reference sets that any machine rebuilds from Debian packages.

An evaluation recorded against a name ("heldout-drums") can be reproduced elsewhere: the
name says which packages to install and which command rebuilds the clips, where a local path
would say nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ganpad.atomic import atomic_dir
from ganpad.presets.registry import looks_like_path
from ganpad.training.data.drumkit import KIT_FILE, read_kit

HYDROGEN_KITS = Path("/usr/share/hydrogen/data/drumkits")
SOUNDFONTS = Path("/usr/share/sounds/sf2")
STAMP = "reference.json"  # in a built reference: the definition it was built to
# Debian's GM SoundFonts share their drum samples in two families (the same waveforms on 42-43
# of 47 keys): a kit rendered from one font is a copy of the kit of every other in its family.
FONT_FAMILIES = (
    ("TimGM6mb", "sf_GMbank"),  # timgm6mb-soundfont, csound-soundfont's GM bank
    ("FluidR3_GM", "FluidR3Mono_GM", "MuseScore_General"),
)


@dataclass(frozen=True)
class NoteSpec:
    """Notes of one SoundFont, as `ganpad data soundfont` renders them."""

    soundfont: str
    programs: tuple[int, ...]
    pitches: tuple[int, int]  # lowest, highest
    velocities: tuple[int, ...]
    seconds: float
    rate: int = 16000


@dataclass(frozen=True)
class Reference:
    name: str
    about: str
    packages: tuple[str, ...]
    hydrogen_kits: tuple[str, ...] = ()
    soundfonts: tuple[str, ...] = ()  # their GM drum kits
    notes: NoteSpec | None = None

    @property
    def command(self) -> str:
        return f"ganpad data reference {self.name} --out REF"

    def to_json(self) -> dict:
        return {"name": self.name, "packages": list(self.packages), "command": self.command,
                "about": self.about}  # fmt: skip


REFERENCES = {
    r.name: r
    for r in (
        Reference(
            "heldout-drums",
            "real drums no shipped preset trains on: the Hydrogen kit GMRockKit and every GM "
            "drum kit (orchestra kits left out) of TimGM6mb, key by key at velocity 100; "
            "presets never train on TimGM6mb's family (csound's GM bank) either",
            ("hydrogen-data", "timgm6mb-soundfont", "fluidsynth"),
            hydrogen_kits=("GMRockKit",),
            soundfonts=("TimGM6mb.sf2",),
        ),
        Reference(
            "heldout-notes",
            "the notes the shipped notes presets are judged on: FluidR3_GM's piano, electric "
            "piano, vibraphone, drawbar organ, nylon guitar, acoustic bass, strings, trumpet "
            "and flute (programs 0, 4, 11, 16, 24, 32, 48, 56, 73), MIDI 36-84, at velocity "
            "90, which no shipped preset trained on (they saw 40, 70, 110 and 127), 3 s each "
            "(held 2.25 s) at 44.1 kHz",
            ("fluid-soundfont-gm", "fluidsynth"),
            notes=NoteSpec(
                "FluidR3_GM.sf2", (0, 4, 11, 16, 24, 32, 48, 56, 73), (36, 84), (90,), 3.0, 44100
            ),  # fmt: skip
        ),
    )
}


def build_reference(name: str, out: Path,
                    progress: Callable[[int, int], None] | None = None) -> Path:  # fmt: skip
    """Write reference `name` into the folder `out` (whole or not at all)."""
    from ganpad.training.data.soundfont import build_note_set
    from ganpad.training.data.soundfont_drums import build_drum_kits

    ref = _known(name)
    missing = [str(p) for p in _sources(ref) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"reference {name} needs {', '.join(missing)}: apt-get install "
                                f"{' '.join(ref.packages)}")  # fmt: skip
    with atomic_dir(out) as tmp:
        (tmp / STAMP).write_text(json.dumps(ref.to_json(), indent=1), encoding="utf-8")
        for kit in ref.hydrogen_kits:
            shutil.copytree(HYDROGEN_KITS / kit, tmp / kit)
        for i, font in enumerate(ref.soundfonts):
            build_drum_kits(SOUNDFONTS / font, tmp / Path(font).stem)
            if progress:
                progress(i + 1, len(ref.soundfonts))
        if ref.notes is not None:
            spec = ref.notes
            low, high = spec.pitches
            build_note_set(SOUNDFONTS / spec.soundfont, tmp, list(spec.programs),
                           list(range(low, high + 1)), list(spec.velocities), spec.seconds,
                           spec.rate, progress=progress)  # fmt: skip
    return out


def _known(name: str) -> Reference:
    if name not in REFERENCES:
        raise ValueError(f"no reference named {name!r}; known: {', '.join(REFERENCES)}")
    return REFERENCES[name]


def _sources(ref: Reference) -> list[Path]:
    fonts = [*ref.soundfonts, *([ref.notes.soundfont] if ref.notes else [])]
    return [HYDROGEN_KITS / k for k in ref.hydrogen_kits] + [SOUNDFONTS / f for f in fonts]


def resolve(reference: str) -> tuple[str, dict | None]:
    """(folder of clips, the reference's record or None) for a path or a reference name; a
    named reference is built into the user cache the first time."""
    if reference not in REFERENCES or looks_like_path(reference):
        return reference, None
    folder = Path(platformdirs.user_cache_dir("ganpad")) / "references" / reference
    record = REFERENCES[reference].to_json()
    if _stamp(folder) != record:  # never built, or built to an older definition
        build_reference(reference, folder)
    return str(folder), record


def _stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def copies_of_reference(trained_kits: list[str], reference_folder: str | Path) -> list[str]:
    """The trained kits that are kits of the reference folder, or rendered from a SoundFont of
    the same family as one of its kits: figures against that reference would flatter them."""
    held = set()
    for xml in Path(reference_folder).rglob(KIT_FILE):  # each kit by its folder and its name
        held.add(_key(xml.parent.name))
        with contextlib.suppress(ValueError):
            held.add(_key(read_kit(xml.parent)[0]))
    return _copies(trained_kits, held)


def copies_of_named(trained_kits: list[str], reference: str) -> list[str]:
    """copies_of_reference by the definition of a named reference, unbuilt: its Hydrogen kits
    and the kits rendered from its SoundFonts (named for the font) or their family's."""
    ref = _known(reference)
    held = {_key(k) for k in ref.hydrogen_kits} | {_key(Path(f).stem) for f in ref.soundfonts}
    return _copies(trained_kits, held)


def _copies(trained_kits: list[str], held: set[str]) -> list[str]:
    stems = {_key(stem) for family in FONT_FAMILIES
             if any(h.startswith(_key(f)) for h in held for f in family)
             for stem in family}  # fmt: skip
    return [kit for kit in trained_kits
            if _key(kit) in held or any(_key(kit).startswith(s) for s in stems)]  # fmt: skip
