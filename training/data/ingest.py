"""Sample-pack ingest: scan, decode, resample, mono, onset-align, slice, label, cache, report.

Drum labels, first that applies: the pack's corrections file `ganpad-labels.json` (beside the
pack: {"relative/path.wav": "kick", ...}), the kit's drumkit.xml, the file name, the folder
names; a clip none of these names gets the drum classifier's most likely class, and is left out
as "unsure" below `data.autolabel_min_confidence`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import platformdirs

from ganpad.atomic import atomic_path, atomic_write_text
from ganpad.audio import AudioError, is_audio_file, load_mono
from ganpad.drums import (
    DRUM_CLASSES,
    GM_NOTE_CLASS,
    GM_NOTE_NAMES,
    KEY_LABELS,
    KEYED_LABELS,
    classify_name,
    key_for_name,
    label_class,
    label_key,
)
from ganpad.training.config import DataConfig
from ganpad.training.data.drumkit import KIT_FILE, read_kit
from ganpad.training.data.pitch_labels import (
    layers_from_index,
    pitch_label,
    pitches_from_index,
    programs_from_index,
)
from ganpad.training.evaluation.diagnostics import decay_time

CACHE_VERSION = 1
# drums: the 8 classes; drum-keys: the classes and every GM key (core.drums.KEYED_LABELS);
# pitch: MIDI notes
DRUM_SCHEMES = ("drums", "drum-keys")
LABEL_SCHEMES = (*DRUM_SCHEMES, "pitch")
LABELS_FILE = "ganpad-labels.json"  # beside the pack: relative path -> class, wins over all
# Files that live beside samples and are not meant as audio; anything else unknown is reported.
_NOT_SAMPLES = {".xml", ".h2song", ".txt", ".md", ".pdf", ".png", ".jpg", ".jpeg", ".json"}


@dataclass(frozen=True)
class Source:
    path: Path
    label: str | None
    kit: str | None = None
    corrected: bool = False  # labelled by the pack's LABELS_FILE
    key: int | None = None  # the GM drum key its names say, always one of its label's keys
    velocity: float | None = None  # its kit layer's velocity (0..1), where layers span several
    instrument: str | None = None  # "kit/instrument": the clips that are layers of one drum


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Guess:
    path: str
    key: str  # the path as LABELS_FILE names it (relative to the pack, with /)
    label: str
    confidence: float  # the classifier's softmax probability
    kept: bool  # at least data.autolabel_min_confidence


@dataclass
class IngestReport:
    root: str
    class_counts: dict[str, int]
    skipped: list[Skipped] = field(default_factory=list)
    unlabelled: int = 0  # clips nothing named: labelled by the classifier (kept or unsure)
    kits: list[str] = field(default_factory=list)
    guesses: list[Guess] = field(default_factory=list)
    corrected: int = 0  # clips labelled by LABELS_FILE
    labels_file: str = ""  # where LABELS_FILE is (or would be) read
    key_counts: dict[int, int] = field(default_factory=dict)  # GM drum key -> named clips

    @property
    def clips(self) -> int:
        return sum(self.class_counts.values())

    def to_json(self) -> dict:
        return asdict(self) | {"clips": self.clips, "keys_missing": self.keys_missing}

    @property
    def keys_missing(self) -> list[int]:
        """The GM drum keys no clip is named for (none for a notes pack)."""
        if not self.key_counts and not set(self.class_counts) & set(DRUM_CLASSES):
            return []
        return [k for k in GM_NOTE_NAMES if k not in self.key_counts]

    def format(self) -> str:
        lines = [f"{self.clips} clips from {self.root}"]
        if self.kits:
            lines.append(f"kits: {', '.join(self.kits)}")
        width = max((len(c) for c in self.class_counts), default=0)
        lines += [f"  {cls:<{width}} {n:5d}" for cls, n in self.class_counts.items()]
        if self.corrected:
            lines.append(f"  ({self.corrected} labelled by {self.labels_file})")
        if self.unlabelled:
            kept = sum(g.kept for g in self.guesses)
            lines.append(f"  ({self.unlabelled} named by nothing: labelled by the drum "
                         f"classifier, {kept} kept, {self.unlabelled - kept} unsure left out; "
                         "`ganpad data scan` lists them)")  # fmt: skip
        lines += self._format_keys()
        lines.append(f"{len(self.skipped)} skipped")
        lines += [f"  {s.reason:<11} {s.path}: {s.detail}" for s in self.skipped]
        return "\n".join(lines)

    def _format_keys(self) -> list[str]:
        """Which GM drum keys the names give clips to, and which keys have none."""
        if not self.key_counts and not self.keys_missing:
            return []
        named = sum(self.key_counts.values())
        lines = [f"GM keys named: {len(self.key_counts)} of {len(GM_NOTE_NAMES)} "
                 f"({named} clips; the rest are known by their class only)"]  # fmt: skip
        lines += [f"  {k:>3} {GM_NOTE_NAMES[k]:<20} {n:5d}" for k, n in self.key_counts.items()]
        if self.keys_missing:
            missing = ", ".join(f"{k} {GM_NOTE_NAMES[k]}" for k in self.keys_missing)
            text = f"no clips for: {missing} (they play their class's sound)"
            lines += textwrap.wrap(text, 96, initial_indent="  ", subsequent_indent="    ")
        return lines

    def format_guesses(self) -> str:
        """The classifier's labels with their confidence, and how to correct them."""
        if not self.guesses:
            return ""
        width = max(len(g.key) for g in self.guesses)
        lines = [f"{len(self.guesses)} clips labelled by the drum classifier (nothing named them):"]
        for g in self.guesses:
            note = "" if g.kept else "  unsure: left out"
            lines.append(f"  {g.key:<{width}}  {g.label:<11} {g.confidence:.2f}{note}")
        # The unsure ones are what most wants naming.
        picked = [g for g in self.guesses if not g.kept][:2] or self.guesses[:2]
        example = {g.key: g.label for g in picked}
        lines += [
            f"To correct or add labels, write {self.labels_file}, relative path -> class, e.g.",
            f"  {json.dumps(example)}",
            f"  classes: {', '.join(DRUM_CLASSES)}; it wins over kit files and names.",
        ]
        return "\n".join(lines)


