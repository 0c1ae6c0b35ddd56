"""The documented launch line, on CPU with one process:

    accelerate launch --config_file recipes/accelerate_configs/zero{2,3}.yaml recipes/train.py --config <recipe>

The shipped accelerate configs and the DeepSpeed JSON files they point at are used unchanged (only
`--num_processes 1` on the command line), so a broken path, a renamed key or an "auto" value the
Trainer cannot fill fails here. The recipe is recipes/tiny-cpu/lora.yaml turned into a short full
fine-tune. The DeepSpeed optimizer block is kept: the first run on a machine compiles DeepSpeed's
CPU fused Adam and its shared-memory comm op (about a minute each on 2 cores, cached afterwards in
~/.cache/torch_extensions); then each launch takes ~15 s.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("deepspeed")
pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
STEPS, WARMUP = 4, 2
RECIPE_LR = 5e-3  # recipes/tiny-cpu/lora.yaml's learning_rate: the "auto" lr must come from the recipe
MICRO_BATCH = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(stage: int, output: Path) -> subprocess.CompletedProcess:
    # The launcher must supply the rank variables itself: drop any the test runner inherited.
    rank_variables = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
    env = {key: value for key, value in os.environ.items() if key not in rank_variables}
    command = [
        sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch",
        "--config_file", f"recipes/accelerate_configs/zero{stage}.yaml",
        "--num_processes", "1", "--main_process_port", str(free_port()),
        "recipes/train.py", "--config", "recipes/tiny-cpu/lora.yaml",
        "--use_lora", "false", "--max_steps", str(STEPS), "--warmup_steps", str(WARMUP),
        "--output_dir", str(output), "--save_steps", str(STEPS), "--eval_strategy", "no", "--eval_size", "0",
        "--per_device_train_batch_size", str(MICRO_BATCH), "--max_train_samples", "24",
        "--max_source_length", "96", "--max_target_length", "48",
        "--logging_steps", "1", "--disable_tqdm", "true",
    ]
    # cwd: the accelerate configs name their DeepSpeed JSON relative to the repository root, as documented.
    return subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=900)


def non_auto(config: dict, prefix: str = "") -> dict:
    """Every fixed (not "auto") leaf of a DeepSpeed config, by dotted path."""
    leaves = {}
    for key, value in config.items():
        if isinstance(value, dict):
            leaves.update(non_auto(value, f"{prefix}{key}."))
        elif value != "auto":
            leaves[f"{prefix}{key}"] = value
    return leaves


def warmup_decay_lr(step: int) -> float:
    """DeepSpeed WarmupDecayLR (linear warmup, min lr 0) for optimizer step `step` (1-based)."""
    taken = step - 1
    if taken < WARMUP:
        return RECIPE_LR * taken / WARMUP
    return RECIPE_LR * (STEPS - taken) / (STEPS - WARMUP)


@pytest.fixture(scope="module", params=[2, 3], ids=["zero2", "zero3"])
def run(request, tmp_path_factory):
    stage = request.param
    output = tmp_path_factory.mktemp(f"zero{stage}") / "out"
    done = launch(stage, output)
    assert done.returncode == 0, done.stderr[-4000:]
    return stage, output


@pytest.mark.slow
def test_accelerate_launch_trains_the_requested_steps(run):
    _, output = run
    summary = json.loads((output / "train_summary.json").read_text())
    assert summary["global_step"] == STEPS
    assert summary["lora"] is False
    assert len(summary["losses"]) == STEPS and all(math.isfinite(loss) for loss in summary["losses"])
    assert "eval_loss" not in summary
    state = json.loads((output / "trainer_state.json").read_text())
    log = [entry for entry in state["log_history"] if "loss" in entry]
    assert (state["global_step"], state["max_steps"]) == (STEPS, STEPS)
    assert [entry["step"] for entry in log] == list(range(1, STEPS + 1))
    # DeepSpeed's WarmupDecayLR from the JSON drives the lr: [0, 2.5e-3, 5e-3, 2.5e-3]
    assert [entry["learning_rate"] for entry in log] == pytest.approx(
        [warmup_decay_lr(s) for s in range(1, STEPS + 1)], abs=1e-12
    )


@pytest.mark.slow
def test_accelerate_launch_used_the_shipped_deepspeed_config(run):
    """The DeepSpeed engine's own record of its config (saved in the checkpoint) is the shipped JSON
    with its "auto" values filled from the recipe and command line."""
    stage, output = run
    checkpoint = output / f"checkpoint-{STEPS}" / f"global_step{STEPS}"
    # ZeRO-3 shards the module states too; ZeRO-2 keeps one whole copy
    name = "zero_pp_rank_0_mp_rank_00_model_states.pt" if stage == 3 else "mp_rank_00_model_states.pt"
    used = torch.load(checkpoint / name, map_location="cpu", weights_only=False)["ds_config"]
    shipped = json.loads((RECIPES / f"deepspeed/zero{stage}.json").read_text())
    fixed, filled = non_auto(shipped), non_auto(used)
    del fixed["steps_per_print"]  # accelerate's DeepSpeedPlugin sets it to inf (silences DeepSpeed's own logging)
    assert filled["steps_per_print"] == float("inf")
    assert {key: filled.get(key) for key in fixed} == fixed
    assert filled["zero_optimization.stage"] == stage
    assert filled["optimizer.type"] == "AdamW" and filled["optimizer.params.lr"] == RECIPE_LR
    assert filled["scheduler.type"] == "WarmupDecayLR"
    assert (
        filled["scheduler.params.warmup_max_lr"],
        filled["scheduler.params.warmup_num_steps"],
        filled["scheduler.params.total_num_steps"],
    ) == (RECIPE_LR, WARMUP, STEPS)
    assert (filled["train_micro_batch_size_per_gpu"], filled["gradient_accumulation_steps"]) == (MICRO_BATCH, 1)
    assert filled["train_batch_size"] == MICRO_BATCH  # one process
    assert (filled["fp16.enabled"], filled["bf16.enabled"]) == (False, False)  # fp32 on CPU


@pytest.mark.slow
def test_accelerate_launch_saves_a_loadable_trained_model(run):
    from transformers import AutoModelForCausalLM

    from soulchat import testing

    _, output = run
    model = AutoModelForCausalLM.from_pretrained(output).eval()
    start = testing.tiny_demo_model(testing.train_tokenizer())  # the same seed: the initial weights
    trained = dict(model.named_parameters())
    assert sorted(trained) == sorted(name for name, _ in start.named_parameters())
    for name, initial in start.named_parameters():
        # full tensors (for ZeRO-3: gathered on save, not its empty local shards), all moved by training
        assert trained[name].shape == initial.shape, name
        assert not torch.equal(trained[name], initial), name
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([[5, 6, 7, 8]])).logits).all()
