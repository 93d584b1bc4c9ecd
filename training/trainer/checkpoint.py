"""Atomic checkpoints: tensors in safetensors, everything else in JSON. Nothing is unpickled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ganpad.atomic import atomic_dir, atomic_write_text

WEIGHTS = "weights.safetensors"
STATE = "state.json"
LATEST = "latest.json"
FORMAT = "ganpad-checkpoint/1"


class CheckpointError(RuntimeError):
    pass


def optimizer_to_flat(
    opt: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into named tensors and a JSON-able remainder."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + ".state."):
            idx, key = name[len(prefix) + 7 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, entry in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    sd = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    module.load_state_dict(sd, strict=True)


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save(
    run_dir: Path, step: int, tensors: dict[str, torch.Tensor], state: dict, keep: int
) -> Path:
    """Write step-N/ in one rename, then point latest.json at it, then prune old ones."""
    root = checkpoint_dir(run_dir)
    name = f"step-{step:08d}"
    with atomic_dir(root / name) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        (tmp / STATE).write_text(json.dumps({"format": FORMAT, "step": step, **state}, indent=1))
    atomic_write_text(root / LATEST, json.dumps({"step": step, "path": name}))
    old = sorted(p for p in root.glob("step-*") if p.is_dir() and p.name != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return root / name


def latest(run_dir: Path) -> Path | None:
    pointer = checkpoint_dir(run_dir) / LATEST
    if not pointer.exists():
        return None
    try:
        return checkpoint_dir(run_dir) / json.loads(pointer.read_text())["path"]
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{pointer}: unreadable checkpoint pointer: {exc}") from exc


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint folder; a damaged one raises CheckpointError naming the file."""
    path = Path(path)
    try:
        state = json.loads((path / STATE).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / STATE}: unreadable checkpoint state: {exc}") from exc
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path / STATE}: format {state.get('format')!r}, expected {FORMAT}")
    try:
        tensors = load_file(str(path / WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path / WEIGHTS}: unreadable weights: {exc}") from exc
    return tensors, state


def best_value(run_dir: Path, metric: str) -> float:
    """The value of checkpoints/best, or infinity if there is none yet or it was the best
    by another metric."""
    try:
        best = json.loads((checkpoint_dir(run_dir) / "best" / "best.json").read_text())
        return float(best["value"]) if best["metric"] == metric else float("inf")
    except (OSError, ValueError, KeyError):
        return float("inf")


def keep_best(run_dir: Path, source: Path, metric: str, value: float, step: int) -> Path:
    """Copy a checkpoint folder to checkpoints/best (atomically) with what made it the best."""
    best = checkpoint_dir(run_dir) / "best"
    with atomic_dir(best) as tmp:
        for item in source.iterdir():
            shutil.copy2(item, tmp / item.name)
        (tmp / "best.json").write_text(json.dumps({"metric": metric, "value": value, "step": step}))
    return best
