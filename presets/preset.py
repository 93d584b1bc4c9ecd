"""The preset contract: preset.json, generator.onnx (+ checkpoint), read and checked without torch.

Nothing here unpickles: the json is parsed, the graph is opened by ONNX Runtime, and a
checkpoint (for fine-tuning) is safetensors, which the training side reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
PRESET_FILE = "preset.json"
GENERATOR_FILE = "generator.onnx"
CHECKPOINT_FILE = "checkpoint.safetensors"
CHECKPOINT_STATE_FILE = "checkpoint.json"
KINDS = ("drums", "notes")
# The graph repeats the facts a player relies on, so a json that lies about them is caught.
META_PREFIX = "ganpad."
# The velocity (0..1) a velocity-aware graph plays when none is given: MIDI 100, the velocity
# its latent prior's mean stands for (training.models.autoencoding.VELOCITY_REF).
DEFAULT_VELOCITY = 100 / 127


class PresetError(ValueError):
    """A preset that cannot be used: names the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class Label:
    index: int
    name: str
    gm_notes: tuple[int, ...] = ()
    # How much of a clip this label's sounds ever ring (at the preset's rate); None: all of it.
    # A kick of a graph made long for its cymbals keeps a kick's pool memory and file length.
    samples: int | None = None


@dataclass(frozen=True)
class Program:
    """An instrument a notes preset plays (its graph's `program` input is `index`)."""

    index: int
    program: int  # General MIDI's number, 0..127
    name: str


@dataclass(frozen=True)
class Preset:
    root: Path
    name: str
    kind: str
    family: str
    sample_rate: int
    samples: int
    latent: int
    conditional: bool
    labels: tuple[Label, ...]
    pitch_range: tuple[int, int] | None
    meta: dict[str, Any] = field(repr=False, compare=False)
    velocity: bool = False  # the graph takes velocity: float32[B] in 0..1
    programs: tuple[Program, ...] = ()  # the graph takes program: int64[B], an index into these

    @property
    def generator_path(self) -> Path:
        return self.root / GENERATOR_FILE

    @property
    def checkpoint_path(self) -> Path | None:
        path = self.root / CHECKPOINT_FILE
        return path if path.exists() else None

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def frames_of(self, label: int | None, rate: int) -> int:
        """The most frames at `rate` a sound of label `label` (None: unconditional) rings."""
        own = self.labels[label].samples if label is not None and self.conditional else None
        return math.ceil((own or self.samples) * rate / self.sample_rate)

    def generate(self, session, z: np.ndarray, labels=None, velocity=None,
                 program=None) -> np.ndarray:  # fmt: skip
        """Run the graph: audio [B, samples] for latents [B, latent] (and label indices,
        velocities in 0..1 where the preset takes them: MIDI 100's when not given, and
        program indices where it has programs: its first when not given)."""
        n = len(z)
        feed = {"z": np.ascontiguousarray(z, np.float32)}
        if self.conditional:
            feed["label"] = np.asarray(labels, np.int64)
        if self.velocity:
            played = DEFAULT_VELOCITY if velocity is None else velocity
            feed["velocity"] = np.broadcast_to(np.asarray(played, np.float32), (n,)).copy()
        if self.programs:
            chosen = np.broadcast_to(np.asarray(0 if program is None else program, np.int64), (n,))
            bad = chosen[(chosen < 0) | (chosen >= len(self.programs))]
            if len(bad):
                count = len(self.programs)
                raise ValueError(f"program index {bad[0]} is not one of {self.name}'s {count} "
                                 f"programs (0..{count - 1})")  # fmt: skip
            feed["program"] = chosen.copy()
        return session.run(["audio"], feed)[0]

    def program_index(self, wanted: str | int) -> int:
        """The index of a program the preset plays, by GM number or (part of) its name."""
        names = ", ".join(f"{p.program} {p.name}" for p in self.programs) or "none"
        if isinstance(wanted, bool) or not isinstance(wanted, int | str):  # a file's value
            raise ValueError(f"program {wanted!r} is not a GM program number or name")
        number = str(wanted).strip()
        if not number:
            raise ValueError(f"no program named; {self.name} plays: {names}")
        # A number names a GM program, never part of a name ("Pad 1").
        if number.isdecimal() and number.isascii():
            for p in self.programs:
                if p.program == int(number):
                    return p.index
            raise ValueError(f"{self.name} plays no GM program {number}; it plays: {names}")
        matches = [p for p in self.programs if number.lower() in p.name.lower()]
        if len(matches) == 1:
            return matches[0].index
        problem = "names several programs" if len(matches) > 1 else "is no program"
        raise ValueError(f"{wanted!r} {problem} of {self.name}; it plays: {names}")

    def session(self, providers: list[str] | None = None, threads: int = 0, arena: bool = True):
        """An ONNX Runtime session on the best provider present (CUDA, else CPU).

        threads > 0 caps ORT's CPU threads and stops them spinning while idle, so a live
        instrument's audio thread keeps a core. arena=False frees each run's CPU buffers when
        the run ends, where the arena keeps the largest run's peak for the session's life.
        """
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = arena
        if threads:
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.generator_path), options,
                                    providers=choose_providers(providers))  # fmt: skip


