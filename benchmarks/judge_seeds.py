"""How much the GM key judge's figures depend on its seed and on a clip's quiet tail: one CNN
per seed, with and without the tail cut (`classifier.cut_tails`), and the five-CNN ensemble,
each trained on heldout-drums and tested on an unseen SoundFont's kits and on a folder of clips
named by key read at two tail cuts (as a run reads its data: its data settings).

Prints, per judge, per-key identity over all keys and over the percussion keys on each test
(docs/evaluation.md, "The GM key judge"). About 2 min a CNN on one core.
Run:  python benchmarks/judge_seeds.py RUN --font MuseScore_General_Lite.sf3 --data FOLDER
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from ganpad.training.data.ingest import load_clips
from ganpad.training.data.reference import resolve
from ganpad.training.data.soundfont_drums import build_drum_kits
from ganpad.training.evaluation.classifier import train_classifier
from ganpad.training.evaluation.evaluate import _run_generator, fit
from ganpad.training.evaluation.key_judge import (
    Ensemble,
    group_clips,
    load_keyed,
    real_identity,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run whose data settings read --data")
    parser.add_argument("--font", required=True, help="a SoundFont the judge never heard")
    parser.add_argument("--data", required=True, help="a folder of clips named by GM key")
    parser.add_argument("--tails", type=float, nargs="+", default=[-50.0, -60.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--members", type=int, default=5, help="the ensemble's CNNs")
    args = parser.parse_args()

    _, cfg, _ = _run_generator(args.run)
    train = load_keyed(resolve("heldout-drums")[0])
    with tempfile.TemporaryDirectory() as tmp:
        build_drum_kits(args.font, Path(tmp) / "font")
        tests = {Path(args.font).stem: load_keyed(Path(tmp) / "font")}
    for tail in args.tails:
        data = dataclasses.replace(cfg.data, path=args.data, exclude_kits=[], tail_db=tail)
        clips = group_clips(load_clips(data))
        tests[f"data at {tail:g} dB"] = dataclasses.replace(
            clips, audio=fit(clips.audio, cfg.data.sample_rate)
        )
    print("per-key identity, all keys / percussion keys, on:", ", ".join(tests))

    def row(name: str, judge) -> None:  # noqa: ANN001
        figures = [real_identity(judge, clips) for clips in tests.values()]
        print(f"{name:<28}", "  ".join(f"{f['mean']:.3f} / {f['percussion_mean']:.3f}"
                                       for f in figures), flush=True)  # fmt: skip

    for share, name in ((0.0, "no cut"), (0.5, "tail cut")):
        for seed in args.seeds:
            model = train_classifier(train, {}, seed=seed, tail_share=share).model
            row(f"one CNN, {name}, seed {seed}", model)
    members = [train_classifier(train, {}, seed=s).model for s in range(args.members)]
    row(f"{args.members} CNNs, tail cut", Ensemble(members).eval())


if __name__ == "__main__":
    main()
