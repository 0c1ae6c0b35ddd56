"""Push a trained model or LoRA adapter with its tokenizer, chat template, generation config and card.

What goes up (top-level files of the output folder only; checkpoint-*/, merged/ and logs stay):
weights (`*.safetensors` and their index, `*.bin` weights), `config.json` / `adapter_config.json`,
tokenizer files, the chat template, `trainer_state.json` (loss curve), and three generated files:

* `README.md`: the card rendered from `model_cards/model_card.md` with what the run's files say
  (PEFT's placeholder card in the folder is replaced);
* `generation_config.json`: the local one (if any) with the paper's decoding, top-p 0.75 and
  temperature 0.95, sampling on;
* `chat_template.jinja`: for the `soulchat` template, the Jinja form of the prompt the model was
  trained on (the tokenizer's own template, e.g. ChatML, would not match training).

`training_args.bin` is never uploaded: it is a pickle and may hold a `hub_token`.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import paper_generation_config
from .run import RunInfo, read_cehs, read_metrics, read_run
from .upload import PushResult, Upload, default_api, push_files

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parents[1] / "model_cards" / "model_card.md"
GENERATION = paper_generation_config()  # the paper's decoding (soulchat.backends)
MODEL_FILES = (
    "config.json", "adapter_config.json", "generation_config.json",
    "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model*.bin.index.json", "adapter_model.bin",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "vocab.txt", "merges.txt", "tokenizer.model", "*.tiktoken", "chat_template.jinja", "chat_template.json",
    "trainer_state.json", "README.md",
)
NEVER = ("training_args.bin",)
METRIC_NAMES = {"bleu-1": "BLEU-1", "bleu-2": "BLEU-2", "bleu-3": "BLEU-3", "bleu-4": "BLEU-4",
                "rouge-1": "ROUGE-1", "rouge-2": "ROUGE-2", "rouge-l": "ROUGE-L"}
CEHS_NAMES = {"content": "CEHS content (0-2)", "empathy": "CEHS empathy (0-2)",
              "helpfulness": "CEHS helpfulness (0-2)", "safety": "CEHS safety (0-1)"}


def model_managed(path: str) -> bool:
    """Whether `path` is a file this push owns in the repo: top-level model, tokenizer, card files."""
    return "/" not in path and path not in NEVER and any(fnmatch.fnmatch(path, pattern) for pattern in MODEL_FILES)


def generation_config(output_dir: Path) -> bytes:
    local = output_dir / "generation_config.json"
    settings: dict[str, Any] = json.loads(local.read_text(encoding="utf-8")) if local.is_file() else {}
    for key, value in GENERATION.items():
        if key in settings and settings[key] != value:
            logger.info("generation_config.json: %s %s -> %s in the uploaded copy", key, settings[key], value)
    settings.update(GENERATION)
    return (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode("utf-8")


def chat_template(output_dir: Path, template: str | None) -> bytes | None:
    """The `soulchat` format as Jinja (with the tokenizer's leading special tokens, if it adds any)."""
    if template != "soulchat":
        return None
    from ..chat.serving import soulchat_chat_template

    tokenizer = None
    if (output_dir / "tokenizer_config.json").is_file():
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(output_dir), local_files_only=True)
        except Exception as error:  # noqa: BLE001 - without it the template only lacks a BOS
            logger.warning("%s: tokenizer not loadable (%s); chat template written without leading special tokens", output_dir, error)
    return soulchat_chat_template(tokenizer).encode("utf-8")


def _hub_id(name: str | None) -> str | None:
    """`org/name` when `name` looks like a hub id rather than a local path."""
    if not name or name.startswith((".", "/", "~")) or Path(name).exists() or name.count("/") != 1:
        return None
    return name


def eval_results(metrics: dict | None, cehs: dict | None, corpus_repo: str | None) -> list:
    from huggingface_hub import EvalResult

    dataset = {"task_type": "text-generation", "task_name": "Empathetic multi-turn counseling dialogue",
                   "dataset_type": corpus_repo or "soulchat-corpus", "dataset_name": "SoulChatCorpus", "dataset_split": "test"}
    results = []
    if metrics:
        for key, name in METRIC_NAMES.items():
            results.append(EvalResult(**dataset, metric_type=key, metric_name=name,
                                      metric_value=round(metrics["metrics"][key], 2),
                                      metric_config="char" if metrics["bleu_tokens"] == "char" and key.startswith("bleu") else None))
    if cehs:
        for key, name in CEHS_NAMES.items():
            results.append(EvalResult(**dataset, metric_type=f"cehs-{key}", metric_name=name,
                                      metric_value=round(cehs["scores"][key], 3), metric_config=cehs["source"]))
    return results


