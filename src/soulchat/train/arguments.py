"""Training arguments: dataclasses with `help` on every field, read from a YAML recipe plus the
command line (command line wins), the way TRL's parser does it.

A recipe is one flat YAML mapping whose keys are fields of `ModelArguments`, `DataArguments`,
`LoraArguments` or `SoulChatTrainingArguments` (a `transformers.TrainingArguments`). Unknown keys
are an error, so a recipe that still uses an argument transformers removed (`warmup_ratio`,
`overwrite_output_dir`, `logging_dir`, `evaluation_strategy`) fails at once instead of being
ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, TrainingArguments

from ..errors import SoulChatError

#: Arguments transformers 5 removed; named in the error so the fix is obvious.
REMOVED_ARGUMENTS = {
    "warmup_ratio": "use warmup_steps (a value below 1 is read as a fraction of the run)",
    "overwrite_output_dir": "a rerun resumes from the last checkpoint; pass --no-resume to start over",
    "logging_dir": "TensorBoard logs go under output_dir",
    "evaluation_strategy": "use eval_strategy",
    "group_by_length": "use train_sampling_strategy: group_by_length",
}


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "local model folder or hub id of the base model (required unless model_factory is set)"},
    )
    model_factory: str | None = field(
        default=None,
        metadata={
            "help": "'package.module:function' that makes the model when no model_name_or_path is given: "
            "called with template=..., it returns a model folder or a (model, tokenizer) pair. How the "
            "smoke-test and demo recipes name their toy models (soulchat.testing:tiny_training_model, "
            "soulchat.demo.smollm2:model_folder)"
        },
    )
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "tokenizer folder or hub id (default: the model's)"}
    )
    template: str = field(
        default="soulchat",
        metadata={
            "help": "chat template that renders samples: soulchat, soulchat-chatglm, chatglm, chatglm2, "
            "chatglm3, glm4, glm4-eos or native (the tokenizer's own chat_template)"
        },
    )
    dtype: str = field(
        default="auto",
        metadata={
            "help": "dtype the weights are loaded in: auto, float32, bfloat16 or float16 (mixed "
            "precision itself is set by fp16/bf16)",
            "choices": ["auto", "float32", "bfloat16", "float16"],
        },
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "allow the model's own code from the hub (ChatGLM-6B needs it; it breaks on transformers 5)"},
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "attention kernel: eager, sdpa or flash_attention_2 (default: transformers' choice)"}
    )

    def __post_init__(self) -> None:
        if not self.model_name_or_path and not self.model_factory:
            raise RecipeError(
                "no model to train: set model_name_or_path (a model folder or hub id) in the recipe or with "
                "--model_name_or_path PATH, or model_factory (recipes/tiny-cpu/lora.yaml names a tiny random "
                "one for smoke tests)"
            )
        if self.model_factory and ":" not in self.model_factory:
            raise RecipeError(f"model_factory={self.model_factory!r}: expected 'package.module:function'")


@dataclass
class DataArguments:
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "training data (required): a SoulChatCorpus folder (README.md with `configs:`), a "
            "JSON/JSONL file or folder of {input, target} or {messages} records, or 'sample' for the "
            "bundled dialogues"
        },
    )
    dataset_config: str | None = field(
        default=None,
        metadata={
            "help": "config of a SoulChatCorpus folder: samples (the paper's expansion), messages or "
            "dialogues (default: samples for mask=final, dialogues for mask=all)"
        },
    )
    train_split: str = field(default="train", metadata={"help": "split to train on"})
    eval_split: str | None = field(
        default=None, metadata={"help": "split to evaluate on (its loss); default: none, or eval_size"}
    )
    eval_size: float = field(
        default=0.0,
        metadata={
            "help": "hold out this many training rows for evaluation (a value below 1 is a fraction), "
            "split by dialogue when the rows carry dialogue_id"
        },
    )
    max_source_length: int = field(
        default=1536, metadata={"help": "prompt token budget; the oldest history rounds are dropped first"}
    )
    max_target_length: int = field(
        default=512, metadata={"help": "target token budget, stop token included"}
    )
    mask: str = field(
        default="final",
        metadata={
            "help": "which psychologist turns are trained: final (the paper: one sample per turn) or "
            "all (one pass per dialogue, every psychologist turn trained)",
            "choices": ["final", "all"],
        },
    )
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "processes for tokenizing (datasets.map num_proc)"}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "keep only the first N training rows (smoke runs)"}
    )
    skip_invalid: bool = field(
        default=False,
        metadata={
            "help": "a bad record of a JSON/JSONL file goes with its file, line and reason to "
            "OUTPUT/rejects.jsonl and training goes on (default: the first bad record stops the run)"
        },
    )

    def __post_init__(self) -> None:
        problems = []
        if not self.dataset:
            problems.append("no training data: set dataset (a SoulChatCorpus folder, a JSON/JSONL file or "
                            "folder, or 'sample' for the bundled dialogues) in the recipe or with --dataset")
        if self.eval_size < 0 or (self.eval_size >= 1 and not float(self.eval_size).is_integer()):
            problems.append(f"eval_size must be a fraction below 1 or a whole count >= 0, got {self.eval_size}")
        if self.max_source_length < 16 or self.max_target_length < 1:
            problems.append("max_source_length must be >= 16 and max_target_length >= 1")
        for name in ("max_train_samples", "preprocessing_num_workers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be at least 1, got {value}")
        if problems:
            raise RecipeError("; ".join(problems))


@dataclass
class LoraArguments:
    use_lora: bool = field(
        default=False, metadata={"help": "train a LoRA adapter (MeChat-style) instead of every weight"}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank (MeChat: 8)"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha (MeChat: 32)"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the LoRA path (MeChat: 0.1)"})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "module names to adapt (default: chosen per architecture: q_proj,k_proj,v_proj,o_proj "
            "for native GLM/Llama/Qwen, query_key_value for ChatGLM remote code)"
        },
    )
    merge_lora: bool = field(
        default=False,
        metadata={"help": "after training, also write the base model with the adapter merged to OUTPUT/merged"},
    )


@dataclass
class SoulChatTrainingArguments(TrainingArguments):
    """`transformers.TrainingArguments` with soulchat's defaults and a resume switch."""

    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={
            "help": "sampler: group_by_length (default here: batches of similar length, little "
            "padding), random, sequential or batch_rebalance",
            "choices": ["random", "sequential", "group_by_length", "batch_rebalance"],
        },
    )
    resume: bool = field(
        default=True,
        metadata={"help": "continue from the last checkpoint in output_dir when there is one"},
    )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, LoraArguments, SoulChatTrainingArguments)


