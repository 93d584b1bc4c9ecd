"""DrumSynth: a GAN-driven drum synthesiser, this project's drums recipe for CPU-hours.

The generator does not draw waveforms sample by sample; a small network sets the controls of
a fixed synthesiser, the structure every drum hit shares (a noise body shaped in bands, a few
swept and decaying partials, an attack and a decay), so the GAN only has to learn the
controls. It cannot make DC (a blocker at the end) or a fixed spectral comb (no transposed
convolutions), and every hit ends (band gains on a decaying knot grid and a tail fade).

Generator, for d (hidden width 32d), K bands, P partials, J knots
z [latent] ++ one-hot class [C]  (model.keys: ++ GM key [47], 8 x one-hot, zero for a class)
dense 32d, leaky ReLU 0.2  (x3)
  -> noise band gains        [K, J]   exp-sigmoid, band noise from a fixed bank mixed by z
  -> partial amplitudes      [P, J]   exp-sigmoid
  -> partial frequencies     [P, J]   30 Hz .. 0.45 rate, log scale; integrated to phase
  -> component spectra       [R, F]   exp-sigmoid, over F linear bands (when R > 0)
  -> component envelopes     [R, J]   exp-sigmoid
  -> mode amplitudes         [M, J/3] exp-sigmoid, sinusoids at M fixed frequencies (when M > 0),
                                      plus a table read by the label alone (its own lines),
                                      and a label table of noise gains (band and component)
audio = DC-block(band noise + components + partials + modes) * tail fade        [T]
(model.mode_cap: a hi-hat label's modes each held to at most that times the energy of the
rest of its clip, so no single line rings on past the hat's noise and whistles)
(model.velocity_tilt: a played hit tilts its spectrum about its own mean log frequency, which
moves by about tilt x (velocity - 100/127) natural-log units, its power kept: harder brighter)

The components (model.synth_components) are noises of fine, fixed spectrum each under its own
envelope: the K coarse bands cannot draw the inharmonic lines of a hat or a cymbal, nor the
resonance of a conga; 128 linear bands of 62.5 Hz at 16 kHz can.

The modes (model.synth_modes) are sinusoids at fixed frequencies, 60 Hz to 16 kHz in equal
ratios, each under an amplitude the network sets on a coarse knot grid: a cowbell, a clave
or a conga is a few lines that ring and decay, which the partials, whose frequencies are
learnt, did not find (in the shipped preset they settled at 30-50 Hz with no amplitude);
choosing amplitudes of fixed lines is a linear problem. Left to the usual losses beside the
noise, the modes stay silent; trained first with the noise muted (train.modes_first), through
a table per label as well as the network, and with each label's noise gains balanced over them
after (train.noise_balance), the percussion keys' lines sound through (docs/models.md).

The critic is `multiview.MultiViewCritic`: log-STFT views at several resolutions beside
waveform views, each a patch critic with a projection term, sharing an auxiliary class head.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ganpad.drums import DRUM_CLASSES, KEY_LABELS, KEYED_LABELS, label_class, label_key
from ganpad.training.config import ModelConfig
from ganpad.training.models.autoencoding import VELOCITY_REF, SynthGenerator
from ganpad.training.models.synthesis import (
    GAIN_TOP,
    NOISE_SEED,
    Knots,
    NoiseBank,
    ShapedNoise,
    band_centres,
    control_network,
    dc_block,
    decaying_bias,
    exp_sigmoid,
    sines,
    tail_fade,
    tail_fall,
    unit_mix,
    weighted_partials,
)

LOW_HZ = 30.0  # lowest partial frequency
MODE_HZ = (60.0, 16000.0)  # the modes' lowest and highest frequency (the top under 0.45 rate)
# The mode head's output is multiplied by this (its weights divided at the start), so Adam
# steps its logits this many times the learning rate: unscaled, a mode as low as its start
# would take some 25 000 steps at 2e-4 to become audible. Mind the rate it makes: 3e-3 a step
# on the logits worked in tools/modes_stage.py, 1e-1 diverged. Its gradients are scaled too
# (they dominate a clip of the whole generator's gradient norm). Changing it changes what
# every modes checkpoint plays.
MODE_RATE = 100.0
# Each mode's amplitude at the attack before training, decaying over 0.15 s: -80 dB, so a
# preset given modes sounds as it did. Started at -40 dB instead, the fine-tune silenced them
# all within 300 steps (docs/models.md, "A label per GM key, and modes").
MODE_START = 1e-4
# A key's one-hot is this value, not 1: under Adam a weight moves about the learning rate a
# step whatever its input, so the key weights (zero when a class preset is widened to keys,
# beside class weights trained for thousands of steps) move the network this many times
# faster (the equalised learning rate's trick). At 1, 300 steps at 2e-4 moved them 0.003.
KEY_CODE = 8.0
# model.velocity_tilt divides by a clip's variance of ln Hz (`_tilted`), no less than this:
# a quarter octave's standard deviation, so a near pure tone is not tilted without bound.
MIN_SPREAD = (0.25 * math.log(2.0)) ** 2
# ... and weights no element more than 12 dB up or down: a hat whose power sits high has a
# small spread, and without a bound its quietest low band took half a soft hit's power.
TILT_MAX = math.log(4.0)
TOP_FRACTION = 0.45  # highest partial frequency, as a fraction of the rate
# model.mode_cap's labels: a hi-hat's sound is dense metal, no line alone (a cowbell's or a
# ride bell's lines may stand over their noise, and do in real kits)
HAT_CLASSES = ("closed_hat", "open_hat")


def label_width(n_classes: int, keys: bool) -> int:
    """How many numbers a label is to the control network."""
    return len(DRUM_CLASSES) + len(KEY_LABELS) if keys else n_classes


def label_codes(n_classes: int, keys: bool) -> torch.Tensor:
    """Row i: what label i is to the network. A one-hot per label; with GM keys
    (KEYED_LABELS), a class one-hot beside a key one-hot, so a key starts from its class and
    clips that only have a class still teach every key of it."""
    if not keys:
        return torch.eye(max(n_classes, 1))
    if n_classes != len(KEYED_LABELS):
        raise ValueError(f"model.keys: the labels are the {len(KEYED_LABELS)} of "
                         f"core.drums.KEYED_LABELS, not {n_classes}")  # fmt: skip
    codes = torch.zeros(len(KEYED_LABELS), label_width(n_classes, keys))
    for i, name in enumerate(KEYED_LABELS):
        codes[i, DRUM_CLASSES.index(label_class(name))] = 1.0
        key = label_key(name)
        if key is not None:
            codes[i, len(DRUM_CLASSES) + list(KEY_LABELS).index(key)] = KEY_CODE
    return codes


class DrumSynthGenerator(SynthGenerator):
    def __init__(self, cfg: ModelConfig, slice_len: int, n_classes: int, rate: int):
        super().__init__(cfg.latent, rate, cfg.d, cfg.encoder, n_classes, cfg.velocity,
                         cfg.synth_span)  # fmt: skip
        if cfg.synth_noises > cfg.latent:
            raise ValueError(
                f"model.synth_noises = {cfg.synth_noises} needs a latent at least that long"
            )
        self.n_classes, self.rate, self.samples = n_classes, rate, slice_len
        self.keyed = cfg.keys
        self.velocity_tilt = float(cfg.velocity_tilt)
        self.bands, self.partials = cfg.synth_bands, cfg.synth_partials
        span, tail = cfg.synth_span, cfg.synth_tail_knots
        self.knots = Knots(cfg.synth_knots, slice_len, rate, span=span, tail=tail)
        self.noise = NoiseBank(
            cfg.synth_noises, cfg.synth_bands, slice_len, rate, cfg.synth_band_scale
        )
        j = cfg.synth_knots
        self.net = control_network(cfg.latent + label_width(n_classes, cfg.keys), 32 * cfg.d)
        if cfg.keys:  # a key starts as its class sounds; one no clip trains stays so
            with torch.no_grad():
                self.net[0].weight[:, cfg.latent + len(DRUM_CLASSES) :] = 0.0
        self.band_gain = nn.Linear(32 * cfg.d, self.bands * j)
        self.partial_amp = nn.Linear(32 * cfg.d, self.partials * j)
        self.partial_freq = nn.Linear(32 * cfg.d, self.partials * j)
        decaying_bias(self.band_gain, self.bands, self.knots, 0.3 / math.sqrt(self.bands))
        self.components = cfg.synth_components
        if self.components:
            self.fine = ShapedNoise(cfg.synth_noises, cfg.synth_fine_bands, slice_len, rate,
                                    "linear", seed=NOISE_SEED + 1)  # fmt: skip
            self.spectrum = nn.Linear(32 * cfg.d, self.components * cfg.synth_fine_bands)
            self.envelope = nn.Linear(32 * cfg.d, self.components * j)
            with torch.no_grad():  # flat spectra a little under full scale, quiet decays
                self.spectrum.weight.mul_(0.1)
                self.spectrum.bias.fill_(-1.0)
            decaying_bias(self.envelope, self.components, self.knots, 0.3 / self.components)
        decaying_bias(self.partial_amp, self.partials, self.knots, 0.3 / self.partials)
        self.modes = cfg.synth_modes
        if self.modes:
            self.slow_knots = Knots(max(3, cfg.synth_knots // 3), slice_len, rate, span=span,
                                    tail=-(-tail // 3))  # fmt: skip
            self.mode_amp = nn.Linear(32 * cfg.d, self.modes * self.slow_knots.own)
            decaying_bias(self.mode_amp, self.modes, self.slow_knots, MODE_START)
            # A label's own lines, whatever the latent: a cowbell and a clave reach the modes
            # apart even where the network's hidden state holds them together (a class preset
            # widened to keys). Zero at the start: the modes sound as the head alone sets them.
            self.mode_label = nn.Linear(label_width(n_classes, cfg.keys), self.modes *
                                        self.slow_knots.own, bias=False)  # fmt: skip
            # And how loud a label's noise is over its lines (a logit offset per noise band and
            # component, in MODE_RATE steps too): where a key's lines ring, its noise can give
            # way, which the shared network did not learn (docs/models.md). Zero at the start.
            self.noise_label = nn.Linear(label_width(n_classes, cfg.keys), self.bands +
                                         self.components, bias=False)  # fmt: skip
            with torch.no_grad():  # the head's output is scaled by MODE_RATE (see there)
                self.mode_amp.weight.div_(MODE_RATE)
                self.mode_amp.bias.div_(MODE_RATE)
                self.mode_label.weight.zero_()
                self.noise_label.weight.zero_()
            top = min(MODE_HZ[1], TOP_FRACTION * rate)
            hz = np.geomspace(MODE_HZ[0], top, self.modes)
            self.register_buffer("mode_hz", torch.from_numpy(hz).float(), persistent=False)
            self.register_buffer("mode_fall", tail_fall(self.mode_hz)[:, None], persistent=False)
            # model.mode_classes: 1 for a label that plays modes and balances its noise, 0 for
            # one that sounds as without them (a kick, a clap)
            on = [label_class(name) in cfg.mode_classes for name in KEYED_LABELS]
            on = torch.tensor(on if cfg.mode_classes else [True] * max(n_classes, 1)).float()
            self.register_buffer("mode_on", on, persistent=False)
            # model.mode_cap: each mode's energy is amp G amp' / 2 for its knot values amp
            hats = self.slow_knots.hats().double()
            self.register_buffer("mode_gram", (hats @ hats.T).float(), persistent=False)
            capped = [label_class(name) in HAT_CLASSES for name in KEYED_LABELS] if cfg.keys else []
            self.register_buffer("mode_capped", torch.tensor(capped or [False]).float(),
                                 persistent=False)  # fmt: skip
        self.mode_cap = float(cfg.mode_cap)
        self.top_hz = TOP_FRACTION * rate
        with torch.no_grad():  # partials start spread over 50 Hz .. 2 kHz, flat in time
            self.partial_freq.weight.mul_(0.1)
            start = np.geomspace(50.0, 2000.0, self.partials)
            pos = np.log(start / LOW_HZ) / np.log(self.top_hz / LOW_HZ)
            self.partial_freq.bias.copy_(torch.from_numpy(np.repeat(np.log(pos / (1 - pos)), j)))
        self.register_buffer("one_hot", label_codes(n_classes, cfg.keys), persistent=False)
        # Each noise band's least fall in a tail (highs die first); components' and partials'
        # follow their own frequency in `controls`.
        hz = band_centres(rate, cfg.synth_bands, cfg.synth_band_scale)
        self.register_buffer("band_hz", torch.from_numpy(hz).float(), persistent=False)
        self.register_buffer("band_fall", tail_fall(self.band_hz)[:, None], persistent=False)
        fine = band_centres(rate, cfg.synth_fine_bands, "linear")
        self.register_buffer("fine_hz", torch.from_numpy(fine).float(), persistent=False)
        self.mute_noise = False  # train.modes_first: the modes' stage hears the tones alone
        self.register_buffer("fade", tail_fade(slice_len, rate), persistent=False)

    def label_group(self) -> torch.Tensor:
        """Keyed: a label's class (the first one-hot of its code); else each label its own."""
        if not self.keyed:
            return super().label_group()
        return self.one_hot[:, : len(DRUM_CLASSES)].argmax(1)

    def controls(self, z: torch.Tensor, label: torch.Tensor | None,
                 velocity: torch.Tensor | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        """The synthesiser's knot values for each clip (played at `velocity`, 0..1, where the
        velocity tilt is on)."""
        x = z
        if self.n_classes:
            if label is None:
                raise ValueError("this generator is class-conditional: pass a label")
            x = torch.cat([z, self.one_hot[label]], dim=1)
        h = self.net(x)
        b, j, knots = z.shape[0], self.knots.own, self.knots
        pos = torch.sigmoid(knots.extend(self.partial_freq(h).view(b, self.partials, j), None))
        code = x[:, z.shape[1] :] if self.n_classes else None
        band_gain, envelope = self.band_gain(h).view(b, self.bands, j), 0.0
        on = self.mode_on[label][:, None, None] if self.modes and code is not None else 1.0
        if self.modes and code is not None:
            offset = MODE_RATE * self.noise_label(code)[:, :, None] * on
            band_gain, envelope = band_gain + offset[:, : self.bands], offset[:, self.bands :]
        partial_amp = self.partial_amp(h).view(b, self.partials, j)
        partial_hz = LOW_HZ * torch.exp(pos * math.log(self.top_hz / LOW_HZ))
        partial_fall = tail_fall(partial_hz[..., j - 1 : j])  # at the span's last knot
        c = {
            "band_gain": exp_sigmoid(knots.extend(band_gain, self.band_fall), GAIN_TOP),
            "partial_amp": exp_sigmoid(knots.extend(partial_amp, partial_fall), GAIN_TOP),
            "partial_hz": partial_hz,
        } | self._component_controls(h, code, envelope, on)
        if velocity is not None and self.velocity_tilt:
            c = self._tilted(c, velocity)
        return c

    def _tilted(
        self, c: dict[str, torch.Tensor], velocity: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """`c` played at `velocity`: each band, component bin, partial and mode weighted by
        exp(e x (ln Hz - the clip's mean ln Hz)), then every amplitude scaled so the clip's power
        stays; at MIDI 100 nothing changes. e is tilt x (velocity - VELOCITY_REF) over twice the
        clip's variance of ln Hz, so the mean ln Hz moves by about tilt x (velocity -
        VELOCITY_REF) whatever the drum: one slope would move a snare's broad noise many times
        as far as a kick's narrow body (measured: 2.5x against 1.15x at one setting). No weight
        passes 4 or 1/4 (TILT_MAX), which bounds the move for a narrow sound."""
        power, log_hz = self._elements(c)
        total = power.sum(1, keepdim=True)
        mean = (power * log_hz).sum(1, keepdim=True) / total
        spread = (power * (log_hz - mean) ** 2).sum(1, keepdim=True) / total
        exponent = self.velocity_tilt * (velocity.float()[:, None] - VELOCITY_REF)
        exponent = (exponent / (2 * spread.clamp_min(MIN_SPREAD)))[:, :, None]  # [B, 1, 1]
        mean = mean[:, :, None]

        def weight(hz: torch.Tensor) -> torch.Tensor:
            return torch.exp((exponent * (torch.log(hz) - mean)).clamp(-TILT_MAX, TILT_MAX))

        out = dict(c)
        out["band_gain"] = c["band_gain"] * weight(self.band_hz[None, :, None])
        out["partial_amp"] = c["partial_amp"] * weight(c["partial_hz"])
        if self.components:
            out["spectrum"] = c["spectrum"] * weight(self.fine_hz[None, None, :])
        if self.modes:
            out["mode_amp"] = c["mode_amp"] * weight(self.mode_hz[None, :, None])
        scale = torch.sqrt(total / (self._elements(out)[0].sum(1, keepdim=True) + 1e-12))
        for name in ("band_gain", "partial_amp", "envelope", "mode_amp"):
            if name in out:
                out[name] = out[name] * scale[:, :, None]
        return out

    def _elements(self, c: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """([B, N] power, [B, N] ln Hz) of each band, partial, component bin and mode, each
        band and bin a unit noise and each partial and mode a unit sine, over the knots."""
        b = c["band_gain"].shape[0]
        parts = [((c["band_gain"] ** 2).mean(-1), self.band_hz),
                 (0.5 * (c["partial_amp"] ** 2).mean(-1), c["partial_hz"].mean(-1))]  # fmt: skip
        if self.components:
            bins = (c["envelope"] ** 2).mean(-1)[:, :, None] * c["spectrum"] ** 2
            parts.append((bins.flatten(1), self.fine_hz.repeat(self.components)))
        if self.modes:
            parts.append((0.5 * (c["mode_amp"] ** 2).mean(-1), self.mode_hz))
        power = torch.cat([p for p, _ in parts], dim=1)
        log_hz = torch.cat([torch.log(hz).expand(b, -1) for _, hz in parts], dim=1)
        return power, log_hz

    def _capped(self, amp: torch.Tensor, rest: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Mode amplitudes [B, M, knots] with no hi-hat mode's energy over model.mode_cap times
        that of the rest of its clip [B, T] (noise and partials); other labels' as they were."""
        energy = 0.5 * ((amp @ self.mode_gram) * amp).sum(-1)  # [B, M]
        limit = self.mode_cap * (rest**2).sum(-1, keepdim=True)
        scale = torch.sqrt(limit / (energy + 1e-12)).clamp(max=1.0)
        capped = self.mode_capped[label][:, None]
        return amp * (capped * scale + (1 - capped))[:, :, None]

    def mode_parameters(self) -> list[nn.Parameter]:
        """What sets the modes' amplitudes: the head on the hidden state and the label's table."""
        return [*self.mode_amp.parameters(), *self.mode_label.parameters()] if self.modes else []

    def noise_parameters(self) -> list[nn.Parameter]:
        """Each label's noise gains over its modes (with modes only)."""
        return list(self.noise_label.parameters()) if self.modes else []

    def _component_controls(
        self,
        h: torch.Tensor,
        code: torch.Tensor | None,
        envelope: torch.Tensor | float = 0.0,
        on: torch.Tensor | float = 1.0,
    ) -> dict[str, torch.Tensor]:
        b, r = h.shape[0], self.components
        modes = {}
        if self.modes:
            logits = self.mode_amp(h) + (self.mode_label(code) if code is not None else 0.0)
            amp = MODE_RATE * logits.view(b, self.modes, self.slow_knots.own)
            amp = exp_sigmoid(self.slow_knots.extend(amp, self.mode_fall), GAIN_TOP)
            modes = {"mode_amp": amp * on}
        if not self.components:
            return modes
        envelope = self.envelope(h).view(b, r, self.knots.own) + envelope
        spectrum = exp_sigmoid(self.spectrum(h).view(b, r, self.fine.bands), 1.0)
        if self.knots.tail:  # a component falls in a tail by its spectrum's centroid
            centroid = spectrum @ self.fine_hz[:, None] / (spectrum.sum(-1, keepdim=True) + 1e-7)
            envelope = self.knots.extend(envelope, tail_fall(centroid))
        return modes | {
            "spectrum": spectrum,
            "envelope": exp_sigmoid(envelope, GAIN_TOP),
        }

    def synthesize(self, z: torch.Tensor, label: torch.Tensor | None, noise_mix: torch.Tensor,
                   velocity: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Decoder latent [B, latent] (+ label [B]), noise-bank mix source [B, >= noises] ->
        audio [B, 1, T] (velocity: moved the latent already; here only the velocity tilt)."""
        c = self.controls(z, label, velocity)
        mix = unit_mix(noise_mix, self.noise.noises)
        band_gain, partial_amp = self.knots.interpolate_each(c["band_gain"], c["partial_amp"])
        noise = self.noise(mix, band_gain)
        if self.components:
            noise = noise + self.fine.components(mix, c["spectrum"], self.knots, c["envelope"])
        if self.mute_noise:  # zeroed, not skipped: DDP wants every head in the graph
            noise = noise * 0.0
        phase = self.knots.integrate(c["partial_hz"])
        tones = (partial_amp * sines(phase)).sum(dim=1)
        if self.modes:
            amp = c["mode_amp"]
            if self.mode_cap and label is not None and not self.mute_noise:
                amp = self._capped(amp, noise + tones, label)
            hz = self.mode_hz + torch.zeros_like(z[:, :1])  # [B, M]; a traced batch stays free
            tones = tones + weighted_partials(hz, torch.zeros_like(self.mode_hz), amp,
                                              self.slow_knots.hats(), self.rate)  # fmt: skip
        audio = dc_block(noise + tones, self.rate) * self.fade
        return audio[:, None, :]
