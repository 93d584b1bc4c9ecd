"""The `ganpad` command: one entry point, sub-commands registered by each part of the product."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ganpad import __version__


class _Parser(argparse.ArgumentParser):
    """A usage mistake in one line, `ganpad <command>: <what> (<why>)`, and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganpad", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ganpad {__version__}")
    parser.add_argument("--preset", help="with no command: the preset the window opens with")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_data(sub)
    _add_export(sub)
    _add_presets(sub)
    _add_play(sub)
    _add_render(sub)
    _add_eval(sub)
    return parser


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a GAN generator on a sample pack")
    p.add_argument("--data", help="sample folder, Hydrogen kit or kit folder")
    p.add_argument("--model", help="model family (wavegan)")
    p.add_argument("--out", required=True, help="run folder: config, checkpoints, logs")
    p.add_argument("--config", help="TOML file with [data], [model], [train] tables")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--steps", type=int, help="train until this many generator steps")
    # --dim: torchrun's own parser mistakes a bare --d for an abbreviation of its options.
    p.add_argument("--d", "--dim", dest="d", type=int, help="model size d")
    p.add_argument("--slice", type=int, help="samples per clip (16384, 32768, 65536)")
    p.add_argument("--rate", type=int, help="model sample rate in Hz")
    p.add_argument("--batch", type=int, help="batch size per process")
    p.add_argument("--conditional", action="store_true", help="condition on the drum class")
    p.add_argument("--loss", help="wgan-gp (default), lsgan, wgan (weight clipping) or bwgan")
    p.add_argument("--critic", help="conv (WaveGAN, default) or lstm")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--finetune", metavar="PRESET", help="start from a preset's checkpoint")
    p.add_argument(
        "--adversarial", action="store_true",
        help="drumsynth/notesynth: the adversarial stage from the first step (crop critics, "
             "critic warm-up, frozen encoder); for fine-tuning a preset",
    )  # fmt: skip
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override any config value, e.g. --set train.lr=2e-4 (repeatable)",
    )  # fmt: skip
    p.set_defaults(func=_lazy("ganpad.training.cli", "train_command"))


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect and build training data")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    scan = data_sub.add_parser("scan", help="class counts and the skip report for a folder")
    scan.add_argument("path")
    scan.add_argument("--rate", type=int, default=16000)
    scan.add_argument("--slice", type=int, default=16384)
    scan.add_argument("--json", action="store_true", help="print the report as JSON")
    scan.set_defaults(func=_lazy("ganpad.training.cli", "scan_command"))
    font = data_sub.add_parser("soundfont", help="render a SoundFont note by note (NSynth-like)")
    font.add_argument("sf2")
    font.add_argument("--out", required=True)
    font.add_argument("--programs", type=int, nargs="+", default=[0], help="GM programs")
    font.add_argument("--pitches", default="24-84", help="MIDI range LOW-HIGH")
    font.add_argument("--velocities", type=int, nargs="+", default=[75, 100, 127])
    font.add_argument("--seconds", type=float, default=4.0)
    font.add_argument("--rate", type=int, default=16000)
    font.set_defaults(func=_lazy("ganpad.training.cli", "soundfont_command"))
    kits = data_sub.add_parser(
        "soundfont-drums", help="render a SoundFont's GM drum kits as Hydrogen kit folders"
    )
    kits.add_argument("sf2")
    kits.add_argument("--out", required=True)
    kits.add_argument("--velocities", type=int, nargs="+", default=[100])
    kits.add_argument("--rate", type=int, default=44100)
    kits.set_defaults(func=_lazy("ganpad.training.cli", "soundfont_drums_command"))
    ref = data_sub.add_parser("reference", help="build a named real reference set (eval)")
    ref.add_argument("name", help="heldout-drums or heldout-notes")
    ref.add_argument("--out", required=True)
    ref.set_defaults(func=_lazy("ganpad.training.cli", "reference_command"))


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="turn a training run into a preset folder")
    p.add_argument("run", help="run folder (its latest checkpoint) or one checkpoint folder")
    p.add_argument("--out", required=True, help="preset folder to write, e.g. presets/NAME")
    p.add_argument("--name", help="preset name (default: the folder's name)")
    p.add_argument(
        "--ema", action=argparse.BooleanOptionalAction, default=True,
        help="export the EMA generator (default) or the raw one",
    )  # fmt: skip
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="ship an fp16 graph")
    precision.add_argument("--int8", action="store_true", help="ship a static int8 graph")
    p.add_argument("--license", help="licence of the training data (default: from the kits)")
    p.add_argument(
        "--kind",
        choices=["drums", "notes"],
        help="default: notes for pitch-labelled training data, else drums",
    )
    p.add_argument("--eval-reference", metavar="REF",
                   help="also evaluate against these real held-out clips (a folder, or "
                        "heldout-drums / heldout-notes); the figures go into "
                        "preset.json")  # fmt: skip
    p.add_argument(
        "--polyphase", action=argparse.BooleanOptionalAction, default=True,
        help="write transposed convolutions as convolution + interleave (default; faster)",
    )  # fmt: skip
    p.set_defaults(func=_lazy("ganpad.export.cli", "export_command"))


