"""Training: full fine-tuning (DeepSpeed ZeRO-2/3) and MeChat-style LoRA on SoulChat data.

    from soulchat.train import parse_arguments, train
    train(*parse_arguments(["--config", "recipes/demo-cpu/lora.yaml", "--max_steps", "5"]))

Every name loads its module on first use: `import soulchat.train.collator` (which `import soulchat`
does) stays free of transformers, peft and datasets.
"""

from __future__ import annotations

__all__ = [
    "DataArguments",
    "EncodingSettings",
    "LengthGroupedSampler",
    "LoraArguments",
    "LoraTrainer",
    "ModelArguments",
    "RecipeError",
    "SoulChatTrainer",
    "SoulChatCollator",
    "SoulChatTrainingArguments",
    "TrainingRow",
    "apply_lora",
    "build_datasets",
    "build_trainer",
    "encode",
    "lora_target_modules",
    "merge_adapter",
    "parse_arguments",
    "read_recipe",
    "tokenize_function",
    "train",
]

_LAZY = {
    "DataArguments": "arguments",
    "LoraArguments": "arguments",
    "ModelArguments": "arguments",
    "RecipeError": "arguments",
    "SoulChatTrainingArguments": "arguments",
    "parse_arguments": "arguments",
    "read_recipe": "arguments",
    "EncodingSettings": "collator",
    "SoulChatCollator": "collator",
    "TrainingRow": "collator",
    "encode": "collator",
    "tokenize_function": "collator",
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
