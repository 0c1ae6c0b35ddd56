"""What a training run says about itself, read from the files it left, for the model card.

Nothing here is retyped: every figure comes from a file of the run, and a missing file only means
a shorter card. Sources, most explicit first:

* a recipe YAML (`recipe=`, or `recipe.yaml` in the output folder): base model, template, data,
  LoRA settings, and the hyper-parameters as written (training_args.bin overrides those it holds);
* `adapter_config.json` (PEFT): LoRA rank, alpha, dropout, target modules, base model;
* `training_args.bin` (Trainer.save_model): the resolved TrainingArguments, command-line
  overrides and defaults included. It is a pickle, so it is read only from the run folder being published and
  never uploaded (it may also hold a `hub_token`);
* `trainer_state.json` (Trainer.save_state): steps, epochs, batch size, losses;
* `train_summary.json` (soulchat train): rows trained, final eval loss.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Hyper-parameters worth a line in the card, in the order a reader looks for them.
HYPERPARAMETERS = (
    "template", "dataset", "dataset_config", "mask", "max_source_length", "max_target_length",
    "use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules",
    "learning_rate", "lr_scheduler_type", "warmup_steps", "num_train_epochs", "max_steps",
    "per_device_train_batch_size", "gradient_accumulation_steps", "weight_decay", "max_grad_norm",
    "optim", "bf16", "fp16", "gradient_checkpointing", "deepspeed", "train_sampling_strategy", "seed",
)
ADAPTER_KEYS = {"r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout", "target_modules": "lora_target_modules"}
# Local, machine-specific or secret settings that a card must not show.
PRIVATE_KEYS = {"output_dir", "hub_token", "hub_model_id", "push_to_hub", "report_to", "logging_dir", "run_name"}


@dataclass
class RunInfo:
    kind: str  # "lora adapter" | "full model"
    base_model: str | None = None
    template: str | None = None
    dataset: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError, RecursionError) as error:
        if path.exists():
            logger.warning("%s: unreadable (%s); left out of the card", path, error)
        return None


def _training_args(path: Path) -> dict[str, Any]:
    """Selected fields of a pickled TrainingArguments; {} when it cannot be read."""
    try:
        import torch

        args = torch.load(path, weights_only=False)  # our own run's file, see the module docstring
    except Exception as error:  # noqa: BLE001 - a card without these lines beats no card
        logger.warning("%s: unreadable (%s); hyper-parameters left out of the card", path, error)
        return {}
    values = {}
    for key in HYPERPARAMETERS:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = getattr(value, "value", value)  # enums (scheduler, optimizer) as their names
    return values


def run_folder(output_dir: Path) -> Path:
    """Where the run's files are: `OUTPUT/merged` (a merged LoRA run) keeps them one level up."""
    if not (output_dir / "trainer_state.json").is_file() and (output_dir.parent / "trainer_state.json").is_file():
        return output_dir.parent
    return output_dir


