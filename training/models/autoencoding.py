"""The synthesis generators' common side: the trainer's generator protocol and, optionally, an
encoder that makes the generator the decoder of a VAE-GAN (Larsen et al. 2016; RAVE, Caillon
& Esling 2021, trains a synthesis decoder the same way, spectral distance then adversary).

Trained alone, a GAN's generator learns only from what its critic can say, which on two CPU
cores is slow. With an encoder, every real clip also teaches the generator directly: the
encoder maps it to a latent (a Gaussian, kept near the prior by a KL term), the generator
resynthesises it from that latent and the clip's label, and a multi-resolution spectral
distance scores the copy. The critic still judges clips drawn from the prior, so what a
musician plays (random latents) is what the adversary sharpens. Only the generator is
exported: the encoder lives in the fine-tuning checkpoint.

Encoder: log-mel [bands, frames] -> conv 3 (w) -> 3 x conv 3 stride 2 (w) -> mean and max over
time -> dense [2 x latent] (mean, log-variance); w = 8d, leaky ReLU 0.2 after each conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ganpad.presets.preset import DEFAULT_VELOCITY
from ganpad.training.trainer.losses import gaussian_kl, spectral_distance, texture_distance

MEL_BANDS = 64
# The velocity a label's prior mean stands for: MIDI 100, what a SoundFont render, a single
# sample of unknown velocity and the engine's default note are taken to be.
VELOCITY_REF = DEFAULT_VELOCITY
# A label's velocity line is its own when at least this many of its drums have layers of
# several velocities; with fewer, its group's (a key takes its class's), or none.
MIN_LAYERED = 2
# General MIDI's programs: a programs-aware generator keeps a prior row for each (the fitted
# ones flagged), so its buffers never change shape with the data.
GM_PROGRAMS = 128
# A program's prior mean drifts with pitch: by `program_slope` per octave from this MIDI note.
PITCH_REF = 60.0


class ClipEncoder(nn.Module):
    def __init__(self, latent: int, rate: int, d: int, samples: int = 0):
        super().__init__()
        import librosa

        self.n_fft = 1024 * max(1, round(rate / 16000))
        self.hop = self.n_fft // 4
        mel = librosa.filters.mel(sr=rate, n_fft=self.n_fft, n_mels=MEL_BANDS, fmin=20.0)
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        w = 8 * d
        self.convs = nn.ModuleList([nn.Conv1d(MEL_BANDS, w, 3, 1, 1)] +
                                   [nn.Conv1d(w, w, 3, 2, 1) for _ in range(3)])  # fmt: skip
        self.out = nn.Linear(2 * w, 2 * latent)
        # > 0: only a clip's first this many samples are heard (a generator made longer
        # encodes its clips as it did before; its tail follows from the start)
        self.samples = samples

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, 1, T] -> (mean, log-variance) of the latent, each [B, latent]."""
        if self.samples:
            audio = audio[..., : self.samples]
        spec = torch.stft(audio.reshape(audio.shape[0], -1).float(), self.n_fft, self.hop,
                          window=self.window, return_complex=True).abs() ** 2  # fmt: skip
        x = torch.log(self.mel @ spec + 1e-6)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        mean, log_var = self.out(torch.cat([x.mean(dim=2), x.amax(dim=2)], 1)).chunk(2, dim=1)
        return mean, log_var.clamp(-10.0, 4.0)


