"""The GM key judge behind per-key identity: groups, the labels a generator plays per key,
and the shipped judge on real kits."""

import json

import numpy as np
import torch
from safetensors.torch import save_file

from ganpad.drums import GM_NOTE_CLASS, GM_NOTE_NAMES
from ganpad.training.evaluation.classifier import CLIP, RATE, DrumClassifier, cut_tails
from ganpad.training.evaluation.evaluate import fit
from ganpad.training.evaluation.key_judge import (
    GROUPS,
    JUDGE_CARD,
    KEY_GROUP,
    PERCUSSION_KEYS,
    Ensemble,
    key_identity,
    label_for_key,
    load_group_judge,
    load_judge,
    load_keyed,
)


def test_every_gm_key_has_one_group_of_one_drum_class():
    assert set(KEY_GROUP) == set(GM_NOTE_NAMES)
    for group in GROUPS:
        classes = {GM_NOTE_CLASS[k] for k, g in KEY_GROUP.items() if g == group}
        assert len(classes) == 1, group  # a group never spans two drum classes
    assert all(GM_NOTE_CLASS[k] == "percussion" for k in PERCUSSION_KEYS)


def test_a_generator_plays_a_key_by_its_label_else_by_its_class():
    names = ["kick", "percussion", "cowbell"]
    gm_notes = {"kick": (35, 36), "percussion": (54, 58), "cowbell": (56,)}
    assert label_for_key(56, names, gm_notes) == 2  # the label that claims the key
    assert label_for_key(60, names, gm_notes) == 1  # no claim: the key's class
    assert label_for_key(49, names, gm_notes) == -1  # no cymbal at all


def test_keyed_real_clips_come_labelled_by_group(gmrock, clip_cache):
    clips = load_keyed(gmrock, str(clip_cache))
    assert len(clips.audio) > 60 and clips.classes == GROUPS
    groups = {
        p.rsplit("/", 1)[-1]: GROUPS[g] for p, g in zip(clips.paths, clips.labels, strict=True)
    }
    assert groups["Cowbell-Med.wav"] == "cowbell" and groups["Bell-Hard.wav"] == "ride_bell"
    assert groups["HatPedal-Hard.wav"] == "closed_hat" and groups["Kick-Hard.wav"] == "kick"


def test_the_shipped_judge_hears_real_kits_and_its_card_says_how_well(gmrock, clip_cache):
    """On GMRockKit (a kit it trained on) most groups are heard; its card gives the per-key
    figures on a SoundFont it never heard, above the 1-in-24 of guessing."""
    card = json.loads(JUDGE_CARD.read_text())
    assert card["classes"] == list(GROUPS)
    assert len(load_judge().members) == card["members"] > 1  # an ensemble, as its card says
    (unseen,) = card["key_identity"].values()
    assert unseen["mean"] > 2 / len(GROUPS)
    clips = load_keyed(gmrock, str(clip_cache))

    def play(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Real clips for a 'generator' whose label i is GMRockKit's group i."""
        out = [clips.audio[clips.labels == labels[0]][i % (clips.labels == labels[0]).sum()]
               for i in range(len(z))]  # fmt: skip
        return np.stack(out)

    present = [g for i, g in enumerate(GROUPS) if (clips.labels == i).any()]
    names = list(GROUPS)
    gm_notes = {g: [k for k, kg in KEY_GROUP.items() if kg == g] for g in present}
    figures = key_identity(play, names, gm_notes, 8, lambda a: fit(a, 16000), per_key=4,
                           judge=load_judge())  # fmt: skip
    keys = {str(k) for g in present for k, kg in KEY_GROUP.items() if kg == g}
    assert set(figures["per_key"]) == keys  # as report.json keeps them
    assert figures["mean"] > 0.7


def test_the_tail_cut_silences_a_share_of_clips_where_they_fall_to_the_level():
    """The judges learn that a one-shot trimmed at -40 dB and one left ringing are one
    instrument: the cut clip is silent from where its envelope falls 40 dB, the rest untouched."""
    t = torch.arange(RATE) / RATE
    ring = torch.randn(64, RATE, generator=torch.Generator().manual_seed(0)) * torch.exp(-10 * t)
    cut = cut_tails(ring, np.random.default_rng(0), share=0.5, levels_db=(-40.0, -40.0))
    changed = (cut != ring).any(dim=1)
    assert 16 < int(changed.sum()) < 48  # about half of them
    ends = torch.stack([row.nonzero().max() for row in cut[changed]]) / RATE
    # exp(-10 t) falls 40 dB at 0.46 s; the 10 ms envelope of noise ends within a frame or two
    assert ends.min() > 0.42 and ends.max() < 0.5
    assert torch.equal(cut[~changed], ring[~changed])


def test_an_ensemble_judge_votes_by_mean_probability_and_loads_as_saved(tmp_path):
    torch.manual_seed(0)
    members = [DrumClassifier(len(GROUPS)).eval() for _ in range(3)]
    ensemble = Ensemble(members).eval()
    audio = torch.randn(4, CLIP) * 0.1
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(audio), dim=1) for m in members]).mean(0)
        assert torch.allclose(torch.softmax(ensemble(audio), dim=1), mean, atol=1e-5)
    path = tmp_path / "judge.safetensors"
    save_file({k: v.contiguous() for k, v in ensemble.state_dict().items()}, str(path))
    loaded = load_group_judge(path)
    assert isinstance(loaded, Ensemble) and len(loaded.members) == 3
    with torch.no_grad():
        assert torch.allclose(loaded(audio), ensemble(audio))
    single = tmp_path / "one.safetensors"  # the first judges and guides: one CNN
    save_file({k: v.contiguous() for k, v in members[0].state_dict().items()}, str(single))
    assert isinstance(load_group_judge(single), DrumClassifier)
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    try:
        load_group_judge(tmp_path / "bad.safetensors")
    except RuntimeError as exc:
        assert "bad.safetensors" in str(exc)
    else:
        raise AssertionError("a broken judge file loaded")
