"""Key-group guidance (#27): a frozen GM-group judge trained on the run's own kits asks each
fake on a key's label for the key's group. Tiny models on real GMRockKit drums."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_drumsynth

from ganpad.cli import main
from ganpad.drums import KEYED_LABELS
from ganpad.training.evaluation.classifier import CLIP, DrumClassifier
from ganpad.training.evaluation.key_judge import GROUPS, JUDGE_WEIGHTS
from ganpad.training.trainer.guide import GroupGuide, check_guide, label_groups
from ganpad.training.trainer.loop import Trainer, TrainError


def _judge(folder, trained_on: str = "kits", kits: tuple[str, ...] = ("Audiophob",),
           classes: tuple[str, ...] = GROUPS) -> str:  # fmt: skip
    """A random 24-group judge with the card `ganpad judge --out` writes beside it."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    weights = folder / "key_judge.safetensors"
    save_file(DrumClassifier(len(GROUPS)).state_dict(), str(weights))
    card = {"trained_on": {trained_on: f"kits of {trained_on}"}, "kits": list(kits),
            "classes": list(classes), "clip": CLIP}  # fmt: skip
    (folder / "key_judge.json").write_text(json.dumps(card))
    return str(weights)


def test_each_key_label_asks_for_its_group_and_a_class_for_none():
    groups = label_groups(KEYED_LABELS)
    assert groups[KEYED_LABELS.index("cowbell")] == GROUPS.index("cowbell")
    assert groups[KEYED_LABELS.index("hi_bongo")] == GROUPS.index("bongo")
    assert groups[KEYED_LABELS.index("pedal_hi_hat")] == GROUPS.index("closed_hat")
    assert (groups[:8] == -1).all()  # the drum classes name no key


@pytest.mark.parametrize("rate", [44100, 16000])
def test_the_judges_clip_is_the_fake_resampled_to_16_khz(tmp_path, rate):
    guide = GroupGuide(_judge(tmp_path), KEYED_LABELS, rate)
    t = torch.arange(2 * rate) / rate
    fitted = guide.fit(torch.stack([torch.sin(2 * math.pi * 997 * t), torch.zeros_like(t)]))
    assert fitted.shape == (2, CLIP)
    want = torch.sin(2 * math.pi * 997 * torch.arange(CLIP) / 16000)
    # the ends ring from the window's wrap; the middle is the sine
    assert (fitted[0, 500:-500] - want[500:-500]).abs().max() < 2e-3
    assert fitted[1].abs().max() == 0
    if rate > 24000:  # a 12 kHz tone, over the judge's 8 kHz, is left out
        above = guide.fit(torch.sin(2 * math.pi * 12000 * t)[None])
        assert above[0, 500:-500].abs().max() < 1e-2


def test_the_guide_pushes_keyed_fakes_and_leaves_the_classes_alone(tmp_path):
    guide = GroupGuide(_judge(tmp_path), KEYED_LABELS, 44100)
    fake = (0.1 * torch.randn(3, 1, 44100)).requires_grad_(True)
    cowbell = KEYED_LABELS.index("cowbell")
    loss = guide(fake, torch.tensor([0, cowbell, 1]))  # kick, cowbell, snare classes
    loss.backward()
    heard = guide.judge(guide.fit(fake[1:2, 0].detach()))
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(heard, guide.group[[cowbell]]))
    assert fake.grad[1].abs().sum() > 0
    assert fake.grad[0].abs().sum() == 0 and fake.grad[2].abs().sum() == 0
    assert not any(p.requires_grad for p in guide.judge.parameters())
    classes_only = guide(fake, torch.tensor([0, 1, 2]))
    assert classes_only == 0 and classes_only.requires_grad


def test_the_augmented_guide_hears_each_fake_through_a_new_chain(tmp_path):
    weights, cowbell = _judge(tmp_path), KEYED_LABELS.index("cowbell")
    fake = (0.1 * torch.randn(4, 1, 44100)).requires_grad_(True)
    label = torch.full((4,), cowbell)
    plain = GroupGuide(weights, KEYED_LABELS, 44100)
    guide = GroupGuide(weights, KEYED_LABELS, 44100, augmented=True, seed=(1, 0))
    rank1 = GroupGuide(weights, KEYED_LABELS, 44100, augmented=True, seed=(1, 1))
    first, again = guide(fake, label, step=5), guide(fake, label, step=5)
    assert first == again  # seed, rank and step: one chain, the same after a resume
    assert first != guide(fake, label, step=6) and first != rank1(fake, label, step=5)
    assert first != plain(fake, label)
    first.backward()
    assert fake.grad.abs().sum() > 0  # through the augmentation to the generator


