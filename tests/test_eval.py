"""The evaluation metrics against the shipped drum classifier, on real drums and real notes."""

import json

import numpy as np
import pytest

from ganpad.drums import DRUM_CLASSES
from ganpad.training.data.reference import copies_of_named, copies_of_reference
from ganpad.training.evaluation import timbre
from ganpad.training.evaluation.baselines import noise_synth, sine_at_pitch
from ganpad.training.evaluation.classifier import CARD, load_classifier, predict
from ganpad.training.evaluation.evaluate import (
    Clips,
    EvalError,
    class_accuracy,
    compare,
    evaluate,
    fit,
    keyboard_timbre,
    load_real,
    markdown,
)
from ganpad.training.evaluation.metrics import (
    frechet_distance,
    in_tune,
    inception_score,
    kid,
    kid_difference,
    ndb,
    pitch_metrics,
    spectral_features,
    track_pitch,
    track_pitch_pyin,
)

TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2"


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def real(gmrock, clip_cache):
    return load_real(str(gmrock), str(clip_cache))


def test_classifier_card_states_held_out_accuracy():
    card = json.loads(CARD.read_text())
    assert "GMRockKit" in card["test_kits"]
    assert card["test_accuracy"]["hydrogen held-out kits"] > 0.6  # eight classes: chance 0.125
    assert any("never trained on" in source for source in card["test_accuracy"])


def test_inception_score_real_high_noise_and_copies_near_one(classifier, real):
    rng = np.random.default_rng(0)
    real_is = inception_score(predict(classifier, real.audio)[0])
    noise = (rng.standard_normal((86, 16384)) * 0.3).astype(np.float32)
    noise_is = inception_score(predict(classifier, noise)[0])
    copies = np.repeat(real.audio[:1], 86, axis=0)
    copies_is = inception_score(predict(classifier, copies)[0])
    assert real_is > 3.0
    assert noise_is < 1.5 and copies_is < 1.01


def test_frechet_distance_real_vs_real_far_below_real_vs_noise(classifier, real):
    rng = np.random.default_rng(1)
    order = rng.permutation(len(real.audio))
    a, b = real.audio[order[:43]], real.audio[order[43:]]
    emb_a, emb_b = predict(classifier, a)[1], predict(classifier, b)[1]
    noise = (rng.standard_normal((43, 16384)) * 0.3).astype(np.float32)
    fd_real = frechet_distance(emb_b, emb_a)
    fd_noise = frechet_distance(predict(classifier, noise)[1], emb_a)
    assert fd_real * 5 < fd_noise


def test_ndb_real_vs_real_low_and_collapsed_high(real):
    rng = np.random.default_rng(2)
    order = rng.permutation(len(real.audio))
    a = spectral_features(real.audio[order[:43]], 16000)
    b = spectral_features(real.audio[order[43:]], 16000)
    collapsed = spectral_features(np.repeat(real.audio[order[43:46]], 15, axis=0), 16000)
    _, real_ratio = ndb(a, b, k=10)
    _, collapsed_ratio = ndb(a, collapsed, k=10)
    assert real_ratio <= 0.2
    assert collapsed_ratio >= 0.5


def test_pitch_accuracy_of_soundfont_notes_is_near_one():
    from ganpad.training.data.soundfont import render_note

    pitches = [p for p in range(40, 85, 4)]
    notes = [render_note(TIMGM, program, p, 100, 0.8, 16000) for program in (0, 40)
             for p in pitches]  # fmt: skip
    audio = fit(np.stack([np.pad(n[:16384], (0, max(0, 16384 - len(n)))) for n in notes]), 16000)
    tracked = track_pitch(audio, 16000)
    result = pitch_metrics(tracked, np.array(pitches * 2, float))
    assert result["pitch_accuracy"] >= 0.9
    assert result["pitch_entropy"] == pytest.approx(np.log2(len(pitches)), abs=0.3)
    noise = np.random.default_rng(3).standard_normal((6, 16384)).astype(np.float32) * 0.3
    assert np.isnan(track_pitch(noise, 16000)).all()
    # pYIN, the evaluation's own tracker, at the notes' native 44.1 kHz
    native = np.stack([n[:44100] for n in (render_note(TIMGM, 0, p, 100, 1.0, 44100)
                                          for p in pitches)])  # fmt: skip
    assert in_tune(track_pitch_pyin(native, 44100), np.array(pitches, float)).mean() >= 0.9
    assert np.isnan(track_pitch_pyin(noise, 16000)).all()


