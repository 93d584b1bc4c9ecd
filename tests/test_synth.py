"""The synthesis generators (DrumSynth, NoteSynth), their DSP parts and the multi-view critic:
tiny models, real GMRockKit drums and real TimGM6mb notes."""

import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import soundfile as sf
import torch
from conftest import train_notes

from ganpad.presets import load_preset
from ganpad.training.config import ModelConfig
from ganpad.training.evaluation.diagnostics import comb_peak, dc_ratio, decay_time, high_band_share
from ganpad.training.evaluation.metrics import track_pitch
from ganpad.training.models import build_models, check_config
from ganpad.training.models.synthesis import (
    Knots,
    NoiseBank,
    ShapedNoise,
    _band_filters,
    dc_block,
    sines,
)
from ganpad.training.trainer.augment import augment, delay
from ganpad.training.trainer.losses import feature_matching

RATE = 16000


def _tiny(family: str = "drumsynth", **changes) -> ModelConfig:
    cfg = ModelConfig(family=family, d=4, latent=16, conditional=True, synth_bands=8,
                      synth_partials=2, synth_harmonics=16, synth_knots=12)  # fmt: skip
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def test_knots_interpolate_linearly_and_integrate_exactly():
    knots = Knots(10, 4000, RATE)
    assert float(knots.times[0]) == 0.0 and knots.times[-1] == pytest.approx(4000 / RATE)
    spacing = torch.diff(knots.times[1:])
    assert (spacing[1:] > spacing[:-1]).all()  # dense at the attack, sparse at the end
    values = torch.randn(3, 10, dtype=torch.float64)
    curve = knots.interpolate(values)
    t = np.arange(4000) / RATE
    expected = np.stack([np.interp(t, knots.times.numpy(), v) for v in values.numpy()])
    assert np.abs(curve.numpy() - expected).max() < 2e-3 * values.abs().max()  # fp16 basis
    # The integral of the piecewise-linear curve, against a fine running sum of it, and exactly
    # against whole trapezoids up to each sample's segment plus the part of that segment.
    integral = knots.integrate(values)
    reference = torch.cumsum(curve, dim=-1) / RATE - curve[:, :1] / RATE
    assert torch.allclose(integral, reference, atol=2e-3)
    times, v = knots.times.double().numpy(), values.numpy()
    left = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    span, u = np.diff(times)[left], t - times[left]
    whole = np.concatenate(
        [np.zeros((3, 1)), np.cumsum((v[:, 1:] + v[:, :-1]) / 2 * np.diff(times), 1)], 1
    )
    a, b = v[:, left], v[:, left + 1]
    exact = whole[:, left] + a * u + (b - a) * u**2 / (2 * span)
    assert np.abs(integral.numpy() - exact).max() < 1e-6  # the float32 table
    # A phase is never taken in bfloat16, whatever the autocast around the generator.
    hz = torch.rand(2, 10) * 8000
    with torch.autocast("cpu", torch.bfloat16):
        phase = knots.integrate(hz)
    assert phase.dtype == torch.float32
    assert torch.allclose(phase.double(), knots.integrate(hz.double()), atol=1e-3)


def test_a_constant_frequency_integrates_to_a_sine_of_that_frequency():
    knots = Knots(8, RATE, RATE)
    tone = sines(knots.integrate(torch.full((1, 8), 440.0, dtype=torch.float64)))[0].numpy()
    spectrum = np.abs(np.fft.rfft(tone))
    assert np.argmax(spectrum) == 440  # 1 Hz bins


def test_dc_block_removes_offset_and_keeps_a_kick_fundamental():
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    offset = torch.full((1, RATE), 0.3, dtype=torch.float64)
    assert dc_block(offset, RATE)[0, 2000:-2000].abs().max() < 1e-6
    low = torch.sin(2 * math.pi * 50 * t)[None]
    kept = dc_block(low, RATE)[0, 2000:-2000]
    assert 0.9 < float(kept.abs().max()) < 1.05  # about -0.3 dB at 50 Hz


