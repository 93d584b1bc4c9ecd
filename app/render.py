"""One-shots for a DAW: WAVs per class or note with metadata, written atomically, plus a kit."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import zlib
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
from ganpad.app.voice_pool import VELOCITY_BANDS, band_velocity
from ganpad.atomic import atomic_dir, atomic_path, atomic_write_text, folder_problem
from ganpad.notes import sample_name
from ganpad.presets import PRESET_FILE, Preset, PresetError, find_preset, load_preset

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
    velocity: float | None = None  # 0..1: a velocity layer of a velocity-aware preset
    program: int | None = None  # a preset with programs: which one (an index into them)


def layered(preset: Preset, jobs: Sequence[Job]) -> list[Job]:
    """A velocity-aware preset's jobs as velocity layers: a job without a velocity becomes one
    per band (the engine's VELOCITY_BANDS), the same latent at each band's middle."""
    if not preset.velocity:
        return [dataclasses.replace(j, velocity=None) for j in jobs]
    bands = [band_velocity(b, VELOCITY_BANDS) for b in range(VELOCITY_BANDS)]
    return [dataclasses.replace(j, velocity=v) for j in jobs
            for v in ([j.velocity] if j.velocity is not None else bands)]  # fmt: skip


TIMBRE = ""  # what a notes preset's sounds are seeded by in place of their note


def sound_seed(seed: int, name: str, index: int) -> int:
    """The seed of the `index`-th sound of a class (or of every note, name TIMBRE) in a render
    seeded `seed`.

    Derived from the three together, so `--count 3` extends `--count 2` and `--classes snare`
    renders the snares of the full kit: a seed means one sound wherever it is asked for.
    """
    words = [seed, zlib.crc32(name.encode("utf-8")), index]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)  # 31 bits


def plan(preset: Preset, count: int, seed: int, names: list[str] | None = None,
         notes: list[int] | None = None, program: int = 0) -> list[Job]:  # fmt: skip
    """`count` sounds for each chosen slot, each one's seed from (seed, slot name, index); a
    notes preset's from (seed, index), one timbre on every key; as its program `program`
    where it has programs."""
    if count < 1:
        raise RenderError(f"count {count} (must be 1 or more)")
    if seed < 0:
        raise RenderError(f"seed {seed} (must be 0 or more)")
    if not 0 <= program < max(1, len(preset.programs)):
        raise RenderError(f"program {program} is not one of {preset.name}'s "
                          f"{len(preset.programs)}")  # fmt: skip
    keymap = KeyMap.for_preset(preset)
    slots = keymap.played_slots()
    if names:
        unknown = [n for n in names if n not in keymap.names]
        if unknown:
            raise RenderError(f"{preset.name} has no {unknown}; it has {list(keymap.names)}")
        slots = [keymap.names.index(n) for n in dict.fromkeys(names)]
    elif notes:
        missing = [n for n in notes if keymap.slot_for(n) < 0]
        if missing:
            raise RenderError(f"{preset.name} plays nothing on MIDI notes {missing}")
        slots = sorted({keymap.slot_for(n) for n in notes})
    jobs = []
    for slot in slots:
        # A notes preset's n-th sound is one timbre on every key: the rendered instrument,
        # and its SFZ, play as one instrument across the keyboard.
        name = TIMBRE if preset.kind == "notes" else keymap.names[slot]
        for index in range(count):
            s = sound_seed(seed, name, index)
            jobs.append(Job(slot, keymap.names[slot], s, latent_for_seed(s, preset.latent),
                            program=program if preset.programs else None))  # fmt: skip
    return jobs


def jobs_from_kit(preset: Preset, kit: dict, names: Sequence[str] = ()) -> list[Job]:
    """The kit's sounds as jobs (only those of `names` when given), each checked."""
    keymap = KeyMap.for_preset(preset)
    sounds = kit.get("sounds")
    if not isinstance(sounds, list):
        raise ValueError("'sounds' is not a list")
    jobs = []
    for i, sound in enumerate(sounds):
        name = sound.get("name") if isinstance(sound, dict) else None
        if name not in keymap.names:
            raise ValueError(f"sound {i} names {name!r}, which {preset.name} lacks "
                             f"(it has {', '.join(keymap.names)})")  # fmt: skip
        seed, z = sound.get("seed"), np.asarray(sound.get("z"), np.float32)
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"sound {i}: seed {seed!r} is not a whole number 0 or more")
        if z.shape != (preset.latent,):
            raise ValueError(f"sound {i}: latent of shape {z.shape}, not ({preset.latent},)")
        if not np.isfinite(z).all():
            raise ValueError(f"sound {i}: latent holds NaN or infinity")
        velocity = sound.get("velocity")
        number = isinstance(velocity, float | int) and not isinstance(velocity, bool)
        if velocity is not None and (not number or not 0.0 <= velocity <= 1.0):
            raise ValueError(f"sound {i}: velocity {velocity!r} is not a number from 0 to 1")
        number = sound.get("program")
        if number is None and preset.programs:
            raise ValueError(f"sound {i} names no program, and {preset.name} plays several")
        if number is not None and not preset.programs:
            raise ValueError(f"sound {i}: program {number!r}, and {preset.name} has none")
        try:
            program = None if number is None else preset.program_index(number)
        except ValueError as exc:
            raise ValueError(f"sound {i}: {exc}") from exc
        jobs.append(Job(keymap.names.index(name), name, seed, z,
                        None if velocity is None else float(velocity), program))  # fmt: skip
    if names:
        missing = [n for n in names if n not in {j.name for j in jobs}]
        if missing:
            raise ValueError(f"holds no sounds of {missing}")
        jobs = [j for j in jobs if j.name in names]
    return jobs


