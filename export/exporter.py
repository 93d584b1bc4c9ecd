"""`ganpad export`: a training run's checkpoint -> a preset folder (graph, json, checkpoint)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ganpad import __version__
from ganpad.app.voice_pool import VELOCITY_BANDS, band_velocity
from ganpad.atomic import atomic_dir, atomic_path, atomic_write_text
from ganpad.audio import TRIM_DB, audible_end
from ganpad.drums import CLASS_GM_NOTES, DRUM_CLASSES, KEY_LABELS
from ganpad.export import parity
from ganpad.export.graph import ContractGenerator, export_onnx
from ganpad.export.polyphase import rewrite
from ganpad.export.precision import PRECISIONS, convert
from ganpad.presets import (
    CHECKPOINT_FILE,
    CHECKPOINT_STATE_FILE,
    GENERATOR_FILE,
    META_PREFIX,
    PRESET_FILE,
    SCHEMA_VERSION,
    load_preset,
)
from ganpad.programs import program_name
from ganpad.training.config import ConfigError, RunConfig, apply_overrides, from_dict, to_dict
from ganpad.training.data.drumkit import kit_licenses
from ganpad.training.data.soundfont import soundfont_license
from ganpad.training.data.soundfont_drums import rendered_fonts
from ganpad.training.models import build_models
from ganpad.training.trainer import checkpoint
from ganpad.training.trainer.loop import COMMANDS_FILE, DATA_REPORT, METRICS_FILE, STARTED_FROM

PRESET_CHECKPOINT_FORMAT = "ganpad-preset-checkpoint/1"
# A label's length (preset.json labels[i].samples): the furthest this many hits at each of the
# player's velocity bands ring above its trim level, a block on, in blocks of LENGTH_BLOCK.
LENGTH_LATENTS = 32
LENGTH_BLOCK = 1024
# What `regraph_preset` may change: settings the graph reads and the weights do not depend on.
GRAPH_SETTINGS = ("model.velocity_tilt", "model.mode_cap")


class ExportError(RuntimeError):
    pass


@dataclass
class ExportOptions:
    name: str | None = None  # default: the output folder's name
    ema: bool = True
    precision: str = "fp32"
    license: str | None = None  # default: read from the kits' drumkit.xml
    kind: str | None = None  # default: "notes" when the run was trained on pitch labels
    polyphase: bool = True  # transposed convs as one conv + interleave (same sums, faster)


@dataclass
class ExportReport:
    path: Path
    errors: dict[str, float] = field(default_factory=dict)  # precision -> max |ORT - torch|
    limits: dict[str, float] = field(default_factory=dict)  # precision -> the limit it met
    speed: dict[str, float] = field(default_factory=dict)  # engine -> clips/s at batch 16


@dataclass
class LoadedRun:
    config: RunConfig
    classes: list[str]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]
    run_dir: Path | None


def load_run(source: Path) -> LoadedRun:
    """A run folder (its latest checkpoint) or one checkpoint folder."""
    source = Path(source)
    if (source / checkpoint.STATE).exists():
        ckpt, run_dir = source, source.parent.parent
    else:
        ckpt, run_dir = checkpoint.latest(source), source
        if ckpt is None:
            raise ExportError(f"{source}: no checkpoint here (expected checkpoints/latest.json)")
    tensors, state = checkpoint.load(ckpt)
    config = from_dict(state["config"], str(ckpt / checkpoint.STATE))
    return LoadedRun(config, list(state["classes"]), tensors, state, run_dir)


def build_generator(run: LoadedRun, prefix: str) -> torch.nn.Module:
    n_classes = len(run.classes) if run.config.model.conditional else 0
    cfg = run.config
    generator, _ = build_models(cfg.model, cfg.data.slice_len, n_classes, cfg.data.sample_rate)
    checkpoint.load_module(generator, run.tensors, prefix)
    return generator.eval()


def export_preset(source: Path, out: Path, options: ExportOptions) -> ExportReport:
    if options.precision not in PRECISIONS:
        raise ExportError(f"precision {options.precision!r} is not one of {', '.join(PRECISIONS)}")
    run = load_run(source)
    prefix = "G_ema" if options.ema else "G"
    generator = build_generator(run, prefix)
    with torch.no_grad():  # the weights the preset's checkpoint keeps, in the graph too
        for p in generator.parameters():
            p.copy_(p.half().float())
        saved = generator.state_dict(keep_vars=True)  # and the fitted buffers it keeps (the
        for value in saved.values():  # latent prior): tables rebuilt on load stay exact
            if value.is_floating_point() and not isinstance(value, torch.nn.Parameter):
                value.copy_(value.half().float())
    if getattr(generator, "autoregressive", False):
        raise ExportError(
            f"{run.config.model.family} generates one sample per network pass (a second of "
            "audio is 16000 passes), so it is not exported as a playable preset"
        )
    conditional = run.config.model.conditional
    try:
        model = ContractGenerator(generator, conditional).eval()  # the reference for parity
    except ValueError as exc:
        raise ExportError(f"{source}: {exc}") from exc
    graph_model = (
        ContractGenerator(rewrite(generator), conditional).eval() if options.polyphase else model
    )
    latent, n_labels = (
        run.config.model.latent,
        len(run.classes) if run.config.model.conditional else 0,
    )
    inputs = _feeds(model, latent, n_labels)
    out = Path(out)
    name = options.name or out.name
    report = ExportReport(out)
    with atomic_dir(out) as tmp:
        graph = tmp / GENERATOR_FILE
        export_onnx(graph_model, latent, graph, _graph_metadata(run, name, model.programs))
        spectral = getattr(generator, "spectral", False)
        rounding = parity.rounding_error(model, inputs)
        _check(report, "fp32", parity.max_abs_error(model, graph, inputs), spectral, rounding)
        bench = _feeds(model, latent, n_labels, per_label=16, seed=1)[0]
        report.speed["torch_eager"] = parity.clips_per_second(
            lambda f: parity.torch_audio(model, f), bench
        )
        report.speed["onnx_fp32"] = _ort_speed(graph, bench)
        if options.precision != "fp32":
            lower = tmp / f"generator.{options.precision}.onnx"
            calibration = _feeds(model, latent, n_labels, 8, seed=2)
            convert(options.precision, graph, lower, calibration)
            error = parity.max_abs_error(model, lower, inputs)
            _check(report, options.precision, error, spectral)
            report.speed[f"onnx_{options.precision}"] = _ort_speed(lower, bench)
            os.replace(lower, graph)
        _write_checkpoint(tmp, run, model.generator)
        meta = _preset_json(run, name, options, report)
        for label, samples in zip(meta["labels"], label_lengths(model, latent, n_labels),
                                  strict=True):  # fmt: skip
            label["samples"] = samples
        if model.programs:  # the graph's program input indexes these
            meta["programs"] = [{"index": i, "program": p, "name": program_name(p)}
                                for i, p in enumerate(model.programs)]  # fmt: skip
        (tmp / PRESET_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        load_preset(tmp)  # the same checks a player runs; nothing lands if they fail
    return report


@torch.no_grad()
def label_lengths(model: torch.nn.Module, latent: int, n_labels: int) -> list[int]:
    """Each label's length in samples: the furthest any of LENGTH_LATENTS hits rings above
    the trim level the player cuts at, at each velocity band's velocity the player renders
    (softer hits of some drums ring longer), plus one LENGTH_BLOCK of margin for latents not
    drawn here, rounded up to LENGTH_BLOCK; [] for an unconditional model."""
    if not n_labels:
        return []
    velocities = [band_velocity(b, VELOCITY_BANDS) for b in range(VELOCITY_BANDS)]
    out = []
    for feed in _feeds(model, latent, n_labels, LENGTH_LATENTS, seed=3):
        end, samples = 0, 0
        for velocity in velocities if model.velocity else [None]:
            if velocity is not None:
                feed["velocity"][:] = velocity
            audio = parity.torch_audio(model, feed)
            audio = audio.reshape(len(audio), -1)
            samples = audio.shape[1]
            end = max(end, *(audible_end(clip, TRIM_DB) for clip in audio))
        out.append(min(samples, (end // LENGTH_BLOCK + 2) * LENGTH_BLOCK))
    return out


def _feeds(model: ContractGenerator, latent: int, n_labels: int, per_label: int = 4,
           seed: int = 0) -> list[dict]:  # fmt: skip
    """parity.feeds for what this contract generator takes."""
    return parity.feeds(latent, n_labels, per_label, seed, model.velocity, len(model.programs))


def _check(report: ExportReport, precision: str, error: float, spectral: bool,
           rounding: float = 0.0) -> None:  # fmt: skip
    report.errors[precision] = error
    limit = report.limits[precision] = parity.tolerance(precision, spectral, rounding)
    if not error <= limit:
        raise ExportError(
            f"ONNX Runtime {precision} differs from PyTorch by {error:.3g} (limit {limit:g}); "
            "no preset written"
        )


def _ort_speed(path: Path, feed: dict) -> float:
    sess = parity.session(path)
    return parity.clips_per_second(lambda f: sess.run(["audio"], f), feed)


def _graph_metadata(run: LoadedRun, name: str, programs: list[int]) -> dict[str, str]:
    values: dict[str, object] = {
        "name": name,
        "family": run.config.model.family,
        "sample_rate": run.config.data.sample_rate,
        "samples": run.config.data.slice_len,
        "latent": run.config.model.latent,
        "labels": len(run.classes) if run.config.model.conditional else 0,
    }
    if programs:  # the GM programs the program input indexes, checked against preset.json
        values["programs"] = ",".join(map(str, programs))
    return {META_PREFIX + k: str(v) for k, v in values.items()}


def _write_checkpoint(folder: Path, run: LoadedRun, generator: torch.nn.Module) -> None:
    """Generator (as exported) and critic weights, so fine-tuning starts where training ended.

    Both in half precision, the generator's as the graph stores them (it computes in float32):
    a preset small enough for git.
    """
    tensors = {f"G.{k}": v for k, v in generator.state_dict().items()}
    tensors |= {k: v for k, v in run.tensors.items() if k.startswith("D.")}
    tensors = {k: (v.half() if v.is_floating_point() else v).detach().contiguous()
               for k, v in tensors.items()}  # fmt: skip
    save_file(tensors, str(folder / CHECKPOINT_FILE), metadata={"format": PRESET_CHECKPOINT_FORMAT})
    state = {
        "format": PRESET_CHECKPOINT_FORMAT,
        "config": to_dict(run.config),
        "classes": run.classes,
        "step": run.state["step"],
        "generator_dtype": "float16",
        "critic_dtype": "float16",
    }
    (folder / CHECKPOINT_STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")


def _preset_json(run: LoadedRun, name: str, options: ExportOptions, report: ExportReport) -> dict:
    cfg = run.config
    conditional = cfg.model.conditional
    pitched = cfg.data.labels == "pitch" and conditional
    kind = options.kind or ("notes" if pitched else "drums")
    if kind == "notes" and not pitched:
        raise ExportError(
            f"--kind notes needs a model conditioned on pitch; this run has data.labels = "
            f"{cfg.data.labels!r}, model.conditional = {conditional}"
        )
    notes = _key_notes(run) if cfg.model.keys else CLASS_GM_NOTES
    labels = [
        {"index": i, "name": c, "gm_notes": [int(c)] if pitched else list(notes.get(c, ()))}
        for i, c in enumerate(run.classes if conditional else [])
    ]
    pitches = [int(c) for c in run.classes] if pitched else []
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "kind": kind,
        "family": cfg.model.family,
        "sample_rate": cfg.data.sample_rate,
        "samples": cfg.data.slice_len,
        "latent": cfg.model.latent,
        "conditional": conditional,
        "velocity": cfg.model.velocity,
        "labels": labels,
        "pitch_range": [min(pitches), max(pitches)] if pitches else None,
        "precision": options.precision,
        "graph": "polyphase" if options.polyphase else "transposed",
        "generator_weights": "ema" if options.ema else "raw",
        "training": _training_summary(run),
        "metrics": {
            "onnx_max_abs_error": report.errors,
            "onnx_error_limit": report.limits,
            "clips_per_s_batch16_cpu": {k: round(v, 2) for k, v in report.speed.items()},
        },
        "license": _license(run, options),
        "files": {"generator": GENERATOR_FILE, "checkpoint": CHECKPOINT_FILE},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ganpad_version": __version__,
    }


def _key_notes(run: LoadedRun) -> dict[str, tuple[int, ...]]:
    """A label per GM key (model.keys): each key its own label where the run had clips of it
    or the preset it fine-tuned played it so; a key with neither plays its class's label,
    which learnt from every clip of the class."""
    data = _read_json(run.run_dir / DATA_REPORT) if run.run_dir else None
    if not isinstance(data, dict) or not isinstance(data.get("key_counts"), dict):
        raise ExportError(f"{run.run_dir}: no {DATA_REPORT} with the clips per GM key, so which "
                          "keys the model learnt is unknown")  # fmt: skip
    trained = {int(k) for k, n in data["key_counts"].items() if n}
    lineage = _read_json(run.run_dir / STARTED_FROM) or {}
    trained |= {int(k) for k in lineage.get("keys", []) if int(k) in KEY_LABELS}
    notes = {KEY_LABELS[k]: (k,) for k in sorted(trained)}
    for cls in DRUM_CLASSES:
        notes[cls] = tuple(k for k in CLASS_GM_NOTES[cls] if k not in trained)
    return notes


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _training_summary(run: LoadedRun) -> dict[str, Any]:
    data = _read_json(run.run_dir / DATA_REPORT) if run.run_dir else None
    commands = (run.run_dir / COMMANDS_FILE) if run.run_dir else None
    train = run.config.train
    return {
        "steps": run.state["step"],
        # Steps in which the generator learned against a critic (after the critic's warm-up).
        "adversarial_steps": max(
            0, run.state["step"] - train.adversarial_from - train.critic_warmup
        ),  # fmt: skip
        "wall_time_s": run.state.get("elapsed_s"),
        "world_size": run.state.get("world_size"),
        "torch": run.state.get("torch"),
        "commands": commands.read_text().splitlines() if commands and commands.exists() else [],
        "final_losses": final_losses(run.run_dir / METRICS_FILE, run.state["step"])
        if run.run_dir
        else {},
        "data": {
            "path": run.config.data.path,
            "held_out_kits": run.config.data.exclude_kits,
            "kits": (data or {}).get("kits", []),
            "clips": (data or {}).get("clips"),
            "class_counts": (data or {}).get("class_counts", {}),
            "skipped": len((data or {}).get("skipped", [])),
        },
        "config": to_dict(run.config),
    } | _started_from(run)


def _started_from(run: LoadedRun) -> dict[str, Any]:
    """A fine-tune's preset and that preset's own training record, when there is one."""
    lineage = _read_json(run.run_dir / STARTED_FROM) if run.run_dir else None
    return {"started_from": lineage} if lineage else {}


def final_losses(metrics: Path, step: int, window: int = 200) -> dict[str, Any]:
    """The mean of each logged loss over the last `window` steps up to `step` (one logged
    step is noise), from the run's metrics.jsonl; empty when there is none."""
    try:
        lines = metrics.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    sums: dict[str, list[float]] = {}
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(row, dict) and step - window < row.get("step", -1) <= step:
            for key, value in row.items():
                if key.startswith("loss/") and isinstance(value, int | float):
                    sums.setdefault(key, []).append(float(value))
    out: dict[str, Any] = {k: round(sum(v) / len(v), 5) for k, v in sorted(sums.items())}
    return {"steps": [step - window + 1, step], **out} if out else {}