def test_noise_bank_is_fixed_flat_and_mixed_by_the_latent():
    bank = NoiseBank(4, 8, 8192, RATE)
    again = NoiseBank(4, 8, 8192, RATE)
    assert torch.equal(bank.bank, again.bank)  # rebuilt the same: part of the model
    gains = torch.ones(2, 8, 8192)
    weights = torch.tensor([[1.0, 0, 0, 0], [0, 0.6, 0.8, 0]])
    noise = bank(weights, gains)
    assert torch.corrcoef(noise)[0, 1].abs() < 0.1  # two latents, two noises
    power = np.abs(np.fft.rfft(noise[0].numpy())) ** 2
    freqs = np.fft.rfftfreq(8192, 1 / RATE)
    octaves = [power[(freqs >= f) & (freqs < 2 * f)].sum() for f in (125, 250, 500, 1000, 2000)]
    assert 10 * np.log10(max(octaves) / min(octaves)) < 4  # equal gains: pink


def test_noise_bank_is_white_noise_split_by_the_band_filters_at_any_length():
    samples = 6000  # not a power of two: the bank is the start of 8192-sample noises
    bank = NoiseBank(4, 8, samples, RATE, seed=7)
    white = np.random.default_rng(7).standard_normal((4, 8192))
    spectrum = np.fft.rfft(white, axis=-1)
    filters = _band_filters(spectrum.shape[-1], RATE, 8)
    split = np.fft.irfft(spectrum[:, None, :] * filters[None], n=8192, axis=-1)
    split /= np.sqrt((split**2).mean(-1, keepdims=True))  # unit RMS over the whole noise
    made = bank.bank.view(4, 8, samples).numpy()
    assert np.abs(made - split[..., :samples]).max() < 2e-3 * np.abs(split).max()  # fp16 spectra


def test_shaped_noise_equals_splitting_a_noise_bank_in_bands_and_summing_them():
    bank = NoiseBank(4, 32, 8192, RATE, "linear", seed=7)
    shaped = ShapedNoise(4, 32, 8192, RATE, "linear", seed=7)
    weights = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    knots = Knots(12, 8192, RATE)
    spectra, envelopes = torch.rand(3, 5, 32), torch.rand(3, 5, 12)
    split = ((spectra @ bank._mixed(weights)) * knots.interpolate(envelopes)).sum(dim=1)
    made = shaped.components(weights, spectra, knots, envelopes)
    assert float((made - split).abs().max() / split.abs().max()) < 1e-3


class _Components(torch.nn.Module):
    def __init__(self, shaped: ShapedNoise, knots: Knots):
        super().__init__()
        self.shaped, self.knots = shaped, knots

    def forward(self, weights, spectra, envelopes):  # noqa: ANN001, ANN201
        return self.shaped.components(weights, spectra, self.knots, envelopes)


class _InverseDft(torch.nn.Module):
    def __init__(self, length: int, samples: int):
        super().__init__()
        self.length, self.samples = length, samples

    def forward(self, re, im):  # noqa: ANN001, ANN201
        from ganpad.training.models.matmul_dft import inverse_real_dft

        return inverse_real_dft(re, im, self.length, self.samples)