def render_model_card(
    run: RunInfo,
    repo_id: str,
    *,
    corpus_repo: str | None = None,
    metrics: dict | None = None,
    cehs: dict | None = None,
    license: str | None = None,
) -> str:
    """The model card (front matter + Markdown) for `run`, offline."""
    from huggingface_hub import ModelCard, ModelCardData

    from .. import safety
    from ..corpus.card import CITATION

    base = _hub_id(run.base_model)
    results = eval_results(metrics, cehs, corpus_repo)
    tags = ["soulchat", "mental-health", "empathy", "counseling", "multi-turn", "chinese"]
    if run.kind == "LoRA adapter":
        tags += ["lora", "peft"]
    name = repo_id.split("/")[-1]
    data = ModelCardData(
        language=["zh"], license=license, base_model=base, datasets=[corpus_repo] if corpus_repo else None,
        library_name="peft" if run.kind == "LoRA adapter" else "transformers", pipeline_tag="text-generation",
        tags=tags, model_name=name, eval_results=results or None,
    )
    card = ModelCard.from_template(
        data, template_path=str(TEMPLATE), title=name, repo_id=repo_id, run=run, corpus_repo=corpus_repo,
        base_model_link=f"https://huggingface.co/{base}" if base else None,
        generation={"top_p": GENERATION["top_p"], "temperature": GENERATION["temperature"]},
        metrics=metrics, metric_names=METRIC_NAMES, cehs=cehs,
        crisis_lines=safety.resource_lines("zh-CN"),
        disclosure_zh=safety.disclosure("zh-CN"), disclosure_en=safety.disclosure("en-US"),
        citation=CITATION,
    )
    return str(card)


@dataclass(frozen=True)
class CardSources:
    """What a model card is built from besides the run folder: the recipe the run was trained from
    (its values win over training_args.bin), the base model and template when the run does not say,
    the corpus repo, `soulchat eval`'s metrics.json (or its folder), a CEHS summary (cehs.json from
    `soulchat judge`, cehs_human.json from `soulchat cehs import`) with the system to read from it,
    and the license."""

    recipe: str | Path | None = None
    base_model: str | None = None
    template: str | None = None
    corpus_repo: str | None = None
    metrics: str | Path | None = None
    cehs: str | Path | None = None
    cehs_system: str | None = None
    license: str | None = None


def model_card_text(run: RunInfo, repo_id: str, card: CardSources | None = None) -> str:
    """The model card of `run` with the scores read from `soulchat eval` / CEHS files."""
    card = card or CardSources()
    scores = read_metrics(card.metrics) if card.metrics else None
    judged = read_cehs(card.cehs, card.cehs_system) if card.cehs else None
    return render_model_card(run, repo_id, corpus_repo=card.corpus_repo, metrics=scores, cehs=judged,
                             license=card.license)


def model_uploads(output_dir: str | Path, repo_id: str, card: CardSources | None = None) -> list[Upload]:
    card = card or CardSources()
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ValueError(f"{output_dir}: no such folder")
    has_weights = any(p.name not in NEVER for pattern in ("*.safetensors", "*.bin") for p in output_dir.glob(pattern))
    if not ((output_dir / "config.json").is_file() or (output_dir / "adapter_config.json").is_file()) or not has_weights:
        raise ValueError(f"{output_dir}: no model here (need config.json or adapter_config.json and weights); "
                         "pass the folder `soulchat train` saved to (its --output), or OUTPUT/merged")
    run = read_run(output_dir, recipe=card.recipe, base_model=card.base_model, template=card.template)
    text = model_card_text(run, repo_id, card)
    generated: dict[str, bytes] = {"README.md": text.encode("utf-8"), "generation_config.json": generation_config(output_dir)}
    template_bytes = chat_template(output_dir, run.template)
    if template_bytes is not None:
        generated["chat_template.jinja"] = template_bytes
    uploads = [Upload(name, content) for name, content in generated.items()]
    for path in sorted(output_dir.iterdir()):
        if path.is_file() and path.name not in generated and model_managed(path.name):
            uploads.append(Upload(path.name, path))
    return uploads


def push_model(
    output_dir: str | Path,
    repo_id: str,
    card: CardSources | None = None,
    *,
    api=None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> PushResult:
    """Upload a model or LoRA adapter folder with a card built from the run and `card` (CardSources:
    recipe, metrics, CEHS, corpus repo, license…); unchanged files are not re-sent. Raises
    `PushError` listing what was not uploaded."""
    uploads = model_uploads(output_dir, repo_id, card)
    return push_files(
        api or default_api(), repo_id, uploads, repo_type="model", managed=model_managed,
        private=private, revision=revision, create_pr=create_pr,
        commit_message=commit_message or "Upload SoulChat model", say=say,
    )
