"""One training run from parsed arguments: load, tokenize, train (resuming), save, merge."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..templates import add_special_tokens, get_template, stop_token_ids
from .arguments import (
    DataArguments,
    LoraArguments,
    ModelArguments,
    RecipeError,
    SoulChatTrainingArguments,
)
from .data import build_datasets
from .trainers import LoraTrainer, SoulChatTrainer

logger = logging.getLogger(__name__)

def make_model(factory: str, template: str):
    """What `model_factory` ('package.module:function') makes: a model folder, or (model, tokenizer)."""
    import importlib

    module, _, name = factory.partition(":")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise RecipeError(f"model_factory={factory!r}: {error}") from None
    return function(template=template)


def load_model_and_tokenizer(model_args: ModelArguments):
    """(model, tokenizer) with the template's special tokens added and embeddings resized; the
    model comes from model_name_or_path, or from model_factory when no path is given.
    `model_args` is read, never changed."""
    model_name_or_path = model_args.model_name_or_path
    if not model_name_or_path:
        made = make_model(model_args.model_factory, model_args.template)
        if isinstance(made, tuple):
            model, tokenizer = made
            return _prepared(model, tokenizer, model_args.template)
        model_name_or_path = str(made)
    import torch
    from transformers import AutoModelForCausalLM

    from ..io import model_source

    # a wrong path says "no such folder" / "holds no model", not a hub error
    model_name, local = model_source(model_name_or_path, what="model_name_or_path",
                                     tokenizer=not model_args.tokenizer_name_or_path)
    tokenizer_name, tokenizer_local = (model_source(model_args.tokenizer_name_or_path, what="tokenizer_name_or_path",
                                                    model=False)
                                       if model_args.tokenizer_name_or_path else (model_name, local))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        tokenizer_name, trust_remote_code=model_args.trust_remote_code, local_files_only=tokenizer_local,
    )
    options = {}
    if model_args.attn_implementation:
        options["attn_implementation"] = model_args.attn_implementation
    dtype = model_args.dtype if model_args.dtype == "auto" else getattr(torch, model_args.dtype)
    model = AutoModelForCausalLM.from_pretrained(
        model_name,
        local_files_only=local,
        dtype=dtype,
        trust_remote_code=model_args.trust_remote_code,
        **options,
    )
    return _prepared(model, tokenizer, model_args.template)


def _prepared(model, tokenizer, template: str):
    added = add_special_tokens(tokenizer, template)
    if added and len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        logger.info("added special tokens %s; resizing embeddings to %d", added, len(tokenizer))
        model.resize_token_embeddings(len(tokenizer))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # labels are built before padding: eos stays trained
    model.train()
    return model, tokenizer


def last_checkpoint(output_dir: str | Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir)
    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


def build_trainer(
    model_args: ModelArguments,
    data_args: DataArguments,
    lora_args: LoraArguments,
    training_args: SoulChatTrainingArguments,
    callbacks=None,
):
    """The configured trainer (LoraTrainer when use_lora), datasets tokenized and cached."""
    model, tokenizer = load_model_and_tokenizer(model_args)
    template = get_template(model_args.template)
    if getattr(model, "generation_config", None) is not None:
        # Saved with the model: generate() and serving engines (vLLM) then stop where training
        # taught the model to end a reply (e.g. GLM-4's <|user|>), not only on the eos.
        model.generation_config.eos_token_id = stop_token_ids(template, tokenizer, model)
    with training_args.main_process_first(desc="tokenize + mask"):
        train, evaluation = build_datasets(tokenizer, template, data_args, seed=training_args.seed,
                                           rejects=Path(training_args.output_dir) / "rejects.jsonl")
    common = {
        "args": training_args,
        "train_dataset": train,
        "eval_dataset": evaluation,
        "processing_class": tokenizer,
        "template": template,
        "max_source_length": data_args.max_source_length,
        "max_target_length": data_args.max_target_length,
        "mask": data_args.mask,
        "callbacks": callbacks,
    }
    if lora_args.use_lora:
        return LoraTrainer(model, lora=lora_args, **common)
    return SoulChatTrainer(model, **common)


def train(
    model_args: ModelArguments,
    data_args: DataArguments,
    lora_args: LoraArguments,
    training_args: SoulChatTrainingArguments,
    callbacks=None,
) -> dict:
    """Train (resuming from the last checkpoint in output_dir), save, merge on request.

    Returns the run's summary, also written to OUTPUT/train_summary.json.
    """
    trainer = build_trainer(model_args, data_args, lora_args, training_args, callbacks)
    resume = training_args.resume_from_checkpoint
    if resume is None and training_args.resume:
        resume = last_checkpoint(training_args.output_dir)
    if resume:
        logger.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    trainer.save_state()
    summary = {
        "output_dir": str(training_args.output_dir),
        "resumed_from": resume,
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "train_rows": len(trainer.train_dataset),
        "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
        "lora": lora_args.use_lora,
    }
    if trainer.eval_dataset is not None:
        metrics = trainer.evaluate()
        summary["eval_loss"] = metrics.get("eval_loss")
    if lora_args.use_lora and lora_args.merge_lora:
        summary["merged"] = str(trainer.merge_and_save(Path(training_args.output_dir) / "merged"))
    if trainer.args.should_save:
        write_resolved_recipe(Path(training_args.output_dir), model_args, data_args, lora_args)
        path = Path(training_args.output_dir) / "train_summary.json"
        path.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return summary


def write_resolved_recipe(output_dir: Path, *groups) -> Path:
    """OUTPUT/recipe.yaml: the model, data and LoRA settings this run actually used (recipe plus
    command-line overrides), for the model card; TrainingArguments are saved by the Trainer."""
    import dataclasses

    import yaml

    settings: dict = {}
    for group in groups:
        settings.update(dataclasses.asdict(group))
    path = output_dir / "recipe.yaml"
    text = "# written by soulchat train: the resolved model / data / LoRA settings of this run\n"
    path.write_text(text + yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