def test_matmul_inverse_dft_in_onnx_at_the_drums_length_in_fp32_and_fp16(tmp_path):
    """The graph at 65536 points (phase tables up to 2^16, beyond half precision's integers):
    numpy's irfft in fp32, and within fp16's rounding (no overflow) after `to_fp16`."""
    from ganpad.export.precision import to_fp16

    length, samples = 65536, 45056
    rng = np.random.default_rng(1)
    spectrum = rng.standard_normal((2, length // 2 + 1)) + 1j * rng.standard_normal(
        (2, length // 2 + 1)
    )
    expected = np.fft.irfft(spectrum, n=length, axis=-1)[:, :samples]
    feed = {"re": spectrum.real.astype(np.float32), "im": spectrum.imag.astype(np.float32)}
    fp32, fp16 = tmp_path / "dft.onnx", tmp_path / "dft16.onnx"
    inputs = tuple(torch.from_numpy(v) for v in feed.values())
    torch.onnx.export(_InverseDft(length, samples), inputs, str(fp32), input_names=list(feed),
                      output_names=["x"], dynamo=False)  # fmt: skip
    to_fp16(fp32, fp16)
    peak = np.abs(expected).max()
    for path, limit in ((fp32, 1e-6), (fp16, 5e-3)):
        (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            ["x"], feed
        )
        assert np.abs(got - expected).max() < limit * peak, path.name


def test_shaped_noise_in_an_onnx_graph_is_the_same_noise(tmp_path):
    """The graph's components (matrix-product DFT, samples reordered, envelopes at the
    transform's sample order) are PyTorch's, at a length that is not a power of two."""
    samples = 6000
    module = _Components(
        ShapedNoise(4, 32, samples, RATE, "linear", seed=7), Knots(12, samples, RATE)
    )
    gen = torch.Generator().manual_seed(3)
    weights = torch.nn.functional.normalize(torch.randn(3, 4, generator=gen), dim=1)
    spectra, envelopes = torch.rand(3, 5, 32, generator=gen), torch.rand(3, 5, 12, generator=gen)
    expected = module(weights, spectra, envelopes).numpy()
    path = tmp_path / "components.onnx"
    torch.onnx.export(module, (weights, spectra, envelopes), str(path), dynamo=False,
                      input_names=["w", "s", "e"], output_names=["noise"],
                      dynamic_axes={name: {0: "batch"} for name in ("w", "s", "e")})  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (3, 1):
        feed = {"w": weights[:batch].numpy(), "s": spectra[:batch].numpy(),
                "e": envelopes[:batch].numpy()}  # fmt: skip
        (got,) = session.run(["noise"], feed)
        assert got.shape == (batch, samples)
        np.testing.assert_allclose(got, expected[:batch], atol=2e-5 * np.abs(expected).max())
    assert "DFT" not in {node.op_type for node in onnx.load(str(path)).graph.node}


def test_a_component_draws_a_narrow_line_where_its_spectrum_asks():
    bank = ShapedNoise(4, 64, 8192, RATE, "linear", seed=7)
    spectra = torch.zeros(2, 1, 64)
    spectra[0, 0, 40] = 1.0  # one band of the 64 over 0 .. 8 kHz: about 127 Hz wide
    spectra[1, 0, 40:42] = 1.0
    knots = Knots(12, 8192, RATE)
    noise = bank.components(
        torch.tensor([[1.0, 0, 0, 0]] * 2), spectra, knots, torch.ones(2, 1, 12)
    )
    freqs = np.fft.rfftfreq(8192, 1 / RATE)
    centre = 20 + 40 / 63 * (RATE / 2 - 20)  # bands evenly spaced from 20 Hz to Nyquist
    for clip in noise.numpy():
        power = np.abs(np.fft.rfft(clip)) ** 2
        near = np.abs(freqs - centre) < 300
        assert power[near].sum() / power.sum() > 0.97  # a line, not a noise floor
    power = [np.abs(np.fft.rfft(c)) ** 2 for c in noise.numpy()]
    wider = [float((freqs * p).sum() / p.sum()) for p in power]
    assert wider[1] > wider[0] + 30  # the second band moves the centroid up


@pytest.mark.parametrize(
    "family,changes", [("drumsynth", {}), ("notesynth", {}), ("drumsynth", {"synth_components": 3})]
)
def test_synth_generators_make_dc_free_ending_clips_for_every_label(family, changes):
    generator, critic = build_models(_tiny(family, **changes), 16384, 5, RATE)
    if family == "notesynth":
        generator.fit_labels(["48", "55", "60", "67", "84"])
    z = torch.randn(10, 16)
    label = torch.arange(10) % 5
    audio = generator(z, label)
    assert audio.shape == (10, 1, 16384) and torch.isfinite(audio).all()
    clips = audio[:, 0].detach().numpy()
    assert dc_ratio(clips).max() < 0.01
    assert np.abs(clips[:, -8:]).max() < 1e-3  # the tail fade ends every clip
    scores, logits = critic(audio, label)
    assert scores.shape == (10, 4) and logits.shape == (10, 5)
    scores, logits, feats = critic.forward_features(audio, label)
    assert len(feats) == 2 * 3 + 2 * 4  # every conv but the score convs


def test_notesynth_plays_the_asked_pitch_by_construction():
    generator, _ = build_models(_tiny("notesynth"), 16384, 4, RATE)
    generator.fit_labels(["36", "52", "69", "84"])
    with torch.no_grad():  # untrained: the pitch is already in the oscillators
        audio = generator(torch.randn(8, 16), torch.arange(8) % 4)[:, 0].numpy()
    tracked = track_pitch(audio, RATE)
    assert np.abs(tracked - np.array([36, 52, 69, 84] * 2)).max() < 0.3
    hz = generator.controls(torch.randn(2, 16), torch.tensor([3, 3]))
    muted = hz["harmonic_hz"] >= RATE / 2  # harmonics of C6 above Nyquist are silent
    assert muted.any() and hz["distribution"][muted].abs().max() == 0


def test_unconditional_drumsynth_critic_has_no_class_head():
    generator, critic = build_models(_tiny(conditional=False), 16384, 0, RATE)
    scores = critic(generator(torch.randn(2, 16)))
    assert isinstance(scores, torch.Tensor) and scores.shape == (2, 4)
    assert not hasattr(critic, "classifier")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"synth_noises": 32}, "synth_noises"),
        ({"synth_knots": 2}, "synth_knots"),
        ({"synth_bands": 0}, "synth_bands"),
        ({"synth_components": -1}, "synth_components"),
    ],
)
def test_synth_configs_that_cannot_build_fail_early(change, message):
    with pytest.raises(ValueError, match=message):
        check_config(_tiny(**change), 16384)
    with pytest.raises(ValueError, match="pitch-conditional"):
        check_config(_tiny("notesynth", conditional=False), 16384)


