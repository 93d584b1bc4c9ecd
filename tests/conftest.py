"""Shared fixtures: real drum data from Debian's hydrogen-data and tiny run configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers

DRUMKITS = Path("/usr/share/hydrogen/data/drumkits")
GMROCK = DRUMKITS / "GMRockKit"


@pytest.fixture(scope="session")
def gmrock() -> Path:
    if not (GMROCK / "drumkit.xml").exists():
        pytest.fail(f"{GMROCK} is missing: apt-get install hydrogen-data (.ci/run does this)")
    return GMROCK


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clip-cache")


@pytest.fixture
def tiny_config(gmrock: Path, clip_cache: Path):
    """A WaveGAN small enough to train a few steps on two cores in about a second."""
    from ganpad.training.config import RunConfig

    def make(**train):
        cfg = RunConfig()
        cfg.data.path = str(gmrock)
        cfg.data.cache_dir = str(clip_cache)
        cfg.model.d = 4
        cfg.train.batch_size = 4
        cfg.train.n_critic = 2
        cfg.train.log_every = 1
        cfg.train.sample_every = 2
        cfg.train.checkpoint_every = 2
        cfg.train.progress = False
        for key, value in train.items():
            setattr(cfg.train, key, value)
        return cfg

    return make


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, gmrock: Path, clip_cache: Path) -> Path:
    """A class-conditional d=4 WaveGAN trained 2 steps on GMRockKit."""
    from ganpad.training.config import RunConfig
    from ganpad.training.trainer.loop import Trainer

    cfg = RunConfig()
    cfg.data.path = str(gmrock)
    cfg.data.cache_dir = str(clip_cache)
    cfg.model.d = 4
    cfg.model.conditional = True
    cfg.train.steps = 2
    cfg.train.batch_size = 4
    cfg.train.n_critic = 1
    cfg.train.progress = False
    run = tmp_path_factory.mktemp("tiny-run")
    Trainer(cfg, run).train()
    return run


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    from ganpad.export.exporter import ExportOptions, export_preset

    out = tmp_path_factory.mktemp("presets") / "tiny-drums"
    export_preset(tiny_run, out, ExportOptions())
    return out


TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def train_notes(root: Path, clip_cache: Path, name: str, *extra: str,
                model: str = "gansynth") -> tuple[Path, Path]:  # fmt: skip
    """(run, preset): a d=4 `model` trained 2 steps on notes 60-64 rendered from TimGM6mb,
    through the same commands a musician types."""
    from ganpad.cli import main

    data = root / "notes"
    if not data.exists():
        render = ["data", "soundfont", TIMGM, "--out", str(data), "--programs", "0",
                  "--pitches", "60-64", "--velocities", "100", "--seconds", "1.024"]  # fmt: skip
        assert main(render) == 0
    run = root / f"run-{name}"
    assert main(["train", "--model", model, "--data", str(data), "--out", str(run),
                 "--d", "4", "--batch", "4", "--steps", "2", "--set",
                 f"data.cache_dir={clip_cache}", "--set", "train.progress=false",
                 "--set", "train.log_every=1", *extra]) == 0  # fmt: skip
    preset = root / name
    assert main(["export", str(run), "--out", str(preset)]) == 0
    return run, preset


@pytest.fixture(scope="session")
def soundfont_notes():
    """Four real notes [4, 1, 16384]: piano C3, guitar C4, violin G4, flute G5."""
    import numpy as np
    import torch

    from ganpad.training.data.soundfont import render_note

    played = [render_note(TIMGM, program, pitch, 100, 0.8)[:16384]
              for program, pitch in ((0, 48), (24, 60), (40, 67), (73, 79))]  # fmt: skip
    padded = [np.pad(n, (0, 16384 - len(n))) for n in played]
    return torch.from_numpy(np.stack(padded)).float()[:, None]


@pytest.fixture(scope="session")
def tiny_notes(tmp_path_factory: pytest.TempPathFactory, clip_cache: Path) -> tuple[Path, Path]:
    return train_notes(tmp_path_factory.mktemp("gansynth"), clip_cache, "tiny-notes")


@pytest.fixture
def jack_server():
    """A private jackd with the dummy backend (48 kHz, period 128), stopped afterwards.

    Real-time scheduling keeps a 2-core machine from dropping cycles while tests run; where it
    is not permitted jackd says so and runs without it.
    """
    from helpers.jack_rig import JackServer

    server = JackServer(realtime=True).start()
    yield server
    server.stop()


def locked_kit(preset, seed0: int = 11) -> dict:
    """A kit JSON locking every slot of `preset` to a known seed."""
    from ganpad.app.keymap import KeyMap

    names = KeyMap.for_preset(preset).names
    slots = [
        {"name": n, "seed": seed0 + i, "morph_to": -1, "amount": 0.0} for i, n in enumerate(names)
    ]
    return {"format": "ganpad-kit/1", "preset": preset.name, "slots": slots}


def tiny_drumsynth(gmrock: Path, clip_cache: Path, keys: bool):
    """A d=4 DrumSynth with an encoder in the adversarial stage, on GMRockKit at 16 kHz."""
    from ganpad.training.config import ADVERSARIAL_STAGE, RunConfig, set_value

    cfg = RunConfig()
    for key, value in ADVERSARIAL_STAGE.items():
        set_value(cfg, key, value)
    cfg.data.path, cfg.data.cache_dir = str(gmrock), str(clip_cache)
    cfg.data.labels = "drum-keys" if keys else "drums"
    m = cfg.model
    m.family, m.d, m.latent, m.conditional, m.encoder, m.keys = "drumsynth", 4, 16, True, True, keys
    m.synth_bands, m.synth_partials, m.synth_knots = 8, 2, 12
    t = cfg.train
    t.batch_size, t.log_every, t.checkpoint_every, t.sample_every = 4, 1, 2, 0
    t.progress, t.critic_warmup, t.steps = False, 0, 2
    return cfg


def check_velocity_tilt(generator, z, label, mix, rate: int, teacher) -> tuple:
    """A synth with model.velocity_tilt, played hard (1.0), soft (0.3) and at MIDI 100: MIDI
    100 plays what no velocity plays, a resynthesis is untilted; returns (hard/soft centroid
    ratio per clip, hard/soft level in dB per clip)."""
    import torch

    from ganpad.training.evaluation.diagnostics import spectral_centroid
    from ganpad.training.models.autoencoding import VELOCITY_REF

    n, tilt = len(z), generator.velocity_tilt
    with torch.no_grad():
        hard, soft, mid = (generator.synthesize(z, label, mix, torch.full((n,), v))[:, 0]
                           for v in (1.0, 0.3, VELOCITY_REF))  # fmt: skip
        plain = generator.synthesize(z, label, mix)[:, 0]
    torch.testing.assert_close(mid, plain)  # MIDI 100 is the data's own sound
    losses = []
    for t in (tilt, 0.0):  # a resynthesis copies the real sound: no tilt on the copy
        generator.velocity_tilt = t
        torch.manual_seed(1)
        losses.append(generator(z, label, teacher, velocity=torch.ones(n))[1]["rec"])
    generator.velocity_tilt = tilt
    assert losses[0] == losses[1]
    ratio = spectral_centroid(hard.numpy(), rate) / spectral_centroid(soft.numpy(), rate)
    level = 10 * torch.log10((hard**2).mean(1) / (soft**2).mean(1))
    return ratio, level


@pytest.fixture(scope="session")
def timgm_kits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TimGM6mb's GM drum kits rendered key by key, as Hydrogen kit folders."""
    from ganpad.training.data.soundfont_drums import build_drum_kits

    out = tmp_path_factory.mktemp("timgm-kits")
    build_drum_kits(TIMGM, out)  # 44.1 kHz, resampled by the loader as any kit
    return out


def pytest_collection_modifyitems(items: list) -> None:
    """The real-time end-to-end tests first: after minutes of training tests this machine's
    host gives it less CPU time, and jackd drops cycles with no instrument at all."""
    items.sort(key=lambda item: "test_jack_e2e" not in item.nodeid)
