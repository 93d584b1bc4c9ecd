"""One-shots for a DAW: WAVs per class or note with metadata, written atomically, plus a kit."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ganpad import __version__
from ganpad.app.clip import finish_clip
from ganpad.app.keymap import KeyMap
from ganpad.app.kit_formats import INSTRUMENTS, write_instruments
from ganpad.app.latents import latent_for_seed
from ganpad.atomic import atomic_path, atomic_write_text
from ganpad.notes import sample_name
from ganpad.presets import Preset, find_preset

FORMATS = {"wav24": "PCM_24", "wav32f": "FLOAT"}
KIT_FILE = "kit.json"
RENDER_KIT_FORMAT = "ganpad-render/1"


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class Job:
    slot: int
    name: str  # class or note name
    seed: int
    z: np.ndarray


def plan(preset: Preset, count: int, seed: int, names: list[str] | None = None,
         notes: list[int] | None = None) -> list[Job]:  # fmt: skip
    """`count` sounds for each chosen slot, seeds drawn from `seed` so a render repeats."""
    keymap = KeyMap.for_preset(preset)
    slots = list(range(keymap.slots))
    if names:
        unknown = [n for n in names if n not in keymap.names]
        if unknown:
            raise RenderError(f"{preset.name} has no {unknown}; it has {list(keymap.names)}")
        slots = [keymap.names.index(n) for n in names]
    elif notes:
        missing = [n for n in notes if keymap.slot_for(n) < 0]
        if missing:
            raise RenderError(f"{preset.name} plays nothing on MIDI notes {missing}")
        slots = sorted({keymap.slot_for(n) for n in notes})
    rng = np.random.default_rng(seed)
    jobs = []
    for slot in slots:
        for _ in range(count):
            s = int(rng.integers(0, 2**31 - 1))
            jobs.append(Job(slot, keymap.names[slot], s, latent_for_seed(s, preset.latent)))
    return jobs


def jobs_from_kit(preset: Preset, kit: dict) -> list[Job]:
    keymap = KeyMap.for_preset(preset)
    return [
        Job(
            keymap.names.index(s["name"]), s["name"], int(s["seed"]), np.asarray(s["z"], np.float32)
        )
        for s in kit["sounds"]
    ]


def file_path(root: Path, preset: Preset, job: Job) -> Path:
    """<preset>/<class>/ for drums; <preset>/060_C4/ for notes, so folders sort by pitch."""
    name = sample_name(int(job.name)) if preset.kind == "notes" else job.name
    return root / preset.name / name / f"{preset.name}_{name}_{job.seed}.wav"


def wav_tags(preset: str, name: str, seed: int | str) -> dict[str, str]:
    """What a sample carries in its INFO chunk: enough to find and regenerate it."""
    return {
        "title": f"{preset} {name} {seed}",
        "software": f"ganpad {__version__}",
        "comment": json.dumps({"preset": preset, "class": name, "seed": seed}),
    }


def write_wav(path: Path, audio: np.ndarray, rate: int, subtype: str, tags: dict[str, str]) -> None:
    """Temporary file, then rename: an interrupted render never leaves a half WAV."""
    with atomic_path(path) as tmp, sf.SoundFile(tmp, "w", rate, 1, subtype, format="WAV") as f:
        for key, value in tags.items():
            setattr(f, key, value)
        f.write(audio)


def render(
    preset: Preset,
    out: Path,
    jobs: list[Job],
    rate: int = 48000,
    fmt: str = "wav24",
    batch: int = 16,
    progress: Callable[[int, int], object] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    instruments: Sequence[str] = (),
) -> list[Path]:
    """Generate, finish and write every job; returns the files; writes the kit file last,
    then each of `instruments` (sfz, hydrogen) that a sampler loads."""
    if fmt not in FORMATS:
        raise RenderError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    _check_instruments(preset, instruments)
    if rate not in (44100, 48000):
        raise RenderError(f"rate {rate} is not 44100 or 48000")
    out = Path(out)
    for stale in (out / preset.name).rglob(".*.part") if (out / preset.name).exists() else []:
        stale.unlink(missing_ok=True)  # left by a render that was killed outright
    session = preset.session()
    written: list[Path] = []
    for start in range(0, len(jobs), batch):
        if cancelled():
            break
        chunk = jobs[start : start + batch]
        audio = preset.generate(session, np.stack([j.z for j in chunk]), [j.slot for j in chunk])
        for job, clip in zip(chunk, audio, strict=True):
            path = file_path(out, preset, job)
            tags = wav_tags(preset.name, job.name, job.seed)
            write_wav(path, finish_clip(clip, preset.sample_rate, rate), rate, FORMATS[fmt], tags)
            written.append(path)
        if progress:
            progress(len(written), len(jobs))
    _write_kit(out, preset, jobs[: len(written)], rate, fmt)
    if instruments:
        folder = out / preset.name
        done = zip(jobs, written, strict=False)  # a cancelled render wrote fewer
        files = [(j.name, p.relative_to(folder).as_posix()) for j, p in done]
        write_instruments(preset, folder, files, instruments)
    return written


def _check_instruments(preset: Preset, instruments: Sequence[str]) -> None:
    """Before any sound is generated: a wrong instrument costs no render."""
    unknown = [k for k in instruments if k not in INSTRUMENTS]
    if unknown:
        raise RenderError(f"instrument {unknown[0]!r} is not one of {', '.join(INSTRUMENTS)}")
    if "hydrogen" in instruments and preset.kind == "notes":
        raise RenderError(f"{preset.name} is a notes preset: a Hydrogen kit is for drums; "
                          "ask for --instrument sfz")  # fmt: skip


def _write_kit(out: Path, preset: Preset, jobs: list[Job], rate: int, fmt: str) -> None:
    kit = {
        "format": RENDER_KIT_FORMAT,
        "preset": preset.name,
        "rate": rate,
        "file_format": fmt,
        "sounds": [
            {"file": str(file_path(out, preset, j).relative_to(out / preset.name)), "name": j.name,
             "seed": j.seed, "z": [float(v) for v in j.z]}
            for j in jobs
        ],
    }  # fmt: skip
    atomic_write_text(out / preset.name / KIT_FILE, json.dumps(kit) + "\n")


def render_kit(kit_path: Path, out: Path, preset_name: str | None = None, **kwargs) -> list[Path]:
    """Render again exactly what a kit file records."""
    try:
        kit = json.loads(Path(kit_path).read_text(encoding="utf-8"))
        if kit.get("format") != RENDER_KIT_FORMAT:
            raise ValueError(f"format {kit.get('format')!r}, expected {RENDER_KIT_FORMAT}")
        preset = find_preset(preset_name or kit["preset"])
        jobs = jobs_from_kit(preset, kit)
        bad = [j.seed for j in jobs if j.z.shape != (preset.latent,)]
        if bad:
            raise ValueError(f"latents of sounds {bad[:3]} are not {preset.latent} long")
        kwargs.setdefault("rate", int(kit["rate"]))
        kwargs.setdefault("fmt", str(kit["file_format"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RenderError(f"{kit_path}: cannot read kit: {exc}") from exc
    return render(preset, out, jobs, **kwargs)
