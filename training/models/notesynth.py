"""NoteSynth: a pitch-conditioned harmonic-plus-noise synthesiser driven by a GAN (after
DDSP, Engel et al. 2020, trained adversarially). The note's fundamental is the MIDI pitch's
frequency inside the graph, so the pitch is right by construction; the GAN learns the
timbre: how loud each harmonic is over time and the noise around it.

Generator, for d (hidden width 32d), H harmonics, K bands, J knots
z [latent] ++ one-hot pitch [P]
dense 32d, leaky ReLU 0.2  (x3)
  -> amplitude                [J]      exp-sigmoid
  -> harmonic distribution    [H, J/3] softmax over harmonics, on a coarser knot grid (timbre
                                       moves slower than loudness); harmonics at or above
                                       Nyquist are muted and the rest renormalised
  -> noise band gains         [K, J]   exp-sigmoid, band noise from a fixed bank mixed by z
f0 = 440 * 2^((pitch - 69) / 12);  f_k = k f0
audio = DC-block(amplitude * sum_k dist_k sin(2 pi f_k t + phi_k) + band noise) * tail fade

phi_k are fixed pseudo-random start phases (a sum of harmonics in phase is a click-like pulse
no instrument makes). The critic is `multiview.MultiViewCritic`, its class head over pitches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ganpad.training.config import ModelConfig
from ganpad.training.models.autoencoding import VELOCITY_REF, SynthGenerator
from ganpad.training.models.synthesis import (
    GAIN_TOP,
    NOISE_SEED,
    TAIL_FALL,
    Knots,
    NoiseBank,
    control_network,
    dc_block,
    decaying_bias,
    exp_sigmoid,
    midi_to_hz,
    tail_fade,
    unit_mix,
    weighted_partials,
)


class NoteSynthGenerator(SynthGenerator):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int, rate: int):
        super().__init__(cfg.latent, rate, cfg.d, cfg.encoder, n_classes, cfg.velocity,
                         cfg.synth_span, cfg.programs)  # fmt: skip
        if n_classes < 1:
            raise ValueError("notesynth is pitch-conditional: it needs notes labelled by pitch")
        self.n_classes, self.rate, self.samples = n_classes, rate, slice_len
        self.harmonics, self.bands = cfg.synth_harmonics, cfg.synth_bands
        self.velocity_tilt = float(cfg.velocity_tilt)
        span, tail = cfg.synth_span, cfg.synth_tail_knots  # a longer clip: see DrumSynth
        self.knots = Knots(cfg.synth_knots, slice_len, rate, span=span, tail=tail)
        self.slow_knots = Knots(max(3, cfg.synth_knots // 3), slice_len, rate, span=span,
                                tail=-(-tail // 3))  # fmt: skip
        self.noise = NoiseBank(
            cfg.synth_noises, cfg.synth_bands, slice_len, rate, cfg.synth_band_scale
        )
        j, width = cfg.synth_knots, 32 * cfg.d
        self.net = control_network(cfg.latent + n_classes, width)
        self.amplitude = nn.Linear(width, j)
        self.distribution = nn.Linear(width, self.harmonics * self.slow_knots.own)
        self.band_gain = nn.Linear(width, self.bands * j)
        decaying_bias(self.amplitude, 1, self.knots, 0.5)
        decaying_bias(self.band_gain, self.bands, self.knots, 0.01 / math.sqrt(self.bands))
        with torch.no_grad():  # start from a 1/k spectrum, in tune
            self.distribution.weight.mul_(0.1)
            k = torch.arange(1, self.harmonics + 1, dtype=torch.float32)
            self.distribution.bias.copy_((-torch.log(k)).repeat_interleave(self.slow_knots.own))
        # The MIDI pitch of each label: set from the data's classes, saved with the weights.
        self.register_buffer("pitch", torch.full((n_classes,), 60.0))
        self.register_buffer("one_hot", torch.eye(n_classes), persistent=False)
        self.register_buffer("k", torch.arange(1, self.harmonics + 1).float(), persistent=False)
        phases = np.random.default_rng(NOISE_SEED + 1).uniform(0, 1, self.harmonics)
        self.register_buffer("phase0", torch.from_numpy(phases).float(), persistent=False)
        self.register_buffer("fade", tail_fade(slice_len, rate), persistent=False)

    def fit_labels(self, classes: tuple[str, ...] | list[str]) -> None:
        """Labels are MIDI pitches ("60"): their numbers drive the oscillators."""
        try:
            pitches = [float(c) for c in classes]
        except ValueError as exc:
            raise ValueError(f"notesynth needs MIDI pitch labels, got {list(classes)}") from exc
        self.pitch.copy_(torch.tensor(pitches))

    def label_pitch(self) -> torch.Tensor:
        return self.pitch

    def controls(self, z: torch.Tensor, label: torch.Tensor | None,
                 velocity: torch.Tensor | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        """The synthesiser's settings for each note (played at `velocity`, 0..1, where the
        velocity tilt is on): knot values and its partials' Hz."""
        if label is None:
            raise ValueError("this generator is pitch-conditional: pass a label")
        h = self.net(torch.cat([z, self.one_hot[label]], dim=1))
        b, j, knots = z.shape[0], self.knots.own, self.knots
        # The pitches' Hz come from a constant (folded into the graph at export), so both
        # engines start from the same f0; nothing learned moves it.
        hz = midi_to_hz(self.pitch)[label][:, None] * self.k  # [B, H]
        audible = (hz < 0.5 * self.rate).float()
        weights = self.distribution(h).view(b, self.harmonics, self.slow_knots.own)
        weights = torch.softmax(self.slow_knots.extend(weights, None), dim=1)  # a tail holds it
        weights = weights * audible[:, :, None]
        if velocity is not None and self.velocity_tilt:
            weights = weights * self._tilt(velocity)[:, :, None]
        weights = weights / (weights.sum(dim=1, keepdim=True) + 1e-7)
        return {
            "amplitude": exp_sigmoid(
                knots.extend(self.amplitude(h), TAIL_FALL), GAIN_TOP
            ),  # [B, J]
            "distribution": weights,  # [B, H, J / 3]
            "band_gain": exp_sigmoid(
                knots.extend(self.band_gain(h).view(b, self.bands, j), TAIL_FALL), GAIN_TOP
            ),
            "harmonic_hz": hz,
        }

    def _tilt(self, velocity: torch.Tensor) -> torch.Tensor:
        """[B, H]: each harmonic's weight at this velocity, 1 at MIDI 100 (VELOCITY_REF)."""
        exponent = self.velocity_tilt * (velocity.float() - VELOCITY_REF)
        return torch.exp(exponent[:, None] * torch.log(self.k)[None, :])

    def synthesize(self, z: torch.Tensor, label: torch.Tensor | None, noise_mix: torch.Tensor,
                   velocity: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Decoder latent [B, latent], pitch index [B], noise-bank mix source [B, >= noises]
        (+ velocity [B] for the tilt) -> audio [B, 1, T]."""
        c = self.controls(z, label, velocity)
        tones = weighted_partials(c["harmonic_hz"], self.phase0, c["distribution"],
                                  self.slow_knots.hats(), self.rate)  # fmt: skip
        tones = tones * self.knots.interpolate(c["amplitude"])
        noise = self.noise(unit_mix(noise_mix, self.noise.noises),
                           self.knots.interpolate(c["band_gain"]))  # fmt: skip
        audio = dc_block(tones + noise, self.rate) * self.fade
        return audio[:, None, :]