def test_eval_command_reports_ratios_and_files(
    tiny_preset, gmrock, clip_cache, tmp_path, classifier
):
    report = evaluate(str(tiny_preset), str(gmrock), n=64, out=tmp_path / "report", k=10,
                      cache_dir=str(clip_cache))  # fmt: skip
    metrics = report["metrics"]
    assert set(metrics) == {"inception_score", "frechet_distance", "kid", "logmel_frechet",
                            "logmel_kid", "ndb_over_k"}  # fmt: skip
    for m in metrics.values():
        for row in ("generated", "real", "baseline"):
            lo, hi = m["ci95"][row]
            assert lo <= m[row] <= hi  # every interval holds its own figure
        for ref, key in (("real", "ratio"), ("baseline", "ratio_baseline")):
            lo, hi = m["ci95"][ref]
            if m[ref] and not lo <= 0 <= hi:  # no ratio to a figure that may be zero
                assert m[key] == pytest.approx(m["generated"] / m[ref], rel=1e-2)
            else:
                assert m[key] is None
    accuracy = report["class_accuracy"]
    assert set(accuracy["per_class"]) == set(DRUM_CLASSES) and 0 <= accuracy["mean"] <= 1
    assert np.array(accuracy["confusion"]).sum() == 64
    assert set(report["signal"]["generated"]) == set(DRUM_CLASSES)
    # Two training steps make noise: far from the real drums.
    fd = metrics["frechet_distance"]
    assert fd["generated"] > 2 * fd["real"] and fd["ci95"]["generated"][0] > fd["ci95"]["real"][1]
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "grid.png", "report.json", "report.md"]  # fmt: skip
    markdown_text = (tmp_path / "report" / "report.md").read_text()
    assert "| frechet_distance |" in markdown_text and "Class accuracy" in markdown_text
    # every GM key judged: the tiny preset plays each by its class
    keys = report["key_identity"]
    assert len(keys["per_key"]) == 47 and all(0 <= v <= 1 for v in keys["per_key"].values())
    assert "Per-key identity" in markdown_text and keys["real"]
    assert markdown_text == markdown(json.loads(json.dumps(report)))  # re-read: the same
    # GMRockKit's halves are 43 clips: the report says what that does to the figures.
    assert any("43 clips for a 80-d embedding" in w for w in report["warnings"])
    assert report["class_mix"] == "reference" and "Warning:" in markdown_text
    # The tiny preset trained on GMRockKit itself: the report says the figures flatter it.
    assert any("trained on GMRockKit" in w for w in report["warnings"])
    # A folder of real WAVs evaluated against itself sits near the real baseline.
    same = compare(real := load_real(str(gmrock), str(clip_cache)), real, classifier, k=10)
    assert 0.7 < same["inception_score"]["ratio"] < 1.4  # real against real: near 1


def test_trainer_keeps_the_best_checkpoint(tiny_config, tmp_path):
    from ganpad.training.trainer.loop import Trainer

    cfg = tiny_config(steps=2, eval_every=1, eval_n=16)
    Trainer(cfg, tmp_path / "run").train()
    best = tmp_path / "run" / "checkpoints" / "best"
    info = json.loads((best / "best.json").read_text())
    assert info["metric"] == "kid" and info["step"] in (1, 2)
    assert (best / "weights.safetensors").exists()


