"""`SoulChatTrainer` (full fine-tuning, DeepSpeed ZeRO-2/3 ready) and `LoraTrainer` (MeChat-style).

Both are `transformers.Trainer`s: DeepSpeed comes in through `TrainingArguments.deepspeed` (a JSON
or YAML path, or a dict) or an accelerate DeepSpeed config, checkpoints and resume are the Trainer's
own, evaluation is the loss on `eval_dataset`. What they add: the soulchat collator by default
(labels are built beforehand by `soulchat.train.data`; the collator pads, or tokenizes raw rows),
and length-grouped batching that keeps the same order after a resume.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import Trainer

from .collator import SoulChatCollator
from .arguments import LoraArguments
from .batching import LengthGroupedSampler

logger = logging.getLogger(__name__)

ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj"]

#: LoRA targets by `config.model_type` (MeChat adapted ChatGLM-6B's fused `query_key_value`).
LORA_TARGETS: dict[str, list[str]] = {
    "chatglm": ["query_key_value"],  # ChatGLM-6B/2/3 remote code
    "glm": ATTENTION_PROJECTIONS,  # native GLM-4 (GlmForCausalLM)
    "glm4": ATTENTION_PROJECTIONS,
    "llama": ATTENTION_PROJECTIONS,
    "mistral": ATTENTION_PROJECTIONS,
    "qwen2": ATTENTION_PROJECTIONS,
    "qwen3": ATTENTION_PROJECTIONS,
    "qwen": ["c_attn", "c_proj"],  # Qwen-1 remote code
    "gpt2": ["c_attn", "c_proj"],
}


def lora_target_modules(model) -> list[str]:
    """The module names LoRA adapts for this model's architecture."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in LORA_TARGETS:
        return list(LORA_TARGETS[model_type])
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for candidate in (["query_key_value"], ATTENTION_PROJECTIONS, ["c_attn", "c_proj"]):
        if set(candidate) <= names:
            return list(candidate)
    raise ValueError(
        f"no default LoRA target modules for model_type {model_type!r}: set lora_target_modules"
    )


def apply_lora(model, lora: LoraArguments):
    """Wrap `model` in a peft LoRA adapter; only the adapter's weights stay trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=lora.lora_r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=lora.lora_target_modules or lora_target_modules(model),
    )
    return get_peft_model(model, config)


class SoulChatTrainer(Trainer):
    """A `Trainer` for full fine-tuning on SoulChat data.

    `train_dataset` holds `input_ids`/`labels` (and `length`) rows from `soulchat.train.data`, or raw
    `{input, target}` / `{messages}` rows that the collator tokenizes per batch. `mask` is passed to
    `SoulChatCollator`: "final" (the paper) or "all" (one pass over every psychologist turn).
    """

    def __init__(
        self,
        model=None,
        args=None,
        *,
        template: str = "soulchat",
        max_source_length: int = 1536,
        max_target_length: int = 512,
        mask: str = "final",
        data_collator=None,
        processing_class=None,
        **kwargs,
    ) -> None:
        if data_collator is None:
            if processing_class is None:
                raise ValueError("pass processing_class (the tokenizer) or a data_collator")
            options = {"mask": mask} if mask != "final" else {}
            data_collator = SoulChatCollator(
                processing_class,
                template=template,
                max_source_length=max_source_length,
                max_target_length=max_target_length,
                **options,
            )
        super().__init__(
            model=model, args=args, data_collator=data_collator, processing_class=processing_class, **kwargs
        )

    def _get_train_sampler(self, train_dataset=None):
        # The Trainer drops unused columns (our `length`) before it builds the sampler, so the
        # precomputed lengths are read from the dataset it was given.
        dataset = self.train_dataset
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and hasattr(dataset, "column_names")
            and "length" in dataset.column_names
        ):
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return LengthGroupedSampler(
                dataset["length"],
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                seed=seed,
            )
        return super()._get_train_sampler(train_dataset)


class LoraTrainer(SoulChatTrainer):
    """`SoulChatTrainer` with a peft LoRA adapter (MeChat: r=8, alpha=32, dropout=0.1, lr 1e-4).

    Checkpoints and `save_model` write the adapter only; `merge_and_save` writes the base model
    with the adapter folded in.
    """

    def __init__(self, model=None, args=None, *, lora: LoraArguments | None = None, **kwargs) -> None:
        from peft import PeftModel

        if model is not None and not isinstance(model, PeftModel):
            model = apply_lora(model, lora or LoraArguments(use_lora=True))
        super().__init__(model=model, args=args, **kwargs)

    def merge_and_save(self, output_dir: str | Path) -> Path:
        """Fold the adapter into the base weights and save a plain model (and the tokenizer)."""
        output_dir = Path(output_dir)
        model = self.accelerator.unwrap_model(self.model)
        if self.is_deepspeed_enabled and self.accelerator.state.deepspeed_plugin.zero_stage == 3:
            raise ValueError(
                "merging under ZeRO-3 needs the full weights: train with ZeRO-2 or merge afterwards "
                "with soulchat.train.merge_adapter(base, adapter, output)"
            )
        if self.args.should_save:
            merged = model.merge_and_unload()
            merged.save_pretrained(output_dir)
            if self.processing_class is not None:
                self.processing_class.save_pretrained(output_dir)
            self.model = merged
        self.accelerator.wait_for_everyone()
        return output_dir


def merge_adapter(base_model, adapter: str | Path, output_dir: str | Path | None = None):
    """Load a LoRA adapter onto `base_model` (a model object) and merge it; save when asked."""
    from peft import PeftModel

    merged = PeftModel.from_pretrained(base_model, str(adapter)).merge_and_unload()
    if output_dir is not None:
        merged.save_pretrained(output_dir)
    return merged

