"""DeepSpeed ZeRO-2 and ZeRO-3 on CPU, one process, in a subprocess (`soulchat train`).

DeepSpeed needs the rank variables (or a launcher) to start without MPI. The shipped DeepSpeed
configs are used with their optimizer block removed: the Trainer's torch AdamW then drives
WarmupDecayLR, which spares compiling DeepSpeed's fused Adam on CPU (the shared-memory comm op
is still compiled once, then cached in ~/.cache/torch_extensions).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("deepspeed")

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
STEPS, WARMUP, MAX_LR = 6, 2, 1e-3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deepspeed_config(stage: int, tmp_path: Path) -> Path:
    config = json.loads((RECIPES / f"deepspeed/zero{stage}.json").read_text())
    del config["optimizer"]  # the Trainer's torch AdamW: no fused-Adam compile on CPU
    path = tmp_path / f"zero{stage}.json"
    path.write_text(json.dumps(config))
    return path


def run_train(stage: int, tmp_path: Path) -> dict:
    output = tmp_path / f"zero{stage}"
    env = dict(
        os.environ,
        RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
    )
    command = [
        sys.executable, "-m", "soulchat.cli", "train",
        "--model_factory", "soulchat.testing:tiny_training_model", "--dataset", "sample",
        "--max-steps", str(STEPS), "--output", str(output),
        "--deepspeed", str(deepspeed_config(stage, tmp_path)),
        "--learning_rate", str(MAX_LR), "--warmup_steps", str(WARMUP),
        "--per_device_train_batch_size", "2", "--max_train_samples", "24",
        "--max_source_length", "96", "--max_target_length", "48",
        "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
    ]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    state = json.loads((output / "trainer_state.json").read_text())
    return {"output": output, "log": [e for e in state["log_history"] if "loss" in e]}


def warmup_decay_lr(step: int) -> float:
    """DeepSpeed WarmupDecayLR, warmup_type linear, min lr 0: the lr used by optimizer step `step`
    (1-based), i.e. after step-1 scheduler steps."""
    taken = step - 1
    if taken < WARMUP:
        return MAX_LR * taken / WARMUP
    return MAX_LR * (STEPS - taken) / (STEPS - WARMUP)


def check_schedule(log: list[dict]) -> None:
    assert [e["step"] for e in log] == list(range(1, STEPS + 1))
    assert [e["learning_rate"] for e in log] == pytest.approx(
        [warmup_decay_lr(s) for s in range(1, STEPS + 1)], abs=1e-12
    )
    # [0, 5e-4, 1e-3, 7.5e-4, 5e-4, 2.5e-4]


@pytest.mark.slow
def test_zero2_on_cpu_follows_the_warmup_decay_schedule(tmp_path):
    run = run_train(2, tmp_path)
    check_schedule(run["log"])
    assert (run["output"] / "model.safetensors").exists()


@pytest.mark.slow
def test_zero3_on_cpu_writes_a_loadable_trained_model(tmp_path):
    from transformers import AutoModelForCausalLM

    from soulchat import testing

    run = run_train(3, tmp_path)
    check_schedule(run["log"])
    model = AutoModelForCausalLM.from_pretrained(run["output"]).eval()
    start = testing.tiny_demo_model(testing.train_tokenizer())  # the same seed: the initial weights
    trained = dict(model.named_parameters())
    # gathered 16-bit weights were saved in full (not ZeRO-3's empty shards) and they moved
    for name, initial in start.named_parameters():
        assert trained[name].shape == initial.shape, name
    assert not torch.equal(trained["model.layers.0.self_attn.q_proj.weight"], start.model.layers[0].self_attn.q_proj.weight)
    ids = torch.tensor([[5, 6, 7, 8]])
    assert torch.isfinite(model(input_ids=ids).logits).all()