PREFERRED_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def choose_providers(wanted: list[str] | None = None) -> list[str]:
    """The ONNX Runtime providers to ask for, best first: CUDA where onnxruntime-gpu has it
    (`pip install 'ganpad[gpu]'`), else the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = [p for p in wanted or PREFERRED_PROVIDERS if p in available]
    return chosen or ["CPUExecutionProvider"]


def provider_name(session) -> str:  # noqa: ANN001
    """What a session generates on, in a word: "CUDA" or "CPU"."""
    return session.get_providers()[0].removesuffix("ExecutionProvider")


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "name": str,
    "kind": str,
    "family": str,
    "sample_rate": int,
    "samples": int,
    "latent": int,
    "conditional": bool,
    "labels": list,
    "license": (str, dict),
}


def read_json(root: Path) -> dict[str, Any]:
    path = root / PRESET_FILE
    if not path.is_file():
        raise PresetError(path, "missing (a preset folder needs preset.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise PresetError(path, "must hold a JSON object")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PresetError(path, f"schema_version {version!r}; this ganpad reads {SCHEMA_VERSION}")
    for key, kind in _REQUIRED.items():
        if key not in meta:
            raise PresetError(path, f"field {key!r} is missing")
        if not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            raise PresetError(path, f"field {key!r} has the wrong type ({meta[key]!r})")
    if meta["kind"] not in KINDS:
        raise PresetError(path, f"kind {meta['kind']!r} is not one of {', '.join(KINDS)}")
    for key in ("sample_rate", "samples", "latent"):
        if meta[key] <= 0:
            raise PresetError(path, f"{key} must be positive, got {meta[key]}")
    return meta


def _safe_name(path: Path, what: str, name: str) -> str:
    """Names become folder and file names when rendering: no separators, no hidden names."""
    if not name or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise PresetError(path, f"{what} {name!r} cannot be used as a file name")
    return name


def _parse(root: Path, meta: dict[str, Any]) -> Preset:
    path = root / PRESET_FILE
    _safe_name(path, "name", meta["name"])
    labels = []
    for i, raw in enumerate(meta["labels"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise PresetError(path, f"labels[{i}] needs a name")
        notes = raw.get("gm_notes", [])
        if not isinstance(notes, list) or not all(
            isinstance(n, int) and 0 <= n < 128 for n in notes
        ):
            raise PresetError(path, f"labels[{i}].gm_notes must be MIDI notes 0-127")
        index = raw.get("index", i)
        if not isinstance(index, int) or isinstance(index, bool):
            raise PresetError(path, f"labels[{i}].index must be an integer")
        name = _safe_name(path, f"labels[{i}].name", raw["name"])
        length = raw.get("samples")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                                   or not 0 < length <= meta["samples"]):  # fmt: skip
            raise PresetError(path, f"labels[{i}].samples must be an integer from 1 to the "
                              f"clip's {meta['samples']}, got {length!r}")  # fmt: skip
        labels.append(Label(index, name, tuple(notes), length))
    if [label.index for label in labels] != list(range(len(labels))):
        raise PresetError(path, "labels must be indexed 0..n-1 in order")
    if meta["conditional"] and not labels:
        raise PresetError(path, "a conditional preset needs labels")
    if not isinstance(meta.get("velocity", False), bool):
        raise PresetError(path, f"field 'velocity' must be true or false, got {meta['velocity']!r}")
    pitch = meta.get("pitch_range")
    if pitch is not None and (not isinstance(pitch, list) or len(pitch) != 2):
        raise PresetError(path, "pitch_range must be [lowest, highest] MIDI pitch")
    programs = _programs(path, meta.get("programs", []))
    if programs and (meta["kind"] != "notes" or not meta["conditional"]):
        raise PresetError(path, "programs are for a notes preset (conditional, kind notes)")
    return Preset(
        root=root, name=meta["name"], kind=meta["kind"], family=meta["family"],
        sample_rate=meta["sample_rate"], samples=meta["samples"], latent=meta["latent"],
        conditional=meta["conditional"], labels=tuple(labels),
        pitch_range=tuple(pitch) if pitch else None, meta=meta,
        velocity=meta.get("velocity", False), programs=programs,
    )  # fmt: skip


def _programs(path: Path, raw: Any) -> tuple[Program, ...]:
    """preset.json's `programs`: [{"index", "program" (GM 0..127), "name"}], indexed 0..n-1."""
    if not isinstance(raw, list):
        raise PresetError(path, f"programs must be a list, got {type(raw).__name__}")
    out = []
    for i, row in enumerate(raw):
        number = row.get("program") if isinstance(row, dict) else None
        index = row.get("index") if isinstance(row, dict) else None
        if (not _whole(number) or not 0 <= number < 128 or not _whole(index) or index != i
                or not isinstance(row.get("name"), str)):  # fmt: skip
            raise PresetError(path, f"programs[{i}] must be {{\"index\": {i}, \"program\": a GM "
                              f"program 0-127, \"name\": text}}, got {row!r}")  # fmt: skip
        if number in {p.program for p in out}:
            raise PresetError(path, f"programs[{i}]: GM program {number} is listed twice")
        out.append(Program(i, number, row["name"]))
    return tuple(out)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_preset(root: str | Path, check_graph: bool = True) -> Preset:
    """Read and check a preset folder; any problem raises PresetError naming the file.

    Without check_graph the graph is only walked as a file (cheap, no session opened)."""
    root = Path(root)
    if not root.is_dir():
        raise PresetError(root, "not a preset folder")
    preset = _parse(root, read_json(root))
    check_graph_file(preset.generator_path)
    if check_graph:
        check_generator(preset)
    return preset


