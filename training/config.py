"""Typed run configuration: a dataclass per concern, loaded from TOML, overridable from the CLI."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from ganpad.atomic import atomic_write_text


@dataclass
class DataConfig:
    path: str = ""
    sample_rate: int = 16000
    slice_len: int = 16384
    onset_align: bool = True
    onset_threshold_db: float = -30.0  # relative to the clip's peak
    preroll_ms: float = 1.0  # kept before the detected onset
    fade_ms: float = 10.0  # fade-out where a clip is cut to the slice
    tail_db: float = 0.0  # < 0: fade each clip out where it last is this loud under its peak
    normalize: bool = True  # peak-normalise each clip
    silence_db: float = -60.0  # a clip whose peak is below this is silent
    min_ms: float = 5.0  # shorter clips are skipped as too short
    cache_dir: str = ""  # "" -> the user cache folder
    exclude_kits: list[str] = field(default_factory=list)  # Hydrogen kit names held out
    # drums (kit xml, names) | drum-keys (the same, plus the GM key names give) | pitch
    # (notes.json, note names, or YIN)
    labels: str = "drums"
    # drums: a clip nothing names is labelled by the drum classifier and left out of training
    # (listed as "unsure") below this softmax probability. 0.6 measured on 431 held-out real
    # hits (GMRockKit, TR808EmulationKit, TimGM6mb kits): 0.5 -> 0.6 drops as many wrong labels
    # as right ones (12 each), 0.6 -> 0.7 drops 2 wrong for 12 right.
    autolabel_min_confidence: float = 0.6
    autolabel: bool = True  # False: a clip nothing names is left out (the classifier's own data)
    # pitch: the GM program (0..127) of the notes whose notes.json names none (a pack of your
    # own), so a model.programs preset learns them as that instrument; -1: none
    program: int = -1


@dataclass
class ModelConfig:
    family: str = "wavegan"
    d: int = 64  # model size (WaveGAN's d)
    c: int = 1  # audio channels
    latent: int = 100
    kernel: int = 25
    phase_shuffle: int = 2
    conditional: bool = False
    critic: str = "conv"  # conv (WaveGAN) | lstm
    lstm_step: int = 4  # lstm critic: samples per LSTM step (the report's 4)
    lstm_layers: int = 1  # lstm critic: 1 or 2 layers of 64 units
    wn_channels: int = 32  # wavenet-gan: residual channels
    wn_skip: int = 64  # wavenet-gan: skip channels
    wn_layers: int = 10  # wavenet-gan: dilated layers (dilations 1..512, repeating)
    upsample: str = "transpose"  # "transpose" or "nearest" (Donahue et al. tried both)
    gl_iterations: int = 16  # specgan: Griffin-Lim iterations back to audio (also in the graph)
    representation: str = "if"  # gansynth: "if" (log magnitude + IF) or "mel-if" (M-IF-Mel)
    synth_bands: int = 24  # drumsynth/notesynth: noise bands from 20 Hz to Nyquist
    synth_band_scale: str = "log"  # drumsynth/notesynth: bands evenly spaced in log or mel
    synth_partials: int = 6  # drumsynth: swept, decaying sinusoids
    synth_harmonics: int = 64  # notesynth: harmonics of the note's fundamental
    synth_knots: int = 48  # drumsynth/notesynth: control points in time (dense at the attack)
    synth_noises: int = 4  # drumsynth/notesynth: fixed noises the latent mixes into one
    synth_components: int = 0  # drumsynth: noises of fine fixed spectrum, own envelope each
    synth_fine_bands: int = 128  # drumsynth: linear bands of the components' spectra
    # drumsynth: sinusoids at fixed frequencies (geometric from 60 Hz to 16 kHz) whose
    # amplitudes the network sets on a coarse knot grid: the lines of metal, wood and skins
    synth_modes: int = 0
    # drumsynth with modes: the drum classes whose labels (keys included) play them and have
    # their noise balanced over them; empty: every label. The rest sound as without modes
    mode_classes: list[str] = field(default_factory=list)
    # drumsynth with modes: > 0, no one mode of a hi-hat label (classes in HAT_CLASSES, keys
    # included) carries more than this times the energy of the rest of its clip: a hat is dense
    # metal with no line alone, and a mode ringing on past its noise whistles. 0: off. A graph
    # setting (tools/regraph.py --set); the weights do not depend on it
    mode_cap: float = 0.0
    # drumsynth/notesynth: > 0, the samples the synth_knots knots span (a shorter clip's length),
    # with synth_tail_knots more after them to the clip's end, where a cymbal or a note rings on; a
    # preset made longer so plays its first synth_span samples as before (docs/models.md)
    synth_span: int = 0
    synth_tail_knots: int = 0
    encoder: bool = False  # drumsynth/notesynth: train as a VAE-GAN (an encoder, resynthesis)
    synth_critic: str = "multiview"  # drumsynth/notesynth: multiview | crops (MPD + MB-STFT)
    # drumsynth: labels are core.drums.KEYED_LABELS (data.labels = "drum-keys"), each read as
    # a class one-hot beside a GM key one-hot (all zero for a class label)
    keys: bool = False
    # drumsynth/notesynth with an encoder: a velocity input (0..1) that moves each label's
    # latent prior along the line its layered clips move on with velocity (fitted like the
    # prior, within each drum's layers), so hard hits differ from soft ones in sound
    velocity: bool = False
    # notesynth with an encoder: one latent Gaussian per GM program of the training notes
    # (ganpad data soundfont's notes.json), drifting with pitch and velocity, chosen by the
    # graph's `program` input, so a musician asks for "a piano" rather than a region of z
    programs: bool = False
    # notesynth or drumsynth with velocity: played sounds (not resynthesis) get brighter with
    # velocity (0..1), as from a sampler's velocity-to-filter modulator, where the data's layers
    # do not (FluidR3's piano, the layered kicks). Notes weight harmonic k by
    # k^(tilt x (velocity - 100/127)), renormalised (0.5: k^0.11 at velocity 1, k^-0.24 at 0.3);
    # drums tilt their spectrum about its mean ln Hz, which moves about tilt x (velocity -
    # 100/127), power kept (DrumSynthGenerator._tilted). 0: off; MIDI 100 is never changed
    velocity_tilt: float = 0.0


@dataclass
class TrainConfig:
    steps: int = 100_000  # generator updates
    batch_size: int = 64  # per process
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.9
    n_critic: int = 5
    loss: str = "wgan-gp"  # wgan-gp | lsgan | wgan | bwgan | hinge
    gp_lambda: float = 10.0  # gradient penalty weight (wgan-gp, bwgan)
    drift: float = 0.0  # wgan-gp: weight of E[D(real)^2] (progressive GAN's 0.001)
    ls_a: float = 0.0  # lsgan: target for fake clips in the critic loss
    ls_b: float = 1.0  # lsgan: target for real clips
    ls_c: float = 1.0  # lsgan: target the generator pushes fakes to
    clip_value: float = 0.01  # wgan: critic weights clamped to [-c, c]
    bw_s: float = 0.0  # bwgan: Sobolev smoothness s
    bw_p: float = 2.0  # bwgan: Sobolev exponent p
    bw_gamma: float = 5.0  # bwgan: gamma (the report's c)
    lambda_adv: float = 1.0  # weight of the adversarial generator loss
    lambda_match: float = 1.0  # wavenet-gan: weight of the matching (likelihood) loss
    lambda_rec: float = 1.0  # synths with model.encoder: weight of the resynthesis distance
    lambda_kl: float = 0.05  # synths with model.encoder: weight of the latents' KL term
    # synths with model.encoder: weight of the resynthesis's texture distance (how peaked each
    # third-octave band is: lines against noise, which lambda_rec's band sums cannot see)
    lambda_texture: float = 0.0
    adversarial_from: int = 0  # steps of resynthesis alone before critic and adversary join
    lambda_aux: float = 1.0  # critics with a classifier head (gansynth): AC-GAN term weight
    lambda_fm: float = 0.0  # feature matching: L1 between real and fake mean critic features
    augment: list[str] = field(default_factory=list)  # critic inputs, real and fake: gain, shift
    crop_s: float = 0.0  # > 0: the critic judges crops this long (onset or later), not clips
    critic_warmup: int = 0  # steps from adversarial_from that train the critic alone
    freeze_encoder: bool = False  # adversarial steps leave the encoder (and so the prior) as is
    grad_clip: float = 0.0  # > 0: gradient norm of G and of D clipped to this
    # > 0: each network's learning rate ramps up linearly over its first this many steps (a
    # fine-tune's fresh Adam otherwise jolts the preset's weights in its first steps)
    lr_warmup: int = 0
    # drumsynth with model.synth_modes: the first this many steps train the mode head alone,
    # by resynthesis, with the noise muted, so the modes take the lines before the noise can
    # fill them (left with the noise, the losses silenced the modes; docs/models.md)
    modes_first: int = 0
    # then this many steps train only each label's noise gains (model and modes held), by
    # resynthesis with the noise on: where a key's lines ring, its noise gives way
    noise_balance: int = 0
    # > 0: the mode head's own learning rate; its logits step MODE_RATE times this (3e-5:
    # 3e-3, which tools/modes_stage.py measured to work, where train.lr's 2e-4 steps 2e-2)
    modes_lr: float = 0.0
    # model.keys: a frozen judge of the GM instrument groups, trained on the run's own kits
    # (`ganpad judge --data KITS --out DIR`: DIR/key_judge.safetensors), asks each fake on a
    # key's label to sound like the key's group, at this weight (trainer/guide.py; 0: off)
    guide_judge: str = ""
    lambda_guide: float = 0.0
    guide_augment: bool = False  # the judge hears each fake through its training augmentation
    balance_classes: bool = False  # draw the class uniformly, then a clip of it
    ema_decay: float = 0.999
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    divergence_threshold: float = 1e4  # |loss| above this counts as divergence
    max_rollbacks: int = 5
    rollback_lr_factor: float = 0.5
    progress: bool = True
    eval_every: int = 0  # steps between cheap evaluations (0: never)
    eval_n: int = 256  # clips generated for each
    eval_reference: str = ""  # real clips: a folder or a name (heldout-drums); "": training clips
    # > 0: an evaluation whose KID is above this many times the best so far rolls the run
    # back to checkpoints/best (a stage that makes things worse is undone, not shipped)
    eval_rollback: float = 0.0


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class ConfigError(ValueError):
    pass


# What a family trains with, applied when `--model` picks it for a new run; the command line
# and --set still win. GANSynth: the progressive GAN's latent, single critic step, Adam betas
# and drift term, on pitch labels; but Adam 2e-3 (StyleGAN2's rate for the same equalised
# layers at a fixed resolution) where the paper's 8e-4 leaves the pitch classifier at chance
# for hundreds of steps, and an AC-GAN weight of 10 so pitch is not drowned by the scores.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "gansynth": {
        "model.latent": 256, "model.conditional": True, "data.labels": "pitch",
        "train.n_critic": 1, "train.lr": 2e-3, "train.beta1": 0.0, "train.beta2": 0.99,
        "train.drift": 0.001, "train.lambda_aux": 10.0,
    },
    # DrumSynth and NoteSynth: the recipe that won the side-by-side table in README (#14, #15):
    # resynthesis through an encoder first (a KL weight small enough that the latents carry
    # the clip, then a Gaussian fitted to them per label), the critic after
    # train.adversarial_from steps (hinge, feature matching, augmentation, AC head).
    "drumsynth": {
        "model.d": 16, "model.latent": 64, "model.conditional": True, "model.encoder": True,
        "train.loss": "hinge", "train.n_critic": 1, "train.lr": 5e-4, "train.beta1": 0.8,
        "train.beta2": 0.99, "train.batch_size": 16, "train.lambda_kl": 0.001,
        "train.adversarial_from": 2500, "train.lambda_fm": 2.0, "train.lambda_aux": 1.0,
        "train.augment": ["gain", "shift"], "train.balance_classes": True,
    },
    "notesynth": {
        "model.d": 16, "model.latent": 64, "model.conditional": True, "model.encoder": True,
        "data.labels": "pitch", "train.loss": "hinge", "train.n_critic": 1, "train.lr": 5e-4,
        "train.beta1": 0.8, "train.beta2": 0.99, "train.batch_size": 16,
        "train.lambda_kl": 0.001, "train.adversarial_from": 2000, "train.lambda_fm": 2.0,
        "train.lambda_aux": 1.0, "train.augment": ["gain", "shift"],
    },
    # WaveNet-GAN, sized for a CPU (a musician's laptop). Each of the 5 critic steps and the
    # generator step runs the WaveNet teacher-forced over every sample of the batch (256-way
    # logits per sample), so time and memory grow with batch x slice. The general defaults,
    # batch 64 at 16384 samples, are WaveGAN's published settings (Donahue et al. 2018), not
    # a published WaveNet-GAN's. At them, `--d 4 --steps 2` took 5.4 min and 11.6 GB peak RSS
    # on 2 cores; at batch 4, 14 s and 1.3 GB. 16384 is the shortest slice the models' length
    # check takes. --batch 64 (or train.batch_size=64) trains at WaveGAN's batch where memory
    # allows.
    "wavenet-gan": {"train.batch_size": 4, "data.slice_len": 16384},
}  # fmt: skip

# `ganpad train --adversarial`: the synths' adversarial stage (#28) from the first step, for
# fine-tuning a preset that resynthesis trained. The vocoders' recipe made cheap: MPD and
# multi-band STFT critics on 0.25 s crops (HiFi-GAN, DAC), the critic warmed up alone while the
# generator waits (BigVGAN's freeze step), gradients clipped, the encoder frozen so the fitted
# prior stays valid (RAVE's phase 2), and resynthesis, feature matching and adversary weighted
# 15 : 2 : 1 as DAC weighs mel distance, feature matching and adversary, at DAC's and RAVE's
# learning rate of 1e-4. The warm-ups are sized for a 10-minute CPU fine-tune of a personal pack
# (about 250 steps at 44.1 kHz); the shipped presets' longer runs set their own.
ADVERSARIAL_STAGE: dict[str, Any] = {
    "model.synth_critic": "crops", "train.crop_s": 0.25, "train.adversarial_from": 0,
    "train.critic_warmup": 50, "train.freeze_encoder": True, "train.grad_clip": 1.0,
    "train.lambda_rec": 15.0, "train.lambda_fm": 2.0, "train.lambda_adv": 1.0,
    "train.loss": "hinge", "train.n_critic": 1, "train.lr": 1e-4, "train.lr_warmup": 100,
}  # fmt: skip


_POSITIVE = {
    "train.steps", "train.batch_size", "train.n_critic", "train.log_every",
    "train.checkpoint_every", "train.keep_checkpoints", "train.eval_n", "model.d",
    "model.latent", "data.sample_rate", "data.slice_len",
}  # fmt: skip


def to_dict(config: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(raw: dict[str, Any], source: str = "config") -> RunConfig:
    config = RunConfig()
    for section, values in raw.items():
        if section not in {f.name for f in dataclasses.fields(RunConfig)}:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in values.items():
            set_value(config, f"{section}.{key}", value, source)
    return config


def load_toml(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    return from_dict(raw, str(path))


def save_toml(config: RunConfig, path: str | Path) -> None:
    atomic_write_text(path, tomli_w.dumps(to_dict(config)))


def set_value(config: RunConfig, dotted: str, value: Any, source: str = "override") -> None:
    """Set `section.key` to `value`, converting command-line strings to the field type."""
    section_name, _, key = dotted.partition(".")
    section = getattr(config, section_name, None)
    if section is None or not dataclasses.is_dataclass(section) or not key:
        raise ConfigError(f"{source}: unknown setting {dotted!r}")
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(section))
        raise ConfigError(f"{source}: unknown setting {dotted!r} (known: {known})")
    value = _coerce(hints[key], value, f"{source}: {dotted}")
    if dotted in _POSITIVE and value < 1:
        raise ConfigError(f"{source}: {dotted} must be at least 1, got {value}")
    if dotted == "data.tail_db" and value > 0:
        raise ConfigError(f"{source}: {dotted} is a level under the peak: 0 (off) or less, "
                          f"got {value}")  # fmt: skip
    setattr(section, key, value)


def apply_overrides(config: RunConfig, overrides: list[str]) -> None:
    """Apply `section.key=value` strings."""
    for item in overrides:
        dotted, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not section.key=value")
        set_value(config, dotted.strip(), value.strip())


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(hint) or (str,)
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(item_type, v, where) for v in value]
    if origin is types.UnionType:
        raise ConfigError(f"{where}: unsupported type {hint}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint in (int, float, str):
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return hint(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from exc
    raise ConfigError(f"{where}: unsupported type {hint}")
