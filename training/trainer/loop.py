"""The GAN training loop: critic steps, generator step, EMA, checkpoints, rollback, logs."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ganpad.atomic import atomic_write_text
from ganpad.drums import KEYED_LABELS, label_key
from ganpad.training.config import RunConfig, TrainConfig, save_toml, to_dict
from ganpad.training.data.ingest import ClipSet, load_clips
from ganpad.training.models import SYNTHS, build_models, check_config, fake_batch, synthesize
from ganpad.training.models.crop_critics import longest_window
from ganpad.training.models.gansynth import GROUP
from ganpad.training.trainer import checkpoint, distributed
from ganpad.training.trainer.augment import augment, check_augments
from ganpad.training.trainer.auxiliary import AuxiliaryTap, accuracy, has_classifier
from ganpad.training.trainer.crops import crop, crop_starts
from ganpad.training.trainer.finetune import (
    PresetStart,
    add_modes,
    add_programs,
    add_velocity,
    widen_to_keys,
)
from ganpad.training.trainer.guide import GroupGuide, check_guide
from ganpad.training.trainer.losses import CriticResult, feature_matching, get_loss
from ganpad.training.trainer.tblog import TensorBoardLog

BEST_METRIC = "kid"  # what checkpoints/best is the lowest of
KID_FLOOR = 0.01  # eval_rollback's factor applies to a best KID of at least this
CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
DATA_REPORT = "data_report.json"
STARTED_FROM = "started_from.json"  # a fine-tune's preset and how that preset was trained
COMMANDS_FILE = "commands.txt"  # every command line that trained this run, with its time


class TrainError(RuntimeError):
    pass


@dataclass
class TrainResult:
    step: int
    interrupted: bool
    rollbacks: int
    checkpoint: Path


class Trainer:
    """One training run in `run_dir`, fresh or resumed from its latest checkpoint."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path,
        resume: bool = False,
        clips: ClipSet | None = None,
        start: PresetStart | None = None,
    ):
        self.cfg = config
        self.run_dir = Path(run_dir)
        check_config(config.model, config.data.slice_len)
        self.loss = get_loss(config.train.loss)  # both fail here, before any data is read
        if config.train.loss == "bwgan" and config.train.bw_p <= 1:
            raise TrainError(f"train.bw_p = {config.train.bw_p}: bwgan needs p > 1")
        if config.model.family == "gansynth" and config.train.batch_size % GROUP:
            raise TrainError(
                f"train.batch_size = {config.train.batch_size}: gansynth's minibatch stddev "
                f"takes groups of {GROUP} clips of one kind; use a multiple of {GROUP}"
            )
        if config.train.drift and config.train.loss != "wgan-gp":
            raise TrainError(f"train.drift = {config.train.drift} is a wgan-gp term; "
                             f"--loss {config.train.loss} does not use it")  # fmt: skip
        check_augments(config.train.augment)
        if config.train.adversarial_from and not config.model.encoder:
            raise TrainError(
                "train.adversarial_from: before it the generator learns by resynthesis alone, "
                "which needs model.encoder = true (drumsynth, notesynth)"
            )
        if config.train.augment and config.model.family in ("specgan", "gansynth"):
            raise TrainError(f"train.augment works on audio; the {config.model.family} critic "
                             "sees spectrograms")  # fmt: skip
        _check_stage(config)
        if config.model.keys != (config.data.labels == "drum-keys"):
            raise TrainError(f"model.keys = {str(config.model.keys).lower()} with data.labels = "
                             f"{config.data.labels!r}: a label per GM key needs both "
                             "(model.keys = true, data.labels = \"drum-keys\")")  # fmt: skip
        if config.model.family == "wavenet-gan" and config.train.eval_every:
            raise TrainError(
                "train.eval_every: wavenet-gan samples one pass per sample, too slow "
                "to evaluate during training; run ganpad eval on the run instead"
            )
        found = checkpoint.latest(self.run_dir)
        if resume and found is None:
            raise TrainError(f"{self.run_dir}: nothing to resume (no checkpoints/latest.json)")
        if not resume and found is not None:
            raise TrainError(f"{self.run_dir} already holds a run: pass --resume or another --out")
        self.dist = distributed.setup(config.train.device)
        self.device = self.dist.device
        self.amp = config.train.amp and self.device.type == "cuda"
        self.clips = clips if clips is not None else load_clips(config.data)
        if len(self.clips.audio) == 0:
            raise TrainError(f"no usable clips in {config.data.path}\n{self.clips.report.format()}")
        saved = checkpoint.load(found) if found else None
        if saved:
            self.classes = tuple(saved[1]["classes"])
        elif start:
            if config.model.keys and tuple(start.classes) != KEYED_LABELS:
                start = widen_to_keys(start, config.model.latent)
            elif tuple(start.classes) == KEYED_LABELS and not config.model.keys:
                raise TrainError(f"{start.source} has a label per GM key: keep model.keys = "
                                 "true and data.labels = \"drum-keys\"")  # fmt: skip
            self.classes = tuple(start.classes)
        else:
            self.classes = self.clips.classes
        self._set_data(self.clips)

        torch.manual_seed(config.train.seed + self.dist.rank)
        self.data_gen = torch.Generator().manual_seed(config.train.seed * 7919 + self.dist.rank)
        n_classes = len(self.classes) if config.model.conditional else 0
        g, d = build_models(config.model, config.data.slice_len, n_classes,
                            config.data.sample_rate)  # fmt: skip
        self.G, self.D = g.to(self.device), d.to(self.device)
        self.auxiliary = has_classifier(self.D)  # AC-GAN: the critic also names the class
        self.G.texture = config.train.lambda_texture > 0
        self.guide = _guide(config, self.classes, self.device, self.dist.rank)
        if config.train.lambda_fm and not hasattr(self.D, "forward_features"):
            raise TrainError(
                f"train.lambda_fm: the {config.model.family} critic does not expose its "
                "features; feature matching is for the synthesis families"
            )
        if not saved and not start:
            self.G.fit_features(self.audio)  # spectral models: normalisation statistics
            if hasattr(self.G, "fit_labels"):
                self.G.fit_labels(self.classes)  # what each label means (a note's pitch)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        t = config.train
        betas = (t.beta1, t.beta2)
        self.opt_g = torch.optim.Adam(generator_groups(self.G, t), lr=t.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=t.lr, betas=betas)
        self.step = 0
        self._saved_step = -1
        self.rollbacks = 0
        self.elapsed = 0.0
        self.lr_scale = 1.0  # what rollbacks have made of train.lr
        self.from_preset = start is not None  # a fine-tune: its EMA starts from a good model
        if saved:
            self._restore(*saved)
        elif start:
            self._start_from(start)
        if getattr(self.G, "programs", False) and not (self.program >= 0).any():
            # A programs graph always plays a program's prior: notes in none would be unheard
            raise TrainError(f"model.programs fits a prior per GM program, and no note in "
                             f"{config.data.path} names its program: render notes with "
                             "`ganpad data soundfont` (notes.json), or say which GM program "
                             "(0..127) they are with --set data.program=N"
                             + ("" if saved or (start and start.config.model.programs)
                                else ", or leave model.programs off"))  # fmt: skip
        with torch.no_grad():  # what the critic sees of the real clips (audio, or spectrograms)
            self.real = torch.cat([self.G.features(self.audio[i : i + 64])
                                   for i in range(0, len(self.audio), 64)])  # fmt: skip
        if self.dist.enabled:
            self.G_train = DistributedDataParallel(self.G)
            self.D_train = DistributedDataParallel(self.D)
        else:
            self.G_train, self.D_train = self.G, self.D
        self._stop = False
        self.log = TensorBoardLog(self.run_dir, config.data.sample_rate) if self.is_main else None
        if self.is_main:
            self._write_run_files(resumed=saved is not None, start=start)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _set_data(self, clips: ClipSet) -> None:
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(clips.classes) - set(index))
        if unknown and self.cfg.model.conditional:
            raise TrainError(
                f"the data has classes {unknown} that this run's model was not built with "
                f"({', '.join(self.classes)})"
            )
        remap = torch.tensor([index.get(c, 0) for c in clips.classes], dtype=torch.long)
        self.audio = torch.from_numpy(clips.audio).unsqueeze(1).to(self.device)
        self.labels = remap[torch.from_numpy(clips.labels)].to(self.device)
        layers = clips.with_velocity()  # what fits a velocity-aware prior
        self.velocity = torch.from_numpy(layers.velocity).to(self.device)
        self.instrument = torch.from_numpy(layers.instrument).to(self.device)
        self.program = torch.from_numpy(layers.program).to(self.device)
        # For class-balanced batches: clip indices sorted by class, where each class starts.
        self.by_class = torch.argsort(self.labels.cpu(), stable=True)
        counts = torch.bincount(self.labels.cpu(), minlength=len(self.classes))
        self.class_count = counts[counts > 0]
        self.class_start = (torch.cumsum(counts, 0) - counts)[counts > 0]

    # ---- one iteration -------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = self.cfg.train.batch_size
        if self.cfg.train.balance_classes:  # every class the data has, equally often
            cls = torch.randint(len(self.class_count), (n,), generator=self.data_gen)
            within = (torch.rand(n, generator=self.data_gen) * self.class_count[cls]).long()
            idx = self.by_class[self.class_start[cls] + within]
        else:
            idx = torch.randint(len(self.real), (n,), generator=self.data_gen)
        idx = idx.to(self.device)
        label = self.labels[idx] if self.cfg.model.conditional else None
        return self.real[idx], label

    def _z(self) -> torch.Tensor:
        return torch.randn(self.cfg.train.batch_size, self.cfg.model.latent, device=self.device)

    def train_step(self) -> dict[str, float]:
        """n_critic critic updates, then one generator update and the EMA update; before
        train.adversarial_from, the generator update alone, on its resynthesis losses (and the
        key-group guide's, train.lambda_guide)."""
        t = self.cfg.train
        if self.step < t.modes_first:  # the modes alone, the noise muted
            return self._stage_step(self.G.mode_parameters(), muted=True)
        if self.step < t.modes_first + t.noise_balance:  # then each label's noise over them
            return self._stage_step(self.G.noise_parameters(), muted=False)
        adversarial = self.step >= t.adversarial_from
        result = self._critic_steps() if adversarial else CriticResult(torch.zeros(()), {})
        if adversarial and self.step < t.adversarial_from + t.critic_warmup:
            # The critic's warm-up: the generator waits until its judge knows something.
            return _logged(result, torch.zeros(()))
        real, label = self._batch()
        with self._autocast():
            play_fakes = adversarial or self.guide is not None
            fake, extras = fake_batch(self.G_train, real, self._z(), label, fakes=play_fakes)
            g_loss = torch.zeros((), device=self.device)
            if adversarial:
                g_loss = self._adversarial_loss(fake, real, label, result.parts)
            if self.guide is not None:
                guide = self.guide(fake, label, self.step)
                g_loss = g_loss + t.lambda_guide * guide
                result.parts["guide"] = guide.detach()
            for name, extra in extras.items():  # lambda_match, lambda_rec, lambda_kl
                g_loss = g_loss + getattr(t, f"lambda_{name}") * extra
                result.parts[name] = extra.detach()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward(inputs=list(self.G.parameters()))
        if adversarial and t.freeze_encoder:
            for param in self.G.encoder.parameters():  # no gradient: Adam leaves it as it is
                param.grad = None
        self._clip(self.G)
        # G's first update: step 0, or after the critic's warm-up when the critic came first.
        self._set_lr(self.opt_g, t.critic_warmup if t.adversarial_from == 0 else 0)
        self.opt_g.step()
        self._update_ema()
        return _logged(result, g_loss)

    def _stage_step(self, params: list[torch.nn.Parameter], muted: bool) -> dict[str, float]:
        """train.modes_first and noise_balance: only `params` learn, by resynthesis (with the
        noise muted for the modes' stage, and then no texture term: the modes alone are all
        lines, and it would ask them to sound like the clip's noise too)."""
        t = self.cfg.train
        real, label = self._batch()
        texture = self.G.texture
        self.G.mute_noise, self.G.texture = muted, texture and not muted
        try:
            with self._autocast():
                extras = fake_batch(self.G_train, real, self._z(), label, fakes=False)[1]
        finally:
            self.G.mute_noise, self.G.texture = False, texture
        loss = t.lambda_rec * extras["rec"] + t.lambda_texture * extras.get("texture", 0.0)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.G.parameters()))  # all of them, as DDP expects
        trained = {id(p) for p in params}
        for param in self.G.parameters():
            if id(param) not in trained:  # no gradient: Adam leaves it as it is
                param.grad = None
        self._clip(self.G)
        self._set_lr(self.opt_g, 0)
        self.opt_g.step()
        self._update_ema()
        parts = {k: extras[k].detach() for k in ("rec", "texture") if k in extras}
        return _logged(CriticResult(torch.zeros(()), parts), loss)

    def _critic_steps(self) -> CriticResult:
        t = self.cfg.train
        for _ in range(t.n_critic):
            real, label = self._batch()
            z = self._z()
            with torch.no_grad(), self._autocast():
                fake = fake_batch(self.G_train, real, z, label, extras=False)[0].to(real.dtype)
            critic = AuxiliaryTap(self.D_train) if self.auxiliary else self.D_train
            with self._autocast():
                real, fake = self._critic_input(real, fake)
                result = self.loss.critic(critic, real, fake, label, t)
                if self.auxiliary:
                    aux = self._auxiliary(critic, label, "real", result.parts)
                    result.loss = result.loss + t.lambda_aux * aux
            self.opt_d.zero_grad(set_to_none=True)
            result.loss.backward()
            self._clip(self.D)
            self._set_lr(self.opt_d, t.adversarial_from)
            self.opt_d.step()
            if self.loss.after_critic_step is not None:
                self.loss.after_critic_step(self.D, t)
        return result

    def _adversarial_loss(self, fake: torch.Tensor, real: torch.Tensor,
                          label: torch.Tensor | None, parts: dict) -> torch.Tensor:  # fmt: skip
        """The generator's adversarial terms: the loss's own, the AC-GAN and feature matching."""
        t = self.cfg.train
        # The plain critic: its gradients are not wanted here, so DDP must not sync them.
        tapped = self.auxiliary or t.lambda_fm > 0
        critic = AuxiliaryTap(self.D, features=t.lambda_fm > 0) if tapped else self.D
        real, fake = self._critic_input(real, fake)
        g_loss = t.lambda_adv * self.loss.generator(critic, fake, label, t)
        if self.auxiliary:
            g_loss = g_loss + t.lambda_aux * self._auxiliary(critic, label, "fake", parts)
        if t.lambda_fm:
            with torch.no_grad():
                real_feats = self.D.forward_features(real, label)[2]
            fm = feature_matching(real_feats, critic.features[0])
            g_loss = g_loss + t.lambda_fm * fm
            parts["fm"] = fm.detach()
        return g_loss

    def _critic_input(self, real: torch.Tensor,
                      fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """What the critic sees of a real and a fake batch: each augmented, both cropped at the
        same starts."""
        t, rate = self.cfg.train, self.cfg.data.sample_rate
        real, fake = augment(real, t.augment, rate), augment(fake, t.augment, rate)
        if not t.crop_s:
            return real, fake
        samples = round(t.crop_s * rate)
        starts = crop_starts(len(real), real.shape[-1], samples, real.device)
        return crop(real, samples, starts), crop(fake, samples, starts)

    def _set_lr(self, opt: torch.optim.Optimizer, first_step: int) -> None:
        """train.lr, times what rollbacks left of it, times the warm-up's ramp (which starts at
        the network's first update, `first_step`)."""
        t = self.cfg.train
        ramp = min(1.0, max(1, self.step - first_step + 1) / t.lr_warmup) if t.lr_warmup else 1.0
        for group in opt.param_groups:
            group["lr"] = group.get("base_lr", t.lr) * self.lr_scale * ramp

    def _clip(self, model: torch.nn.Module) -> None:
        if self.cfg.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.train.grad_clip)

    @staticmethod
    def _auxiliary(tap: AuxiliaryTap, label: torch.Tensor, kind: str,
                   parts: dict[str, torch.Tensor]) -> torch.Tensor:  # fmt: skip
        """The AC-GAN cross-entropy of the tapped pass; it and its accuracy go to the logs."""
        loss = tap.loss(label)
        parts[f"aux_{kind}"] = loss.detach()
        parts[f"aux_acc_{kind}"] = accuracy(tap.first(len(label)).detach(), label)
        return loss

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up (as TensorFlow's moving averages do): early on the average would still be
        # mostly the random initial weights, which a short CPU run never outgrows. A fine-tune
        # starts from a preset's good weights, so its average holds to them from the start.
        decay = self.cfg.train.ema_decay
        if not self.from_preset:
            decay = min(decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            e.copy_(b)

    def _diverged(self, metrics: dict[str, float]) -> bool:
        limit = self.cfg.train.divergence_threshold
        return any(not math.isfinite(v) or abs(v) > limit for v in metrics.values())

    # ---- the run ---------------------------------------------------------------------------

    def train(self) -> TrainResult:
        t = self.cfg.train
        if checkpoint.latest(self.run_dir) is None:
            self.save()  # step 0: a rollback always has somewhere to go
        if t.eval_every and self.from_preset and self.step == 0:
            self.evaluate_now()  # the preset is the first best: the stage must beat it
        last_saved = self.step
        bar = tqdm(
            total=t.steps, initial=self.step, disable=not (self.is_main and t.progress),
            unit="step", dynamic_ncols=True,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            with self._stop_on_signals():
                while self.step < t.steps:
                    tick = time.perf_counter()
                    metrics = self.train_step()
                    diverged, stop = distributed.any_rank(
                        [self._diverged(metrics), self._stop], self.dist
                    )
                    if diverged:
                        self._rollback(metrics)
                        bar.n = self.step
                        continue
                    self.step += 1
                    bar.update(1)
                    bar.set_postfix(
                        D=f"{metrics['loss/critic']:.3f}", G=f"{metrics['loss/generator']:.3f}"
                    )
                    metrics["time/step_s"] = time.perf_counter() - tick
                    self._after_step(metrics)
                    bar.n = self.step  # an evaluation may have rolled the run back
                    if self.step % t.checkpoint_every == 0 or stop or self.step == t.steps:
                        self.elapsed += time.perf_counter() - started
                        started = time.perf_counter()
                        self.save(metrics)
                        last_saved = self.step
                    if stop:
                        break
        finally:
            bar.close()
            if self.log:
                self.log.close()
        if last_saved != self.step:
            self.save()
        self.G_train, self.D_train = self.G, self.D
        distributed.teardown(self.dist)
        path = checkpoint.checkpoint_dir(self.run_dir) / f"step-{self.step:08d}"
        return TrainResult(self.step, self._stop, self.rollbacks, path)

    def _after_step(self, metrics: dict[str, float]) -> None:
        t = self.cfg.train
        if t.eval_every and self.step % t.eval_every == 0:
            step = self.step
            self.evaluate_now()  # on every rank: keeping a best checkpoint is a collective save
            if self.step != step:
                return  # rolled back: this step's figures are undone with it
        if not self.is_main:
            return
        if self.step % t.log_every == 0 or self.step == t.steps:
            lr = self.opt_g.param_groups[0]["lr"]
            self.log.scalars(self.step, {**metrics, "lr": lr})
            with open(self.run_dir / METRICS_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": self.step, **metrics}) + "\n")
        if t.sample_every and self.step % t.sample_every == 0:
            self.log_samples()

    @torch.no_grad()
    def log_samples(self) -> None:
        """One clip per class (or four unconditional ones) from the EMA generator, fixed latents."""
        names = list(self.classes) if self.cfg.model.conditional else [f"z{i}" for i in range(4)]
        g = torch.Generator().manual_seed(12345)
        z = torch.randn(len(names), self.cfg.model.latent, generator=g).to(self.device)
        label = torch.arange(len(names), device=self.device) if self.cfg.model.conditional else None
        if getattr(self.G_ema, "autoregressive", False):  # a quarter second: one pass a sample
            audio = self.G_ema.sample(z, label, self.cfg.data.sample_rate // 4)[:, 0]
        else:
            audio = synthesize(self.G_ema, z, label)[:, 0]
        self.log.samples(self.step, audio, names)

    def evaluate_now(self) -> dict[str, float]:
        """Frechet distance and KID of the EMA generator against real clips (and for drums the
        Inception score): drums in the drum classifier's embedding, notes in the standardised
        log-mel one. The checkpoint with the lowest KID so far is kept in checkpoints/best,
        and with train.eval_rollback a much worse one rolls the run back to it."""
        from ganpad.training.data.reference import resolve
        from ganpad.training.evaluation.evaluate import fit, generate_with, load_real
        from ganpad.training.evaluation.metrics import frechet_distance, inception_score, kid

        t = self.cfg.train
        self._refit_prior()
        if not hasattr(self, "_eval_reference"):
            labels = self.cfg.data.labels
            if t.eval_reference:
                folder = resolve(t.eval_reference)[0]  # a folder, or a name: heldout-drums
                real = load_real(folder, self.cfg.data.cache_dir, labels).audio
            else:  # the training clips: held-out kits stay out of checkpoint selection too
                real = fit(self.clips.audio, self.cfg.data.sample_rate)
            self._eval_embed = _EvalEmbedding(labels == "pitch", real)
            self._eval_reference = self._eval_embed(real)[1]
            self._best = checkpoint.best_value(self.run_dir, BEST_METRIC)
        classes = list(self.classes) if self.cfg.model.conditional else None
        clips = generate_with(
            self.G_ema,
            self.cfg.model.latent,
            classes,
            self.cfg.data.sample_rate,
            t.eval_n,
            0,
            "eval",
        )
        probs, emb = self._eval_embed(clips.audio)
        result = {"eval/frechet_distance": frechet_distance(emb, self._eval_reference),
                  "eval/kid": kid(emb, self._eval_reference)[0]}  # fmt: skip
        if probs is not None:
            result["eval/inception_score"] = inception_score(probs)
        if self.log:
            self.log.scalars(self.step, result)
        value = result[f"eval/{BEST_METRIC}"]
        # Rank 0 decides, so every rank joins the same (collective) save.
        better, worse = distributed.any_rank(
            [self.is_main and value < self._best, self.is_main and self._worse(value)], self.dist
        )
        if better:
            self._best = value
            self.save(result)
            if self.is_main:
                source = checkpoint.checkpoint_dir(self.run_dir) / f"step-{self.step:08d}"
                checkpoint.keep_best(self.run_dir, source, BEST_METRIC, value, self.step)
        elif worse:
            best = checkpoint.checkpoint_dir(self.run_dir) / "best"
            self._rollback(result, best, f"{BEST_METRIC} above {t.eval_rollback} x the best",
                           at=self.step)  # fmt: skip
            self._saved_step = -1  # the rolled-back state becomes the latest, with its rate
            self.save()
        return result

    def _worse(self, value: float) -> bool:
        """Whether an evaluation is so far above the best that the run is rolled back."""
        factor = self.cfg.train.eval_rollback
        return (
            bool(factor)
            and math.isfinite(self._best)
            and value > factor * max(self._best, KID_FLOOR)
        )

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """First Ctrl-C (or SIGTERM) finishes the step and saves; a second one stops at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum: int, frame: object) -> None:
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True
            if self.is_main:
                tqdm.write("stopping: saving a checkpoint after this step (Ctrl-C again to abort)")

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _rollback(self, metrics: dict[str, float], path: Path | None = None,
                  why: str = "diverged", at: int | None = None) -> None:  # fmt: skip
        """Back to `path` (the latest checkpoint by default), another random stream, and a
        learning rate `train.rollback_lr_factor` times the one that went wrong; what came after
        `path` (checkpoints, metrics lines) is forgotten."""
        t = self.cfg.train
        count = self.rollbacks + 1
        if count > t.max_rollbacks:
            raise TrainError(f"rolled back {t.max_rollbacks} times already (train.max_rollbacks), "
                             f"now {why}; last figures {metrics}")  # fmt: skip
        path = path or checkpoint.latest(self.run_dir)
        at = self.step + 1 if at is None else at
        if self.is_main:
            tqdm.write(f"{why} at step {at} ({metrics}); rolling back to {path.name}")
        scale, elapsed = self.lr_scale, self.elapsed  # the undone steps' time was spent too
        self._restore(*checkpoint.load(path))
        self.rollbacks, self.elapsed = count, elapsed
        # A different random path and a smaller step, or the same blow-up would come back.
        torch.manual_seed(t.seed + self.dist.rank + 104729 * count)
        self.data_gen.manual_seed(t.seed * 7919 + self.dist.rank + 104729 * count)
        self.lr_scale = scale * t.rollback_lr_factor
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:  # until the next step sets it
                group["lr"] = group.get("base_lr", t.lr) * self.lr_scale
        if self.is_main:
            self._forget_after(self.step)

    def _forget_after(self, step: int) -> None:
        """Drop the checkpoints and metrics lines of steps after `step` (undone or to redo)."""
        for folder in checkpoint.checkpoint_dir(self.run_dir).glob("step-*"):
            if folder.is_dir() and int(folder.name.split("-")[1]) > step:
                shutil.rmtree(folder, ignore_errors=True)
        metrics = self.run_dir / METRICS_FILE
        if metrics.exists():
            kept = [line for line in metrics.read_text().splitlines()
                    if (_step_of(line) or step + 1) <= step]  # fmt: skip
            atomic_write_text(metrics, "".join(line + "\n" for line in kept))

    # ---- checkpoints -----------------------------------------------------------------------

    def _rng_tensors(self) -> dict[str, torch.Tensor]:
        local = {"cpu": torch.get_rng_state(), "data": self.data_gen.get_state()}
        if self.device.type == "cuda":
            local["cuda"] = torch.cuda.get_rng_state(self.device)
        out = {}
        for kind, state in local.items():
            for rank, s in enumerate(distributed.gather_tensor(state, self.dist)):
                out[f"rng.{kind}.{rank}"] = s
        return out

    @torch.no_grad()
    def _refit_prior(self) -> None:
        """Autoencoding synths: refit each label's latent Gaussian to where the encoder puts
        the training clips now, for G and its EMA (what is saved, evaluated and exported)."""
        if getattr(self.G, "encoder", None) is None:
            return
        labels = self.labels if self.cfg.model.conditional else None
        keep = self._learnt_before()
        layers = {"velocity": self.velocity, "instrument": self.instrument, "program": self.program}
        self.G.fit_prior(self.audio, labels, keep=keep, **layers)
        # The EMA's own encoder: its decoder was averaged with it, not with G's (a preset
        # exported from the EMA with G's prior played the wrong latents: lows only).
        self.G_ema.fit_prior(self.audio, labels, keep=keep, **layers)

    def _learnt_before(self) -> list[bool] | None:
        """The labels the preset this run fine-tunes had learnt (its classes, and the keys it
        played with a label of their own): a label this pack lacks keeps its prior."""
        lineage = _read_lineage(self.run_dir / STARTED_FROM)
        if lineage is None:
            return None
        own = set(lineage.get("keys", []))
        had = set(lineage.get("labels", self.classes))  # (older records: all of this run's)
        return [label_key(c) in own if label_key(c) is not None else c in had
                for c in self.classes]  # fmt: skip

    def save(self, metrics: dict[str, float] | None = None) -> None:
        if self._saved_step == self.step and checkpoint.latest(self.run_dir) is not None:
            return  # this step is on disk already (an evaluation kept it)
        self._refit_prior()
        rng = self._rng_tensors()  # a collective: every rank takes part
        if self.is_main:
            g_opt, g_meta = checkpoint.optimizer_to_flat(self.opt_g, "opt_g")
            d_opt, d_meta = checkpoint.optimizer_to_flat(self.opt_d, "opt_d")
            tensors = {
                **checkpoint.module_tensors(self.G, "G"),
                **checkpoint.module_tensors(self.D, "D"),
                **checkpoint.module_tensors(self.G_ema, "G_ema"),
                **g_opt, **d_opt, **rng,
            }  # fmt: skip
            state = {
                "config": to_dict(self.cfg),
                "classes": list(self.classes),
                "opt_g": g_meta,
                "opt_d": d_meta,
                "rollbacks": self.rollbacks,
                "lr_scale": self.lr_scale,
                "from_preset": self.from_preset,
                "world_size": self.dist.world,
                "elapsed_s": round(self.elapsed, 3),
                "metrics": metrics or {},
                "torch": torch.__version__,
            }
            checkpoint.save(
                self.run_dir, self.step, tensors, state, self.cfg.train.keep_checkpoints
            )
        self._saved_step = self.step
        distributed.barrier(self.dist)

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        try:
            checkpoint.load_module(self.G, tensors, "G")
            checkpoint.load_module(self.D, tensors, "D")
            checkpoint.load_module(self.G_ema, tensors, "G_ema")
        except RuntimeError as exc:
            raise TrainError(f"checkpoint does not fit this model config: {exc}") from exc
        try:
            self.opt_g.load_state_dict(
                checkpoint.optimizer_from_flat(tensors, state["opt_g"], "opt_g")
            )
        except ValueError as exc:  # another count of parameter groups
            raise TrainError(f"the checkpoint's generator optimiser does not fit this run's "
                             f"(train.modes_lr = {self.cfg.train.modes_lr}: 0 or not, as the run "
                             f"was saved with): {exc}") from exc  # fmt: skip
        for group in self.opt_g.param_groups:  # the mode head's rate as configured now
            if "base_lr" in group:
                group["base_lr"] = self.cfg.train.modes_lr
        self.opt_d.load_state_dict(checkpoint.optimizer_from_flat(tensors, state["opt_d"], "opt_d"))
        self.step = int(state["step"])
        self.rollbacks = int(state.get("rollbacks", 0))
        # Older checkpoints: what the rollbacks made of the rate is in the optimiser's state.
        self.lr_scale = float(
            state["lr_scale"]
            if "lr_scale" in state
            else self.opt_g.param_groups[0]["lr"] / self.cfg.train.lr
            if self.cfg.train.lr
            else 1.0
        )
        self.from_preset = bool(state.get("from_preset", False))
        self.elapsed = float(state.get("elapsed_s", 0.0))
        rank = self.dist.rank
        if f"rng.cpu.{rank}" in tensors and state.get("world_size") == self.dist.world:
            torch.set_rng_state(tensors[f"rng.cpu.{rank}"])
            self.data_gen.set_state(tensors[f"rng.data.{rank}"])
            if self.device.type == "cuda" and f"rng.cuda.{rank}" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng.cuda.{rank}"], self.device)
        elif self.is_main:
            tqdm.write("note: world size changed since the checkpoint; random streams start anew")

    def _start_from(self, start: PresetStart) -> None:
        """Fine-tuning: the preset's generator (into G and its EMA) and critic; fresh optimisers."""
        if self.cfg.model.synth_modes != start.config.model.synth_modes:
            start = add_modes(start, self.G)
        if self.cfg.model.velocity and not start.config.model.velocity:
            start = add_velocity(start, self.G)
        if self.cfg.model.programs != start.config.model.programs:
            if not self.cfg.model.programs:
                raise TrainError(f"{start.source} plays programs (GM instruments): keep "
                                 "model.programs = true")  # fmt: skip
            start = add_programs(start, self.G)
        try:
            checkpoint.load_module(self.G, start.tensors, "G")
            checkpoint.load_module(self.G_ema, start.tensors, "G")
            self._start_critic(start)
        except RuntimeError as exc:
            raise TrainError(f"{start.source}: checkpoint does not fit the model: {exc}") from exc

    def _start_critic(self, start: PresetStart) -> None:
        """The preset's critic where it fits; a synth's critic of another kind starts fresh."""
        saved = {k[2:]: v.shape for k, v in start.tensors.items() if k.startswith("D.")}
        fits = saved == {k: v.shape for k, v in self.D.state_dict().items()}
        if fits or self.cfg.model.family not in SYNTHS:
            checkpoint.load_module(self.D, start.tensors, "D")  # a misfit raises: named below
        elif self.is_main:  # another critic (model.synth_critic) than the preset trained
            tqdm.write(
                f"note: {start.source.name}'s critic is not this run's "
                f"({self.cfg.model.synth_critic}); the critic starts fresh"
            )

    def _write_run_files(self, resumed: bool, start: PresetStart | None = None) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_toml(self.cfg, self.run_dir / CONFIG_FILE)
        atomic_write_text(
            self.run_dir / DATA_REPORT, json.dumps(self.clips.report.to_json(), indent=1)
        )
        if start is not None:  # what the exported preset will say it was trained from
            atomic_write_text(self.run_dir / STARTED_FROM, json.dumps(start.lineage(), indent=1))
        if resumed:  # steps after the checkpoint will be trained again
            self._forget_after(self.step)
        elif start is None:  # a stale lineage in a reused folder would mislabel the preset
            (self.run_dir / STARTED_FROM).unlink(missing_ok=True)


def _read_lineage(path: Path) -> dict | None:
    """A fine-tune's started_from.json, or None for a run from scratch."""
    try:
        lineage = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return lineage if isinstance(lineage, dict) else None


class _EvalEmbedding:
    """Clips at the evaluation's rate -> (drum class probabilities or None, embedding): the
    drum classifier's for drums, log-mel standardised by the reference for notes (the
    classifier knows drums only)."""

    def __init__(self, pitched: bool, reference):  # noqa: ANN001 (numpy, imported lazily)
        from ganpad.training.evaluation.classifier import load_classifier
        from ganpad.training.evaluation.evaluate import RATE, LogmelScale
        from ganpad.training.evaluation.metrics import logmel_embedding

        self.rate, self.logmel = RATE, logmel_embedding
        self.scale = LogmelScale(logmel_embedding(reference, RATE)) if pitched else None
        self.classifier = None if pitched else load_classifier()

    def __call__(self, audio):  # noqa: ANN001, ANN204
        from ganpad.training.evaluation.classifier import predict

        if self.scale is not None:
            return None, self.scale(self.logmel(audio, self.rate))
        return predict(self.classifier, audio)


def generator_groups(generator: torch.nn.Module, t: TrainConfig) -> list[dict]:
    """The generator's parameter groups: one, or with train.modes_lr the mode head apart at
    its own rate ("base_lr", which _set_lr reads)."""
    head = [*generator.mode_parameters(), *generator.noise_parameters()] if hasattr(
        generator, "mode_parameters") else []  # fmt: skip
    if not head or not t.modes_lr:
        return [{"params": list(generator.parameters())}]
    ids = {id(p) for p in head}
    rest = [p for p in generator.parameters() if id(p) not in ids]
    return [{"params": rest}, {"params": head, "base_lr": t.modes_lr}]


def _logged(result: CriticResult, g_loss: torch.Tensor) -> dict[str, float]:
    """A step's figures for the logs: the critic's and the generator's loss and every part."""
    parts = {f"loss/{k}": v.item() for k, v in result.parts.items()}
    return {"loss/critic": result.loss.item(), "loss/generator": g_loss.item(), **parts}


def _check_stage(config: RunConfig) -> None:
    """The adversarial stage's settings, checked before any data is read."""
    t, rate = config.train, config.data.sample_rate
    for key in ("crop_s", "critic_warmup", "grad_clip", "eval_rollback", "lr_warmup"):
        if getattr(t, key) < 0:
            raise TrainError(f"train.{key} = {getattr(t, key)}: must be 0 (off) or more")
    _check_guide(config)
    if t.crop_s and config.model.family not in SYNTHS:
        raise TrainError(f"train.crop_s = {t.crop_s}: only the drumsynth and notesynth critics "
                         f"take crops, not {config.model.family}'s")  # fmt: skip
    shortest = 2 * longest_window(rate)  # the reflect padding of the longest STFT
    if t.crop_s and round(t.crop_s * rate) < shortest:
        raise TrainError(f"train.crop_s = {t.crop_s}: a crop needs at least {shortest} samples "
                         f"at {rate} Hz")  # fmt: skip
    if t.freeze_encoder and not config.model.encoder:
        raise TrainError("train.freeze_encoder: this model has no encoder (model.encoder)")
    if t.lambda_texture < 0 or not math.isfinite(t.lambda_texture):
        raise TrainError(f"train.lambda_texture = {t.lambda_texture}: must be 0 (off) or more")
    if t.lambda_texture and not (config.model.family in SYNTHS and config.model.encoder):
        raise TrainError("train.lambda_texture judges resynthesised clips: it needs a synth "
                         f"with model.encoder = true, not {config.model.family} with encoder "
                         f"= {str(config.model.encoder).lower()}")  # fmt: skip
    _check_modes_stage(config)
    if 0 < t.eval_rollback <= 1:
        raise TrainError(f"train.eval_rollback = {t.eval_rollback}: a factor over the best KID, "
                         "so 0 (off) or above 1")  # fmt: skip
    if t.eval_rollback and not t.eval_every:
        raise TrainError(f"train.eval_rollback = {t.eval_rollback} compares evaluations: set "
                         f"train.eval_every too (it is {t.eval_every})")  # fmt: skip
    if t.eval_every and t.eval_n < 3:
        raise TrainError(f"train.eval_n = {t.eval_n}: KID needs at least 3 clips")


def _check_guide(config: RunConfig) -> None:
    """train.lambda_guide's settings and judge, checked before any data is read."""
    t = config.train
    if t.lambda_guide < 0 or not math.isfinite(t.lambda_guide):
        raise TrainError(f"train.lambda_guide = {t.lambda_guide}: must be 0 (off) or more")
    if not t.lambda_guide:
        if t.guide_judge or t.guide_augment:
            raise TrainError("train.guide_judge and train.guide_augment act with "
                             "train.lambda_guide > 0, which is 0 (off)")  # fmt: skip
        return
    if not (config.model.keys and config.model.conditional):
        raise TrainError(
            "train.lambda_guide asks each GM key's label for its group: it "
            'needs a label per key (model.keys = true, data.labels = "drum-keys")'
        )
    if not t.guide_judge:
        raise TrainError(
            "train.lambda_guide: name the judge with train.guide_judge (train "
            "one on the run's kits: `ganpad judge --data KITS --out DIR`)"
        )
    try:
        check_guide(t.guide_judge)
    except (FileNotFoundError, ValueError) as exc:
        raise TrainError(str(exc)) from exc


def _guide(config: RunConfig, classes: tuple[str, ...], device: torch.device,
           rank: int) -> GroupGuide | None:  # fmt: skip
    """train.lambda_guide's judge (its settings checked by _check_guide); None when off."""
    t = config.train
    if not t.lambda_guide:
        return None
    try:
        return GroupGuide(t.guide_judge, classes, config.data.sample_rate, t.guide_augment,
                          (t.seed, rank)).to(device)  # fmt: skip
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise TrainError(f"train.guide_judge = {t.guide_judge!r}: {exc}") from exc


def _check_modes_stage(config: RunConfig) -> None:
    t, m = config.train, config.model
    staged = t.modes_first + t.noise_balance
    if min(t.modes_first, t.noise_balance, t.modes_lr) < 0:
        raise TrainError(f"train.modes_first = {t.modes_first}, noise_balance = "
                         f"{t.noise_balance}, modes_lr = {t.modes_lr}: each must be 0 (off) or "
                         "more")  # fmt: skip
    if (staged or t.modes_lr) and not (m.family == "drumsynth" and m.synth_modes):
        raise TrainError("train.modes_first, noise_balance and modes_lr are for the modes of a "
                         f"drumsynth (model.synth_modes > 0); this run is {m.family} with "
                         f"{m.synth_modes} modes")  # fmt: skip
    if staged and not m.encoder:
        raise TrainError("train.modes_first / noise_balance: those stages resynthesise clips, "
                         "which needs model.encoder = true")  # fmt: skip
    if staged > t.adversarial_from:
        raise TrainError(f"train.modes_first + noise_balance = {staged} steps of resynthesis, "
                         "then the adversary from train.adversarial_from = "
                         f"{t.adversarial_from}: set adversarial_from to {staged} or "
                         "more")  # fmt: skip


def _step_of(line: str) -> int | None:
    """The step of a metrics.jsonl line; None for a line cut short by a crash."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None