@dataclass
class ClipSet:
    audio: np.ndarray  # float32 [N, slice_len] in [-1, 1]
    labels: np.ndarray  # int64 [N], index into `classes`
    classes: tuple[str, ...]
    paths: list[str]
    report: IngestReport
    keys: np.ndarray  # int64 [N]: each clip's GM drum key, -1 where nothing names it
    # float32 [N]: the velocity (0..1) of the layer a clip is, NaN where no layers say
    velocity: np.ndarray | None = None
    instrument: np.ndarray | None = None  # int64 [N]: which layered drum, -1 for none
    program: np.ndarray | None = None  # int64 [N]: a rendered note's GM program, -1 for none

    def with_velocity(self) -> ClipSet:
        """Itself, with velocity, instrument and program filled in as unknown where missing."""
        n = len(self.audio)
        velocity = np.full(n, np.nan, np.float32) if self.velocity is None else self.velocity
        instrument = np.full(n, -1, np.int64) if self.instrument is None else self.instrument
        program = np.full(n, -1, np.int64) if self.program is None else self.program
        return replace(self, velocity=velocity, instrument=instrument, program=program)


def find_sources(
    root: Path, exclude_kits: Iterable[str] = ()
) -> tuple[list[Source], list[Skipped]]:
    """Walk a folder (or take one file): kit-labelled samples, loose audio files, and rejects."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    if root.is_file():
        return [_loose_source(root, root.parent)], []
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
                    layered = sample.velocity is not None
                    sources[sample.path] = Source(
                        sample.path, sample.label, kit_name, key=sample.key,
                        velocity=sample.velocity,
                        instrument=f"{kit_name}/{sample.instrument}" if layered else None,
                    )  # fmt: skip
        for name in sorted(files):
            path = folder_path / name
            if name.startswith(".") or path in sources:
                continue
            if is_audio_file(path):
                sources[path] = _loose_source(path, root)
            elif path.suffix.lower() not in _NOT_SAMPLES and not name.upper().startswith("README"):
                skipped.append(Skipped(str(path), "unsupported", "not an audio file extension"))
    return sorted(sources.values(), key=lambda s: str(s.path)), _dedupe(skipped)


def labels_file_for(root: Path) -> Path:
    """Where a pack's corrections file lives: in the pack's folder, or beside a single file."""
    root = Path(root)
    return (root if root.is_dir() else root.parent) / LABELS_FILE


def read_corrections(root: Path) -> dict[str, str]:
    """The pack's LABELS_FILE as {relative path with /: drum class or GM key label}; {} when
    there is none."""
    path = labels_file_for(root)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as Windows tools write
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable labels file: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f'{path}: expected an object {{"relative/path.wav": "class", ...}}')
    for key, label in raw.items():
        if label not in KEYED_LABELS:
            raise ValueError(f"{path}: {key!r}: {label!r} is not a drum class "
                             f"({', '.join(DRUM_CLASSES)}) nor a GM key's label "
                             "(cowbell, open_hi_hat, ...)")  # fmt: skip
    corrections: dict[str, str] = {}
    for key, label in raw.items():
        norm = posixpath.normpath(key.replace("\\", "/"))
        if norm in corrections and corrections[norm] != label:
            raise ValueError(f"{path}: {key!r} names {norm!r} again, as {label!r} after "
                             f"{corrections[norm]!r}")  # fmt: skip
        corrections[norm] = label
    return corrections


def _key(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _apply_corrections(sources: list[Source], root: Path, skipped: list[Skipped]) -> list[Source]:
    """Sources relabelled by the pack's LABELS_FILE; its entries that name no source are
    reported as missing."""
    corrections = read_corrections(root)
    if not corrections:
        return sources
    base = labels_file_for(root).parent
    keys = [_key(s.path, base) for s in sources]
    for key in sorted(set(corrections) - set(keys)):
        detail = f"named in {LABELS_FILE} but not an audio file of the pack"
        skipped.append(Skipped(str(base / key), "missing", detail))
    return [_relabelled(s, corrections[k]) if k in corrections else s
            for s, k in zip(sources, keys, strict=True)]  # fmt: skip


def _relabelled(source: Source, label: str) -> Source:
    """A source under the class or GM key LABELS_FILE gives it; a class keeps the key its
    names gave only if of that class."""
    if label_key(label) is not None:
        return replace(source, label=label_class(label), corrected=True, key=label_key(label))
    key = source.key if source.key is not None and GM_NOTE_CLASS[source.key] == label else None
    return replace(source, label=label, corrected=True, key=key)


def _dedupe(skipped: list[Skipped]) -> list[Skipped]:
    return list({s.path: s for s in skipped}.values())


def _path_names(path: Path, root: Path) -> Iterator[str]:
    """The file name, then each folder's up to the root."""
    yield path.stem
    parent = path.parent
    while parent != root.parent and parent != parent.parent:
        yield parent.name
        if parent == root:
            break
        parent = parent.parent


