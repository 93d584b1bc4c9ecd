"""Hydrogen kits shrunk to travel: the same kits, drumkit.xml and file names, each sample
decoded, mixed to mono, resampled to --rate and cut to --seconds, stored as 16-bit FLAC.

`ganpad train --data OUT` then sees the same kits, labels and licences as with the installed
ones, in a tenth of the bytes: what a GPU machine with no Debian packages trains on.
(libsndfile reads by content, so a FLAC behind a .wav name decodes as FLAC.)

Run:  python tools/pack_kits.py /usr/share/hydrogen/data/drumkits .gpu/drumkits44 \
          --rate 44100 --exclude GMRockKit
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import soundfile as sf

from ganpad.audio import AudioError, is_audio_file, load_mono


def pack(source: Path, out: Path, rate: int, seconds: float, exclude: set[str]) -> int:
    written = 0
    for xml in sorted(source.glob("*/drumkit.xml")):
        kit = xml.parent
        if kit.name in exclude:
            continue
        (out / kit.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(xml, out / kit.name / xml.name)
        for path in sorted(p for p in kit.rglob("*") if p.is_file() and is_audio_file(p)):
            try:
                audio = load_mono(path, rate)[: int(seconds * rate)]
            except AudioError as exc:
                print(f"skipped {path}: {exc}")
                continue
            target = out / kit.name / path.relative_to(kit)
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(target), audio, rate, "PCM_16", format="FLAC")
            written += 1
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("source", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--rate", type=int, default=44100)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--exclude", nargs="*", default=[])
    args = p.parse_args()
    count = pack(args.source, args.out, args.rate, args.seconds, set(args.exclude))
    print(f"{count} samples in {args.out}")


if __name__ == "__main__":
    main()
