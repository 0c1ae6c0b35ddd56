"""Training on the tiny GLM, in-process, on CPU: full fine-tuning, LoRA, resume, recipes, data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from soulchat import testing
from soulchat.train import (
    DataArguments,
    LoraArguments,
    ModelArguments,
    RecipeError,
    parse_arguments,
    read_recipe,
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
RECIPE_FILES = sorted(p for p in RECIPES.rglob("*.yaml") if "accelerate_configs" not in p.parts)


def training_args(output_dir, **overrides):
    from soulchat.train import SoulChatTrainingArguments

    settings = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-2,
        "lr_scheduler_type": "constant",
        "max_steps": 8,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "seed": 0,
        "disable_tqdm": True,
    }
    settings.update(overrides)
    return SoulChatTrainingArguments(**settings)


@pytest.fixture(scope="module")
def tokenizer():
    return testing.train_tokenizer()


@pytest.fixture(scope="module")
def small_train_set(tokenizer):
    """Four short samples from the bundled dialogues, tokenized: one batch, trained repeatedly."""
    from soulchat.train.data import build_datasets

    data = DataArguments(dataset="sample", max_source_length=48, max_target_length=24, max_train_samples=4)
    train, evaluation = build_datasets(tokenizer, "soulchat", data)
    assert evaluation is None
    return train


def batch_loss(model, collator, rows) -> float:
    batch = collator.pad([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    model.eval()
    with torch.no_grad():
        return float(model(**batch).loss)


def snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


# ----------------------------------------------------------------------------- full fine-tuning
def test_full_finetune_lowers_the_loss_and_changes_every_parameter(tokenizer, small_train_set, tmp_path):
    from soulchat.train import SoulChatTrainer

    model = testing.tiny_glm(tokenizer)
    before = snapshot(model)
    trainer = SoulChatTrainer(
        model, training_args(tmp_path), train_dataset=small_train_set, processing_class=tokenizer
    )
    rows = list(small_train_set)
    start = batch_loss(model, trainer.data_collator, rows)
    trainer.train()
    end = batch_loss(model, trainer.data_collator, rows)
    assert end < start - 0.5, (start, end)
    unchanged = [n for n, p in model.named_parameters() if p.requires_grad and torch.equal(p, before[n])]
    assert unchanged == []
    assert trainer.state.global_step == 8


# ----------------------------------------------------------------------------- LoRA
def test_lora_targets_follow_the_architecture(tokenizer):
    from soulchat.train import lora_target_modules

    assert lora_target_modules(testing.tiny_glm(tokenizer)) == ["q_proj", "k_proj", "v_proj", "o_proj"]

    class RemoteChatGLM(torch.nn.Module):  # stands in for ChatGLM-6B's remote code
        config = type("Config", (), {"model_type": "chatglm"})()

    assert lora_target_modules(RemoteChatGLM()) == ["query_key_value"]

    class Unknown(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.query_key_value = torch.nn.Linear(2, 2)

    assert lora_target_modules(Unknown()) == ["query_key_value"]
    with pytest.raises(ValueError, match="lora_target_modules"):
        lora_target_modules(torch.nn.Linear(2, 2))


def test_lora_trains_only_the_adapter_then_saves_reloads_and_merges(tokenizer, small_train_set, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from soulchat.train import LoraTrainer

    trainer = LoraTrainer(
        testing.tiny_glm(tokenizer),
        training_args(tmp_path / "run", learning_rate=3e-2),
        lora=LoraArguments(use_lora=True, lora_dropout=0.0),
        train_dataset=small_train_set,
        processing_class=tokenizer,
    )
    model = trainer.model
    config = model.peft_config["default"]
    assert (config.r, config.lora_alpha, sorted(config.target_modules)) == (
        8, 32, ["k_proj", "o_proj", "q_proj", "v_proj"]
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 2 * 4 * 2  # A and B × 4 projections × 2 layers
    before = snapshot(model)
    rows = list(small_train_set)
    start = batch_loss(model, trainer.data_collator, rows)
    trainer.train()
    end = batch_loss(model, trainer.data_collator, rows)
    assert end < start - 0.05, (start, end)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == trainable

    batch = trainer.data_collator.pad([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    with torch.no_grad():
        expected = model(**batch).logits

    adapter = tmp_path / "adapter"
    trainer.save_model(str(adapter))
    assert (adapter / "adapter_config.json").exists()
    assert (adapter / "adapter_model.safetensors").exists()
    assert not (adapter / "model.safetensors").exists()
    reloaded = PeftModel.from_pretrained(testing.tiny_glm(tokenizer), str(adapter)).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, expected, rtol=0, atol=1e-5)

    merged_dir = trainer.merge_and_save(tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, expected, rtol=0, atol=1e-5)


def test_a_trained_model_is_saved_with_the_stops_it_was_trained_for(tmp_path):
    """generation_config.json carries the template's stop (glm4: <|user|>), so generate() and a
    serving engine stop where training taught the model to end a reply."""
    from soulchat.train import build_trainer
    from soulchat.templates import stop_token_ids

    arguments = parse_arguments([*TOY, "--output_dir", str(tmp_path), "--template", "glm4", "--max_train_samples", "4",
                                 "--max_steps", "1", "--report_to", "none", "--use_cpu", "true"])
    trainer = build_trainer(*arguments)
    tokenizer = trainer.processing_class
    user = tokenizer.convert_tokens_to_ids("<|user|>")
    assert trainer.model.generation_config.eos_token_id == [user, tokenizer.eos_token_id]
    trainer.save_model()
    saved = json.loads((tmp_path / "generation_config.json").read_text())
    assert saved["eos_token_id"] == [user, tokenizer.eos_token_id]
    assert stop_token_ids("glm4", tokenizer, trainer.model) == [user, tokenizer.eos_token_id]


# ----------------------------------------------------------------------------- resume
#: the smoke-test recipe's model and data, named explicitly: training has no default of either
TOY = ["--model_factory", "soulchat.testing:tiny_training_model", "--dataset", "sample"]


def run_arguments(output_dir):
    return parse_arguments(
        [
            *TOY,
            "--output_dir", str(output_dir),
            "--max_train_samples", "24",
            "--max_source_length", "64",
            "--max_target_length", "32",
            "--per_device_train_batch_size", "4",
            "--learning_rate", "5e-3",
            "--warmup_steps", "2",
            "--max_steps", "9",
            "--num_train_epochs", "3",
            "--logging_steps", "1",
            "--save_strategy", "steps",
            "--save_steps", "3",
            "--report_to", "none",
            "--use_cpu", "true",
            "--disable_tqdm", "true",
            "--seed", "3",
        ]
    )


KILLED_RUN = """
import os, signal, sys
from transformers import TrainerCallback
sys.path.insert(0, {tests!r})
from test_train import run_arguments
from soulchat.train import train

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 5:  # between the checkpoints of steps 3 and 6
            os.kill(os.getpid(), signal.SIGKILL)

