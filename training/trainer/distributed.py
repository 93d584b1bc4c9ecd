"""torchrun / DistributedDataParallel plumbing: who am I, which device, agree on flags."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} asked for, but this machine has no CUDA GPU")
    if requested == "cuda":  # one process per GPU under torchrun
        return torch.device(f"cuda:{local_rank}")
    return device


def setup(requested_device: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, device)


def teardown(info: DistInfo) -> None:
    """Leave the process group, once the caller has dropped its DDP wrappers."""
    if info.enabled and dist.is_initialized():
        # A DDP reducer still alive (they sit in reference cycles) when the group goes is
        # freed at interpreter exit, where gloo aborts the process now and then.
        gc.collect()
        barrier(info)
        dist.destroy_process_group()


def any_rank(flags: list[bool], info: DistInfo) -> list[bool]:
    """Element-wise OR of boolean flags across ranks (so every rank takes the same branch)."""
    if not info.enabled:
        return flags
    t = torch.tensor([float(f) for f in flags], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def gather_tensor(t: torch.Tensor, info: DistInfo) -> list[torch.Tensor]:
    """Every rank's copy of a same-shaped tensor, on the CPU (rank order)."""
    if not info.enabled:
        return [t.cpu()]
    local = t.to(info.device)
    out = [torch.empty_like(local) for _ in range(info.world)]
    dist.all_gather(out, local)
    return [o.cpu() for o in out]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