def read_run(output_dir: str | Path, recipe: str | Path | None = None, base_model: str | None = None,
             template: str | None = None) -> RunInfo:
    output_dir = Path(output_dir)
    run = run_folder(output_dir)
    adapter = _json(output_dir / "adapter_config.json")
    info = RunInfo(kind="LoRA adapter" if adapter is not None else "full model")

    settings: dict[str, Any] = {}
    recipe = Path(recipe) if recipe else (run / "recipe.yaml" if (run / "recipe.yaml").is_file() else None)
    if recipe is not None:
        from ..io import InputError, read_yaml

        found = read_yaml(recipe, "a training recipe (a YAML mapping)") or {}
        if not isinstance(found, dict):
            raise InputError(recipe, None, "a recipe is a YAML mapping of argument names to values")
        settings.update(found)
        info.sources.append(recipe.name)
    if (run / "training_args.bin").is_file():
        # the resolved arguments win over the recipe: command-line overrides (--max_steps) land there
        found = _training_args(run / "training_args.bin")
        if found:
            settings.update(found)
            info.sources.append("training_args.bin")
    if adapter is not None:
        settings.update({ours: adapter[key] for key, ours in ADAPTER_KEYS.items() if adapter.get(key) is not None})
        if isinstance(settings.get("lora_target_modules"), list):
            settings["lora_target_modules"] = sorted(settings["lora_target_modules"])
        settings.setdefault("use_lora", True)
        info.sources.append("adapter_config.json")

    info.base_model = base_model or settings.get("model_name_or_path") or (adapter or {}).get("base_model_name_or_path")
    info.template = template or settings.get("template")
    info.dataset = settings.get("dataset")
    if template:
        settings["template"] = template
    if isinstance(settings.get("deepspeed"), str):
        settings["deepspeed"] = Path(settings["deepspeed"]).name  # the config's name, not this machine's path
    info.hyperparameters = {k: settings[k] for k in HYPERPARAMETERS if settings.get(k) is not None and k not in PRIVATE_KEYS}

    state = _json(run / "trainer_state.json")
    if state is not None:
        info.sources.append("trainer_state.json")
        history = state.get("log_history") or []
        for key in ("global_step", "epoch", "train_batch_size"):
            if state.get(key) is not None:
                info.results[key] = state[key]
        losses = [entry["loss"] for entry in history if "loss" in entry]
        evals = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
        final = next((entry for entry in reversed(history) if "train_loss" in entry), {})
        if losses:
            info.results["last_logged_loss"] = losses[-1]
        for key in ("train_loss", "train_runtime"):
            if key in final:
                info.results[key] = final[key]
        if evals:
            info.results["eval_loss"] = evals[-1]
    summary = _json(run / "train_summary.json")
    if summary is not None:
        info.sources.append("train_summary.json")
        for key in ("train_rows", "eval_loss", "train_loss", "global_step"):
            if summary.get(key) is not None:
                info.results.setdefault(key, summary[key])
    return info


def read_metrics(path: str | Path) -> dict:
    """`soulchat eval`'s metrics.json (the file or its folder): {model, metrics, bleu_tokens, test}."""
    from ..evaluation.report import load_runs

    path = Path(path)
    run = load_runs([path])[0]
    file = path / "metrics.json" if path.is_dir() else path
    data = json.loads(file.read_text(encoding="utf-8"))
    return {"model": run["name"], "metrics": run["metrics"], "count": run["count"],
            "bleu_tokens": run["bleu_tokens"], "test": data.get("test")}


def read_cehs(path: str | Path, system: str | None = None) -> dict:
    """Mean CEHS scores of one system from `soulchat judge` (cehs.json: `systems`) or the human
    kit (cehs_human.json: `models`, with Fleiss' kappa); `system` picks one when there are several."""
    from ..evaluation.cehs.rubric import KEYS

    path = Path(path)
    if path.is_dir():
        path = next((path / name for name in ("cehs.json", "cehs_human.json") if (path / name).is_file()), path / "cehs.json")
    data = _json(path)
    if data is None:
        raise ValueError(f"{path}: no CEHS summary (cehs.json from `soulchat judge` or cehs_human.json from `soulchat cehs import`)")
    source, table = ("human", data["models"]) if "models" in data else ("judge", data.get("systems") or {})
    if not table:
        raise ValueError(f"{path}: no scored system in the CEHS summary")
    if system is None and len(table) == 1:
        system = next(iter(table))
    if system not in table:
        raise ValueError(f"{path}: pick the system to report with --cehs-system, one of: {', '.join(sorted(table))}")
    scores = table[system]
    result = {"system": system, "source": source, "count": scores.get("items"),
              "scores": {k: float(scores[k]) for k in KEYS}}
    if source == "judge":
        result["judges"] = sorted({key.split("|", 1)[1] for key in data.get("judges", {}) if key.startswith(f"{system}|")})
    else:
        result["kappa"] = data.get("kappa", {})
        result["annotators"] = len(data.get("annotators", []))
    return result