def test_augment_delays_and_scales_each_clip():
    x = torch.zeros(2, 1, 100)
    x[:, 0, 0] = 1.0
    moved = delay(x, torch.tensor([0, 7]))
    assert moved[0, 0, 0] == 1 and moved[1, 0, 7] == 1 and moved.sum() == 2
    torch.manual_seed(0)
    out = augment(torch.ones(64, 1, 400), ["gain", "shift"], RATE)
    peaks = out.amax(dim=(1, 2))
    assert float(peaks.min()) >= 0.5 and float(peaks.max()) <= 2.0 and peaks.std() > 0.1
    assert (out[:, 0, :48] == 0).any()  # some clips were delayed (up to 3 ms = 48 samples)


def test_feature_matching_is_zero_for_the_same_features_and_grows_apart():
    feats = [torch.randn(4, 3, 5), torch.randn(4, 2)]
    assert float(feature_matching(feats, feats)) == 0.0
    assert float(feature_matching(feats, [f + 1 for f in feats])) == pytest.approx(1.0)


def test_diagnostics_catch_dc_a_comb_and_a_hit_that_never_ends():
    rng = np.random.default_rng(0)
    t = np.arange(16384) / RATE
    hits = rng.standard_normal((20, 16384)) * np.exp(-t / 0.05)
    assert dc_ratio(hits).max() < 0.05 and np.median(decay_time(hits, RATE)) < 0.5
    assert comb_peak(hits, RATE)[0] < 6
    offset = hits + 0.05
    assert dc_ratio(offset).min() > 0.1
    comb = hits + 0.05 * np.sin(2 * np.pi * 4000 * t)  # a fixed tone in every clip
    db, hz = comb_peak(comb, RATE)
    assert db > 10 and abs(hz - 4000) < 20
    hiss = rng.standard_normal((4, 16384)) * 0.1  # never decays
    assert decay_time(hiss, RATE).min() == pytest.approx(16384 / RATE)
    # White noise puts half its energy in the top 4 kHz of 8; a low tone almost none.
    assert high_band_share(hiss, RATE) == pytest.approx(np.full(4, 0.5), abs=0.02)
    assert high_band_share(np.sin(2 * np.pi * 200 * t)[None], RATE)[0] < 1e-3