def _add_presets(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list installed presets (shipped and user)")
    p.add_argument("--check", action="store_true", help="also open and run each graph")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--where", action="store_true", help="print the user presets folder, only")
    p.set_defaults(func=_lazy("ganpad.presets.cli", "presets_command"))


def _add_play(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("play", help="headless instrument: MIDI in, generated sounds out")
    p.add_argument("--preset", default=_default_preset(), help="preset name or folder")
    midi = p.add_mutually_exclusive_group()
    midi.add_argument("--midi", metavar="PORT", help="MIDI input port, by name or index")
    midi.add_argument("--virtual", action="store_true", help="open a MIDI port named 'ganpad'")
    p.add_argument(
        "--backend", choices=["auto", "jack", "sounddevice"], default="auto",
        help="jack: one JACK client reads MIDI and plays in the same cycle (its MIDI input is "
             "<client>:midi_in; --midi connects a JACK MIDI output to it); sounddevice: "
             "PortAudio audio with rtmidi MIDI; auto: jack when a JACK server runs",
    )  # fmt: skip
    p.add_argument("--audio", metavar="DEVICE", help="audio output device, by name or index")
    p.add_argument("--period", type=int, default=128,
                   help="frames per audio callback (sounddevice; JACK sets its own)")  # fmt: skip
    p.add_argument("--rate", type=int, default=48000, help="device sample rate")
    p.add_argument("--polyphony", type=int, default=32, help="voices before the oldest is stolen")
    p.add_argument("--kit", help="kit JSON with locked latents to load")
    p.add_argument("--seed", type=int, help="the latents' seed (a notes preset's timbre)")
    p.add_argument("--program", help=PROGRAM_HELP)
    p.add_argument("--report", type=float, default=0, help="print meters every N seconds")
    p.set_defaults(func=_lazy("ganpad.app.cli", "play_command"))
    d = sub.add_parser("devices", help="list audio outputs and MIDI inputs")
    d.set_defaults(func=_lazy("ganpad.app.cli", "devices_command"))


PROGRAM_HELP = (
    "a notes preset with programs: the instrument to play, by GM number or name "
    "(--program 0, --program organ; default its first)"
)


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="write generated one-shots into sample folders")
    p.add_argument("--preset", help="preset name or folder")
    p.add_argument(
        "--out",
        required=True,
        help="folder for <preset>/<class>/*.wav (with --midi: the WAV to write)",
    )
    p.add_argument("--count", type=int, help="sounds per class or note (default 8)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--classes", nargs="+", metavar="CLASS", help="only these classes")
    which.add_argument("--notes", nargs="+", type=int, metavar="NOTE", help="only these notes")
    p.add_argument("--rate", type=int, choices=[44100, 48000], help="default 48000 (a kit's own)")
    p.add_argument("--format", choices=["wav24", "wav32f"], help="default wav24 (a kit's own)")
    p.add_argument("--seed", type=int,
                   help="default 0; a sound's latent comes from (seed, class or note, index), so "
                        "a seed renders the same sound in any one-shot render (with --midi: "
                        "the same seed, the same bounce)")  # fmt: skip
    p.add_argument("--kit", help="render exactly what a kit.json from an earlier render holds")
    p.add_argument("--program", help=PROGRAM_HELP)
    p.add_argument(
        "--instrument",
        nargs="+",
        choices=["sfz", "hydrogen"],
        default=[],
        help="also write the render as an SFZ instrument and/or a Hydrogen drumkit",
    )
    p.add_argument(
        "--replace", action="store_true",
        help="start the preset's folder in --out clean (default: add to its kit)",
    )  # fmt: skip
    p.add_argument("--midi", help="play this MIDI file through the preset into one WAV (--out)")
    p.add_argument(
        "--channel",
        type=int,
        choices=range(1, 17),
        metavar="1-16",
        help="with --midi: only this channel (drums: 10 when the file uses it)",
    )
    p.add_argument("--no-limit", action="store_true",
                   help="with --midi and --format wav32f: keep peaks over full scale (default: "
                        "a true-peak limiter at -1 dBTP)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_lazy("ganpad.app.cli", "render_command"))


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="IS, Frechet distance, NDB/k (and pitch) beside real data")
    p.add_argument("target", help="preset name or folder, run folder, or folder of WAVs")
    p.add_argument(
        "--reference",
        required=True,
        help="real held-out clips: a folder, or heldout-drums / heldout-notes",
    )
    p.add_argument("--n", type=int, default=1000, help="clips to generate")
    p.add_argument("--out", help="folder for report.json, report.md and grid.png")
    p.add_argument("--k", type=int, default=20, help="NDB bins")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--against", metavar="OTHER",
                   help="another preset or run: its KIDs subtracted from the target's (same "
                        "latents and real clips), with intervals")  # fmt: skip
    p.set_defaults(func=_lazy("ganpad.training.cli", "eval_command"))
    m = sub.add_parser("compare", help="train every loss x critic the same steps; a table")
    m.add_argument("--data", required=True)
    m.add_argument("--steps", type=int, required=True)
    m.add_argument("--out", required=True, help="folder for the runs and compare.md/json")
    m.add_argument("--d", "--dim", dest="d", type=int, default=8)
    m.add_argument("--batch", type=int, default=8)
    m.add_argument("--models", nargs="+", help="default: wavegan specgan wavenet-gan")
    m.add_argument("--losses", nargs="+", help="default: all")
    m.add_argument("--critics", nargs="+", help="default: all")
    m.add_argument("--conditional", action="store_true")
    m.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    m.set_defaults(func=_lazy("ganpad.training.cli", "compare_command"))
    c = sub.add_parser("classifier", help="train the drum classifier the metrics use")
    c.add_argument("--data", default="/usr/share/hydrogen/data/drumkits",
                   help="folder of Hydrogen kits (the test kits are held out)")  # fmt: skip
    c.add_argument("--epochs", type=int, default=40)
    c.add_argument("--train-fonts", nargs="*", default=["/usr/share/sounds/sf2/FluidR3_GM.sf2"],
                   help="SoundFonts whose GM drum kits it also trains on")  # fmt: skip
    c.add_argument("--test-fonts", nargs="*", default=["/usr/share/sounds/sf2/TimGM6mb.sf2"],
                   help="SoundFonts whose kits it is tested on, a source it never saw")  # fmt: skip
    c.set_defaults(func=_lazy("ganpad.training.cli", "classifier_command"))
    j = sub.add_parser("judge", help="train the GM key judge (per-key identity) or, with "
                       "--programs, the program judge (a locked timbre's instrument)")  # fmt: skip
    j.add_argument("--programs", action="store_true",
                   help="the program judge: FluidR3's notes at velocities 70 and 110")  # fmt: skip
    j.add_argument("--data", nargs="+", default=["heldout-drums"],
                   help="kit folders (or heldout-drums) whose names give GM keys")  # fmt: skip
    j.add_argument("--train-font", default="/usr/share/sounds/sf2/FluidR3_GM.sf2",
                   help="--programs: the SoundFont whose notes it trains on")  # fmt: skip
    j.add_argument("--test-fonts", nargs="+",
                   help="SoundFonts it is tested on, a source it never saw (default: MuseScore "
                        "General Lite's kits; --programs: TimGM6mb's notes; with --out, the "
                        "run's kits may share the font's family: a fit check)")  # fmt: skip
    j.add_argument("--epochs", type=int, default=40)
    j.add_argument("--members", type=int, default=5,
                   help="key judge: CNNs trained from seeds 0.. that vote together")  # fmt: skip
    j.add_argument(
        "--out",
        help="write the key judge's weights and card into this folder, "
        "not over eval's: a guide for train.guide_judge, trained on a run's kits",
    )
    j.set_defaults(func=_lazy("ganpad.training.cli", "judge_command"))


def _default_preset() -> str:
    from ganpad.presets.registry import DEFAULT_PRESET

    return DEFAULT_PRESET


def _lazy(module: str, name: str):
    """Import a command's module only when it runs, so `ganpad --help` stays fast."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no sub-command: the desktop instrument
        from ganpad.app.gui.main import run

        return run(args.preset)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in {"torch", "safetensors", "onnx", "tensorboard"}:
            print(f"ganpad {args.command}: needs the training extra: pip install 'ganpad[train]'",
                  file=sys.stderr)  # fmt: skip
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
