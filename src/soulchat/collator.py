"""Tokenize, mask and pad: only the final psychologist turn and its stop token are trained.

Labels are built once per example by `encode_example` (usable in `datasets.map` through
`tokenize_function`, TRL-style) and the collator only pads what is already built, so the real eos
keeps its label even when the pad token is the eos token.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

import torch

from .dialogue import PSYCHOLOGIST, USER, Dialogue, DialogueFormatError, parse_input
from .templates import ChatTemplate, get_template

IGNORE_INDEX = -100
MASKS = ("final",)

logger = logging.getLogger(__name__)


def example_parts(example: Mapping[str, Any]) -> tuple[list[tuple[str, str]], str, str]:
    """(history rounds, final user turn, target) from `{"input", "target"}` or `{"messages"}`."""
    if "messages" in example:
        dialogue = Dialogue.from_messages(example["messages"])
        roles = [turn.role for turn in dialogue.turns]
        if len(roles) % 2 or roles != [USER, PSYCHOLOGIST] * (len(roles) // 2):
            raise DialogueFormatError(
                "messages must alternate user/assistant, starting with user and ending with the "
                "psychologist's (assistant) turn to train"
            )
        return dialogue.exchanges()[-1]
    if "input" in example and "target" in example:
        if not isinstance(example["input"], str) or not isinstance(example["target"], str):
            raise DialogueFormatError("'input' and 'target' must be strings")
        history, query = parse_input(example["input"])
        return history, query, example["target"]
    raise DialogueFormatError(
        f"expected keys 'input' and 'target', or 'messages', or 'input_ids' and 'labels'; "
        f"got {sorted(example)}"
    )


def encode_example(
    example: Mapping[str, Any],
    tokenizer,
    template: str | ChatTemplate = "soulchat",
    max_source_length: int = 1536,
    max_target_length: int = 512,
    stats: Counter | None = None,
) -> dict[str, list[int]] | None:
    """`{"input_ids", "labels"}` for one example, or None when nothing in it can be trained."""
    template = get_template(template)
    history, query, target = example_parts(example)
    if not target.strip():
        if stats is not None:
            stats["dropped_empty_target"] += 1
        return None
    prompt = template.encode_prompt(tokenizer, history, query, max_length=max_source_length)
    reply = template.encode_target(tokenizer, target, max_length=max_target_length)
    if stats is not None:
        stats["examples"] += 1
        stats["dropped_history_rounds"] += prompt.dropped_rounds
        stats["truncated_prompts"] += bool(prompt.dropped_rounds or prompt.query_truncated)
        stats["truncated_user_turns"] += prompt.query_truncated
        stats["truncated_targets"] += reply.truncated
    return {
        "input_ids": prompt.input_ids + reply.input_ids,
        "labels": [IGNORE_INDEX] * len(prompt.input_ids) + reply.input_ids,
    }


def tokenize_function(
    tokenizer,
    template: str | ChatTemplate = "soulchat",
    max_source_length: int = 1536,
    max_target_length: int = 512,
) -> Callable[[Mapping[str, list]], dict[str, list]]:
    """A batched `datasets.map` function: `dataset.map(fn, batched=True, remove_columns=...)`.

    Rows with nothing to train are dropped (the mapped dataset is shorter) and logged.
    """
    template = get_template(template)
    template.check(tokenizer)

    def tokenize(batch: Mapping[str, list]) -> dict[str, list]:
        columns = list(batch)
        size = len(batch[columns[0]]) if columns else 0
        out: dict[str, list] = {"input_ids": [], "labels": []}
        stats: Counter = Counter()
        for row in range(size):
            example = {column: batch[column][row] for column in columns}
            encoded = encode_example(
                example, tokenizer, template, max_source_length, max_target_length, stats
            )
            if encoded is not None:
                out["input_ids"].append(encoded["input_ids"])
                out["labels"].append(encoded["labels"])
        if stats["dropped_empty_target"]:
            logger.warning(
                "dropped %d of %d rows with no trainable token (empty target)",
                stats["dropped_empty_target"],
                size,
            )
        return out

    return tokenize


class SoulChatCollator:
    """Collate examples into `input_ids`, `attention_mask`, `labels` tensors.

    Examples are `{"input", "target"}` samples, `{"messages"}` whose last message is the
    psychologist's, or already tokenized `{"input_ids", "labels"}` (then only padded). Labels are
    -100 everywhere but the final psychologist turn and its stop token. `stats` counts dropped
    rows and truncations across calls.
    """

    def __init__(
        self,
        tokenizer,
        template: str | ChatTemplate = "soulchat",
        max_source_length: int = 1536,
        max_target_length: int = 512,
        mask: str = "final",
        padding_side: str = "right",
        pad_to_multiple_of: int | None = None,
    ) -> None:
        if mask not in MASKS:
            hint = (
                " (one-pass multi-turn training arrives with the training stage)"
                if mask == "all"
                else ""
            )
            raise ValueError(f"mask={mask!r} is not supported; choose one of {MASKS}{hint}")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        if max_source_length < 1 or max_target_length < 2:
            raise ValueError("max_source_length must be >= 1 and max_target_length >= 2")
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.template.check(tokenizer)
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.mask = mask
        self.padding_side = padding_side
        self.pad_to_multiple_of = pad_to_multiple_of
        self.pad_token_id = _pad_token_id(tokenizer)
        self.stats: Counter = Counter()

    @property
    def dropped(self) -> int:
        return self.stats["dropped_empty_target"] + self.stats["dropped_no_labels"]

    def encode(self, example: Mapping[str, Any]) -> dict[str, list[int]] | None:
        if "input_ids" in example and "labels" in example:
            ids, labels = list(example["input_ids"]), list(example["labels"])
            if len(ids) != len(labels):
                raise ValueError(
                    f"input_ids ({len(ids)}) and labels ({len(labels)}) differ in length"
                )
            if all(label == IGNORE_INDEX for label in labels):
                self.stats["dropped_no_labels"] += 1
                return None
            return {"input_ids": ids, "labels": labels}
        return encode_example(
            example,
            self.tokenizer,
            self.template,
            self.max_source_length,
            self.max_target_length,
            self.stats,
        )

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = []
        for index, example in enumerate(examples):
            try:
                encoded = self.encode(example)
            except DialogueFormatError as error:
                raise DialogueFormatError(f"example {index} of the batch: {error}") from error
            if encoded is not None:
                rows.append(encoded)
        dropped = len(examples) - len(rows)
        if dropped:
            logger.warning(
                "dropped %d of %d examples with no trainable token (%d dropped so far)",
                dropped,
                len(examples),
                self.dropped,
            )
        if not rows:
            raise ValueError(f"none of the {len(examples)} examples has a trainable token")
        return self.pad(rows)

    def pad(self, rows: Sequence[Mapping[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(row["input_ids"]) for row in rows)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids, attention_mask, labels = [], [], []
        for row in rows:
            fill = width - len(row["input_ids"])
            ids = list(row["input_ids"])
            seq = (ids, [1] * len(ids), list(row["labels"]))
            pads = ([self.pad_token_id] * fill, [0] * fill, [IGNORE_INDEX] * fill)
            if self.padding_side == "right":
                seq = tuple(s + p for s, p in zip(seq, pads))
            else:
                seq = tuple(p + s for s, p in zip(seq, pads))
            input_ids.append(seq[0])
            attention_mask.append(seq[1])
            labels.append(seq[2])
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
        }


def _pad_token_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id  # labels are built before padding: the real eos stays trained
    raise ValueError("the tokenizer has neither a pad token nor an eos token to pad with")
