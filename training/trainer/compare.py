"""`ganpad compare`: every model, loss and critic trained the same steps on the same data."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ganpad.atomic import atomic_write_text
from ganpad.training.config import RunConfig
from ganpad.training.data.ingest import load_clips
from ganpad.training.evaluation.classifier import load_classifier, predict
from ganpad.training.evaluation.evaluate import generate_with, load_real
from ganpad.training.evaluation.metrics import frechet_distance, inception_score
from ganpad.training.models import CRITICS, FAMILIES
from ganpad.training.trainer.loop import METRICS_FILE, Trainer
from ganpad.training.trainer.losses import LOSSES


def combinations(models: list[str] | None, losses: list[str] | None,
                 critics: list[str] | None) -> list[tuple[str, str, str]]:  # fmt: skip
    """Every (model, loss, critic) that can be built: the LSTM critic is WaveGAN's alone."""
    return [
        (model, loss, critic)
        for model in (models or FAMILIES)
        for loss in (losses or sorted(LOSSES))
        for critic in (critics or CRITICS)
        if critic == "conv" or model == "wavegan"
    ]


def compare(base: RunConfig, out: Path, losses: list[str] | None = None,
            critics: list[str] | None = None, eval_n: int = 128,
            models: list[str] | None = None) -> list[dict]:  # fmt: skip
    """Train each combination in out/<model>-<loss>-<critic>; a table row per run.

    Autoregressive models (wavenet-gan) get no Inception score or Frechet distance here:
    sampling eval_n clips takes a network pass per sample.
    """
    clips = load_clips(base.data)
    classifier = load_classifier()
    real = load_real(base.data.path, base.data.cache_dir)
    real_probs, real_emb = predict(classifier, real.audio)
    rows = []
    for model, loss, critic in combinations(models, losses, critics):
        cfg = RunConfig(base.data, replace(base.model, family=model, critic=critic),
                        replace(base.train, loss=loss, sample_every=0))  # fmt: skip
        cfg.train.progress = False
        run_dir = out / f"{cfg.model.family}-{loss}-{critic}"
        start = time.perf_counter()
        trainer = Trainer(cfg, run_dir, clips=clips)
        trainer.train()
        seconds = time.perf_counter() - start
        lines = [json.loads(x) for x in (run_dir / METRICS_FILE).read_text().splitlines()]
        tail = lines[-max(1, len(lines) // 5) :]
        scores = {"frechet_distance": "-", "inception_score": "-"}
        if not getattr(trainer.G_ema, "autoregressive", False):
            classes = list(trainer.classes) if cfg.model.conditional else None
            gen = generate_with(trainer.G_ema, cfg.model.latent, classes, cfg.data.sample_rate,
                                eval_n, 0, run_dir.name)  # fmt: skip
            probs, emb = predict(classifier, gen.audio)
            scores = {"frechet_distance": round(frechet_distance(emb, real_emb), 3),
                      "inception_score": round(inception_score(probs), 3)}  # fmt: skip
        rows.append({
            "model": cfg.model.family, "loss": loss, "critic": critic, "steps": cfg.train.steps,
            "s_per_step": round(seconds / cfg.train.steps, 3),
            "critic_loss": round(float(np.mean([x["loss/critic"] for x in tail])), 4),
            "generator_loss": round(float(np.mean([x["loss/generator"] for x in tail])), 4),
            **scores,
        })  # fmt: skip
    rows.append({"model": "real data", "loss": "-", "critic": "-", "steps": 0, "s_per_step": 0,
                 "critic_loss": 0, "generator_loss": 0, "frechet_distance": 0.0,
                 "inception_score": round(inception_score(real_probs), 3)})  # fmt: skip
    atomic_write_text(out / "compare.json", json.dumps(rows, indent=1) + "\n")
    atomic_write_text(out / "compare.md", table(rows))
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"