def test_drumsynth_trains_exports_and_finetunes(tmp_path, gmrock, clip_cache):
    from ganpad.cli import main

    common = ["--set", f"data.cache_dir={clip_cache}", "--set", "train.progress=false",
              "--set", "train.log_every=1", "--d", "4", "--batch", "4",
              "--set", "model.synth_knots=12", "--set", "model.synth_bands=8",
              "--set", "model.latent=16", "--set", "model.synth_components=2",
              "--set", "model.synth_fine_bands=16"]  # fmt: skip
    run = tmp_path / "run"
    # Step 0 resynthesis alone, step 1 with the critic too: both phases of the recipe.
    assert main(["train", "--model", "drumsynth", "--data", str(gmrock), "--out", str(run),
                 "--steps", "2", "--set", "train.adversarial_from=1", *common]) == 0  # fmt: skip
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"loss/rec", "loss/kl"} <= set(lines[0]) and "loss/d_real" not in lines[0]
    assert {"loss/fm", "loss/aux_real", "loss/d_real", "loss/rec"} <= set(lines[-1])
    saved = (run / "config.toml").read_text()
    assert 'loss = "hinge"' in saved and "balance_classes = true" in saved

    preset = tmp_path / "tiny-drumsynth"
    assert main(["export", str(run), "--out", str(preset)]) == 0
    loaded = load_preset(preset)
    meta = json.loads((preset / "preset.json").read_text())
    assert meta["family"] == "drumsynth" and meta["kind"] == "drums"
    assert meta["metrics"]["onnx_max_abs_error"]["fp32"] <= meta["metrics"]["onnx_error_limit"][
        "fp32"]  # fmt: skip
    audio = loaded.generate(loaded.session(), np.zeros((2, 16), np.float32), np.array([0, 1]))
    assert audio.shape == (2, 16384) and np.abs(audio).max() <= 1.0

    tuned = tmp_path / "tuned"
    assert main(["train", "--finetune", str(preset), "--data", str(gmrock), "--out", str(tuned),
                 "--steps", "1", "--set", f"data.cache_dir={clip_cache}",
                 "--set", "train.progress=false"]) == 0  # fmt: skip
    assert 'family = "drumsynth"' in (tuned / "config.toml").read_text()


def test_drumsynth_at_44k_exports_a_small_graph_that_renders_at_44k_and_48k(
    tmp_path, gmrock, clip_cache
):
    import onnx
    from onnx import numpy_helper

    from ganpad.app.render import plan, render
    from ganpad.cli import main
    from ganpad.export.exporter import regraph_preset

    run, preset = tmp_path / "run", tmp_path / "tiny-44k"
    samples = 11025  # a quarter second: not a power of two, so the DFTs run padded
    settings = ["data.sample_rate=44100", f"data.slice_len={samples}",
                f"data.cache_dir={clip_cache}", "train.progress=false", "model.synth_knots=12",
                "model.synth_bands=8", "model.latent=16", "model.synth_components=2",
                "model.synth_fine_bands=16"]  # fmt: skip
    sets = [arg for setting in settings for arg in ("--set", setting)]
    assert main(["train", "--model", "drumsynth", "--data", str(gmrock), "--out", str(run),
                 "--steps", "1", "--d", "4", "--batch", "2", *sets]) == 0  # fmt: skip
    assert main(["export", str(run), "--out", str(preset)]) == 0
    loaded = load_preset(preset)
    assert (loaded.sample_rate, loaded.samples) == (44100, samples)
    # The noise bank (4 noises x 8 bands of clips) and the knot basis (12 clip-long rows) are
    # built when the graph loads; what is stored is 4 noise spectra (16384 values each) at most.
    graph = onnx.load(str(loaded.generator_path))
    stored = [numpy_helper.to_array(t).size for t in graph.graph.initializer] + [
        numpy_helper.to_array(a.t).size for n in graph.graph.node for a in n.attribute
        if n.op_type == "Constant" and a.name == "value"]  # fmt: skip
    assert max(stored) < 8 * samples
    # Rebuilt from its own checkpoint (how the shipped presets got this version's graph): the
    # same sound, the weights untouched, preset.json's graph figures renewed.
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    before = loaded.generate(loaded.session(), z, np.array([0, 1]))
    weights = {p.name: p.read_bytes() for p in preset.glob("checkpoint.*")}
    meta = json.loads((preset / "preset.json").read_text())
    regraph_preset(preset)
    assert {p.name: p.read_bytes() for p in preset.glob("checkpoint.*")} == weights
    renewed = json.loads((preset / "preset.json").read_text())
    assert set(renewed["metrics"]["clips_per_s_batch16_cpu"]) == {"torch_eager", "onnx_fp32"}
    assert renewed["metrics"]["onnx_max_abs_error"]["fp32"] <= 1e-3
    for figures in (meta, renewed):
        del figures["metrics"]["clips_per_s_batch16_cpu"], figures["metrics"]["onnx_max_abs_error"]
    assert renewed == meta
    after = load_preset(preset).generate(load_preset(preset).session(), z, np.array([0, 1]))
    np.testing.assert_allclose(after, before, atol=1e-4)  # rounding: the limit is 1e-3
    for rate in (44100, 48000):
        files = render(loaded, tmp_path / str(rate), plan(loaded, 1, seed=1, names=["kick"]),
                       rate=rate)  # fmt: skip
        info = sf.info(str(files[0]))
        assert info.samplerate == rate and 0 < info.frames <= samples * rate / 44100 + 2


