"""Training data: load a SoulChatCorpus config or any `{input, target}` / `{messages}` records, and
build `input_ids`/`labels` once with the collator's tokenize-and-mask step in `datasets.map`.

Which rows are dialogues: with `mask="final"` (the paper), a `messages` row that is a whole dialogue
is expanded into one sample per psychologist turn. A row is a whole dialogue unless the data is the
corpus's `messages` config or carries `dialogue_id` (then each row already is one sample ending with
the turn to train). With `mask="all"`, whole dialogues go to the collator as they are.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from ..collator import tokenize_function
from ..dialogue import Dialogue
from .arguments import DataArguments

logger = logging.getLogger(__name__)

SAMPLE = "sample"


def is_corpus_folder(path: Path) -> bool:
    readme = path / "README.md"
    return path.is_dir() and readme.exists() and "configs:" in readme.read_text(encoding="utf-8")


def default_config(data: DataArguments) -> str:
    return data.dataset_config or ("dialogues" if data.mask == "all" else "samples")


def load_split(data: DataArguments, split: str):
    """One split of the training data as a `datasets.Dataset` (memory-mapped, cached on disk)."""
    from datasets import load_dataset

    if data.dataset == SAMPLE:
        from ..data import SAMPLE_DIALOGUES

        return load_dataset("json", data_files=str(SAMPLE_DIALOGUES), split="train")
    path = Path(data.dataset)
    if is_corpus_folder(path):
        return load_dataset(str(path), name=default_config(data), split=split)
    if path.is_file():
        return load_dataset("json", data_files=str(path), split="train")
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.suffix in (".json", ".jsonl"))
        if not files:
            raise FileNotFoundError(f"{path}: no README.md with `configs:` and no .json/.jsonl file")
        return load_dataset("json", data_files=files, split="train")
    raise FileNotFoundError(
        f"{data.dataset}: not a file or folder (a hub dataset id needs network: download it first)"
    )


def holds_dialogues(dataset, data: DataArguments) -> bool:
    columns = dataset.column_names
    return (
        "messages" in columns
        and "dialogue_id" not in columns
        and data.dataset_config != "messages"
    )


def expand_dialogues(batch: dict[str, list]) -> dict[str, list]:
    """Batched map: each dialogue row -> one `{input, target}` row per psychologist turn (paper §2.2)."""
    out: dict[str, list[Any]] = {"input": [], "target": [], "dialogue_id": [], "turn": []}
    ids = batch.get("id") or list(range(len(batch["messages"])))
    for dialogue_id, messages in zip(ids, batch["messages"]):
        for turn, sample in enumerate(Dialogue.from_messages(messages).samples()):
            out["input"].append(sample["input"])
            out["target"].append(sample["target"])
            out["dialogue_id"].append(str(dialogue_id))
            out["turn"].append(turn)
    return out


def as_training_rows(dataset, data: DataArguments):
    """The rows the tokenizer sees: the paper's samples for mask=final, dialogues for mask=all."""
    if data.mask == "final" and holds_dialogues(dataset, data):
        dataset = dataset.map(
            expand_dialogues,
            batched=True,
            remove_columns=dataset.column_names,
            num_proc=data.preprocessing_num_workers,
            desc="expand dialogues into samples",
        )
    return dataset


def split_for_eval(dataset, size: float, seed: int):
    """(train, eval) with `size` rows (or fraction) held out, whole dialogues on one side only."""
    if not size:
        return dataset, None
    groups = dataset["dialogue_id"] if "dialogue_id" in dataset.column_names else None
    if groups is None:
        parts = dataset.train_test_split(test_size=size if size < 1 else int(size), seed=seed)
        return parts["train"], parts["test"]
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    wanted = round(size * len(dataset)) if size < 1 else int(size)
    held, count = set(), 0
    per_group: dict[str, int] = {}
    for group in groups:
        per_group[group] = per_group.get(group, 0) + 1
    for group in unique:
        if count >= wanted:
            break
        held.add(group)
        count += per_group[group]
    train_rows = [i for i, g in enumerate(groups) if g not in held]
    eval_rows = [i for i, g in enumerate(groups) if g in held]
    return dataset.select(train_rows), dataset.select(eval_rows)


def tokenize_with_lengths(tokenizer, template, data: DataArguments):
    """The collator's `tokenize_function`, plus a `length` column for length-grouped batching."""
    tokenize = tokenize_function(
        tokenizer, template, data.max_source_length, data.max_target_length, mask=data.mask
    )

    def tokenize_and_measure(batch):
        out = tokenize(batch)
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    return tokenize_and_measure


def tokenize_dataset(dataset, tokenizer, template, data: DataArguments, desc: str = "tokenize + mask"):
    """`input_ids`, `labels`, `length` for every trainable row; built once, cached by datasets."""
    rows = as_training_rows(dataset, data)
    before = len(rows)
    tokenized = rows.map(
        tokenize_with_lengths(tokenizer, template, data),
        batched=True,
        remove_columns=rows.column_names,
        num_proc=data.preprocessing_num_workers,
        desc=desc,
    )
    if len(tokenized) < before:
        logger.warning("%d of %d rows had no trainable token and were dropped", before - len(tokenized), before)
    if not len(tokenized):
        raise ValueError(f"{data.dataset}: no row has a trainable token")
    return tokenized


def build_datasets(tokenizer, template, data: DataArguments, seed: int = 42):
    """(train, eval or None), tokenized and masked."""
    train = load_split(data, data.train_split)
    evaluation = load_split(data, data.eval_split) if data.eval_split else None
    train = as_training_rows(train, data)
    if evaluation is None and data.eval_size:
        train, evaluation = split_for_eval(train, data.eval_size, seed)
    if data.max_train_samples is not None:
        train = train.select(range(min(data.max_train_samples, len(train))))
    train = tokenize_dataset(train, tokenizer, template, data, desc="tokenize + mask (train)")
    if evaluation is not None:
        evaluation = tokenize_dataset(evaluation, tokenizer, template, data, desc="tokenize + mask (eval)")
    return train, evaluation