def program_of(preset: Preset, job: Job) -> int | None:
    """The GM program number a job plays, for a preset with programs."""
    return None if job.program is None else preset.programs[job.program].program


def relative_path(preset: Preset, job: Job) -> str:
    """<class>/ for drums; 060_C4/ for notes, so folders sort by pitch; a program's GM number
    and a velocity layer's MIDI velocity tag the file's name."""
    name = sample_name(int(job.name)) if preset.kind == "notes" else job.name
    number = program_of(preset, job)
    tag = "" if number is None else f"_p{number:03d}"
    tag += "" if job.velocity is None else f"_v{round(job.velocity * 127):03d}"
    return f"{name}/{preset.name}_{name}_{job.seed}{tag}.wav"


def file_path(root: Path, preset: Preset, job: Job) -> Path:
    return root / preset.name / relative_path(preset, job)


def wav_tags(preset: str, name: str, seed: int | str) -> dict[str, str]:
    """What a sample carries in its INFO chunk: enough to find and regenerate it."""
    return {
        "title": f"{preset} {name} {seed}",
        "software": f"ganpad {__version__}",
        "comment": json.dumps({"preset": preset, "class": name, "seed": seed}),
    }


def write_wav(path: Path, audio: np.ndarray, rate: int, subtype: str, tags: dict[str, str]) -> None:
    """Temporary file, then rename: an interrupted render never leaves a half WAV."""
    with atomic_path(path) as tmp:
        with sf.SoundFile(tmp, "w", rate, 1, subtype, format="WAV") as f:
            for key, value in tags.items():
                setattr(f, key, value)
            f.write(audio)
        clear_peak_time(tmp)


def clear_peak_time(path: Path) -> None:
    """Zero the write time libsndfile stamps into a float WAV's PEAK chunk, so that the same
    render is the same bytes (the chunk's peak values stay)."""
    with open(path, "r+b") as f:
        if f.read(12)[8:] != b"WAVE":
            return
        while header := f.read(8):
            if len(header) < 8:
                return
            size = int.from_bytes(header[4:], "little")
            if header[:4] == b"PEAK":
                f.seek(4, 1)  # version, then the time stamp
                f.write(bytes(4))
                return
            f.seek(size + (size & 1), 1)


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
    replace: bool = False,
) -> list[Path]:
    """Generate, finish and write every job into `out`/<preset>/; returns the files.

    The folder's kit file lists every sound in it: a render into a folder that holds a kit of
    the same preset, rate and format adds to it (a file of the same seed is written again),
    and the SFZ / Hydrogen kit asked in `instruments` list them all. `replace` renders into a
    fresh folder that takes the old one's place only when the render is complete.
    """
    check_render(preset, out, rate, fmt, instruments, replace)
    jobs = layered(preset, jobs)
    folder = Path(out) / preset.name
    if not replace:
        return _render_into(folder, preset, jobs, rate, fmt, batch, progress, cancelled,
                            instruments, _kept_sounds(folder, preset, rate, fmt))  # fmt: skip
    for stale in folder.parent.glob(f".{preset.name}.*.part"):
        shutil.rmtree(stale, ignore_errors=True)  # a --replace render killed outright
    try:
        with atomic_dir(folder) as tmp:
            written = _render_into(tmp, preset, jobs, rate, fmt, batch, progress, cancelled,
                                   instruments, [])  # fmt: skip
            if len(written) < len(jobs):
                raise _Cancelled  # the old folder stays as it was
    except _Cancelled:
        return []
    return [folder / p.relative_to(tmp) for p in written]


