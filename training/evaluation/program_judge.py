"""The program judge: which of nine GM instruments a note sounds like, so that a locked
timbre can be checked to stay one instrument up the keyboard (#29).

The drum classifier's CNN with a head per program, trained on FluidR3's notes at the
velocities `heldout-notes` leaves out, and tested on TimGM6mb's (a source it never heard).
A latent (or a real instrument) keeps its program when the judge hears one program at all
but at most one of `timbre.PITCHES`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ganpad.audio import load_mono
from ganpad.training.data.ingest import ClipSet, IngestReport
from ganpad.training.evaluation import classifier as cnn
from ganpad.training.evaluation import timbre
from ganpad.training.evaluation.classifier import DrumClassifier, TrainedClassifier

PROGRAM_WEIGHTS = cnn.ASSET_DIR / "program_judge.safetensors"
PROGRAM_CARD = cnn.ASSET_DIR / "program_judge.json"
# Piano, electric piano, mallets, organ, guitar, bass, strings, brass, wind: #29's families.
PROGRAMS = {0: "piano", 4: "electric_piano", 11: "vibraphone", 16: "organ", 24: "nylon_guitar",
            32: "acoustic_bass", 48: "strings", 56: "trumpet", 73: "flute"}  # fmt: skip
NAMES = tuple(PROGRAMS.values())
TRAIN_VELOCITIES = (70, 110)  # heldout-notes holds velocity 90
TEST_VELOCITY = 90
PITCHES = tuple(range(36, 85, 2))  # the notes it learns and is tested on (latents: timbre.PITCHES)


def _clip(audio: np.ndarray) -> np.ndarray:
    out = np.zeros(cnn.CLIP, np.float32)
    out[: min(cnn.CLIP, len(audio))] = audio[: cnn.CLIP]
    return out


def load_notes(folder: str | Path) -> ClipSet:
    """A note set's clips (`data soundfont`'s notes.json) labelled by program; pitches in
    `keys`. Programs the judge does not know are left out."""
    folder = Path(folder)
    notes = json.loads((folder / "notes.json").read_text(encoding="utf-8"))["notes"]
    notes = [n for n in notes if n["program"] in PROGRAMS]
    audio = np.stack([_clip(load_mono(folder / n["file"], cnn.RATE)) for n in notes])
    labels = np.array([list(PROGRAMS).index(n["program"]) for n in notes], np.int64)
    report = IngestReport(root=str(folder), class_counts=dict(Counter(NAMES[i] for i in labels)))
    return ClipSet(audio, labels, NAMES, [n["file"] for n in notes], report,
                   np.array([n["pitch"] for n in notes], np.int64))  # fmt: skip


def train_program_judge(train: str | Path, tests: dict[str, str | Path], epochs: int = 40
                        ) -> tuple[TrainedClassifier, dict[str, dict]]:  # fmt: skip
    """A judge trained on the note set `train`, tested on each of `tests`; with how often
    each test source's instruments keep one program up the keyboard (`locked_identity`)."""
    held = {name: load_notes(path) for name, path in tests.items()}
    result = cnn.train_classifier(load_notes(train), held, epochs=epochs)
    return result, {name: real_identity(result.model, clips) for name, clips in held.items()}


def load_program_judge() -> DrumClassifier:
    return cnn.load_classifier(PROGRAM_WEIGHTS, len(NAMES))


def locked_identity(clips: np.ndarray, judge: DrumClassifier,
                    asked: Sequence[int] | None = None) -> dict:  # fmt: skip
    """[instruments, pitches, samples] 16 kHz notes, each row one latent or one real
    instrument up the keyboard: the share of rows heard as one program at all but at most one
    pitch, the programs heard most, and (given each row's program index `asked`) the share
    heard as their own program that way."""
    rows, pitches = clips.shape[:2]
    heard = (
        cnn.predict(judge, clips.reshape(rows * pitches, -1))[0].argmax(1).reshape(rows, pitches)
    )
    return kept_programs(heard, asked)


def kept_programs(heard: np.ndarray, asked: Sequence[int] | None = None) -> dict:
    """`locked_identity`'s figures from the program heard [instruments, pitches]."""
    rows, pitches = heard.shape
    top = [Counter(row.tolist()).most_common(1)[0] for row in heard]
    kept = [count >= pitches - 1 for _, count in top]
    out = {"instruments": rows, "pitches": pitches,
           "kept": round(float(np.mean(kept)), 4),
           "heard_most": dict(Counter(NAMES[p] for p, _ in top))}  # fmt: skip
    if asked is not None:
        right = [k and p == a for (p, _), k, a in zip(top, kept, asked, strict=True)]
        out["kept_right"] = round(float(np.mean(right)), 4)
    return out


def real_identity(judge: DrumClassifier, clips: ClipSet) -> dict:
    """`locked_identity` of the real instruments of a note set at timbre.PITCHES."""
    rows, asked = [], []
    for program in range(len(NAMES)):
        at = {int(k): i for i, k in enumerate(clips.keys) if clips.labels[i] == program}
        if all(p in at for p in timbre.PITCHES):
            rows.append(clips.audio[[at[p] for p in timbre.PITCHES]])
            asked.append(program)
    return locked_identity(np.stack(rows), judge, asked)


def generated_identity(play: Callable[..., np.ndarray], classes: list[str], latent: int,
                       fit: Callable, latents: int = 20, seed: int = 0,
                       judge: DrumClassifier | None = None,
                       programs: Sequence[int] = ()) -> dict:  # fmt: skip
    """`locked_identity` of `latents` latents of a notes generator, each played at every one
    of timbre.PITCHES it has. A generator with GM `programs` plays latent i as program
    i mod their count, and `kept_right` counts the latents heard as that program (of those
    programs the judge knows)."""
    pitches = [p for p in timbre.PITCHES if str(p) in classes]
    labels = np.array([classes.index(str(p)) for p in pitches], np.int64)
    z = np.random.default_rng(seed).standard_normal((latents, latent)).astype(np.float32)
    playing = [programs[i % len(programs)] if programs else None for i in range(latents)]
    clips = np.stack([fit(play(np.repeat(one[None], len(pitches), 0), labels, None, program))
                      for one, program in zip(z, playing, strict=True)])  # fmt: skip
    known = [i for i, p in enumerate(playing) if p in PROGRAMS]
    if not known:
        return locked_identity(clips, judge or load_program_judge())
    asked = [NAMES.index(PROGRAMS[playing[i]]) for i in known]
    figures = locked_identity(clips[known], judge or load_program_judge(), asked)
    return figures | {"programs": [playing[i] for i in known]}