def _loose_source(path: Path, root: Path) -> Source:
    """A file outside a kit, named by its path: 'Kicks/808.wav' is a kick and 'Perc/Cowbell
    01.wav' a percussion clip of GM key 56."""
    names = list(_path_names(path, root))
    label = next((c for c in map(classify_name, names) if c), None)
    keys = (key_for_name(n) for n in names)
    key = next((k for k in keys if k is not None and GM_NOTE_CLASS[k] == label), None)
    return Source(path, label, key=key)


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


# DataConfig fields that do not change a clip's audio: left out of its cache key
NOT_AUDIO = {"path", "cache_dir", "exclude_kits", "labels", "autolabel_min_confidence", "program"}


def _cache_key(path: Path, cfg: DataConfig) -> str:
    stat = path.stat()
    params = {
        "v": CACHE_VERSION,
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime": stat.st_mtime_ns,
        **{
            k: v
            # Only what shapes the audio: labels are never cached, but decided afresh on every
            # load (corrections file, kit, names, classifier), so none can be served stale.
            for k, v in asdict(cfg).items()
            if k not in NOT_AUDIO
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


def guess_labels(audio: np.ndarray, scheme: str = "drums") -> list[tuple[str, float]]:
    """(label, probability) for 16 kHz, 16384-sample clips in the run's drum label scheme."""
    # The hook for presets labelled by single GM keys: a key classifier (or the class narrowed
    # to a key) plugs in here under its own scheme; today every drum preset speaks classes.
    if scheme not in DRUM_SCHEMES:  # drum-keys: a clip no name gives a key to trains its class
        raise ValueError(f"data.labels = {scheme!r}: no classifier labels unnamed clips for it")
    from ganpad.training.evaluation.classifier import most_likely  # it imports this module

    try:
        return most_likely(audio)
    except RuntimeError as exc:
        raise ValueError(
            f"{len(audio)} clips that nothing names need the classifier: {exc}"
        ) from exc


def _guess_unnamed(
    sources: list[Source], cfg: DataConfig, cache: Path, pool: ThreadPoolExecutor
) -> dict[Path, Guess]:
    """The classifier's label for each source, heard as it was trained: the file's own clip at
    its rate and length, sliced with the default settings (cached like any clip)."""
    if not sources:
        return {}
    from ganpad.training.evaluation.classifier import CLIP, RATE

    own = DataConfig(path=cfg.path, cache_dir=cfg.cache_dir, sample_rate=RATE, slice_len=CLIP)
    own_clips = pool.map(lambda s: _load_one(s, own, cache), sources)
    heard = [(s, c) for s, c in zip(sources, own_clips, strict=True) if not isinstance(c, Skipped)]
    if not heard:
        return {}
    guesses = guess_labels(np.stack([r for _, r in heard]), cfg.labels)
    base = labels_file_for(Path(cfg.path)).parent
    return {
        s.path: Guess(str(s.path), _key(s.path, base), label, round(p, 4),
                      p >= cfg.autolabel_min_confidence)
        for (s, _), (label, p) in zip(heard, guesses, strict=True)
    }  # fmt: skip


def _label(
    source: Source, clip: np.ndarray, cfg: DataConfig, index: dict, guess: Guess | None
) -> str | Skipped:
    """A clip's label, or why it is left out."""
    if cfg.labels == "pitch":
        pitch = pitch_label(str(source.path), clip, cfg.sample_rate, index)
        if pitch is None:
            detail = "no pitch in notes.json or the file name, and none heard"
            return Skipped(str(source.path), "unpitched", detail)
        return str(pitch)
    if source.label is not None:
        return source.label
    if guess is None:
        detail = ("nothing names it (data.autolabel is off)" if not cfg.autolabel else
                  "nothing names it and the drum classifier could not hear it")  # fmt: skip
        return Skipped(str(source.path), "unsure", detail)
    if not guess.kept:
        detail = (f"nothing names it; the drum classifier says {guess.label} at "
                  f"{guess.confidence:.2f}, under data.autolabel_min_confidence "
                  f"{cfg.autolabel_min_confidence}: name it in {LABELS_FILE}")  # fmt: skip
        return Skipped(str(source.path), "unsure", detail)
    return guess.label


def load_clips(cfg: DataConfig, workers: int | None = None) -> ClipSet:
    """Ingest `cfg.path`; bad files are skipped and reported, never raised."""
    if cfg.labels not in LABEL_SCHEMES:
        raise ValueError(f"data.labels = {cfg.labels!r}; choose from {', '.join(LABEL_SCHEMES)}")
    if not 0.0 <= cfg.autolabel_min_confidence <= 1.0:
        raise ValueError(f"data.autolabel_min_confidence = {cfg.autolabel_min_confidence} "
                         "(a probability: 0 to 1)")  # fmt: skip
    if cfg.program != -1 and (cfg.labels != "pitch" or not 0 <= cfg.program < 128):
        raise ValueError(f"data.program = {cfg.program}: the GM program (0..127) of pitched "
                         "notes (data.labels = \"pitch\"), or -1 for none")  # fmt: skip
    root = Path(cfg.path)
    sources, skipped = find_sources(root, cfg.exclude_kits)
    pitched = cfg.labels == "pitch"
    if not pitched:
        sources = _apply_corrections(sources, root, skipped)
    cache = cache_dir_for(cfg)
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda s: _load_one(s, cfg, cache), sources))
        heard = [s for s, r in zip(sources, results, strict=True) if not isinstance(r, Skipped)]
        unnamed = [] if pitched else [s for s in heard if s.label is None]
        guesses = _guess_unnamed(unnamed, cfg, cache, pool) if cfg.autolabel else {}
    clips, labels, paths, keys, layers = [], [], [], [], []
    index = pitches_from_index(root) if pitched else {}
    notes = layers_from_index(root) if pitched else {}  # a SoundFont render's velocity layers
    programs = programs_from_index(root) if pitched else {}
    program = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, Skipped):
            skipped.append(result)
            continue
        label = _label(source, result, cfg, index, guesses.get(source.path))
        if isinstance(label, Skipped):
            skipped.append(label)
            continue
        clips.append(result)
        labels.append(label)
        paths.append(str(source.path))
        keys.append(-1 if pitched or source.key is None or label != source.label else source.key)
        layers.append(notes.get(str(source.path.resolve()), (source.velocity, source.instrument)))
        program.append(programs.get(str(source.path.resolve()), cfg.program))
    if cfg.labels == "drum-keys":  # every GM key its own label; always the same 55 labels
        labels = [KEY_LABELS[k] if k >= 0 else c for c, k in zip(labels, keys, strict=True)]
        classes = KEYED_LABELS
    elif pitched:
        classes = tuple(sorted(set(labels), key=int))
    else:
        classes = tuple(c for c in DRUM_CLASSES if c in set(labels))
    counts = Counter(labels)
    report = IngestReport(
        root=str(root),
        class_counts={c: counts[c] for c in classes if counts[c]},
        skipped=sorted(skipped, key=lambda s: s.path),
        unlabelled=len(unnamed),
        kits=sorted({s.kit for s in sources if s.kit}),
        guesses=sorted(guesses.values(), key=lambda g: g.key),
        corrected=sum(s.corrected for s in sources),
        labels_file="" if pitched else str(labels_file_for(root)),
        key_counts=dict(sorted(Counter(k for k in keys if k >= 0).items())),
    )
    audio = np.stack(clips) if clips else np.zeros((0, cfg.slice_len), np.float32)
    index = {c: i for i, c in enumerate(classes)}
    labels_index = np.array([index[c] for c in labels], np.int64)
    velocity, instrument = _layers(layers)
    return ClipSet(audio, labels_index, classes, paths, report, np.array(keys, np.int64),
                   velocity, instrument, np.array(program, np.int64))  # fmt: skip


def _layers(layers: list[tuple[float | None, str | None]]) -> tuple[np.ndarray, np.ndarray]:
    """(velocity, NaN where unknown; instrument index, -1 where none) per clip."""
    names = sorted({name for _, name in layers if name is not None})
    index = {name: i for i, name in enumerate(names)}
    velocity = np.array([np.nan if v is None else v for v, _ in layers], np.float32)
    instrument = np.array([index.get(name, -1) for _, name in layers], np.int64)
    return velocity, instrument