def field_names() -> dict[str, type]:
    """Recipe key -> the dataclass that owns it."""
    owners: dict[str, type] = {}
    for cls in ARGUMENT_CLASSES:
        for item in dataclasses.fields(cls):
            if item.init:
                owners.setdefault(item.name, cls)
    return owners


class RecipeError(SoulChatError, ValueError):
    """A recipe key that no argument dataclass knows, with the file it came from."""


def read_recipe(path: str | Path) -> dict:
    """The YAML mapping of a recipe, checked against the argument dataclasses.

    A relative `deepspeed` path that does not exist from the working directory is looked up next to
    the recipe, so recipes can point at configs beside them.
    """
    from ..io import read_yaml

    path = Path(path)
    data = read_yaml(path, "a recipe: a YAML mapping of argument names to values") or {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of argument names to values")
    known = field_names()
    for key in data:
        if key in REMOVED_ARGUMENTS:
            raise RecipeError(f"{path}: {key!r} was removed in transformers 5: {REMOVED_ARGUMENTS[key]}")
        if key not in known:
            raise RecipeError(f"{path}: unknown argument {key!r}")
    deepspeed = data.get("deepspeed")
    if isinstance(deepspeed, str) and not Path(deepspeed).exists():
        beside = path.parent / deepspeed
        if beside.exists():
            data["deepspeed"] = str(beside)
    return data


def parse_arguments(
    argv: Sequence[str] | None = None, config: str | Path | None = None
) -> tuple[ModelArguments, DataArguments, LoraArguments, SoulChatTrainingArguments]:
    """(model, data, lora, training) arguments from `--config FILE.yaml` and command-line overrides."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise RecipeError("--config needs a YAML file")
        config = argv[index + 1]
        del argv[index : index + 2]
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    if config is not None:
        parser.set_defaults(**read_recipe(config))
    model, data, lora, training = parser.parse_args_into_dataclasses(args=argv)
    return model, data, lora, training