def _varint(f) -> int | None:
    """One protobuf varint from a binary file; None at a clean end of file."""
    value, shift = 0, 0
    while True:
        byte = f.read(1)
        if not byte:
            if shift:
                raise EOFError
            return None
        value |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return value
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def check_graph_file(path: Path) -> None:
    """Walk the top-level fields of the ONNX protobuf without decoding them: catches a missing,
    truncated or foreign file in microseconds, where opening a session takes a second."""
    if not path.is_file():
        raise PresetError(path, "missing (a preset needs its generator graph)")
    size = path.stat().st_size
    has_graph = False
    try:
        with path.open("rb") as f:
            while (tag := _varint(f)) is not None:
                number, wire = tag >> 3, tag & 7
                if number == 0 or wire not in (0, 1, 2, 5):
                    raise ValueError(f"field {number} has wire type {wire}")
                has_graph |= number == 7  # ModelProto.graph
                # varint: read it; length-delimited: its length; fixed 64 / 32 bits.
                skip = {0: 0, 1: 8, 5: 4}.get(wire) if wire != 2 else _varint(f)
                if wire == 0 and _varint(f) is None or skip is None or f.tell() + skip > size:
                    raise EOFError
                f.seek(skip, 1)
    except EOFError:
        raise PresetError(path, f"not a loadable ONNX graph: truncated ({size} bytes)") from None
    except ValueError as exc:
        raise PresetError(path, f"not a loadable ONNX graph: not a protobuf ({exc})") from None
    if not has_graph:
        raise PresetError(path, "not a loadable ONNX graph: the file holds no graph")


def check_generator(preset: Preset) -> None:
    """Open the graph, match its inputs, outputs and metadata to the json, and run it once."""
    import onnxruntime as ort

    path = preset.generator_path
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for bad graphs
        raise PresetError(path, f"not a loadable ONNX graph: {exc}") from exc
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    expected = {"z", "label"} if preset.conditional else {"z"}
    expected |= {"velocity"} if preset.velocity else set()
    expected |= {"program"} if preset.programs else set()
    if set(inputs) != expected:
        raise PresetError(
            path, f"inputs {sorted(inputs)} but preset.json implies {sorted(expected)}"
        )
    z = inputs["z"]
    if z.type != "tensor(float)" or len(z.shape) != 2 or z.shape[1] != preset.latent:
        raise PresetError(path, f"input z is {z.type}{z.shape}, expected float[B, {preset.latent}]")
    if "label" in inputs and inputs["label"].type != "tensor(int64)":
        raise PresetError(path, f"input label is {inputs['label'].type}, expected int64[B]")
    if "velocity" in inputs and inputs["velocity"].type != "tensor(float)":
        raise PresetError(path, f"input velocity is {inputs['velocity'].type}, expected float[B]")
    if "program" in inputs and inputs["program"].type != "tensor(int64)":
        raise PresetError(path, f"input program is {inputs['program'].type}, expected int64[B]")
    if set(outputs) != {"audio"}:
        raise PresetError(path, f"outputs {sorted(outputs)}, expected ['audio']")
    custom = session.get_modelmeta().custom_metadata_map
    declared = {k[len(META_PREFIX) :]: v for k, v in custom.items() if k.startswith(META_PREFIX)}
    for key in ("sample_rate", "samples", "latent"):
        if key in declared and declared[key] != str(getattr(preset, key)):
            raise PresetError(
                preset.root / PRESET_FILE,
                f"{key} is {getattr(preset, key)} but the graph was exported with {declared[key]}",
            )
    numbers = ",".join(str(p.program) for p in preset.programs)
    if "programs" in declared and declared["programs"] != numbers:
        raise PresetError(preset.root / PRESET_FILE, f"programs are GM {numbers or 'none'} but "
                          f"the graph was exported with {declared['programs']}")  # fmt: skip
    try:
        z = np.zeros((2, preset.latent), np.float32)
        last = [0, max(0, len(preset.programs) - 1)] if preset.programs else None
        audio = preset.generate(session, z, [0, max(0, len(preset.labels) - 1)], None, last)
    except Exception as exc:
        raise PresetError(path, f"fails to run: {exc}") from exc
    if audio.shape != (2, preset.samples):
        raise PresetError(
            preset.root / PRESET_FILE,
            f"samples is {preset.samples} but the graph returns {audio.shape[1]} per clip",
        )