def test_the_judges_batch_norm_keeps_its_statistics_in_a_training_step(tmp_path):
    guide = GroupGuide(_judge(tmp_path), KEYED_LABELS, 44100).train()
    before = {k: v.clone() for k, v in guide.judge.state_dict().items()}
    guide(torch.randn(2, 1, 44100), torch.tensor([KEYED_LABELS.index("cowbell")] * 2))
    assert all(torch.equal(v, before[k]) for k, v in guide.judge.state_dict().items())


@pytest.mark.parametrize(
    ("trained_on", "kits"),
    [
        ("heldout-drums", ("GMRockKit",)),
        ("renamed", ("GMRockKit", "Audiophob")),  # the reference's kit under another folder
        ("renamed", ("sf_GMbank Standard",)),  # csound's GM bank: TimGM6mb's family
    ],
)
def test_a_guide_taught_on_the_reference_is_refused(tmp_path, trained_on, kits):
    with pytest.raises(ValueError, match="trained on heldout-drums.*guiding by it"):
        check_guide(_judge(tmp_path, trained_on=trained_on, kits=kits))


def test_the_guide_is_never_the_evaluations_judge(tmp_path):
    with pytest.raises(ValueError, match="eval's own judge"):
        check_guide(str(JUDGE_WEIGHTS))
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="other classes"):
        check_guide(_judge(tmp_path / "other", classes=("kick", "snare")))
    with pytest.raises(FileNotFoundError, match="no such file.*ganpad judge"):
        check_guide(str(tmp_path / "none.safetensors"))
    weights = _judge(tmp_path)
    (tmp_path / "key_judge.json").unlink()
    with pytest.raises(ValueError, match="its card .* cannot be read"):
        check_guide(weights)


def test_a_keyed_run_trains_with_the_guide(gmrock, clip_cache, tmp_path):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=True)
    cfg.train.adversarial_from, cfg.train.lambda_guide = 3, 1.0
    cfg.train.guide_judge = _judge(tmp_path)
    cfg.train.guide_augment = True

    def two_steps(config, run):
        trainer, seen = Trainer(config, tmp_path / run), []
        for _ in range(2):  # resynthesis before the adversary: the guide plays fakes anyway
            seen.append(trainer.train_step().get("loss/guide"))
            trainer.step += 1
        return trainer, seen

    guided, seen = two_steps(cfg, "guided")
    assert any(v is not None and np.isfinite(v) and v > 0 for v in seen)
    cfg.train.lambda_guide, cfg.train.guide_judge, cfg.train.guide_augment = 0.0, "", False
    alone, _ = two_steps(cfg, "alone")  # the same seed without the guide
    pairs = zip(guided.G.parameters(), alone.G.parameters(), strict=True)
    assert any(not torch.equal(g, a) for g, a in pairs)


@pytest.mark.parametrize(
    ("keys", "judge", "weight", "error"),
    [
        (False, True, 1.0, "a label per key"),
        (True, False, 1.0, "name the judge with train.guide_judge"),
        (True, True, -1.0, "0 .off. or more"),
        (True, True, 0.0, "act with train.lambda_guide > 0"),
        (True, "missing", 1.0, "none.safetensors.*no such file"),
    ],
)
def test_the_guide_settings_are_checked(gmrock, clip_cache, tmp_path, keys, judge, weight, error):
    cfg = tiny_drumsynth(gmrock, clip_cache, keys=keys)
    cfg.data.path = str(tmp_path / "no-data")  # refused before any data is read
    cfg.train.lambda_guide = weight
    cfg.train.guide_judge = {True: _judge(tmp_path), False: ""}.get(
        judge, str(tmp_path / "none.safetensors"))  # fmt: skip
    with pytest.raises(TrainError, match=error):
        Trainer(cfg, tmp_path / "run")


def test_judge_out_refuses_the_reference_before_it_trains(gmrock, tmp_path, capsys):
    out = str(tmp_path / "guide")
    assert main(["judge", "--out", out]) == 2  # --data's default is heldout-drums
    assert "name them with --data" in capsys.readouterr().err
    assert main(["judge", "--data", str(gmrock.parent), "--out", out]) == 2
    assert "GMRockKit" in capsys.readouterr().err
    assert main(["judge", "--programs", "--out", out]) == 2
    assert main(["judge", "--data", str(gmrock), "--out", str(JUDGE_WEIGHTS.parent)]) == 2
    assert "eval's own judge" in capsys.readouterr().err
    assert not (tmp_path / "guide").exists()


def test_eval_knows_a_guided_run(gmrock, clip_cache, tmp_path):
    from ganpad.training.evaluation.evaluate import _guided

    cfg = tiny_drumsynth(gmrock, clip_cache, keys=True)
    cfg.train.lambda_guide, cfg.train.guide_judge = 1.0, _judge(tmp_path)
    Trainer(cfg, tmp_path / "guided").save()
    assert _guided(str(tmp_path / "guided"))
    cfg.train.lambda_guide, cfg.train.guide_judge = 0.0, ""
    Trainer(cfg, tmp_path / "plain").save()
    assert not _guided(str(tmp_path / "plain"))
