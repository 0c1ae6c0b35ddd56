"""Training: full fine-tuning (DeepSpeed ZeRO-2/3) and MeChat-style LoRA on SoulChat data.

    from soulchat.train import parse_arguments, train
    train(*parse_arguments(["--config", "recipes/demo-cpu/lora.yaml", "--max_steps", "5"]))

Heavy modules (transformers, peft, datasets) load on first use.
"""

from __future__ import annotations

from .arguments import (
    DataArguments,
    LoraArguments,
    ModelArguments,
    RecipeError,
    SoulChatTrainingArguments,
    parse_arguments,
    read_recipe,
)

__all__ = [
    "DataArguments",
    "LengthGroupedSampler",
    "LoraArguments",
    "LoraTrainer",
    "ModelArguments",
    "RecipeError",
    "SoulChatTrainer",
    "SoulChatTrainingArguments",
    "apply_lora",
    "build_datasets",
    "build_trainer",
    "lora_target_modules",
    "merge_adapter",
    "parse_arguments",
    "read_recipe",
    "train",
]

_LAZY = {
    "LengthGroupedSampler": "batching",
    "LoraTrainer": "trainers",
    "SoulChatTrainer": "trainers",
    "apply_lora": "trainers",
    "lora_target_modules": "trainers",
    "merge_adapter": "trainers",
    "build_datasets": "data",
    "build_trainer": "run",
    "train": "run",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
