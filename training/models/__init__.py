"""Generator and critic architectures, one module per paper."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganpad.drums import DRUM_CLASSES
from ganpad.training.config import ModelConfig
from ganpad.training.models.crop_critics import CropCritics
from ganpad.training.models.drumsynth import DrumSynthGenerator
from ganpad.training.models.gansynth import REPRESENTATIONS, GANSynthCritic, GANSynthGenerator
from ganpad.training.models.gansynth import check_shape as gansynth_shape
from ganpad.training.models.lstm_critic import SLICES as LSTM_SLICES
from ganpad.training.models.lstm_critic import LSTMCritic
from ganpad.training.models.multiview import MultiViewCritic
from ganpad.training.models.notesynth import NoteSynthGenerator
from ganpad.training.models.specgan import SLICES as SPEC_SLICES
from ganpad.training.models.specgan import SpecGANCritic, SpecGANGenerator
from ganpad.training.models.synthesis import BAND_SCALES
from ganpad.training.models.wavegan import WaveGANCritic, WaveGANGenerator, layout
from ganpad.training.models.wavenet import PatchCritic, WaveNetGenerator

FAMILIES = ("wavegan", "specgan", "wavenet-gan", "gansynth", "drumsynth", "notesynth")
SYNTHS = (
    "drumsynth",
    "notesynth",
)  # a network driving a synthesiser, judged by a multi-view critic
CRITICS = ("conv", "lstm")
SYNTH_CRITICS = {"multiview": MultiViewCritic, "crops": CropCritics}


def check_config(cfg: ModelConfig, slice_len: int) -> None:
    """Raise ValueError for a model config that cannot be built, before any data is read."""
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family {cfg.family!r}; choose from {', '.join(FAMILIES)}")
    if cfg.critic not in CRITICS:
        raise ValueError(f"unknown critic {cfg.critic!r}; choose from {', '.join(CRITICS)}")
    if cfg.family == "gansynth":
        _check_gansynth(cfg, slice_len)
    elif cfg.family in SYNTHS:
        _check_synth(cfg, slice_len)
    else:
        layout(slice_len)
    if cfg.keys and (cfg.family != "drumsynth" or not cfg.conditional):
        raise ValueError("model.keys gives a conditional drumsynth a label per GM key, not "
                         f"{'a conditional' if cfg.conditional else 'an unconditional'} "
                         f"{cfg.family}")  # fmt: skip
    if cfg.velocity and (cfg.family not in SYNTHS or not cfg.encoder or not cfg.conditional):
        what = ("" if cfg.conditional else "an unconditional ") + cfg.family
        what += "" if cfg.encoder else " without an encoder"
        raise ValueError("model.velocity moves each label's fitted latent prior: it needs a "
                         "conditional drumsynth or notesynth with model.encoder, not "
                         f"{what}")  # fmt: skip
    if cfg.programs and (cfg.family != "notesynth" or not cfg.encoder):
        raise ValueError("model.programs fits a latent Gaussian per GM program to the encoder's "
                         f"latents: it needs notesynth with model.encoder, not {cfg.family}"
                         f"{'' if cfg.encoder else ' without an encoder'}")  # fmt: skip
    if not math.isfinite(cfg.velocity_tilt):
        raise ValueError(f"model.velocity_tilt = {cfg.velocity_tilt}: must be a finite number")
    if cfg.velocity_tilt and (cfg.family not in SYNTHS or not cfg.velocity):
        raise ValueError(f"model.velocity_tilt = {cfg.velocity_tilt} brightens a synth's "
                         "partials and bands with the velocity input: it needs notesynth or "
                         f"drumsynth with model.velocity, not {cfg.family}"
                         f"{'' if cfg.velocity else ' without it'}")  # fmt: skip
    if cfg.c != 1:
        raise ValueError(f"model.c = {cfg.c}: the data is mono, so every model takes 1 channel")
    if cfg.kernel % 2 == 0:
        raise ValueError(f"model.kernel = {cfg.kernel}: strided convs need an odd kernel")
    if cfg.critic == "lstm" and slice_len % cfg.lstm_step:
        raise ValueError(f"model.lstm_step = {cfg.lstm_step} does not divide {slice_len}")
    if cfg.family == "specgan" and slice_len not in SPEC_SLICES:
        raise ValueError(
            f"specgan takes {SPEC_SLICES[0]}-sample clips (128 frames), not {slice_len}"
        )
    if cfg.family != "wavegan" and cfg.critic != "conv":
        raise ValueError(f"--critic {cfg.critic} is for wavegan; {cfg.family} has its own critic")
    if cfg.critic == "lstm" and slice_len not in LSTM_SLICES:
        raise ValueError(
            f"--critic lstm is not supported with {slice_len}-sample clips: an LSTM over "
            f"{slice_len // 4} steps is too slow to train; use --slice {LSTM_SLICES[0]}"
        )


def _check_gansynth(cfg: ModelConfig, slice_len: int) -> None:
    gansynth_shape(slice_len)
    if not cfg.conditional:
        raise ValueError("gansynth is pitch-conditional: set model.conditional = true")
    if cfg.representation not in REPRESENTATIONS:
        raise ValueError(
            f"model.representation = {cfg.representation!r}; choose from "
            f"{', '.join(REPRESENTATIONS)}"
        )


def _check_synth(cfg: ModelConfig, slice_len: int) -> None:
    for key in ("synth_bands", "synth_partials", "synth_harmonics", "synth_noises"):
        if getattr(cfg, key) < 1:
            raise ValueError(f"model.{key} = {getattr(cfg, key)}: must be at least 1")
    if cfg.synth_components < 0 or cfg.synth_fine_bands < 2:
        raise ValueError(f"model.synth_components = {cfg.synth_components} must be 0 or more and "
                         f"model.synth_fine_bands = {cfg.synth_fine_bands} at least 2")  # fmt: skip
    if cfg.synth_modes < 0 or (cfg.synth_modes and cfg.family != "drumsynth"):
        raise ValueError(f"model.synth_modes = {cfg.synth_modes}: 0 or more, and only for "
                         f"drumsynth (this is {cfg.family})")  # fmt: skip
    if cfg.mode_classes:
        unknown = sorted(set(cfg.mode_classes) - set(DRUM_CLASSES))
        if unknown:
            raise ValueError(f"model.mode_classes: {', '.join(unknown)} is not a drum class "
                             f"({', '.join(DRUM_CLASSES)})")  # fmt: skip
        if not (cfg.family == "drumsynth" and cfg.synth_modes and cfg.keys):
            raise ValueError("model.mode_classes chooses which drums play the modes: it needs "
                             "drumsynth with model.synth_modes and model.keys")  # fmt: skip
    if not (math.isfinite(cfg.mode_cap) and cfg.mode_cap >= 0):
        raise ValueError(f"model.mode_cap = {cfg.mode_cap}: must be 0 (off) or a positive number")
    if cfg.mode_cap and not (cfg.family == "drumsynth" and cfg.synth_modes and cfg.keys):
        raise ValueError("model.mode_cap bounds the hi-hats' modes: it needs drumsynth with "
                         "model.synth_modes and model.keys")  # fmt: skip
    if cfg.synth_knots < 3:
        raise ValueError(f"model.synth_knots = {cfg.synth_knots}: must be at least 3")
    if cfg.synth_span < 0 or cfg.synth_tail_knots < 0:
        raise ValueError(f"model.synth_span = {cfg.synth_span} and model.synth_tail_knots = "
                         f"{cfg.synth_tail_knots} cannot be negative")  # fmt: skip
    if (cfg.synth_tail_knots > 0) != (0 < cfg.synth_span < slice_len):
        raise ValueError(f"model.synth_span = {cfg.synth_span} and model.synth_tail_knots = "
                         f"{cfg.synth_tail_knots}: tail knots need a span shorter than the "
                         f"{slice_len}-sample clip, and a span tail knots after it")  # fmt: skip
    if cfg.synth_noises > cfg.latent:
        raise ValueError(f"model.synth_noises = {cfg.synth_noises} is more than model.latent = "
                         f"{cfg.latent}: the noise mix is read from the latent")  # fmt: skip
    if slice_len < 1024:
        raise ValueError(f"{cfg.family} needs clips of at least 1024 samples, not {slice_len}")
    if cfg.synth_band_scale not in BAND_SCALES:
        raise ValueError(f"model.synth_band_scale = {cfg.synth_band_scale!r}; choose from "
                         f"{', '.join(BAND_SCALES)}")  # fmt: skip
    if cfg.synth_critic not in SYNTH_CRITICS:
        raise ValueError(f"model.synth_critic = {cfg.synth_critic!r}; choose from "
                         f"{', '.join(SYNTH_CRITICS)}")  # fmt: skip
    if cfg.family == "notesynth" and not cfg.conditional:
        raise ValueError("notesynth is pitch-conditional: set model.conditional = true")


def build_models(cfg: ModelConfig, slice_len: int, n_classes: int,
                 rate: int) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    """(generator, critic) for a model family and critic choice, at `rate` Hz."""
    check_config(cfg, slice_len)
    if cfg.family in SYNTHS:
        synth = DrumSynthGenerator if cfg.family == "drumsynth" else NoteSynthGenerator
        critic = SYNTH_CRITICS[cfg.synth_critic](cfg.d, rate, n_classes)
        return synth(cfg, slice_len, n_classes, rate), critic
    if cfg.family == "specgan":
        return SpecGANGenerator(cfg, slice_len, n_classes), SpecGANCritic(cfg, slice_len, n_classes)
    if cfg.family == "gansynth":
        return GANSynthGenerator(cfg, slice_len, n_classes), GANSynthCritic(
            cfg, slice_len, n_classes
        )
    if cfg.family == "wavenet-gan":
        return WaveNetGenerator(cfg, slice_len, n_classes), PatchCritic(cfg, slice_len, n_classes)
    generator = WaveGANGenerator(cfg, slice_len, n_classes)
    if cfg.critic == "lstm":
        return generator, LSTMCritic(cfg, slice_len, n_classes)
    return generator, WaveGANCritic(cfg, slice_len, n_classes)


def synthesize(generator: nn.Module, z: torch.Tensor, label: torch.Tensor | None,
               velocity: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Audio [B, c, T] from any family's generator (spectral ones invert their output); a
    velocity-aware one plays `velocity` [B] (0..1), or VELOCITY_REF when None."""
    if velocity is not None and getattr(generator, "velocity", False):
        return generator.to_audio(generator(z, label, velocity=velocity))
    return generator.to_audio(generator(z, label))


def fake_batch(generator: nn.Module, real: torch.Tensor, z: torch.Tensor,
               label: torch.Tensor | None, extras: bool = True, fakes: bool = True,
               ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:  # fmt: skip
    """(what the critic sees as fake, extra generator losses by name).

    Most families draw fakes from z alone. An autoregressive one predicts each real clip from
    its own past and adds its matching loss ("match"); a synth with an encoder also
    resynthesises the real clips and adds their spectral distance and KL ("rec", "kl"), which
    only the generator step needs (`extras`), and can skip the fakes (`fakes`) when nothing
    judges them. `generator` may be wrapped in DDP.
    """
    module = getattr(generator, "module", generator)
    if getattr(module, "autoregressive", False):
        fake, match = generator(z, label, teacher=real)
        return fake, {"match": match}
    if extras and getattr(module, "encoder", None) is not None:
        return generator(z, label, teacher=real, fakes=fakes)
    return generator(z, label), {}