def test_frechet_distance_matches_the_matrix_square_root_form():
    from scipy import linalg

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16)) * 1.5 + 0.3
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    direct = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb))
    assert frechet_distance(a, b) == pytest.approx(float(direct.real), rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_baselines_are_diverse_drums_and_sines_in_tune(classifier, real):
    synth = noise_synth(86, 16384, 16000, seed=0)
    assert synth.shape == (86, 16384) and np.allclose(np.abs(synth).max(axis=1), 1.0)
    assert np.corrcoef(synth[:10]).max(initial=0, where=~np.eye(10, dtype=bool)) < 0.9
    fd_synth = frechet_distance(predict(classifier, synth)[1], predict(classifier, real.audio)[1])
    assert fd_synth > 2  # no learning: far from real drums
    pitches = np.array([40, 52, 64, 76])
    sines = sine_at_pitch(pitches, 16384, 16000)
    tracked = track_pitch(sines, 16000)
    assert np.abs(tracked - pitches).max() < 0.2


def test_class_accuracy_of_real_held_out_drums(classifier, real):
    accuracy = class_accuracy(real, classifier)  # GMRockKit is held out of its training
    assert accuracy["mean"] > 0.7
    confusion = np.array(accuracy["confusion"])
    assert confusion.sum() == len(real.audio) and np.trace(confusion) > 0.7 * len(real.audio)
    shuffled = Clips("shuffled", real.audio, list(np.roll(real.labels, 7)))
    assert class_accuracy(shuffled, classifier)["mean"] < accuracy["mean"] - 0.3


def test_kid_is_zero_for_one_distribution_large_for_shifted_and_collapsed_sets():

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, se_same = kid(a, b)
    assert abs(same) < 3 * se_same  # unbiased: zero within its error
    shifted, se_shifted = kid(a, b + 0.5)
    assert shifted > 10 * se_shifted
    collapsed, se_collapsed = kid(a, np.repeat(b[:2], 200, axis=0))
    assert collapsed > 10 * se_collapsed
    with pytest.raises(ValueError, match="at least 3"):
        kid(a[:2], b)


def test_kid_standard_error_is_the_two_sample_jackknife():

    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(9, 4)), rng.normal(size=(7, 4)) + 0.3
    drop_a = np.array([kid(np.delete(a, i, 0), b)[0] for i in range(9)])
    drop_b = np.array([kid(a, np.delete(b, j, 0))[0] for j in range(7)])
    var = (
        8 / 9 * ((drop_a - drop_a.mean()) ** 2).sum()
        + 6 / 7 * ((drop_b - drop_b.mean()) ** 2).sum()
    )
    assert kid(a, b)[1] == pytest.approx(np.sqrt(var), rel=1e-9)


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_clips():
    from ganpad.training.evaluation.metrics import bootstrap

    rng = np.random.default_rng(7)
    widths = []
    for n in (100, 1600):
        a, b = rng.normal(size=(n, 8)), rng.normal(size=(n, 8)) + 0.2
        lo, hi = bootstrap(frechet_distance, (a, b), rounds=100)
        assert lo <= frechet_distance(a, b) <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_small_sets_are_flagged():
    from ganpad.training.evaluation.metrics import small_set_warnings

    assert small_set_warnings({"real half": 500}, 80) == []
    warned = small_set_warnings({"real half": 21}, 64)
    assert len(warned) == 2 and "21 clips for a 64-d embedding" in warned[0]


def test_generated_classes_follow_the_shares_asked():
    from ganpad.training.evaluation.evaluate import _latents

    z, labels = _latents(10, 4, ["kick", "snare", "clap"], 0, {"kick": 0.5, "clap": 0.25})
    assert z.shape == (10, 4) and np.bincount(labels, minlength=3).tolist() in (
        [7, 0, 3],
        [6, 0, 4],
    )
    _, turn = _latents(6, 4, ["kick", "snare", "clap"], 0)
    assert turn.tolist() == [0, 1, 2, 0, 1, 2]


def test_final_losses_average_the_last_logged_steps(tmp_path):
    from ganpad.export.exporter import final_losses

    lines = [json.dumps({"step": s, "loss/generator": float(s), "time/step_s": 0.1})
             for s in range(10, 301, 10)]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 3')
    losses = final_losses(tmp_path / "metrics.jsonl", 200, window=50)
    assert losses == {"steps": [151, 200], "loss/generator": 180.0}
    assert final_losses(tmp_path / "none.jsonl", 200) == {}


