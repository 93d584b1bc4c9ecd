"""Sample-pack ingest: scan, decode, resample, mono, onset-align, slice, label, cache, report."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from ganpad.atomic import atomic_path, atomic_write_text
from ganpad.audio import AudioError, is_audio_file, load_mono
from ganpad.drums import DRUM_CLASSES, classify_name
from ganpad.training.config import DataConfig
from ganpad.training.diagnostics import decay_time
from ganpad.training.drumkit import KIT_FILE, read_kit
from ganpad.training.pitch_labels import pitch_label, pitches_from_index

CACHE_VERSION = 1
FALLBACK_CLASS = "percussion"  # a sound from a drum pack that no rule names
# Files that live beside samples and are not meant as audio; anything else unknown is reported.
_NOT_SAMPLES = {".xml", ".h2song", ".txt", ".md", ".pdf", ".png", ".jpg", ".jpeg", ".json"}


@dataclass(frozen=True)
class Source:
    path: Path
    label: str | None
    kit: str | None = None


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    detail: str


@dataclass
class IngestReport:
    root: str
    class_counts: dict[str, int]
    skipped: list[Skipped] = field(default_factory=list)
    unlabelled: int = 0  # clips that fell back to FALLBACK_CLASS
    kits: list[str] = field(default_factory=list)

    @property
    def clips(self) -> int:
        return sum(self.class_counts.values())

    def to_json(self) -> dict:
        return asdict(self) | {"clips": self.clips}

    def format(self) -> str:
        lines = [f"{self.clips} clips from {self.root}"]
        if self.kits:
            lines.append(f"kits: {', '.join(self.kits)}")
        lines += [f"  {cls:<11} {n:5d}" for cls, n in self.class_counts.items()]
        if self.unlabelled:
            lines.append(f"  ({self.unlabelled} unlabelled clips counted as {FALLBACK_CLASS})")
        lines.append(f"{len(self.skipped)} skipped")
        lines += [f"  {s.reason:<11} {s.path}: {s.detail}" for s in self.skipped]
        return "\n".join(lines)


@dataclass
class ClipSet:
    audio: np.ndarray  # float32 [N, slice_len] in [-1, 1]
    labels: np.ndarray  # int64 [N], index into `classes`
    classes: tuple[str, ...]
    paths: list[str]
    report: IngestReport


def find_sources(
    root: Path, exclude_kits: Iterable[str] = ()
) -> tuple[list[Source], list[Skipped]]:
    """Walk a folder (or take one file): kit-labelled samples, loose audio files, and rejects."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    if root.is_file():
        return [Source(root, _label_from_path(root, root.parent))], []
    excluded = set(exclude_kits)
    sources: dict[Path, Source] = {}
    skipped: list[Skipped] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folder_path = Path(folder)
        if KIT_FILE in files:
            try:
                kit_name, samples = read_kit(folder_path)
            except ValueError as exc:
                skipped.append(Skipped(str(folder_path / KIT_FILE), "corrupt", str(exc)))
                kit_name, samples = folder_path.name, []
            if kit_name in excluded or folder_path.name in excluded:
                dirs[:] = []
                continue
            for sample in samples:
                if not sample.path.exists():
                    detail = f"listed in {KIT_FILE} but not on disk"
                    skipped.append(Skipped(str(sample.path), "missing", detail))
                elif sample.path not in sources:
                    sources[sample.path] = Source(sample.path, sample.label, kit_name)
        for name in sorted(files):
            path = folder_path / name
            if name.startswith(".") or path in sources:
                continue
            if is_audio_file(path):
                sources[path] = Source(path, _label_from_path(path, root))
            elif path.suffix.lower() not in _NOT_SAMPLES and not name.upper().startswith("README"):
                skipped.append(Skipped(str(path), "unsupported", "not an audio file extension"))
    return sorted(sources.values(), key=lambda s: str(s.path)), _dedupe(skipped)


def _dedupe(skipped: list[Skipped]) -> list[Skipped]:
    return list({s.path: s for s in skipped}.values())


def _label_from_path(path: Path, root: Path) -> str | None:
    """File name first, then each folder up to the root: 'Kicks/808.wav' is a kick."""
    label = classify_name(path.stem)
    parent = path.parent
    while label is None and parent != root.parent and parent != parent.parent:
        label = classify_name(parent.name)
        if parent == root:
            break
        parent = parent.parent
    return label


