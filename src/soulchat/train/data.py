"""Training data: load a SoulChatCorpus config or any `{input, target}` / `{messages}` records, and
build `input_ids`/`labels` once with the collator's tokenize-and-mask step in `datasets.map`.

Which rows are dialogues: with `mask="final"` (the paper), a `messages` row that is a whole dialogue
is expanded into one sample per psychologist turn. A row is a whole dialogue unless the data is the
corpus's `messages` config or carries `dialogue_id` (then each row already is one sample ending with
the turn to train). With `mask="all"`, whole dialogues go to the collator as they are.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

from .collator import tokenize_function
from ..corpus import is_corpus_folder
from ..dialogue import Dialogue, DialogueFormatError, exchange_from_record
from ..io import InputError, Reject, dialogue_from_record, iter_records, reject_record
from .arguments import DataArguments

logger = logging.getLogger(__name__)

SAMPLE = "sample"


def default_config(data: DataArguments) -> str:
    return data.dataset_config or ("dialogues" if data.mask == "all" else "samples")


def load_split(data: DataArguments, split: str, rejects: Path | None = None):
    """One split of the training data as a `datasets.Dataset` (memory-mapped, cached on disk).

    JSON/JSONL files are read with the reader of `soulchat build` and `soulchat validate`
    (soulchat.io): a bad record stops the run naming its file and line, or, with
    `data.skip_invalid`, goes with its reason to `rejects` and the rest is trained on."""
    if data.dataset == SAMPLE:
        from ..bundled import SAMPLE_DIALOGUES

        files = [Path(SAMPLE_DIALOGUES)]
    else:
        path = Path(data.dataset)
        if is_corpus_folder(path):
            return _corpus_split(path, default_config(data), split)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
            if not files:
                raise FileNotFoundError(f"{path}: no README.md with `configs:` and no .json/.jsonl file")
        else:
            raise FileNotFoundError(
                f"{data.dataset}: not a file or folder (a hub dataset id needs network: download it first)"
            )
    return _records_dataset(files, data.skip_invalid, rejects)


def _corpus_split(path: Path, config: str, split: str):
    from datasets import load_dataset

    try:
        return load_dataset(str(path), name=config, split=split)
    except Exception as error:  # noqa: BLE001 - datasets wraps what went wrong in many types
        cause = error.__cause__ or error
        raise ValueError(f"{path}: cannot read config {config!r}, split {split!r} of this corpus "
                         f"({type(cause).__name__}: {cause}); rebuild it with `soulchat build`") from None


def _records_dataset(files: list[Path], skip_invalid: bool, rejects: Path | None):
    """First pass: check every record (and write the rejects); second pass: the rows, into an Arrow
    file cached by content (path, size and modification time of every file)."""
    from datasets import Dataset

    shape, kept, rejected, first = None, 0, 0, None
    stream = None
    if skip_invalid and rejects is not None:
        rejects.parent.mkdir(parents=True, exist_ok=True)
        stream = rejects.open("w", encoding="utf-8")

    def reject(bad: Reject) -> None:  # streamed: a large corpus with many bad lines keeps none in memory
        nonlocal rejected, first
        rejected += 1
        first = first or bad
        if stream is not None:
            stream.write(json.dumps(bad.to_json(), ensure_ascii=False) + "\n")

    try:
        for file in files:
            for row in read_training_rows(file, on_reject=reject if skip_invalid else None, shape=shape):
                shape = shape or _shape(row)
                kept += 1
    finally:
        if stream is not None:
            stream.close()
    if rejected:
        logger.warning("%d bad record(s) skipped%s", rejected, f"; reasons in {rejects}" if rejects else "")
    if not kept:
        where = files[0] if len(files) == 1 else Path(files[0]).parent
        why = (f"all {rejected} records are bad (first: {first.path}:{first.line}: {first.reason})" if first
               else "no records (empty, or blank lines only)")
        raise InputError(where, None, f"no training rows: {why}; expected {{input, target}} or {{messages}} per line")
    stamps = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return Dataset.from_generator(_generate_rows, gen_kwargs={"stamps": stamps, "shape": shape}, split="train")


def _generate_rows(stamps, shape):
    for path, _, _ in stamps:
        yield from read_training_rows(Path(path), on_reject=lambda reject: None, shape=shape)


def _shape(row: dict) -> tuple[str, ...]:
    return tuple(sorted(row))


def read_training_rows(path: Path, *, on_reject=None, shape: tuple[str, ...] | None = None):
    """Training rows of one JSON/JSONL file: `{input, target}` samples or `{id, messages}` dialogues
    (user/assistant roles whatever the source spelled: SMILE's client/counselor too), each with
    `dialogue_id` when the record had one. All rows of a run share the first row's `shape` (its
    keys); a record of another shape is a bad record. Without `on_reject`, InputError."""
    for number, record in iter_records(path):
        try:
            if isinstance(record, InputError):
                raise record
            row = _row(record)
            if shape is not None and _shape(row) != shape:
                expected = "{" + ", ".join(k for k in shape) + "}"
                raise DialogueFormatError(f"a record with keys {sorted(row)}, but this data's rows are {expected}: "
                                          "keep one shape per run (samples, or dialogues; dialogue_id on all or none)")
            shape = shape or _shape(row)
        except (InputError, DialogueFormatError, ValueError) as error:
            reject_record(error, path, number, record, on_reject)
            continue
        yield row


def _row(record) -> dict:
    if isinstance(record, dict) and ("input" in record or "target" in record):
        exchange_from_record(record)  # non-empty strings; the input a SoulChat prompt 用户：…\n心理咨询师：
        row = {"input": record["input"], "target": record["target"]}
    else:
        dialogue = dialogue_from_record(record)
        dialogue.validate()  # starts with the user, ends with the psychologist, roles alternate
        row = {"id": str(record.get("id", "")) if isinstance(record, dict) else "", "messages": dialogue.to_messages()}
    if isinstance(record, dict) and record.get("dialogue_id") is not None:
        row["dialogue_id"] = str(record["dialogue_id"])
    return row


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
        tokenizer, template, max_source_length=data.max_source_length, max_target_length=data.max_target_length,
        mask=data.mask,
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


def build_datasets(tokenizer, template, data: DataArguments, seed: int = 42, rejects: Path | None = None):
    """(train, eval or None), tokenized and masked; bad records go to `rejects` with skip_invalid."""
    train = load_split(data, data.train_split, rejects)
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