def _license(run: LoadedRun, options: ExportOptions) -> dict[str, Any]:
    if options.license:
        return {"data": options.license}
    path = Path(run.config.data.path)
    font = soundfont_license(path)
    if font:
        return font
    kits = kit_licenses(path, frozenset(run.config.data.exclude_kits)) if path.is_dir() else {}
    if not kits:
        return {"data": "unknown: pass --license to state the licence of the training data"}
    fonts, rendered = rendered_fonts(path)
    hydrogen = ["Hydrogen drumkits as packaged by Debian (hydrogen-drumkits, hydrogen-data), "
                "full terms in /usr/share/doc/hydrogen-drumkits/copyright"]  # fmt: skip
    sources = (hydrogen if set(kits) - rendered else []) + fonts
    return {"data": "; ".join(sources) + "; per-kit licences below", "kits": kits}


def regraph_preset(folder: Path, overrides: Sequence[str] = ()) -> ExportReport:
    """Write a preset's graph anew from its own checkpoint with this exporter: the same weights
    and sound (checked against PyTorch as an export is), the graph this version builds (faster
    operators). preset.json gets the new graph's error and speed; nothing else changes, and the
    old graph stays if a check fails. `overrides` ("model.velocity_tilt=0.25") may change
    GRAPH_SETTINGS, which the weights do not depend on; the preset's config records them (its
    stored evaluation is then the old graph's until `ganpad eval` is run again)."""
    import onnx

    from ganpad.training.trainer.finetune import load_preset_start

    preset = load_preset(folder)
    if preset.meta.get("precision") != "fp32":
        raise ExportError(f"{folder}: a {preset.meta.get('precision')} graph is not rebuilt here")
    start = load_preset_start(str(folder))
    conditional = start.config.model.conditional
    n_labels = len(start.classes) if conditional else 0
    cfg = start.config
    _graph_overrides(cfg, overrides)
    try:
        generator, _ = build_models(cfg.model, cfg.data.slice_len, n_labels, cfg.data.sample_rate)
    except ValueError as exc:
        raise ExportError(f"{folder}: {exc}") from exc
    checkpoint.load_module(generator, start.tensors, "G")
    model = ContractGenerator(generator.eval(), conditional).eval()
    polyphase = preset.meta.get("graph") == "polyphase"
    graph_model = ContractGenerator(rewrite(generator), conditional).eval() if polyphase else model
    old = onnx.load(str(preset.generator_path), load_external_data=False)
    metadata = {p.key: p.value for p in old.metadata_props}
    report = ExportReport(Path(folder))
    with atomic_path(preset.generator_path) as tmp:
        export_onnx(graph_model, cfg.model.latent, tmp, metadata)
        inputs = _feeds(model, cfg.model.latent, n_labels)
        rounding = parity.rounding_error(model, inputs)
        spectral = getattr(generator, "spectral", False)
        _check(report, "fp32", parity.max_abs_error(model, tmp, inputs), spectral, rounding)
        bench = _feeds(model, cfg.model.latent, n_labels, 16, seed=1)[0]
        report.speed["torch_eager"] = parity.clips_per_second(
            lambda f: parity.torch_audio(model, f), bench
        )
        report.speed["onnx_fp32"] = _ort_speed(tmp, bench)
        # The config before the graph: a run cut short in between leaves a config that the
        # next regraph builds, never a graph its config does not describe.
        _record(Path(folder), report, cfg, overrides)
    return report