def test_band_flatness_tells_noise_from_lines_and_starts_at_the_onset():
    from ganpad.training.evaluation.diagnostics import band_flatness

    rate = 44100
    t = np.arange(int(0.6 * rate)) / rate
    noise = np.random.default_rng(3).standard_normal((8, len(t)))
    assert np.median(band_flatness(noise, rate)) == pytest.approx(0.56, abs=0.02)
    centres = 1000 * 2.0 ** (np.arange(13) / 3)  # one line in each third-octave band
    lines = sum(np.sin(2 * np.pi * f * t) for f in centres)[None]
    assert band_flatness(lines, rate)[0] < 0.05
    late = np.concatenate([np.zeros((8, rate // 4)), noise], axis=1)  # an onset at 0.25 s
    assert np.allclose(band_flatness(late, rate), band_flatness(noise, rate), atol=0.03)
    assert np.isnan(band_flatness(np.zeros((1, len(t))), rate)[0])


def test_metal_flatness_puts_real_cymbals_under_noise(gmrock, clip_cache):
    from ganpad.training.evaluation.evaluate import metal_flatness

    report = metal_flatness("drums-drumsynth-44k", str(gmrock), 0, str(clip_cache))
    assert set(report) == {"cymbal", "open_hat", "tonal_percussion"}
    cymbal = report["cymbal"]
    assert cymbal["real"] < 0.2 < 0.5 < cymbal["baseline"]  # recorded cymbals draw lines
    assert 0 < cymbal["generated"] < 0.6 and cymbal["clips"]["generated"] == 7 * 14
    assert cymbal["clips"]["real"] == 25  # GMRockKit: crash, two rides, ride bell, splash
    lo, hi = cymbal["ci95"]["real"]
    assert lo <= cymbal["real"] <= hi


def test_crash_ring_measures_real_crashes_uncut_and_ours_at_their_length(gmrock, clip_cache):
    from ganpad.training.evaluation.evaluate import crash_ring

    ring = crash_ring("drums-drumsynth-44k", str(gmrock), 0, str(clip_cache))
    assert ring["clips"] == {"generated": 64, "real": 5, "baseline": 32}
    assert ring["generated"] <= ring["generated_clip_s"] == pytest.approx(2.508, abs=1e-3)
    assert ring["generated"] > 1.8  # the default's crashes ring on (#27's figure)
    assert ring["real"] > 1.5  # a recorded crash rings on past our clips' end


def test_kits_of_the_reference_or_its_soundfont_family_are_found_in_training_data(tmp_path):
    for kit in ("GMRockKit", "TimGM6mb_Standard", "TimGM6mb_Room"):
        (tmp_path / "ref" / kit).mkdir(parents=True)
        (tmp_path / "ref" / kit / "drumkit.xml").write_text("<drumkit_info/>")
    trained = ["Audiophob", "GMRockKit", "sf_GMbank Standard", "FluidR3_GM Standard",
               "TimGM6mb Power", "circAfrique v4"]  # fmt: skip
    # csound's GM bank is TimGM6mb's family; FluidR3 is the other family, fine to train on.
    assert copies_of_reference(trained, tmp_path / "ref") == [
        "GMRockKit", "sf_GMbank Standard", "TimGM6mb Power"]  # fmt: skip
    assert copies_of_reference(trained, tmp_path / "ref" / "GMRockKit") == ["GMRockKit"]
    # by the definition, unbuilt (what `judge --out` and the guide check)
    assert copies_of_named(trained, "heldout-drums") == [
        "GMRockKit", "sf_GMbank Standard", "TimGM6mb Power"]  # fmt: skip


def test_a_paired_kid_difference_has_the_error_of_its_spread():
    rng = np.random.default_rng(0)
    mixing = rng.standard_normal((8, 16)) * 0.5

    def generators(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        """Two generators fed the same latents (clip i of each from latent i); b is off."""
        z = rng.standard_normal((n, 8))
        return np.tanh(z @ mixing), np.tanh(z @ mixing) + shift

    def real() -> np.ndarray:  # a's distribution
        return np.tanh(rng.standard_normal((200, 8)) @ mixing)

    a, b = generators(300, 0.2)
    r = real()
    value, se = kid_difference(a, b, r, paired=True)
    assert value == pytest.approx(kid(a, r)[0] - kid(b, r)[0])
    assert value + 1.96 * se < 0  # a is nearer the real clips, and the interval says so
    # Two close generators: the jackknife error against the spread of the difference over
    # fresh draws, far under either KID's error; leaving a and b out one at a time, as if
    # independent, overstates it several times.
    a, b = generators(300, 0.03)
    value, se = kid_difference(a, b, r, paired=True)
    spread = np.std([kid_difference(*generators(300, 0.03), real(), paired=True)[0]
                     for _ in range(30)])  # fmt: skip
    assert 0.6 < se / spread < 1.6
    assert se < kid(a, r)[1] / 2 and kid_difference(a, b, r)[1] > 2 * se
    with pytest.raises(ValueError, match="as long"):
        kid_difference(a, b[:-1], r, paired=True)


def test_eval_against_another_generator_reports_the_paired_difference(
    tiny_preset, gmrock, clip_cache, tmp_path
):
    report = evaluate(str(tiny_preset), str(gmrock), n=32, out=tmp_path / "r", k=5,
                      cache_dir=str(clip_cache), against=str(tiny_preset))  # fmt: skip
    paired = report["paired"]
    assert paired["n"] == 32 and set(paired) >= {"kid", "logmel_kid"}
    for name in ("kid", "logmel_kid"):  # itself, the same latents: no difference, surely
        assert paired[name]["difference"] == 0 and paired[name]["ci95"] == [0, 0]
    assert "Paired with" in (tmp_path / "r" / "report.md").read_text()
    with pytest.raises(EvalError, match="two generators"):
        evaluate(str(tiny_preset), str(gmrock), n=32, against=str(gmrock))


def _tone(amps: np.ndarray, decay_s: float, midi: int, rate: int = 16000) -> np.ndarray:
    t = np.arange(rate) / rate
    f0 = timbre.midi_hz(midi)
    partials = [a * np.sin(2 * np.pi * h * f0 * t) for h, a in enumerate(amps, 1) if h * f0 < 8000]
    return (np.sum(partials, axis=0) * np.exp(-t / decay_s)).astype(np.float32)


def test_timbre_figures_tell_a_kept_timbre_from_one_that_drifts_with_pitch():
    h = np.arange(1, 17)
    recipes = [(1 / h, 1.0), (np.where(h % 2, 1 / h, 0.0), 0.3), (h**-2.5, 2.0),
               (np.exp(-h), 0.1), (np.where(h % 3 == 0, 1.0, 0.05), 0.6)]  # fmt: skip
    pitches = timbre.PITCHES
    kept = np.array([[timbre.profile(_tone(a, d, p), 16000, p) for p in pitches]
                     for a, d in recipes])  # fmt: skip
    # Every instrument plays another recipe at each pitch: its pitches differ as much as
    # instruments do.
    drifting = np.array([[timbre.profile(_tone(*recipes[(i + k) % 5], p), 16000, p)
                          for k, p in enumerate(pitches)] for i in range(5)])  # fmt: skip
    steady, drift = timbre.figures(kept), timbre.figures(drifting)
    assert steady["consistency"] < 0.3 and drift["consistency"] > 0.9
    assert steady["variety_db"] > 5  # five recipes far apart
    with pytest.raises(ValueError, match="2 instruments"):
        timbre.figures(kept[:1])


def test_keyboard_timbre_of_the_notes_preset_beside_real_programs(tmp_path):
    from ganpad.training.data.soundfont import build_note_set

    build_note_set(TIMGM, tmp_path, [0, 11, 24], list(timbre.PITCHES), [100], 1.0)
    result = keyboard_timbre("notes-notesynth-16k", tmp_path, latents=4)
    assert result["pitches"] == list(timbre.PITCHES) and len(result["instruments"]) == 3
    for row in ("generated", "real"):
        assert result[row]["variety_db"] > 0 and result[row]["consistency"] > 0
    # Real programs keep their timbre up two octaves: well under their distance apart.
    assert result["real"]["consistency"] < 0.9
