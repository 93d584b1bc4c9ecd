"""`ganpad eval`: a preset, a run or a folder of WAVs against real held-out clips, as ratios."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganpad.atomic import atomic_path, atomic_write_text
from ganpad.audio import resample
from ganpad.training import checkpoint
from ganpad.training.classifier import CLIP, RATE, DrumClassifier, load_classifier, predict
from ganpad.training.config import DataConfig, from_dict
from ganpad.training.data import load_clips
from ganpad.training.metrics import (
    frechet_distance,
    inception_score,
    ndb,
    pitch_metrics,
    spectral_features,
    track_pitch,
)
from ganpad.training.models import build_models, synthesize


class EvalError(ValueError):
    pass


@dataclass
class Clips:
    """Clips at the classifier's rate and length, with their label names (if any)."""

    name: str
    audio: np.ndarray  # [N, CLIP] float32 at RATE
    labels: list[str] | None


def fit(audio: np.ndarray, rate: int) -> np.ndarray:
    """Resample clips to the classifier's rate and cut or pad them to its length."""
    out = np.zeros((len(audio), CLIP), np.float32)
    for i, clip in enumerate(audio):
        x = resample(np.asarray(clip, np.float32), rate, RATE)[:CLIP]
        out[i, : len(x)] = x
    return out


def _latents(n: int, latent: int, n_labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent)).astype(np.float32)
    return z, np.arange(n, dtype=np.int64) % max(1, n_labels)


def generate_preset(path: str, n: int, seed: int) -> Clips:
    from ganpad.presets import find_preset

    preset = find_preset(path)
    session = preset.session()
    z, labels = _latents(n, preset.latent, len(preset.labels), seed)
    out = [preset.generate(session, z[i : i + 64], labels[i : i + 64]) for i in range(0, n, 64)]
    names = [preset.labels[i].name for i in labels] if preset.conditional else None
    return Clips(preset.name, fit(np.concatenate(out), preset.sample_rate), names)


@torch.no_grad()
def generate_run(run_dir: Path, n: int, seed: int) -> Clips:
    ckpt = checkpoint.latest(run_dir)
    if ckpt is None:
        raise EvalError(f"{run_dir}: no checkpoint to evaluate")
    tensors, state = checkpoint.load(ckpt)
    cfg = from_dict(state["config"])
    classes = state["classes"]
    n_labels = len(classes) if cfg.model.conditional else 0
    generator, _ = build_models(cfg.model, cfg.data.slice_len, n_labels)
    checkpoint.load_module(generator, tensors, "G_ema")
    name = f"{run_dir.name}@{state['step']}"
    chosen = classes if n_labels else None
    return generate_with(
        generator.eval(), cfg.model.latent, chosen, cfg.data.sample_rate, n, seed, name
    )


@torch.no_grad()
def generate_with(generator: torch.nn.Module, latent: int, classes: list[str] | None,
                  rate: int, n: int, seed: int, name: str) -> Clips:  # fmt: skip
    z, labels = _latents(n, latent, len(classes or []), seed)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    out = []
    for i in range(0, n, 64):
        label = torch.from_numpy(labels[i : i + 64]).to(device) if classes else None
        audio = synthesize(generator, torch.from_numpy(z[i : i + 64]).to(device), label)
        out.append(audio[:, 0].float().cpu().numpy())
    generator.train(was_training)
    names = [classes[i] for i in labels] if classes else None
    return Clips(name, fit(np.concatenate(out), rate), names)


def load_real(path: str, cache_dir: str = "", labels: str | None = None) -> Clips:
    """Real clips, labelled as asked, else by pitch if `ganpad data soundfont` made the
    folder, else by drum."""
    if labels is None:
        labels = "pitch" if (Path(path) / "notes.json").is_file() else "drums"
    config = DataConfig(path=path, sample_rate=RATE, slice_len=CLIP, cache_dir=cache_dir,
                        labels=labels)  # fmt: skip
    clips = load_clips(config)
    if len(clips.audio) < 4:
        raise EvalError(f"{path}: needs at least 4 usable clips, found {len(clips.audio)}")
    return Clips(Path(path).name, clips.audio, [clips.classes[i] for i in clips.labels])