def _record(folder: Path, report: ExportReport, cfg: RunConfig, overrides: Sequence[str]) -> None:
    """preset.json's graph figures; and each override in checkpoint.json's config, which a
    fine-tune from the preset starts from, and in preset.json's record of it."""
    state_path, meta_path = folder / CHECKPOINT_STATE_FILE, folder / PRESET_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    state = json.loads(state_path.read_text(encoding="utf-8"))
    meta["metrics"]["onnx_max_abs_error"] = report.errors
    meta["metrics"]["clips_per_s_batch16_cpu"] = {k: round(v, 2) for k, v in report.speed.items()}
    training = meta.get("training") or {}  # a null record as none
    configs = [state["config"], training.get("config")]
    for item in overrides:
        section, key = item.partition("=")[0].strip().split(".")
        for config in filter(None, configs):
            config[section][key] = getattr(getattr(cfg, section), key)
    if overrides:  # how the preset came to differ from its training run, beside its commands
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sets = " ".join(f"--set {item}" for item in overrides)
        meta["training"] = training
        training.setdefault("commands", []).append(f"{stamp} python tools/regraph.py PRESET {sets}")
        atomic_write_text(state_path, json.dumps(state, indent=1) + "\n")
    atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")


def _graph_overrides(cfg: RunConfig, overrides: Sequence[str]) -> None:
    """Apply `overrides` to `cfg`, each one of GRAPH_SETTINGS."""
    for item in overrides:
        name = item.partition("=")[0].strip()
        if name not in GRAPH_SETTINGS:
            raise ExportError(f"{name!r} is not one of {', '.join(GRAPH_SETTINGS)}, "
                              "the settings a preset's weights do not depend on")  # fmt: skip
    try:
        apply_overrides(cfg, list(overrides))
    except ConfigError as exc:
        raise ExportError(str(exc)) from exc