class _Cancelled(Exception):
    pass


def check_render(preset: Preset, out: Path, rate: int, fmt: str, instruments: Sequence[str],
                 replace: bool = False) -> None:  # fmt: skip
    """Everything a render can be refused for, before any sound is generated."""
    if fmt not in FORMATS:
        raise RenderError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    unknown = [k for k in instruments if k not in INSTRUMENTS]
    if unknown:
        raise RenderError(f"instrument {unknown[0]!r} is not one of {', '.join(INSTRUMENTS)}")
    if "hydrogen" in instruments and preset.kind == "notes":
        raise RenderError(f"{preset.name} is a notes preset: a Hydrogen kit is for drums; "
                          "ask for --instrument sfz")  # fmt: skip
    if rate not in (44100, 48000):
        raise RenderError(f"rate {rate} is not 44100 or 48000")
    folder = Path(out) / preset.name
    for path in (Path(out), folder):
        problem = folder_problem(path)
        if problem:
            raise RenderError(f"{path}: {problem}")
    here, root = folder.resolve(), preset.root.resolve()
    if here == root or root in here.parents or here in root.parents:
        raise RenderError(f"--out {out}: the render would go into the preset's own folder {root}")
    if replace and folder.exists() and any(folder.iterdir()) and not (folder / KIT_FILE).is_file():
        raise RenderError(f"{folder}: --replace empties only a render's folder (with its "
                          f"{KIT_FILE}); this one holds other files")  # fmt: skip


def _render_into(folder: Path, preset: Preset, jobs: list[Job], rate: int, fmt: str, batch: int,
                 progress: Callable[[int, int], object] | None, cancelled: Callable[[], bool],
                 instruments: Sequence[str], kept: list[dict]) -> list[Path]:  # fmt: skip
    sweep_temporaries(folder)
    session = preset.session()
    written: list[Path] = []
    for start in range(0, len(jobs), batch):
        if cancelled():
            break
        chunk = jobs[start : start + batch]
        velocity = [j.velocity for j in chunk] if preset.velocity else None
        program = [j.program for j in chunk] if preset.programs else None
        audio = preset.generate(session, np.stack([j.z for j in chunk]), [j.slot for j in chunk],
                                velocity, program)  # fmt: skip
        for job, clip in zip(chunk, audio, strict=True):
            path = folder / relative_path(preset, job)
            tags = wav_tags(preset.name, job.name, job.seed)
            room = preset.frames_of(job.slot if preset.conditional else None, rate)
            playable = finish_clip(clip, preset.sample_rate, rate, max_frames=room)
            write_wav(path, playable, rate, FORMATS[fmt], tags)
            written.append(path)
        if progress:
            progress(len(written), len(jobs))
    new = [_kit_sound(preset, j) for j in jobs[: len(written)]]
    files = {s["file"] for s in new}
    sounds = [s for s in kept if s["file"] not in files] + new
    _write_kit(folder, preset, sounds, rate, fmt)
    for number in sorted({s.get("program", -1) for s in sounds}) if instruments else []:
        # one instrument file per program: a preset's piano and organ are two instruments
        files = [(s["name"], s["file"], s.get("velocity")) for s in sounds
                 if s.get("program", -1) == number]  # fmt: skip
        stem = preset.name if number < 0 else f"{preset.name}_p{number:03d}"
        write_instruments(preset, folder, files, instruments, stem)
    return written


def sweep_temporaries(folder: Path) -> None:
    """Remove what a render killed outright left: atomic_path's own temporary files (the kit's
    and the class folders' WAVs), nothing else."""
    if not folder.is_dir():
        return
    for pattern in (".*.part", "*/.*.wav.*.part"):
        for stale in folder.glob(pattern):
            if stale.is_file() and _TEMPORARY.fullmatch(stale.name):
                stale.unlink(missing_ok=True)


_TEMPORARY = re.compile(r"\..+\.(wav|json|sfz|xml)\.[A-Za-z0-9_]{8}\.part")


def _kit_sound(preset: Preset, job: Job) -> dict:
    sound = {"file": relative_path(preset, job), "name": job.name, "seed": job.seed,
             "z": [float(v) for v in job.z]}  # fmt: skip
    if job.program is not None:
        sound["program"] = program_of(preset, job)
    return sound if job.velocity is None else sound | {"velocity": job.velocity}


