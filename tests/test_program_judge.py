"""The program judge behind "one instrument up the keyboard": its figures, and the shipped
judge on real notes and on the shipped notes preset."""

import json

import numpy as np

from ganpad.training.data.soundfont import build_note_set
from ganpad.training.evaluation import timbre
from ganpad.training.evaluation.evaluate import program_figures
from ganpad.training.evaluation.program_judge import (
    NAMES,
    PROGRAM_CARD,
    PROGRAMS,
    kept_programs,
    load_notes,
    load_program_judge,
    real_identity,
)

TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def test_an_instrument_is_kept_when_one_program_is_heard_at_all_but_one_pitch():
    heard = np.array(
        [
            [0, 0, 0, 0, 5],  # one slip: kept, as program 0
            [0, 0, 0, 5, 5],  # two: not kept
            [3, 3, 3, 3, 3],
        ]
    )  # kept, but asked for program 2
    figures = kept_programs(heard, asked=[0, 0, 2])
    assert figures["kept"] == round(2 / 3, 4) and figures["kept_right"] == round(1 / 3, 4)
    assert figures["heard_most"] == {NAMES[0]: 2, NAMES[3]: 1}


def test_the_shipped_judge_on_real_notes_and_on_the_notes_preset(tmp_path):
    """TimGM6mb's piano and guitar up the keyboard (the judge's unseen source) are judged
    like its card says real instruments are; the notes preset gets the same figures."""
    card = json.loads(PROGRAM_CARD.read_text())
    assert card["classes"] == list(NAMES)
    (unseen,) = card["locked_identity"].values()
    assert 0 <= unseen["kept_right"] <= unseen["kept"] <= 1
    folder = tmp_path / "notes"
    build_note_set(TIMGM, folder, [0, 24], list(timbre.PITCHES), [90], seconds=1.024)
    clips = load_notes(folder)
    assert set(clips.labels) == {list(PROGRAMS).index(0), list(PROGRAMS).index(24)}
    real = real_identity(load_program_judge(), clips)
    assert real["instruments"] == 2 and real["pitches"] == len(timbre.PITCHES)
    figures = program_figures("notes-notesynth-16k", seed=0)
    assert figures["instruments"] == 20 and sum(figures["heard_most"].values()) == 20
    assert 0 <= figures["kept"] <= 1 and figures["real"] == card["locked_identity"]