train(*run_arguments({output!r}), callbacks=[Kill()])
"""


def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path):
    import signal
    import subprocess
    import sys

    from soulchat.train import train

    straight = train(*run_arguments(tmp_path / "straight"))
    killed = tmp_path / "killed"
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), output=str(killed))
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    assert sorted(p.name for p in killed.glob("checkpoint-*")) == ["checkpoint-3"]
    resumed = train(*run_arguments(killed))

    assert resumed["resumed_from"].endswith("checkpoint-3")
    assert straight["global_step"] == resumed["global_step"] == 9
    # 24 rows / batch 4 = 6 steps per epoch: the resumed run crosses an epoch boundary. The log
    # of steps 1-3 comes back with the checkpoint; steps 4-9 are recomputed.
    assert len(resumed["losses"]) == 9
    assert resumed["losses"] == pytest.approx(straight["losses"], abs=1e-6)


# ----------------------------------------------------------------------------- recipes
@pytest.mark.parametrize("recipe", RECIPE_FILES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_recipe_parses_against_the_argument_dataclasses(recipe, tmp_path):
    # use_cpu: bf16 recipes are for GPUs, and TrainingArguments checks the hardware when it parses
    model, data, lora, training = parse_arguments(
        ["--config", str(recipe), "--output_dir", str(tmp_path), "--use_cpu", "true"]
    )
    assert isinstance(model, ModelArguments) and isinstance(data, DataArguments)
    assert training.output_dir == str(tmp_path)
    raw = read_recipe(recipe)
    for key, value in raw.items():
        owner = next(a for a in (model, data, lora, training) if hasattr(a, key))
        if key not in ("output_dir", "deepspeed", "report_to"):  # normalised by TrainingArguments
            assert getattr(owner, key) == value, key


def test_paper_recipe_has_the_paper_hyper_parameters(tmp_path):
    _, data, lora, training = parse_arguments(
        ["--config", str(RECIPES / "soulchat-chatglm-6b/full.yaml"), "--output_dir", str(tmp_path)]
    )
    assert not lora.use_lora
    assert (training.learning_rate, training.warmup_steps, training.max_steps) == (5e-5, 1000, 30000)
    assert training.per_device_train_batch_size * 8 * training.gradient_accumulation_steps == 80
    assert training.fp16 and (data.max_source_length, data.max_target_length) == (1536, 512)
    scheduler = json.loads((RECIPES / "deepspeed/zero2.json").read_text())["scheduler"]
    assert scheduler["type"] == "WarmupDecayLR" and scheduler["params"]["warmup_type"] == "linear"
    zero3 = json.loads((RECIPES / "deepspeed/zero3.json").read_text())["zero_optimization"]
    assert zero3["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.parametrize("key", ["warmup_ratio", "overwrite_output_dir", "logging_dir", "evaluation_strategy"])
def test_recipes_with_removed_arguments_fail_loudly(key, tmp_path):
    recipe = tmp_path / "old.yaml"
    recipe.write_text(f"{key}: 1\n")
    with pytest.raises(RecipeError, match=f"'{key}' was removed in transformers 5"):
        parse_arguments(["--config", str(recipe)])
    recipe.write_text("learning_rat: 1\n")
    with pytest.raises(RecipeError, match="old.yaml: unknown argument 'learning_rat'"):
        read_recipe(recipe)


def test_command_line_overrides_the_recipe(tmp_path):
    _, data, lora, training = parse_arguments(
        ["--config", str(RECIPES / "tiny-cpu/lora.yaml"), "--output_dir", str(tmp_path),
         "--lora_r", "4", "--mask", "all", "--max_steps", "3"]
    )
    assert (lora.lora_r, lora.lora_alpha, data.mask, training.max_steps) == (4, 32, "all", 3)


def test_soulchat_train_takes_recipe_keys_in_either_spelling(tmp_path, monkeypatch):
    """`soulchat train` reads every recipe key as a flag: --learning-rate as --learning_rate; the
    command line's main() hands unknown flags to train only (no other command accepts them)."""
    from soulchat.cli import main
    from soulchat.commands import train as command

    seen = {}
    monkeypatch.setattr("soulchat.train.train", lambda *parsed: seen.setdefault("parsed", parsed) and {
        "losses": [], "global_step": 0, "resumed_from": None, "output_dir": str(tmp_path), "train_loss": 0.0})
    assert main(["train", "--config", str(RECIPES / "tiny-cpu/lora.yaml"), "--output", str(tmp_path),
                 "--learning-rate", "1e-4", "--lora_r", "4", "--no-resume", "--mask=all"]) == 0
    _, data, lora, training = seen["parsed"]
    assert (training.learning_rate, lora.lora_r, training.resume, data.mask) == (1e-4, 4, False, "all")
    assert command.recipe_flags(["--warmup-steps", "3", "--not-a-key", "x"]) == ["--warmup_steps", "3", "--not-a-key", "x"]
    with pytest.raises(SystemExit) as exited:
        main(["templates", "--learning-rate", "1"])
    assert exited.value.code == 2