def prepare_clip(audio: np.ndarray, cfg: DataConfig, path: str | Path = "") -> np.ndarray:
    """Mono audio at the model rate -> one training slice, or AudioError(silent / too_short)."""
    rate = cfg.sample_rate
    min_len = max(1, int(cfg.min_ms * rate / 1000))
    if audio.shape[0] < min_len:
        detail = f"{audio.shape[0]} samples at {rate} Hz, need at least {min_len} ({cfg.min_ms} ms)"
        raise AudioError(path, "too_short", detail)
    peak = float(np.max(np.abs(audio)))
    if peak <= 10 ** (cfg.silence_db / 20):
        detail = "every sample is zero"
        if peak > 0:
            detail = f"peak {20 * np.log10(peak):.1f} dBFS is below {cfg.silence_db} dBFS"
        raise AudioError(path, "silent", detail)
    if cfg.onset_align:
        audio = audio[_onset(audio, peak, cfg) :]
    clip = np.zeros(cfg.slice_len, dtype=np.float32)
    n = min(cfg.slice_len, audio.shape[0])
    clip[:n] = audio[:n]
    if audio.shape[0] > cfg.slice_len:
        fade = min(n, int(cfg.fade_ms * rate / 1000))
        if fade > 0:
            clip[n - fade : n] *= np.cos(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
    if cfg.tail_db < 0:
        clip = cut_tail(clip, rate, cfg.tail_db, cfg.fade_ms)
    if cfg.normalize:
        clip *= 0.99 / max(float(np.max(np.abs(clip))), 1e-9)
    return np.clip(clip, -1.0, 1.0)


def cut_tail(clip: np.ndarray, rate: int, db: float, fade_ms: float) -> np.ndarray:
    """The clip faded to silence over `fade_ms` from where its envelope last reaches `db`
    under its peak: a sample pack's tight one-shot, without the room's low ring."""
    end = int(round(float(decay_time(clip[None], rate, db)[0]) * rate))
    fade = min(end, int(fade_ms * rate / 1000))
    out = clip.copy()
    out[end - fade : end] *= np.cos(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
    out[end:] = 0.0
    return out


def _onset(audio: np.ndarray, peak: float, cfg: DataConfig) -> int:
    threshold = peak * 10 ** (cfg.onset_threshold_db / 20)
    first = int(np.argmax(np.abs(audio) >= threshold))
    return max(0, first - int(cfg.preroll_ms * cfg.sample_rate / 1000))


def _cache_key(path: Path, cfg: DataConfig) -> str:
    stat = path.stat()
    params = {
        "v": CACHE_VERSION,
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime": stat.st_mtime_ns,
        **{
            k: v
            for k, v in asdict(cfg).items()
            if k not in {"path", "cache_dir", "exclude_kits", "labels"}
        },
    }
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()


def cache_dir_for(cfg: DataConfig) -> Path:
    return (
        Path(cfg.cache_dir)
        if cfg.cache_dir
        else Path(platformdirs.user_cache_dir("ganpad")) / "clips"
    )


def _load_one(source: Source, cfg: DataConfig, cache: Path) -> np.ndarray | Skipped:
    """One file through decode and slicing, served from the cache when it is there."""
    try:
        key = _cache_key(source.path, cfg)
    except OSError as exc:
        return Skipped(str(source.path), "unreadable", exc.strerror or str(exc))
    clip_file = cache / key[:2] / f"{key}.npy"
    skip_file = clip_file.with_suffix(".skip.json")
    if clip_file.exists():
        try:
            return np.load(clip_file, allow_pickle=False)
        except (OSError, ValueError):
            clip_file.unlink(missing_ok=True)  # a damaged cache entry is rebuilt
    if skip_file.exists():
        try:
            return Skipped(**json.loads(skip_file.read_text()))
        except (OSError, ValueError, TypeError):
            skip_file.unlink(missing_ok=True)
    try:
        clip = prepare_clip(load_mono(source.path, cfg.sample_rate), cfg, source.path)
    except AudioError as exc:
        skipped = Skipped(str(source.path), exc.reason, exc.detail)
        atomic_write_text(skip_file, json.dumps(asdict(skipped)))
        return skipped
    with atomic_path(clip_file) as tmp, open(tmp, "wb") as f:
        np.save(f, clip, allow_pickle=False)
    return clip


def load_clips(cfg: DataConfig, workers: int | None = None) -> ClipSet:
    """Ingest `cfg.path`; bad files are skipped and reported, never raised."""
    root = Path(cfg.path)
    sources, skipped = find_sources(root, cfg.exclude_kits)
    cache = cache_dir_for(cfg)
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda s: _load_one(s, cfg, cache), sources))
    clips, labels, paths = [], [], []
    unlabelled = 0
    pitched = cfg.labels == "pitch"
    index = pitches_from_index(root) if pitched else {}
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, Skipped):
            skipped.append(result)
            continue
        if pitched:
            pitch = pitch_label(str(source.path), result, cfg.sample_rate, index)
            if pitch is None:
                detail = "no pitch in notes.json or the file name, and none heard"
                skipped.append(Skipped(str(source.path), "unpitched", detail))
                continue
            label = str(pitch)
        else:
            unlabelled += source.label is None
            label = source.label or FALLBACK_CLASS
        clips.append(result)
        labels.append(label)
        paths.append(str(source.path))
    if pitched:
        classes = tuple(sorted(set(labels), key=int))
    else:
        classes = tuple(c for c in DRUM_CLASSES if c in set(labels))
    counts = Counter(labels)
    report = IngestReport(
        root=str(root),
        class_counts={c: counts[c] for c in classes},
        skipped=sorted(skipped, key=lambda s: s.path),
        unlabelled=unlabelled,
        kits=sorted({s.kit for s in sources if s.kit}),
    )
    audio = np.stack(clips) if clips else np.zeros((0, cfg.slice_len), np.float32)
    index = {c: i for i, c in enumerate(classes)}
    return ClipSet(audio, np.array([index[c] for c in labels], np.int64), classes, paths, report)