class SynthGenerator(nn.Module):
    """Base of DrumSynth and NoteSynth: `synthesize(z, label)` is the model; this adds the
    trainer's protocol and the encoder when `model.encoder` is on."""

    # A partial's phase gathers its Hz times seconds in cycles, so the rounding of its
    # frequency (engines differ in the last place) grows with time: parity allows for it as
    # for the spectral models.
    spectral = True

    def __init__(self, latent: int, rate: int, d: int, encoder: bool, n_labels: int,
                 velocity: bool = False, heard: int = 0, programs: bool = False):  # fmt: skip
        """`heard` > 0: the encoder hears a clip's first this many samples (model.synth_span).
        `programs`: a prior per GM program as well (`fit_programs`), for pitched labels."""
        super().__init__()
        self.encoder = ClipEncoder(latent, rate, d, heard) if encoder else None
        self.rate = rate
        self.velocity = velocity
        self.texture = False  # train.lambda_texture: a resynthesis is also judged on texture
        # Where a label's latents live, as the encoder placed the training clips: z ~ N(0, I)
        # is mapped to mean + chol @ z before synthesis. The standard normal until fitted.
        labels = max(1, n_labels)
        self.register_buffer("prior_mean", torch.zeros(labels, latent))
        self.register_buffer("prior_chol", torch.eye(latent).repeat(labels, 1, 1))
        if velocity:  # how far a label's mean moves per unit of velocity: none until fitted
            self.register_buffer("prior_velocity", torch.zeros(labels, latent))
        self.programs = programs
        if programs:  # where a program's notes lie: mean + slope x octaves + velocity line
            self.register_buffer("program_fitted", torch.zeros(GM_PROGRAMS, dtype=torch.bool))
            self.register_buffer("program_mean", torch.zeros(GM_PROGRAMS, latent))
            self.register_buffer("program_slope", torch.zeros(GM_PROGRAMS, latent))
            self.register_buffer("program_velocity", torch.zeros(GM_PROGRAMS, latent))
            self.register_buffer("program_chol", torch.eye(latent).repeat(GM_PROGRAMS, 1, 1))

    @torch.no_grad()
    def fit_prior(self, audio: torch.Tensor, labels: torch.Tensor | None, batch: int = 64,
                  keep: Sequence[bool] | None = None, velocity: torch.Tensor | None = None,
                  instrument: torch.Tensor | None = None,
                  program: torch.Tensor | None = None) -> None:  # fmt: skip
        """Fit each label's Gaussian to the encoder's latents of the training clips (after
        Ghosh et al. 2020: a deterministic-leaning autoencoder, then a density fitted ex post).
        A label with no clips takes its group's clips (a key its class's), or keeps its
        Gaussian where `keep` says it was learnt before (a fine-tune's preset knew it).

        Each covariance is shrunk towards its diagonal by L / (n + L) for n clips of a label in
        L dimensions, so a label with few clips still gets a usable Cholesky factor.

        Velocity-aware, with each clip's `velocity` (NaN: unknown) and layered `instrument`
        (-1: none): first each label's velocity line (`fit_velocity`), then the Gaussian of
        the latents moved along it to VELOCITY_REF. Programs-aware, with each clip's GM
        `program` (-1: none): each program's prior too (`fit_programs`).
        """
        if self.encoder is None:
            raise ValueError("fit_prior needs the encoder (model.encoder = true)")
        codes = torch.cat([self.encoder(audio[i : i + batch])[0]
                           for i in range(0, len(audio), batch)])  # fmt: skip
        labels = torch.zeros(len(codes), dtype=torch.long) if labels is None else labels.cpu()
        labels = labels.to(codes.device)
        layered = self.velocity and velocity is not None and instrument is not None
        if layered:
            velocity, instrument = velocity.to(codes.device), instrument.to(codes.device)
        if self.programs and program is not None:
            heard = (velocity, instrument) if layered else (None, None)
            self.fit_programs(codes, labels, program.to(codes.device), *heard)
        if layered:
            self.fit_velocity(codes, labels, velocity, instrument, keep)
            codes = codes - _velocity_shift(velocity)[:, None] * self.prior_velocity[labels]
        group = self.label_group().to(codes.device)
        for label in range(len(self.prior_mean)):
            x = codes[labels == label].double()
            if not len(x) and keep is not None and keep[label]:
                continue  # learnt before (a fine-tune's preset) and not in these clips
            if not len(x):
                x = codes[group[labels] == group[label]].double()
            if not len(x):
                continue
            self.prior_mean[label] = x.mean(0).float()
            self.prior_chol[label] = _shrunk_cholesky(x - x.mean(0)).float()

    @torch.no_grad()
    def fit_programs(self, codes: torch.Tensor, labels: torch.Tensor, program: torch.Tensor,
                     velocity: torch.Tensor | None = None,
                     instrument: torch.Tensor | None = None) -> None:  # fmt: skip
        """Each GM program's prior, from the latents of its notes: its velocity line (within
        each note's layers, as `fit_velocity`), then the least-squares line of the latents on
        pitch (octaves from PITCH_REF: a register's own colour), and the shrunk Gaussian of
        what is left. One latent then plays the same instrument on every key. A program
        these notes lack keeps what it had (a fine-tune's preset learnt it)."""
        octave = (self.label_pitch().to(codes.device)[labels] - PITCH_REF) / 12
        layers = _centred_layers(codes, velocity, instrument) if velocity is not None else None
        for p in torch.unique(program[program >= 0]).tolist():
            rows = program == p
            x = codes[rows].double()
            if layers is not None:
                slope = _layered_slope(rows, instrument, *layers)
                line = torch.zeros_like(x[0]) if slope is None else slope.double()
                x = x - _velocity_shift(velocity[rows]).double()[:, None] * line
                self.program_velocity[p] = line.float()
            o = octave[rows].double()
            oc = o - o.mean()
            spread = (oc**2).sum()
            slope = (oc[:, None] * (x - x.mean(0))).sum(0) / spread if spread > 0 else 0 * x[0]
            mean = x.mean(0) - o.mean() * slope
            self.program_mean[p] = mean.float()
            self.program_slope[p] = slope.float()
            self.program_chol[p] = _shrunk_cholesky(x - mean - o[:, None] * slope).float()
            self.program_fitted[p] = True

    @torch.no_grad()
    def fit_velocity(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor,
        velocity: torch.Tensor,
        instrument: torch.Tensor,
        keep: Sequence[bool] | None = None,
    ) -> None:
        """Each label's velocity line: the least-squares slope of its clips' latents on their
        velocity within each layered drum (so a kit's own sound does not count as velocity).
        A label with fewer than MIN_LAYERED such drums takes its group's line; one that
        `keep` says was learnt before and has none here keeps its own."""
        layers = _centred_layers(codes, velocity, instrument)
        group = self.label_group().to(codes.device)
        for label in range(len(self.prior_velocity)):
            slope = _layered_slope(labels == label, instrument, *layers)
            if slope is None and keep is not None and keep[label]:
                continue  # learnt before, not in these clips' layers
            if slope is None:
                slope = _layered_slope(group[labels] == group[label], instrument, *layers)
            self.prior_velocity[label] = 0.0 if slope is None else slope

    def label_pitch(self) -> torch.Tensor:
        """[labels]: each label's MIDI pitch, for a generator whose labels are pitches."""
        raise ValueError(f"{type(self).__name__}'s labels are not pitches")

    def label_group(self) -> torch.Tensor:
        """[labels]: the group whose clips a label with none of its own takes its prior from;
        each label its own here (a keyed drumsynth groups keys by class)."""
        return torch.arange(len(self.prior_mean))

    def from_prior(self, z: torch.Tensor, label: torch.Tensor | None,
                   velocity: torch.Tensor | None = None,
                   program: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """z ~ N(0, I) [B, latent] -> a latent where the label's training clips lie (those
        played at `velocity` [B], 0..1, for a velocity-aware generator), or with `program`
        [B] (GM programs) where that program's notes at the label's pitch lie."""
        if program is not None:
            return self._from_program(z, label, velocity, program)
        index = label if label is not None else torch.zeros_like(z[:, 0], dtype=torch.long)
        mean = self.prior_mean[index]
        if self.velocity and velocity is not None:
            mean = mean + (velocity - VELOCITY_REF)[:, None] * self.prior_velocity[index]
        return mean + (self.prior_chol[index] @ z[:, :, None])[:, :, 0]

    def _from_program(self, z: torch.Tensor, label: torch.Tensor | None,
                      velocity: torch.Tensor | None, program: torch.Tensor
                      ) -> torch.Tensor:  # fmt: skip
        if not self.programs or label is None:
            raise ValueError("a program needs a programs-aware generator and a pitch label")
        octave = (self.label_pitch()[label] - PITCH_REF) / 12
        mean = self.program_mean[program] + octave[:, None] * self.program_slope[program]
        if self.velocity and velocity is not None:
            mean = mean + (velocity - VELOCITY_REF)[:, None] * self.program_velocity[program]
        return mean + (self.program_chol[program] @ z[:, :, None])[:, :, 0]

    def fit_features(self, audio: torch.Tensor) -> None:
        """Nothing to fit: the critic sees audio."""

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def to_audio(self, output: torch.Tensor) -> torch.Tensor:
        return output

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None,
                teacher: torch.Tensor | None = None, fakes: bool = True,
                velocity: torch.Tensor | None = None,
                program: torch.Tensor | None = None):  # fmt: skip
        """z [B, latent] (+ label, velocity, GM program) -> audio [B, 1, T]. With `teacher`
        (real clips [B, 1, T], same labels): (audio from z, or None without `fakes`; {"rec":
        spectral distance of the resynthesised teacher, "kl": KL of its latents from the
        prior, and with `texture` "texture": its texture_distance})."""
        # The noise bank's mix comes from z itself: it is randomness, not something to fit.
        latent = self.from_prior(z, label, velocity, program) if fakes else None
        played = velocity if self.velocity else None  # a resynthesis plays what it copies
        audio = self._synthesize(latent, label, z, played) if fakes else None
        if teacher is None:
            return audio
        copy, mean, log_var = self.resynthesize(teacher, label)
        extras = {"rec": spectral_distance(copy, teacher, self.rate),
                  "kl": gaussian_kl(mean, log_var)}  # fmt: skip
        if self.texture:  # train.lambda_texture
            extras["texture"] = texture_distance(copy, teacher, self.rate)
        return audio, extras

    def resynthesize(
        self, teacher: torch.Tensor, label: torch.Tensor | None, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real clips [B, 1, T] (and their labels) -> (their copies through the encoder and the
        synthesiser, the latents' mean, log-variance); `sample`: a latent drawn as training
        draws it, else the mean."""
        if self.encoder is None:
            raise ValueError("this generator has no encoder: set model.encoder = true")
        mean, log_var = self.encoder(teacher)
        latent = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean) if sample else mean
        return self._synthesize(latent, label, torch.randn_like(latent)), mean, log_var

    def _synthesize(self, z: torch.Tensor, label: torch.Tensor | None, noise_mix: torch.Tensor,
                    velocity: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        # Always in float32, also under bf16 autocast: a partial's phase sums Hz x seconds
        # to thousands of cycles, and the inverse DFTs have no bf16 kernels.
        with torch.autocast(z.device.type, enabled=False):
            return self.synthesize(z.float(), label, noise_mix.float(), velocity)


def _velocity_shift(velocity: torch.Tensor) -> torch.Tensor:
    """How far each clip lies from VELOCITY_REF along a velocity line (0 where unknown)."""
    known = ~torch.isnan(velocity)
    return torch.where(known, velocity - VELOCITY_REF, torch.zeros_like(velocity))


def _centred_layers(codes: torch.Tensor, velocity: torch.Tensor, instrument: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(layered mask, velocities and latents each centred on their own instrument's mean):
    what a velocity line is fitted to, so an instrument's own sound does not count."""
    layered = (instrument >= 0) & ~torch.isnan(velocity)
    dv = torch.zeros_like(velocity, dtype=codes.dtype)
    dz = torch.zeros_like(codes)
    for drum in torch.unique(instrument[layered]):
        rows = layered & (instrument == drum)
        dv[rows] = velocity[rows] - velocity[rows].mean()
        dz[rows] = codes[rows] - codes[rows].mean(0)
    return layered, dv, dz


def _layered_slope(rows: torch.Tensor, instrument: torch.Tensor, layered: torch.Tensor,
                   dv: torch.Tensor, dz: torch.Tensor) -> torch.Tensor | None:  # fmt: skip
    """The least-squares slope of latents on velocity over `rows`' layered clips, or None with
    fewer than MIN_LAYERED instruments of several velocities among them."""
    rows = rows & layered
    if len(torch.unique(instrument[rows & (dv != 0)])) < MIN_LAYERED:
        return None
    return (dv[rows, None] * dz[rows]).sum(0) / (dv[rows] ** 2).sum()


def _shrunk_cholesky(x: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of the covariance of centred rows x [n, L] (double), shrunk towards its
    diagonal by L / (n + L), so few rows still give a usable factor (about the identity for
    one row)."""
    n, latent = x.shape
    eye = torch.eye(latent, dtype=x.dtype, device=x.device)
    cov = x.T @ x / (n - 1) if n > 1 else eye
    shrink = latent / (n + latent)
    cov = (1 - shrink) * cov + shrink * torch.diag(torch.diag(cov)) + 1e-6 * eye
    return torch.linalg.cholesky(cov)