def test_notesynth_trains_on_real_notes_and_exports_every_pitch(tmp_path, clip_cache):
    _, preset = train_notes(tmp_path, clip_cache, "tiny-notesynth", "--set",
                            "model.synth_knots=12", "--set", "model.latent=16", "--set",
                            "model.synth_harmonics=16", model="notesynth")  # fmt: skip
    loaded = load_preset(preset)
    assert loaded.kind == "notes" and [lab.name for lab in loaded.labels] == [
        "60", "61", "62", "63", "64"]  # fmt: skip
    z = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    audio = loaded.generate(loaded.session(), z, np.arange(5))
    tracked = track_pitch(audio, RATE)
    assert np.abs(tracked - np.arange(60, 65)).max() < 0.5


def test_spectral_distance_follows_envelopes_not_noise_grains():
    from ganpad.training.trainer.losses import spectral_distance

    rng = np.random.default_rng(1)
    t = torch.arange(16384) / RATE
    decay = torch.exp(-t / 0.1)
    a, b = (torch.from_numpy(rng.standard_normal(16384)).float() * decay for _ in range(2))
    slower = torch.from_numpy(rng.standard_normal(16384)).float() * torch.exp(-t / 0.4)
    same = float(spectral_distance(a[None, None], a[None, None], RATE))
    other_grains = float(spectral_distance(a[None, None], b[None, None], RATE))
    other_envelope = float(spectral_distance(a[None, None], slower[None, None], RATE))
    assert same == 0.0 and other_grains * 2 < other_envelope


def test_encoder_prior_is_fitted_per_label_and_maps_the_latent():
    cfg = _tiny(encoder=True)
    generator, _ = build_models(cfg, 16384, 3, RATE)
    z = torch.randn(5, 16)
    label = torch.tensor([0, 1, 2, 0, 1])
    assert torch.equal(generator.from_prior(z, label), z)  # unfitted: the standard normal
    audio = torch.randn(24, 1, 16384) * 0.1
    labels = torch.arange(24) % 3
    generator.fit_prior(audio, labels)
    with torch.no_grad():
        codes = generator.encoder(audio)[0]
    assert torch.allclose(generator.prior_mean[1], codes[labels == 1].mean(0), atol=1e-5)
    mapped = generator.from_prior(torch.zeros(2, 16), torch.tensor([2, 2]))
    assert torch.allclose(mapped, generator.prior_mean[2].expand(2, -1))
    fake, parts = generator(z, label, teacher=torch.randn(5, 1, 16384) * 0.1)
    assert fake.shape == (5, 1, 16384) and set(parts) == {"rec", "kl"}
    assert float(parts["kl"].detach()) >= 0


def test_resynthesis_phase_needs_an_encoder(tiny_config, tmp_path):
    from ganpad.training.trainer.loop import Trainer, TrainError

    cfg = tiny_config(adversarial_from=10)
    with pytest.raises(TrainError, match="model.encoder"):
        Trainer(cfg, tmp_path / "run")


@pytest.mark.parametrize(("length", "samples"), [(16, 16), (64, 50), (2048, 2048), (16384, 11025)])
def test_matmul_inverse_dft_is_numpys_irfft(length, samples):
    """The graph's inverse DFT by matrix products: numpy's irfft (imaginary DC and Nyquist
    parts ignored), cropped to the clip."""
    from ganpad.training.models.matmul_dft import inverse_real_dft

    rng = np.random.default_rng(length)
    spectrum = rng.standard_normal((3, length // 2 + 1)) + 1j * rng.standard_normal(
        (3, length // 2 + 1)
    )
    expected = np.fft.irfft(spectrum, n=length, axis=-1)[:, :samples]
    re, im = (torch.tensor(part, dtype=torch.float32) for part in (spectrum.real, spectrum.imag))
    got = inverse_real_dft(re, im, length, samples)
    assert got.shape == (3, samples)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6 * np.abs(expected).max())
