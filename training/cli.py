"""`ganpad train` and `ganpad data scan`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from ganpad.presets import PresetError
from ganpad.training.config import (
    ADVERSARIAL_STAGE,
    FAMILY_DEFAULTS,
    ConfigError,
    RunConfig,
    apply_overrides,
    load_toml,
    set_value,
)
from ganpad.training.data.ingest import load_clips
from ganpad.training.models import SYNTHS
from ganpad.training.trainer.checkpoint import CheckpointError
from ganpad.training.trainer.finetune import PresetStart, adopt_model, load_preset_start
from ganpad.training.trainer.loop import COMMANDS_FILE, CONFIG_FILE, Trainer, TrainError


def config_from_args(args: argparse.Namespace, start: PresetStart | None = None) -> RunConfig:
    """Base config (run folder's on resume, else --config as it is, else the defaults of the
    family that --model or the fine-tuned preset names), the adversarial stage's settings with
    --adversarial, then the flags."""
    saved = Path(args.out) / CONFIG_FILE
    if args.resume and saved.exists():
        config = load_toml(saved)
    elif args.config:
        config = load_toml(args.config)
    else:
        config = RunConfig()
        family = start.config.model.family if start is not None else args.model
        for key, value in FAMILY_DEFAULTS.get(family, {}).items():
            set_value(config, key, value, f"{family} defaults")
    if start is not None:
        adopt_model(config, start)
    if getattr(args, "adversarial", False):
        _adversarial_stage(config, start, args.resume)
    flags = {
        "data.path": args.data,
        "model.family": args.model,
        "train.steps": args.steps,
        "model.d": args.d,
        "data.slice_len": args.slice,
        "data.sample_rate": args.rate,
        "train.batch_size": args.batch,
        "model.conditional": True if args.conditional else None,
        "train.device": args.device,
        "train.loss": args.loss,
        "model.critic": args.critic,
    }
    apply_overrides(config, [f"{k}={v}" for k, v in flags.items() if v is not None])
    apply_overrides(config, args.set)
    if not config.data.path:
        raise ConfigError("no training data: pass --data PATH (or set data.path in --config)")
    return config


def _adversarial_stage(config: RunConfig, start: PresetStart | None, resume: bool) -> None:
    """--adversarial: the stage's settings on a fine-tune; on a resume, the run's own (saved
    with it) stay, and the run must be one that used the stage."""
    if resume:
        if config.model.synth_critic != "crops":
            raise ConfigError("--adversarial --resume: this run did not use the stage "
                              f"(model.synth_critic = {config.model.synth_critic!r})")  # fmt: skip
        return
    if start is None:
        raise ConfigError("--adversarial is a stage after resynthesis: pass --finetune PRESET "
                          "(or --resume a run that used it)")  # fmt: skip
    if config.model.family not in SYNTHS or not config.model.encoder:
        raise ConfigError(f"--adversarial is for drumsynth and notesynth presets with an encoder; "
                          f"{start.source.name} is {config.model.family}"
                          f"{'' if config.model.encoder else ' without one'}")  # fmt: skip
    for key, value in ADVERSARIAL_STAGE.items():
        set_value(config, key, value, "--adversarial")


def train_command(args: argparse.Namespace) -> int:
    try:
        start = None
        if args.finetune and not args.resume:
            start = load_preset_start(args.finetune)
        config = config_from_args(args, start)
        trainer = Trainer(config, args.out, resume=args.resume, start=start)
        if trainer.is_main:
            print(trainer.clips.report.format(), file=sys.stderr)
            unnamed = int((trainer.program < 0).sum()) if trainer.cfg.model.programs else 0
            if unnamed:  # in a mixed set: trained on, but in no program's prior
                print(f"note: {unnamed} notes name no GM program: they train the synth, but "
                      "no instrument of the preset plays them (--set data.program=N makes "
                      "them one)", file=sys.stderr)  # fmt: skip
            _record_command(Path(args.out))
        result = trainer.train()
    except (ConfigError, TrainError, PresetError, CheckpointError, FileNotFoundError,
            ValueError) as exc:  # fmt: skip
        print(f"ganpad train: {exc}", file=sys.stderr)
        return 2
    if trainer.is_main:
        state = "stopped" if result.interrupted else "finished"
        print(f"{state} at step {result.step}; checkpoint {result.checkpoint}")
    return 130 if result.interrupted else 0


def _record_command(run_dir: Path) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(run_dir / COMMANDS_FILE, "a", encoding="utf-8") as f:
        f.write(f"{stamp} {shlex.join(['ganpad', *sys.argv[1:]])}\n")


def scan_command(args: argparse.Namespace) -> int:
    """Class counts, the skip report, and the drum classifier's labels for what nothing names
    (with their confidence and how to correct them in the pack's ganpad-labels.json)."""
    config = RunConfig()
    apply_overrides(config, [f"data.path={args.path}", f"data.sample_rate={args.rate}",
                             f"data.slice_len={args.slice}"])  # fmt: skip
    try:
        clips = load_clips(config.data)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: a bad ganpad-labels.json
        print(f"ganpad data scan: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(clips.report.to_json(), indent=1))
    else:
        print(clips.report.format())
        if clips.report.guesses:
            print(clips.report.format_guesses())
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from ganpad.training.evaluation.evaluate import EvalError, evaluate, markdown

    problem = eval_problem(args)
    if problem:
        print(f"ganpad eval: {problem}", file=sys.stderr)
        return 2
    try:
        report = evaluate(args.target, args.reference, args.n, args.out, args.k, args.seed,
                          against=args.against)  # fmt: skip
    except (EvalError, PresetError, FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"ganpad eval: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    return 0


def eval_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with an eval's arguments, found before anything is generated."""
    from ganpad.atomic import folder_problem
    from ganpad.presets.registry import is_preset_name
    from ganpad.training.data.reference import REFERENCES

    if args.n < MIN_EVAL_CLIPS:
        return f"--n {args.n} (at least {MIN_EVAL_CLIPS}: the metrics compare sets of clips)"
    if not 2 <= args.k <= args.n:
        return f"--k {args.k} (NDB needs 2 to --n bins)"
    if args.seed < 0:
        return f"--seed {args.seed} (must be 0 or more)"
    if args.out and (problem := folder_problem(args.out)):
        return f"--out {args.out} ({problem})"
    against = getattr(args, "against", None)
    if against and not (is_preset_name(against) or Path(against).exists()):
        return f"--against {against}: no preset or folder of that name"
    if not (is_preset_name(args.target) or Path(args.target).exists()):
        return f"{args.target} (no such preset, run folder or folder of clips)"
    if args.reference not in REFERENCES and not Path(args.reference).is_dir():
        return (f"--reference {args.reference} (not a folder, nor one of "
                f"{', '.join(REFERENCES)})")  # fmt: skip
    return None


MIN_EVAL_CLIPS = 10


def classifier_command(args: argparse.Namespace) -> int:
    import tempfile

    from ganpad.training.data.soundfont import SoundFontError
    from ganpad.training.data.soundfont_drums import build_drum_kits
    from ganpad.training.evaluation.classifier import (
        CARD,
        kit_split,
        save_classifier,
        train_classifier,
    )

    with tempfile.TemporaryDirectory() as tmp:
        try:
            fonts = {}
            for font in [*args.train_fonts, *args.test_fonts]:
                fonts[font] = str(Path(tmp) / Path(font).stem)
                build_drum_kits(font, fonts[font])  # at 44.1 kHz, as the references are
        except SoundFontError as exc:
            print(f"ganpad classifier: {exc}", file=sys.stderr)
            return 2
        tests = {f"{Path(f).stem} (never trained on)": fonts[f] for f in args.test_fonts}
        try:
            train, held_out = kit_split(args.data, [fonts[f] for f in args.train_fonts], tests)
        except ValueError as exc:  # a pack's unreadable ganpad-labels.json
            print(f"ganpad classifier: {exc}", file=sys.stderr)
            return 2
        result = train_classifier(train, held_out, epochs=args.epochs)
    sources = {"hydrogen": f"{args.data} less the test kits",
               **{Path(f).stem: f"GM drum kits of {f}" for f in args.train_fonts}}  # fmt: skip
    save_classifier(result, shlex.join(["ganpad", *sys.argv[1:]]), sources)
    for source, acc in result.test_accuracy.items():
        print(f"accuracy on {source}: {acc:.3f}")
    print(f"train accuracy {result.train_accuracy:.3f}; card in {CARD}")
    return 0


CLIP_SECONDS = 1.024  # the judges' 16384 samples at 16 kHz


def judge_command(args: argparse.Namespace) -> int:
    """Train the GM key judge on kits whose names give keys; test it on unseen SoundFonts."""
    import tempfile

    if args.programs:
        if args.out:
            print("ganpad judge: --out writes a key judge; the program judge has no guide use",
                  file=sys.stderr)  # fmt: skip
            return 2
        return program_judge_command(args)
    if args.out and (problem := _guide_out_problem(args)):
        print(f"ganpad judge: {problem}", file=sys.stderr)
        return 2
    from ganpad.training.data.reference import copies_of_named, resolve
    from ganpad.training.data.soundfont import SoundFontError
    from ganpad.training.data.soundfont_drums import build_drum_kits
    from ganpad.training.evaluation.key_judge import JUDGE_CARD, JUDGE_WEIGHTS, train_judge

    fonts = args.test_fonts or ["/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            train = [resolve(d)[0] for d in args.data]  # before the renders: fail early
            for folder in train:
                if not Path(folder).is_dir():
                    raise FileNotFoundError(f"--data {folder}: no such folder")
            kits = _kits_in(train)
            if args.out and (leaks := copies_of_named(kits, "heldout-drums")):
                raise ValueError(f"--data holds kits of heldout-drums or of its SoundFonts' family "
                                 f"({', '.join(leaks)}): a guide trained on them would teach the "
                                 "run the evaluation's reference")  # fmt: skip
            # A guide (--out) is trained on a run's kits, which may hold the test font's family.
            claim = " (the guide's test)" if args.out else " (never trained on)"
            tests = _test_sets(fonts, Path(tmp), build_drum_kits, claim)
            result, identity = train_judge(train, tests, epochs=args.epochs, members=args.members)
        except (SoundFontError, ValueError, FileNotFoundError) as exc:
            print(f"ganpad judge: {exc}", file=sys.stderr)
            return 2
    sources = {Path(d).name: f"kits of {d}, GM keys from their names" for d in args.data}
    weights, card = JUDGE_WEIGHTS, JUDGE_CARD
    if args.out:
        weights, card = (Path(args.out) / p.name for p in (JUDGE_WEIGHTS, JUDGE_CARD))
    _save_judge(
        result,
        # kits: what check_guide looks for leaks in
        {"key_identity": identity, "kits": kits, "members": args.members},
        sources,
        weights,
        card,
        identity,
        lambda f: f"per key {f['mean']}, on percussion keys {f['percussion_mean']}",
    )
    return 0


def program_judge_command(args: argparse.Namespace) -> int:
    """Train the program judge on a SoundFont's notes; test it on other SoundFonts' notes."""
    import tempfile
    from functools import partial

    from ganpad.training.data.soundfont import SoundFontError, build_note_set
    from ganpad.training.evaluation import program_judge as pj

    programs, fonts = list(pj.PROGRAMS), args.test_fonts or ["/usr/share/sounds/sf2/TimGM6mb.sf2"]
    notes = partial(build_note_set, programs=programs, pitches=list(pj.PITCHES),
                    seconds=CLIP_SECONDS)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        try:
            train = Path(tmp) / "train"
            notes(args.train_font, train, velocities=list(pj.TRAIN_VELOCITIES))
            tests = _test_sets(fonts, Path(tmp), partial(notes, velocities=[pj.TEST_VELOCITY]))
            result, identity = pj.train_program_judge(train, tests, epochs=args.epochs)
        except (SoundFontError, ValueError, FileNotFoundError) as exc:
            print(f"ganpad judge: {exc}", file=sys.stderr)
            return 2
    sources = {Path(args.train_font).stem: f"notes of {args.train_font}, programs {programs}, "
               f"velocities {list(pj.TRAIN_VELOCITIES)}"}  # fmt: skip
    _save_judge(result, {"locked_identity": identity}, sources, pj.PROGRAM_WEIGHTS,
                pj.PROGRAM_CARD, identity, lambda f: "instruments kept up the keyboard "
                f"{f['kept']}, as their own program {f['kept_right']}")  # fmt: skip
    return 0


def _guide_out_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with `judge --out` before anything is rendered or trained, or None."""
    from ganpad.atomic import folder_problem
    from ganpad.training.evaluation.key_judge import JUDGE_WEIGHTS

    if "heldout-drums" in args.data:
        return ("--out writes a guide, which learns from a run's kits: name them with --data "
                "(heldout-drums, the default, is the evaluation's reference)")  # fmt: skip
    if Path(args.out).resolve() == JUDGE_WEIGHTS.parent.resolve():
        return f"--out {args.out}: that is where eval's own judge lives; choose another folder"
    if problem := folder_problem(args.out):
        return f"--out {args.out}: {problem}"
    return None


def _kits_in(folders: list[str]) -> list[str]:
    """The kit names of the data folders, each folder's own name among them."""
    from ganpad.training.data.ingest import find_sources

    kits = set()
    for folder in folders:
        kits |= {s.kit for s in find_sources(Path(folder))[0] if s.kit} | {Path(folder).name}
    return sorted(kits)


def _test_sets(fonts: list[str], tmp: Path, build,  # noqa: ANN001
               claim: str = " (never trained on)") -> dict[str, Path]:  # fmt: skip
    """Each test SoundFont rendered by `build(font, folder)`, by the name the card gives it."""
    tests = {}
    for i, font in enumerate(fonts):
        folder = tmp / f"test{i}"
        build(font, folder)
        tests[f"{Path(font).stem}{claim}"] = folder
    return tests


def _save_judge(result, extra: dict, sources: dict, weights: Path, card: Path, identity: dict,
                describe) -> None:  # noqa: ANN001  # fmt: skip
    """A judge's weights and card (with `extra`, its figures on each test source among them),
    and a summary of `identity`, those figures."""
    from ganpad.training.evaluation.classifier import save_classifier

    save_classifier(result, shlex.join(["ganpad", *sys.argv[1:]]), sources, weights, card,
                    test_kits=[], extra=extra)  # fmt: skip
    for source, acc in result.test_accuracy.items():
        print(f"{source}: accuracy {acc:.3f}; {describe(identity[source])}")
    print(f"train accuracy {result.train_accuracy:.3f}; card in {card}")


def compare_command(args: argparse.Namespace) -> int:
    from ganpad.training.trainer.compare import compare, table

    config = RunConfig()
    try:
        apply_overrides(config, [f"data.path={args.data}", f"model.d={args.d}",
                                 f"train.batch_size={args.batch}", f"train.steps={args.steps}",
                                 f"model.conditional={args.conditional}", *args.set])  # fmt: skip
        rows = compare(config, Path(args.out), args.losses, args.critics, models=args.models)
    except (ConfigError, TrainError, ValueError, FileNotFoundError) as exc:
        print(f"ganpad compare: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    return 0


def soundfont_command(args: argparse.Namespace) -> int:
    from ganpad.training.data.soundfont import SoundFontError, build_note_set

    try:
        low, high = (int(x) for x in args.pitches.split("-"))
    except ValueError:
        print(f"ganpad data soundfont: --pitches {args.pitches!r} is not LOW-HIGH", file=sys.stderr)
        return 2
    pitches = list(range(low, high + 1))
    summary, code = _with_bar("data soundfont", "note", (SoundFontError,), lambda bar: (
        build_note_set(args.sf2, args.out, args.programs, pitches, args.velocities, args.seconds,
                       args.rate, progress=bar)))  # fmt: skip
    if summary is not None:
        skipped = len(summary["skipped"])
        print(f"{len(summary['notes'])} notes in {args.out}, {skipped} silent skipped")
    return code


def _with_bar(name: str, unit: str, errors: tuple[type[Exception], ...], work):
    """(work(bar), 0) under a progress bar drawn at its first unit, or (None, 2) with the
    error printed after `ganpad NAME:`."""
    from ganpad.progress import LazyBar

    bar = LazyBar(unit=unit)
    try:
        return work(bar), 0
    except errors as exc:
        print(f"ganpad {name}: {exc}", file=sys.stderr)
        return None, 2
    finally:
        bar.close()


def soundfont_drums_command(args: argparse.Namespace) -> int:
    from ganpad.training.data.soundfont import SoundFontError
    from ganpad.training.data.soundfont_drums import build_drum_kits

    velocities = tuple(args.velocities)
    summary, code = _with_bar("data soundfont-drums", "kit", (SoundFontError,), lambda bar: (
        build_drum_kits(args.sf2, args.out, velocities, args.rate, progress=bar)))  # fmt: skip
    if summary is not None:
        skipped = len(summary["skipped"])
        print(f"{len(summary['kits'])} kits in {args.out}, {skipped} silent keys skipped")
    return code


def reference_command(args: argparse.Namespace) -> int:
    from ganpad.training.data.reference import build_reference
    from ganpad.training.data.soundfont import SoundFontError

    errors = (ValueError, FileNotFoundError, SoundFontError)
    done, code = _with_bar("data reference", "font", errors,
                           lambda bar: build_reference(args.name, Path(args.out), bar))  # fmt: skip
    if done is not None:
        print(f"reference {args.name} in {args.out}")
    return code
