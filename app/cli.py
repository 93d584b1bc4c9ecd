"""`ganpad play`, `ganpad devices` and `ganpad render`: the instrument without a window."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ganpad.presets import PresetError, find_preset

if TYPE_CHECKING:  # the engine loads numba and onnxruntime: only the commands that play do
    from ganpad.app.engine import Engine


def devices_command(args: argparse.Namespace) -> int:
    from ganpad.app.midi import list_inputs

    print(audio_outputs())
    ports = list_inputs()
    print("MIDI inputs:")
    for index, name in enumerate(ports):
        print(f"  [{index}] {name}")
    if not ports:
        print("  none (ganpad play --virtual opens a port named 'ganpad')")
    print(generation_devices())
    return 0


def generation_devices() -> str:
    """Where presets generate (ONNX Runtime's provider) and where training runs (torch)."""
    import onnxruntime as ort

    from ganpad.presets import choose_providers

    best = choose_providers()[0].removesuffix("ExecutionProvider")
    lines = [f"Generation: ONNX Runtime {ort.__version__} on {best} "
             f"(providers here: {', '.join(ort.get_available_providers())})"]  # fmt: skip
    if best == "CPU" and _installed("onnxruntime-gpu"):
        lines.append("  onnxruntime-gpu is installed but offers no CUDA here (a CUDA driver, or "
                     "onnxruntime installed over it: pip uninstall -y onnxruntime "
                     "onnxruntime-gpu && pip install onnxruntime-gpu)")  # fmt: skip
    lines.append(f"Training: {training_device()}")
    return "\n".join(lines)


def _installed(distribution: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return bool(version(distribution))
    except PackageNotFoundError:
        return False


def training_device() -> str:
    """What `ganpad train` will use, read from torch's package metadata: the instrument never
    imports torch (a CUDA build still needs a GPU and driver; `--device auto` checks that)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        build = version("torch")
    except PackageNotFoundError:
        return "torch not installed (pip install 'ganpad[train]')"
    if "+cpu" in build:
        return f"torch {build}, a CPU build: trains on the CPU"
    return f"torch {build}: trains on CUDA where it finds a GPU (--device auto), else the CPU"


def audio_outputs() -> str:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        return f"Audio outputs: unavailable ({exc})"
    try:
        devices = [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_output_channels"]]
    except sd.PortAudioError as exc:
        return f"Audio outputs: unavailable ({exc})"
    lines = ["Audio outputs:"]
    for index, dev in devices:
        api = sd.query_hostapis(dev["hostapi"])["name"]
        lines.append(f"  [{index}] {dev['name']} ({api}, {dev['max_output_channels']} out, "
                     f"{dev['default_samplerate']:.0f} Hz)")  # fmt: skip
    return "\n".join(lines)


def play_command(args: argparse.Namespace) -> int:
    from ganpad.app.engine import Engine, EngineError
    from ganpad.app.jack_backend import jack_running
    from ganpad.app.midi import MidiInput
    from ganpad.app.mixer import MixerConfig

    midi = None
    try:
        preset = find_preset(args.preset)
        backend = args.backend
        if backend == "auto":
            backend = "jack" if jack_running() else "sounddevice"
        engine = Engine(preset, args.rate, mixer=MixerConfig(polyphony=args.polyphony),
                        seed=args.seed)  # fmt: skip
        if args.kit:  # before the first render, so no note can come before the kit's sounds
            engine.load_kit(args.kit)
        if args.program is not None:
            engine.set_program(preset.program_index(args.program))
        engine.start()
        if backend == "jack":
            jack = engine.open_jack()
            source = jack.connect_midi(args.midi) if args.midi else jack.name
        else:
            device = int(args.audio) if args.audio and args.audio.isdigit() else args.audio
            engine.open_audio(device, period=args.period)
            midi = MidiInput(engine.note_on, port=args.midi, virtual=args.virtual)
            source = midi.name
    except (PresetError, EngineError, OSError, ValueError) as exc:
        print(f"ganpad play: {exc}", file=sys.stderr)
        return 2
    stream = engine.stream
    print(f"playing {preset.name} ({preset.kind}, {len(engine.keymap.names)} sounds) "
          f"from MIDI '{source}' at {engine.rate} Hz, period {stream.blocksize} "
          f"({stream.latency * 1000:.1f} ms output latency) through {backend}, generating on "
          f"{engine.provider}{_timbre_said(engine)}; Ctrl-C stops",
          flush=True)  # fmt: skip
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(args.report or 3600):
            s = engine.snapshot()
            if args.report:
                print(f"callbacks {s.callbacks} xruns {s.xruns} max callback "
                      f"{s.max_callback_s * 1000:.2f} ms missed {s.missed} rendered {s.rendered}",
                      flush=True)  # fmt: skip
    except KeyboardInterrupt:
        pass
    if midi is not None:
        midi.close()
    engine.close()
    s = engine.snapshot()
    print(f"stopped: {s.callbacks} callbacks, {s.xruns} xruns, {s.missed} missed notes")
    return 0


def render_command(args: argparse.Namespace) -> int:
    """Every argument is checked before any sound is generated; a refusal is one line."""
    from ganpad.app.render import RenderError
    from ganpad.progress import LazyBar

    progress = LazyBar(unit="file", disable=args.quiet)
    try:
        if args.midi:
            return _render_midi(args)
        files = _render_files(args, progress)
    except (PresetError, RenderError) as exc:
        progress.close()
        print(f"ganpad render: {exc}", file=sys.stderr)
        return 2
    progress.close()
    from ganpad.presets import choose_providers

    folders = sorted({str(f.parent.parent) for f in files})
    on = choose_providers()[0].removesuffix("ExecutionProvider")  # the one render's session took
    print(f"wrote {len(files)} files under {', '.join(folders)} (generated on {on})")
    for kind in args.instrument:
        print(f"  {'<preset>.sfz' if kind == 'sfz' else 'drumkit.xml'} beside the class folders, "
              "listing every sound in the folder")  # fmt: skip
    return 0


def _render_files(args: argparse.Namespace, progress) -> list[Path]:  # noqa: ANN001
    from ganpad.app.render import RenderError, plan, read_kit, render

    _refuse(args, ("channel", "no_limit"), "without --midi")
    if args.kit:
        _refuse(args, ("count", "seed", "program"),
                "with --kit (the kit holds its sounds' latents and program)")  # fmt: skip
        names = args.classes or [str(n) for n in args.notes or ()]
        preset, jobs, kit = read_kit(Path(args.kit), args.preset, names)
        rate = args.rate or int(kit.get("rate", 48000))
        fmt = args.format or str(kit.get("file_format", "wav24"))
    else:
        if not args.preset:
            raise RenderError("--preset missing (name a preset, or --kit FILE)")
        preset = find_preset(args.preset)
        rate, fmt = args.rate or 48000, args.format or "wav24"
        jobs = plan(preset, _or(args.count, 8), _or(args.seed, 0), args.classes, args.notes,
                    _or(_program(preset, args.program), 0))  # fmt: skip
    return render(preset, Path(args.out), jobs, rate, fmt, progress=progress,
                  instruments=args.instrument, replace=args.replace)  # fmt: skip


def _program(preset, wanted: str | None) -> int | None:  # noqa: ANN001
    """The index of the program --program names (None when not given)."""
    from ganpad.app.render import RenderError

    try:
        return None if wanted is None else preset.program_index(wanted)
    except ValueError as exc:
        raise RenderError(str(exc)) from exc


def _or(value, default):  # noqa: ANN001, ANN202
    return default if value is None else value


def _refuse(args: argparse.Namespace, names: tuple[str, ...], context: str) -> None:
    """Options that mean nothing in this combination stop the command: none is ignored."""
    from ganpad.app.render import RenderError

    for name in names:
        value = getattr(args, name, None)
        if value is not None and value is not False and value != []:  # 0 is a value too
            flag = "--" + name.replace("_", "-")
            raise RenderError(f"{flag} does not apply {context}")


def _render_midi(args: argparse.Namespace) -> int:
    from ganpad.app.engine import EngineError
    from ganpad.app.keymap import KeyMap
    from ganpad.app.limiter import limit
    from ganpad.app.midi_render import (
        MidiFileError,
        default_channel,
        read_midi,
        render_midi,
        unplayable,
    )
    from ganpad.app.mixer import NOTE_ON
    from ganpad.app.render import FORMATS, RenderError, write_wav
    from ganpad.atomic import file_problem
    from ganpad.progress import LazyBar

    bar = LazyBar(unit="s", disable=args.quiet)
    rate = args.rate or 48000

    def progress(done: int, total: int) -> None:  # frames, shown as seconds of the file
        bar(round(done / rate, 1), round(total / rate, 1))

    try:
        _refuse(args, ("count", "classes", "notes", "instrument", "replace"),
                "with --midi (it plays the file into one WAV)")  # fmt: skip
        fmt, seed = args.format or "wav24", _or(args.seed, 0)
        if seed < 0:
            raise RenderError(f"--seed {seed} (must be 0 or more)")
        if args.no_limit and fmt != "wav32f":
            raise RenderError("--no-limit needs --format wav32f (24-bit PCM would clip)")
        out = Path(args.out)
        problem = file_problem(out)
        if problem:
            raise RenderError(f"--out {out} ({problem})")
        if out.exists() and out.resolve() == Path(args.midi).resolve():
            raise RenderError(f"--out {out} (is the MIDI file itself; name the WAV to write)")
        preset, sounds, window_kit = _midi_preset(args)
        midi = Path(args.midi)
        channel = args.channel or default_channel(preset, midi)
        events = read_midi(midi, rate, channel)
        notes = sum(e.kind == NOTE_ON for e in events)
        missing = unplayable(events, KeyMap.for_preset(preset))
        if sum(missing.values()) == notes:
            raise MidiFileError(f"{midi}: {preset.name} plays none of its {notes} notes "
                                f"(keys {_keys(missing)})")  # fmt: skip
        program = _program(preset, args.program)
        audio, played = render_midi(preset, events, rate, seed, progress, sounds, window_kit,
                                    program)  # fmt: skip
        report = None
        if not args.no_limit:
            audio, report = limit(audio, rate)
    except (PresetError, MidiFileError, RenderError, EngineError) as exc:
        bar.close()
        print(f"ganpad render: {exc}", file=sys.stderr)
        return 2
    bar.close()
    tags = {"title": f"{midi.stem} played by {preset.name}", "software": "ganpad",
            "comment": f"seed {seed}, channel {channel or 'all'}"}  # fmt: skip
    write_wav(out, audio, rate, FORMATS[fmt], tags)
    print(f"wrote {out}: {len(played)} notes, {len(audio) / rate:.2f} s at {rate} Hz")
    if missing:
        print(f"  {sum(missing.values())} of {notes} notes left out: {preset.name} has no sound "
              f"on keys {_keys(missing)}")  # fmt: skip
    print(f"  {report.describe()}" if report else "  not limited (--no-limit): float peaks kept")
    return 0


def _keys(counts) -> str:  # noqa: ANN001
    return ", ".join(f"{k} ({n}x)" if n > 1 else str(k) for k, n in sorted(counts.items()))


def _midi_preset(args: argparse.Namespace):  # noqa: ANN202
    """(preset, a rendered kit's sounds or None, a window kit's path or None) for --midi."""
    import json

    from ganpad.app.engine import KIT_FORMAT, read_window_kit
    from ganpad.app.render import RENDER_KIT_FORMAT, RenderError, read_kit

    if not args.kit:
        if not args.preset:
            raise RenderError("--preset missing (name a preset, or --kit FILE)")
        return find_preset(args.preset), None, None
    path = Path(args.kit)
    try:
        kit = json.loads(path.read_text(encoding="utf-8"))
        form = kit.get("format") if isinstance(kit, dict) else None
    except (OSError, ValueError) as exc:
        raise RenderError(f"{path}: cannot read kit: {exc}") from exc
    if form == RENDER_KIT_FORMAT:
        preset, jobs, _ = read_kit(path, args.preset)
        return preset, jobs, None
    if form == KIT_FORMAT:
        preset = find_preset(args.preset or str(kit.get("preset")))
        read_window_kit(path, preset)  # a bad kit stops the command before an engine is built
        return preset, None, path
    raise RenderError(f"{path}: format {form!r}, expected {RENDER_KIT_FORMAT} (a render's) or "
                      f"{KIT_FORMAT} (the window's)")  # fmt: skip


def _timbre_said(engine: Engine) -> str:
    """', one timbre on every key (seed N)' where the keys share one locked latent."""
    timbre = engine.timbre()
    return "" if timbre is None else f", one timbre on every key (seed {timbre})"
