import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ganpad.training.config import load_toml
from ganpad.training.trainer import checkpoint
from ganpad.training.trainer.loop import Trainer, TrainError


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _weights(run_dir):
    tensors, state = checkpoint.load(checkpoint.latest(run_dir))
    return tensors, state


def test_resume_continues_bit_for_bit(tiny_config, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    cfg = tiny_config(steps=6)
    cfg.model.conditional = True
    assert Trainer(cfg, straight).train().step == 6

    cfg.train.steps = 3
    first = Trainer(cfg, split).train()
    assert first.step == 3 and [m["step"] for m in _metrics(split)] == [1, 2, 3]
    cfg.train.steps = 6
    resumed = Trainer(cfg, split, resume=True)
    assert resumed.step == 3
    assert resumed.train().step == 6

    a, b = _metrics(straight), _metrics(split)
    assert [m["step"] for m in b] == [1, 2, 3, 4, 5, 6]
    for ma, mb in zip(a, b, strict=True):
        assert ma["loss/critic"] == mb["loss/critic"]
        assert ma["loss/generator"] == mb["loss/generator"]
    wa, sa = _weights(straight)
    wb, sb = _weights(split)
    assert sa["step"] == sb["step"] == 6
    for name in ("G.dense.weight", "D.out.weight", "G_ema.ups.4.layer.weight"):
        assert torch.equal(wa[name], wb[name]), name
    assert load_toml(split / "config.toml").model.conditional


def test_run_folder_files(tiny_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer(tiny_config(steps=2), run).train()
    assert (run / "config.toml").exists() and (run / "data_report.json").exists()
    report = json.loads((run / "data_report.json").read_text())
    assert report["clips"] == 86 and report["skipped"] == []
    ckpt = checkpoint.latest(run)
    assert sorted(p.name for p in ckpt.iterdir()) == ["state.json", "weights.safetensors"]
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"audio": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert "loss/critic" in tags["scalars"] and "loss/gp" in tags["scalars"]
    assert "audio/z0" in tags["audio"] and "spectrogram/z0" in tags["images"]
    with pytest.raises(TrainError, match="already holds a run"):
        Trainer(tiny_config(steps=2), run)
    with pytest.raises(TrainError, match="nothing to resume"):
        Trainer(tiny_config(steps=2), tmp_path / "empty", resume=True)


def test_damaged_checkpoint_is_named(tiny_config, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_config(steps=2), run).train()
    weights = checkpoint.latest(run) / checkpoint.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(checkpoint.CheckpointError, match="weights.safetensors"):
        Trainer(tiny_config(steps=4), run, resume=True)


def test_divergence_rolls_back_to_last_good_checkpoint(tiny_config, tmp_path):
    trainer = Trainer(tiny_config(steps=5), tmp_path / "run")
    real_step = trainer.train_step
    calls = []

    def poisoned_step():
        calls.append(trainer.step)
        if len(calls) == 4:  # during step 4: blow the generator up
            with torch.no_grad():
                trainer.G.dense.weight.fill_(float("nan"))
        return real_step()

    trainer.train_step = poisoned_step
    result = trainer.train()
    assert result.step == 5 and result.rollbacks == 1
    assert calls == [0, 1, 2, 3, 2, 3, 4]  # back to the step-2 checkpoint, then onwards
    assert torch.isfinite(trainer.G.dense.weight).all()
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(0.5e-4)
    assert all(math.isfinite(m["loss/critic"]) for m in _metrics(tmp_path / "run"))


def _cli(*args, **env):
    return [sys.executable, "-m", "ganpad", *args]


def test_ctrl_c_saves_and_resume_continues(gmrock, clip_cache, tmp_path):
    run = tmp_path / "run"
    common = ["--data", str(gmrock), "--out", str(run), "--d", "4", "--batch", "4",
              "--set", f"data.cache_dir={clip_cache}", "--set", "train.log_every=1",
              "--set", "train.checkpoint_every=1000", "--set", "train.progress=false"]  # fmt: skip
    proc = subprocess.Popen(
        _cli("train", "--steps", "100000", *common), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    last = _metrics(run)[-1]["step"]
    _, state = _weights(run)
    assert state["step"] == last >= 2
    assert b"stopped at step" in out

    done = subprocess.run(
        _cli("train", "--resume", "--steps", str(last + 2), *common), capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    assert [m["step"] for m in _metrics(run)] == list(range(1, last + 3))


def _ddp_penalty_worker(rank: int, port: int, results) -> None:
    """One rank: the WGAN-GP critic gradients through DDP, and by hand (local, then averaged)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from ganpad.training.config import ModelConfig, TrainConfig
    from ganpad.training.models import build_models
    from ganpad.training.trainer import distributed
    from ganpad.training.trainer.losses import wgan_gp_critic

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)  # fmt: skip
    torch.manual_seed(0)
    _, critic = build_models(ModelConfig(d=4, phase_shuffle=0), 16384, 0, 16000)
    torch.manual_seed(1 + rank)  # each rank its own clips and interpolates
    real, fake = torch.randn(2, 2, 1, 16384) * 0.3
    grads = []
    ddp = DistributedDataParallel(critic)
    for model in (ddp, critic):
        critic.zero_grad()
        torch.manual_seed(9 + rank)
        wgan_gp_critic(model, real, fake, None, TrainConfig()).loss.backward()
        grads.append([p.grad.clone() for p in critic.parameters()])
    for g in grads[1]:
        dist.all_reduce(g)
        g /= 2
    results.put(max((a - b).abs().max().item() for a, b in zip(*grads, strict=True)))
    del ddp
    distributed.teardown(distributed.DistInfo(rank, 2, rank, torch.device("cpu")))


def test_ddp_averages_the_gradient_penalty_of_both_critic_passes():
    """Real and fake in one critic pass, interpolates in another: DDP still averages it all."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(_ddp_penalty_worker, args=(port, results), nprocs=2, start_method="spawn")
    errors = [results.get() for _ in range(2)]
    assert max(errors) < 1e-6, errors


def test_torchrun_ddp_two_cpu_processes(gmrock, clip_cache, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ganpad", "train", "--data", str(gmrock), "--out", str(run), "--dim", "4",
           "--batch", "4", "--steps", "3", "--conditional", "--set", f"data.cache_dir={clip_cache}",
           "--set", "train.log_every=1", "--set", "train.progress=false"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    tensors, state = _weights(run)
    assert state["step"] == 3 and state["world_size"] == 2
    assert {"rng.cpu.0", "rng.cpu.1"} <= set(tensors)
    assert not torch.equal(tensors["rng.data.0"], tensors["rng.data.1"])  # ranks see other data
    assert [m["step"] for m in _metrics(run)] == [1, 2, 3]
    assert all(math.isfinite(v) for m in _metrics(run) for v in m.values())
