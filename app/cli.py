"""`ganpad play`, `ganpad devices` and `ganpad render`: the instrument without a window."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ganpad.presets import PresetError, find_preset


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
        engine = Engine(preset, args.rate, mixer=MixerConfig(polyphony=args.polyphony))
        if args.kit:  # before the first render, so no note can come before the kit's sounds
            engine.load_kit(args.kit)
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
          f"{engine.provider}; Ctrl-C stops",
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
    from ganpad.app.render import RenderError, plan, render, render_kit
    from ganpad.progress import LazyBar

    if args.midi:
        return _render_midi(args)
    progress = LazyBar(unit="file", disable=args.quiet)
    try:
        if args.kit:
            files = render_kit(Path(args.kit), Path(args.out), args.preset, progress=progress,
                               instruments=args.instrument)  # fmt: skip
        else:
            if not args.preset:
                raise RenderError("pass --preset NAME (or --kit FILE)")
            preset = find_preset(args.preset)
            jobs = plan(preset, args.count, args.seed, args.classes, args.notes)
            files = render(preset, Path(args.out), jobs, args.rate, args.format, progress=progress,
                           instruments=args.instrument)  # fmt: skip
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
        print(f"  {'<preset>.sfz' if kind == 'sfz' else 'drumkit.xml'} beside the class folders")
    return 0


def _render_midi(args: argparse.Namespace) -> int:
    from ganpad.app.midi_render import MidiFileError, default_channel, read_midi, render_midi
    from ganpad.app.render import FORMATS, write_wav

    try:
        if not args.preset:
            raise MidiFileError("pass --preset NAME with --midi")
        preset = find_preset(args.preset)
        midi = Path(args.midi)
        channel = args.channel or default_channel(preset, midi)
        events = read_midi(midi, args.rate, channel)
        audio, played = render_midi(preset, events, args.rate, args.seed)
    except (PresetError, MidiFileError) as exc:
        print(f"ganpad render: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    tags = {"title": f"{midi.stem} played by {preset.name}", "software": "ganpad",
            "comment": f"seed {args.seed}, channel {channel or 'all'}"}  # fmt: skip
    write_wav(out, audio, args.rate, FORMATS[args.format], tags)
    print(f"wrote {out}: {len(played)} notes, {len(audio) / args.rate:.2f} s at {args.rate} Hz")
    return 0
