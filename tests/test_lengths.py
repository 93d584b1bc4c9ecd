"""Length per sound (#27): a drumsynth made longer than its knots' span rings on past it, and
each label keeps only as much of a clip as it rings (pools, rendered files)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from ganpad.app.clip import finish_clip
from ganpad.app.engine import Engine
from ganpad.app.render import plan, render
from ganpad.app.voice_pool import VoicePool
from ganpad.audio import audible_end
from ganpad.export.exporter import LENGTH_BLOCK, ExportOptions, export_preset
from ganpad.presets import PresetError, load_preset
from ganpad.training.config import FAMILY_DEFAULTS, ModelConfig, RunConfig, set_value
from ganpad.training.models import build_models, check_config
from ganpad.training.models.synthesis import TAIL_FALL, TAIL_HZ, TAIL_TILT, Knots, tail_fall
from ganpad.training.trainer.finetune import load_preset_start
from ganpad.training.trainer.loop import Trainer

RATE, SHORT, LONG, TAIL = 16000, 4096, 8192, 3


def _model(**extra) -> ModelConfig:
    return ModelConfig(family="drumsynth", d=4, latent=16, conditional=True, encoder=True,
                       synth_bands=8, synth_partials=2, synth_knots=12, synth_components=2,
                       synth_fine_bands=16, synth_modes=8, **extra)  # fmt: skip


def test_tail_knots_keep_the_grid_and_continue_its_trend():
    short, long = Knots(12, SHORT, RATE), Knots(12, LONG, RATE, span=SHORT, tail=TAIL)
    assert long.count == 12 + TAIL and long.own == 12
    np.testing.assert_allclose(long.times[:12], short.times)
    assert float(long.times[-1]) == pytest.approx(LONG / RATE)
    falling = -10.0 * long.times[:12]  # 10 a second: steeper than the least fall
    tail = long.extend(falling, TAIL_FALL)[12:]
    np.testing.assert_allclose(tail, -10.0 * long.times[12:], atol=1e-5)
    flat = long.extend(torch.ones(12), TAIL_FALL)[12:]  # a held level still falls
    np.testing.assert_allclose(flat, 1 - TAIL_FALL * (long.times[12:] - long.times[11]), atol=1e-6)
    held = long.extend(torch.arange(12.0), None)[12:]  # a frequency holds
    assert (held == 11.0).all()
    with pytest.raises(ValueError, match="tail knots"):
        Knots(12, LONG, RATE, span=SHORT)


def test_a_tails_highs_fall_first():
    fall = tail_fall(torch.tensor([500.0, TAIL_HZ, 4 * TAIL_HZ]))
    np.testing.assert_allclose(fall, [TAIL_FALL, TAIL_FALL, TAIL_FALL * 4**TAIL_TILT], rtol=1e-6)
    long = Knots(12, LONG, RATE, span=SHORT, tail=TAIL)
    held = long.extend(torch.zeros(2, 12), fall[[0, 2], None])[:, 12:]  # a low and a high row
    assert (held[1] < held[0]).all() and held[0, 0] < 0


def test_a_lengthened_drumsynth_plays_the_short_ones_controls():
    torch.manual_seed(0)
    short, _ = build_models(_model(), SHORT, 3, RATE)
    long, _ = build_models(_model(synth_span=SHORT, synth_tail_knots=TAIL), LONG, 3, RATE)
    long.load_state_dict(short.state_dict())  # the same weights: no new parameters
    z, label = torch.randn(4, 16), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        a, b = short.controls(z, label), long.controls(z, label)
        for name in ("band_gain", "partial_amp", "partial_hz", "envelope"):
            np.testing.assert_allclose(b[name][..., :12], a[name], rtol=1e-5, atol=1e-7)
        gain = torch.log(b["band_gain"][..., 11:])  # falls from the span's last knot on
        assert (gain.diff(dim=-1) < 0).all()
        audio = long(z, label)
        clip = torch.randn(2, 1, LONG)
        np.testing.assert_allclose(long.encoder(clip)[0], long.encoder(clip[..., :SHORT])[0])
    assert audio.shape == (4, 1, LONG) and torch.isfinite(audio).all()
    assert audio[..., -1].abs().max() < 1e-6  # it ends at the new end


def test_a_lengthened_notesynth_holds_its_timbre_and_fades():
    cfg = dict(family="notesynth", d=4, latent=16, conditional=True, encoder=True,
               synth_bands=8, synth_harmonics=8, synth_knots=12)  # fmt: skip
    torch.manual_seed(0)
    short, _ = build_models(ModelConfig(**cfg), SHORT, 3, RATE)
    long, _ = build_models(ModelConfig(**cfg, synth_span=SHORT, synth_tail_knots=TAIL), LONG, 3,
                           RATE)  # fmt: skip
    long.load_state_dict(short.state_dict())
    z, label = torch.randn(4, 16), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        a, b = short.controls(z, label), long.controls(z, label)
        audio = long(z, label)
    np.testing.assert_allclose(b["amplitude"][:, :12], a["amplitude"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b["distribution"][..., :4], a["distribution"], atol=1e-6)
    assert (b["distribution"][..., 4:] - b["distribution"][..., 3:4]).abs().max() < 1e-6
    assert (torch.log(b["amplitude"][:, 11:]).diff(dim=-1) < 0).all()
    assert audio.shape == (4, 1, LONG) and audio[..., -1].abs().max() < 1e-6


@pytest.mark.parametrize(("extra", "slice_len", "match"), [
    ({"synth_tail_knots": 3}, LONG, "span"),
    ({"synth_span": SHORT}, LONG, "tail"),
    ({"synth_span": LONG, "synth_tail_knots": 3}, LONG, "shorter"),
    ({"synth_span": -100}, LONG, "negative"),
])  # fmt: skip
def test_tail_knots_need_a_shorter_span(extra, slice_len, match):
    with pytest.raises(ValueError, match=match):
        check_config(_model(**extra), slice_len)


def test_pool_buffers_hold_their_slots_length():
    pool = VoicePool(3, 2, [100, 300, 50])
    assert len(pool.audio) == 2 * (100 + 300 + 50)
    assert pool.fill(1, 1, np.ones(400, np.float32), seed=5, generation=0)
    assert pool.length[1, 1] == 300 and (pool.buffer(1, 1) == 1).all()
    assert not pool.buffer(1, 0).any() and not pool.buffer(2, 0).any()  # nothing spilled
    assert pool.fill(2, 0, np.full(20, 2.0, np.float32), seed=6, generation=0)
    assert pool.length[2, 0] == 20 and (pool.buffer(2, 0)[:20] == 2).all()


def test_a_clip_is_cut_and_faded_at_its_labels_length():
    ring = np.sin(np.arange(20000) * 0.05).astype(np.float32)  # never falls under the trim
    out = finish_clip(ring, RATE, RATE, max_frames=1000)
    assert len(out) == 1000 and out[-1] == 0.0 and abs(out[500]) > 0.1


@pytest.fixture(scope="module")
def long_preset(tmp_path_factory, gmrock, clip_cache):
    """A tiny drumsynth preset, fine-tuned into 2x longer clips (one step, learning rate 0)."""
    root = tmp_path_factory.mktemp("lengths")
    cfg = RunConfig()
    for key, value in FAMILY_DEFAULTS["drumsynth"].items():
        set_value(cfg, key, value)
    cfg.data.path, cfg.data.cache_dir, cfg.data.slice_len = str(gmrock), str(clip_cache), SHORT
    cfg.model = _model()
    cfg.train.adversarial_from = 100  # resynthesis only: two steps, nothing to diverge
    t = cfg.train
    t.steps, t.batch_size, t.checkpoint_every, t.sample_every, t.progress = 1, 4, 1, 0, False
    Trainer(cfg, root / "short").train()
    export_preset(root / "short", root / "short-preset", ExportOptions())
    start = load_preset_start(str(root / "short-preset"))
    cfg.data.slice_len, cfg.train.lr = LONG, 0.0
    cfg.model.synth_span, cfg.model.synth_tail_knots = SHORT, TAIL
    Trainer(cfg, root / "long", start=start).train()
    export_preset(root / "long", root / "long-preset", ExportOptions())
    return root


def test_a_preset_made_longer_records_each_labels_length(long_preset):
    preset = load_preset(long_preset / "long-preset")
    assert preset.samples == LONG
    for label in preset.labels:
        assert 0 < label.samples <= LONG
        assert label.samples == LONG or label.samples % LENGTH_BLOCK == 0
    session = preset.session()
    z = np.random.default_rng(3).standard_normal((32, preset.latent)).astype(np.float32)
    audio = preset.generate(session, z, np.zeros(32, np.int64))
    assert max(audible_end(clip) for clip in audio) <= preset.labels[0].samples + LENGTH_BLOCK
    engine = Engine(preset, device_rate=RATE, variations=2)
    assert list(engine.pool.rooms) == [preset.frames_of(i, RATE) for i in range(len(preset.labels))]


def _with_length(long_preset, tmp_path, label: int, samples: int):
    """A copy of the lengthened preset whose preset.json gives `label` this length."""
    folder = tmp_path / "edited"
    folder.mkdir()
    for f in (long_preset / "long-preset").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    meta = json.loads((folder / "preset.json").read_text())
    meta["labels"][label]["samples"] = samples
    (folder / "preset.json").write_text(json.dumps(meta))
    return folder


def test_rendered_one_shots_stop_at_their_labels_length(long_preset, tmp_path):
    preset = load_preset(_with_length(long_preset, tmp_path, 0, 1024))
    files = render(preset, tmp_path / "out", plan(preset, 2, seed=0), rate=44100)
    rooms = {label.name: preset.frames_of(label.index, 44100) for label in preset.labels}
    assert rooms[preset.labels[0].name] == 2823  # 1024 samples at 16 kHz
    assert len(files) == 2 * len(preset.labels)
    for path in files:
        assert sf.info(str(path)).frames <= rooms[path.parent.name]


@pytest.mark.parametrize("samples", [LONG + 1, 0, True])
def test_a_label_length_that_is_no_length_is_refused(long_preset, tmp_path, samples):
    with pytest.raises(PresetError, match=r"labels\[1\]\.samples"):
        load_preset(_with_length(long_preset, tmp_path, 1, samples))