def _kept_sounds(folder: Path, preset: Preset, rate: int, fmt: str) -> list[dict]:
    """The sounds of the kit already in `folder` that a render there adds to."""
    path = folder / KIT_FILE
    if not path.exists():
        return []
    hint = "render into another --out, or pass --replace to start the folder clean"
    try:
        kit = json.loads(path.read_text(encoding="utf-8"))
        if kit.get("format") != RENDER_KIT_FORMAT:
            raise ValueError(f"format {kit.get('format')!r}, expected {RENDER_KIT_FORMAT}")
        sounds = [_checked_sound(s, i, folder) for i, s in enumerate(kit["sounds"])]
        held = (kit["preset"], int(kit["rate"]), kit["file_format"])
        jobs_from_kit(preset, {"sounds": sounds})  # names, seeds and latents as a kit's
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RenderError(f"{path}: cannot add to this kit ({exc}); {hint}") from exc
    if held != (preset.name, rate, fmt):
        raise RenderError(f"{path}: holds {held[0]} at {held[1]} Hz {held[2]}, not {preset.name} "
                          f"at {rate} Hz {fmt}; {hint}")  # fmt: skip
    layers = {"velocity" in s for s in sounds}
    if layers and layers != {preset.velocity}:
        had = "velocity layers" if True in layers else "no velocity layers"
        had = "both, layered and not" if len(layers) > 1 else had
        now = "renders velocity layers" if preset.velocity else "has no velocity input"
        raise RenderError(f"{path}: its sounds have {had}, and {preset.name} {now} now "
                          f"(the preset changed since); {hint}")  # fmt: skip
    return [s for s in sounds if (folder / str(s["file"])).is_file()]


def _checked_sound(sound: dict, index: int, folder: Path) -> dict:
    """A kit entry whose file lies inside the kit's folder."""
    if not isinstance(sound, dict) or not isinstance(sound.get("file"), str):
        raise ValueError(f"sound {index} has no file name")
    inside = (folder / sound["file"]).resolve()
    if folder.resolve() not in inside.parents:
        raise ValueError(f"sound {index}: {sound['file']!r} is not inside the kit's folder")
    return sound


def _write_kit(folder: Path, preset: Preset, sounds: list[dict], rate: int, fmt: str) -> None:
    kit = {"format": RENDER_KIT_FORMAT, "preset": preset.name, "rate": rate, "file_format": fmt,
           "sounds": sounds}  # fmt: skip
    if not _installed(preset):  # a preset given as a folder: a kit finds it again there
        kit["preset_path"] = str(preset.root.resolve())
    atomic_write_text(folder / KIT_FILE, json.dumps(kit) + "\n")


def _installed(preset: Preset) -> bool:
    """Whether the preset's name finds this very folder (user or shipped presets)."""
    try:
        return find_preset(preset.name).root.resolve() == preset.root.resolve()
    except PresetError:
        return False


def read_kit(kit_path: Path, preset_name: str | None = None, names: Sequence[str] = ()
             ) -> tuple[Preset, list[Job], dict]:  # fmt: skip
    """(preset, jobs, the kit) of a render's kit file; any problem is a RenderError naming it.

    The preset is `preset_name` when given, else the folder the kit recorded (a preset that
    was rendered from a folder), else the kit's preset name.
    """
    try:
        kit = json.loads(Path(kit_path).read_text(encoding="utf-8"))
        if not isinstance(kit, dict) or kit.get("format") != RENDER_KIT_FORMAT:
            found = kit.get("format") if isinstance(kit, dict) else type(kit).__name__
            raise ValueError(f"format {found!r}, expected {RENDER_KIT_FORMAT}")
        recorded = kit.get("preset_path")
        if preset_name:
            preset = find_preset(preset_name)
        elif recorded:
            if not (Path(recorded) / PRESET_FILE).is_file():
                raise ValueError(f"its preset folder {recorded} has gone; name the preset "
                                 "with --preset")  # fmt: skip
            preset = load_preset(recorded)
        else:
            preset = find_preset(str(kit["preset"]))
        jobs = jobs_from_kit(preset, kit, names)
    except PresetError as exc:
        raise RenderError(f"{kit_path}: the kit's preset: {exc}") from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RenderError(f"{kit_path}: cannot read kit: {exc}") from exc
    return preset, jobs, kit


def render_kit(kit_path: Path, out: Path, preset_name: str | None = None,
               names: Sequence[str] = (), **kwargs) -> list[Path]:  # fmt: skip
    """Render again exactly what a kit file records (only `names` when given); the kit's rate
    and format unless `rate` or `fmt` is passed."""
    preset, jobs, kit = read_kit(kit_path, preset_name, names)
    if kwargs.get("rate") is None:
        kwargs["rate"] = int(kit.get("rate", 48000))
    if kwargs.get("fmt") is None:
        kwargs["fmt"] = str(kit.get("file_format", "wav24"))
    return render(preset, out, jobs, **kwargs)