def load_target(target: str, n: int, seed: int, cache_dir: str = "") -> Clips:
    path = Path(target)
    if (path / "checkpoints").is_dir():
        return generate_run(path, n, seed)
    if (path / "preset.json").is_file() or not path.exists():
        return generate_preset(target, n, seed)
    return load_real(target, cache_dir)


def compare(generated: Clips, real: Clips, model: DrumClassifier, k: int = 20,
            seed: int = 0, pitched: bool = False) -> dict[str, dict[str, float]]:  # fmt: skip
    """Each metric for the generated clips and for held-out real clips, and their ratio.

    The real set is split in two halves A and B: the baseline compares B with A, the model
    compares as many generated clips with A, so both figures see the same sample sizes.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real.audio))
    half = len(order) // 2
    a, b = real.audio[order[:half]], real.audio[order[half:]]
    # As many generated clips as the real baseline has, drawn at random (a folder's file
    # order groups its sounds).
    chosen = rng.permutation(len(generated.audio))[: len(b)]
    g = generated.audio[chosen]
    metrics = {}
    if not pitched:  # the classifier knows drums: its scores say nothing about notes
        g_probs, g_emb = predict(model, g)
        b_probs, b_emb = predict(model, b)
        _, a_emb = predict(model, a)
        metrics["inception_score"] = (inception_score(g_probs), inception_score(b_probs))
        metrics["frechet_distance"] = (frechet_distance(g_emb, a_emb),
                                       frechet_distance(b_emb, a_emb))  # fmt: skip
    a_feat, b_feat, g_feat = (spectral_features(x, RATE) for x in (a, b, g))
    metrics["ndb_over_k"] = (ndb(a_feat, g_feat, k, seed=seed)[1],
                             ndb(a_feat, b_feat, k, seed=seed)[1])  # fmt: skip
    if pitched and generated.labels and real.labels:
        targets = np.array(generated.labels, float)[chosen]
        g_pitch = pitch_metrics(track_pitch(g, RATE), targets)
        r_pitch = pitch_metrics(track_pitch(real.audio, RATE), np.array(real.labels, float))
        for key in ("pitch_accuracy", "pitch_entropy", "voiced"):
            metrics[key] = (g_pitch[key], r_pitch[key])
    return {name: {"generated": round(float(gen), 4), "real": round(float(ref), 4),
                   "ratio": round(float(gen) / float(ref), 4) if ref else None}
            for name, (gen, ref) in metrics.items()}  # fmt: skip


def evaluate(target: str, reference: str, n: int = 1000, out: Path | None = None, k: int = 20,
             seed: int = 0, cache_dir: str = "") -> dict:  # fmt: skip
    model = load_classifier()
    generated = load_target(target, n, seed, cache_dir)
    pitched = bool(generated.labels) and all(s.isdigit() for s in generated.labels)
    real = load_real(reference, cache_dir, "pitch" if pitched else None)
    report = {
        "target": generated.name,
        "reference": reference,
        "n_generated": len(generated.audio),
        "n_real": len(real.audio),
        "metrics": compare(generated, real, model, k, seed, pitched),
    }
    if out is not None:
        write_report(report, generated, real, Path(out))
    return report


def markdown(report: dict) -> str:
    lines = [f"# {report['target']} vs {report['reference']}", "",
             f"{report['n_generated']} generated clips, {report['n_real']} real held-out clips.",
             "", "| metric | generated | real | ratio |", "|---|---|---|---|"]  # fmt: skip
    for name, m in report["metrics"].items():
        ratio = "-" if m["ratio"] is None else f"{m['ratio']:.3g}"  # no ratio to a real 0
        lines.append(f"| {name} | {m['generated']:.4g} | {m['real']:.4g} | {ratio} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, generated: Clips, real: Clips, out: Path) -> None:
    """report.json, report.md and grid.png (real spectrograms on top, generated below)."""
    from PIL import Image

    from ganpad.training.tblog import spectrogram_image

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic_write_text(out / "report.md", markdown(report))
    rows = []
    count = min(8, len(real.audio), len(generated.audio))
    for clips in (real.audio[:count], generated.audio[:count]):
        tiles = [spectrogram_image(torch.from_numpy(c))[0].numpy() for c in clips]
        rows.append(np.concatenate(tiles, axis=1))
    grid = (np.concatenate(rows, axis=0) * 255).astype(np.uint8)
    with atomic_path(out / "grid.png") as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
