"""Tokenize, mask and pad.

Two masks:

* `final` (the paper): one row per sample; only the final psychologist turn and its stop token
  are trained.
* `all` (one pass): one row per dialogue in which every psychologist turn and its stop token are
  trained and user turns are masked. A dialogue of n rounds then costs the tokens of its last
  sample instead of the n samples' n(n+1)/2 rounds. Row k of the paper's expansion is, token for
  token, a prefix of the one-pass row, so a causal model computes the same logits for it and every
  turn's loss is the same as in its own sample. The loss stays the model's token-level mean, as in
  the paper's setup (ChatGLM's script): every trained token weighs the same in both modes, so each
  psychologist turn weighs as it did, in proportion to its length. Turns that cannot join the row
  (they would be truncated, or tokenization differs at a boundary) stay separate per-turn rows.

Labels are built once per example (usable in `datasets.map` through `tokenize_function`,
TRL-style) and the collator only pads what is already built, so the real eos keeps its label even
when the pad token is the eos token.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .dialogue import DialogueFormatError, exchange_from_record, message_exchanges
from .templates import ChatTemplate, TemplateError, get_template

if TYPE_CHECKING:  # torch loads on first padding: `soulchat --help` need not wait for it
    import torch

IGNORE_INDEX = -100
MASKS = ("final", "all")

logger = logging.getLogger(__name__)


def example_parts(example: Mapping[str, Any]) -> tuple[list[tuple[str, str]], str, str]:
    """(history rounds, final user turn, target) from `{"input", "target"}` or `{"messages"}`."""
    if "messages" not in example and "input" not in example and "target" not in example:
        raise DialogueFormatError(
            f"expected keys 'input' and 'target', or 'messages', or 'input_ids' and 'labels'; "
            f"got {sorted(example)}"
        )
    return exchange_from_record(example, require_text=False)


def encode_example(
    example: Mapping[str, Any],
    tokenizer,
    template: str | ChatTemplate = "soulchat",
    max_source_length: int = 1536,
    max_target_length: int = 512,
    stats: Counter | None = None,
) -> dict[str, list[int]] | None:
    """`{"input_ids", "labels"}` for one example, or None when nothing in it can be trained."""
    history, query, target = example_parts(example)
    return _encode_turn(
        get_template(template), tokenizer, history, query, target, max_source_length, max_target_length, stats
    )


def _encode_turn(template, tokenizer, history, query, target, max_source, max_target, stats, untruncated=None):
    if not target.strip():
        if stats is not None:
            stats["dropped_empty_target"] += 1
        return None
    prompt = template.encode_prompt(tokenizer, history, query, max_length=max_source)
    reply = template.encode_target(tokenizer, target, max_length=max_target)
    truncated = bool(prompt.dropped_rounds or prompt.query_truncated or reply.truncated)
    if untruncated is not None:
        untruncated.append(not truncated)
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


def encode_dialogue(
    example: Mapping[str, Any],
    tokenizer,
    template: str | ChatTemplate,
    max_source_length: int = 1536,
    max_target_length: int = 512,
    stats: Counter | None = None,
) -> list[dict[str, list[int]]]:
    """Rows for one whole dialogue (`{"messages"}`) with every psychologist turn trained.

    The first row trains the longest run of turns that chain token for token (each turn's sample
    is a prefix of the next one's, none truncated); each remaining turn gets its own row, as in
    mask="final". Rows carry `turn_spans`: (start, end) of each trained turn in `labels`.
    """
    if "messages" not in example:
        raise DialogueFormatError(
            "mask='all' trains whole dialogues: expected {'messages': [...]}; {'input', 'target'} "
            "samples are already the paper's expansion (use mask='final')"
        )
    template = get_template(template)
    chain: dict[str, list] | None = None  # the one-pass row, grown while turns still join it
    chain_open = True
    separate = []
    for history, query, target in message_exchanges(example["messages"]):
        whole: list[bool] = []
        row = _encode_turn(
            template, tokenizer, history, query, target, max_source_length, max_target_length, stats, whole
        )
        if row is None:
            continue
        ids, start = row["input_ids"], row["labels"].count(IGNORE_INDEX)
        span = (start, len(ids))
        joins = chain_open and whole[0] and (chain is None or ids[: len(chain["input_ids"])] == chain["input_ids"])
        if joins and chain is None:
            chain = {"input_ids": ids, "labels": list(row["labels"]), "turn_spans": [span]}
        elif joins:
            # between the previous row's end and this reply: the new user turn, masked
            chain["labels"] += [IGNORE_INDEX] * (start - len(chain["labels"])) + row["labels"][start:]
            chain["input_ids"] = ids
            chain["turn_spans"].append(span)
        else:
            chain_open = False
            separate.append({**row, "turn_spans": [span]})
        if stats is not None:
            stats["one_pass_turns" if joins else "separate_turns"] += 1
    return ([chain] if chain else []) + separate


def encode_rows(
    example: Mapping[str, Any],
    tokenizer,
    template: str | ChatTemplate = "soulchat",
    max_source_length: int = 1536,
    max_target_length: int = 512,
    mask: str = "final",
    stats: Counter | None = None,
) -> list[dict[str, list[int]]]:
    """The training rows of one example under `mask` (none when nothing in it can be trained).

    Already tokenized examples (`input_ids` and `labels`) pass through as they are.
    """
    stats = stats if stats is not None else Counter()
    if "input_ids" in example and "labels" in example:
        ids, labels = list(example["input_ids"]), list(example["labels"])
        if len(ids) != len(labels):
            raise ValueError(f"input_ids ({len(ids)}) and labels ({len(labels)}) differ in length")
        if all(label == IGNORE_INDEX for label in labels):
            stats["dropped_no_labels"] += 1
            return []
        return [{"input_ids": ids, "labels": labels}]
    if mask == "all":
        rows = encode_dialogue(example, tokenizer, template, max_source_length, max_target_length, stats)
        return [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    row = encode_example(example, tokenizer, template, max_source_length, max_target_length, stats)
    return [row] if row is not None else []


def check_mask(mask: str, template: ChatTemplate, tokenizer) -> None:
    if mask not in MASKS:
        raise ValueError(f"mask={mask!r} is not supported; choose one of {MASKS}")
    if mask == "all" and not template.prefix_consistent(tokenizer):
        raise TemplateError(
            f"mask='all' (one pass per dialogue) needs a prefix-consistent template, and "
            f"{template.name!r} is not: its history does not repeat the stop token that ends a "
            "trained reply, so a sample is not a prefix of the whole dialogue. Use mask='final', or "
            "a template whose turns are closed in the history ('glm4', or 'native' with ChatML)."
        )


def tokenize_function(
    tokenizer,
    template: str | ChatTemplate = "soulchat",
    max_source_length: int = 1536,
    max_target_length: int = 512,
    mask: str = "final",
) -> Callable[[Mapping[str, list]], dict[str, list]]:
    """A batched `datasets.map` function: `dataset.map(fn, batched=True, remove_columns=...)`.

    With mask="final" each sample gives one row; with mask="all" each dialogue (`messages`) gives
    its one-pass row plus a row per turn that could not join it. Rows with nothing to train are
    dropped (the mapped dataset is shorter) and logged.
    """
    template = get_template(template)
    template.check(tokenizer)
    check_mask(mask, template, tokenizer)

    def tokenize(batch: Mapping[str, list]) -> dict[str, list]:
        columns = list(batch)
        size = len(batch[columns[0]]) if columns else 0
        out: dict[str, list] = {"input_ids": [], "labels": []}
        stats: Counter = Counter()
        for row in range(size):
            example = {column: batch[column][row] for column in columns}
            for encoded in encode_rows(
                example, tokenizer, template, max_source_length, max_target_length, mask, stats
            ):
                out["input_ids"].append(encoded["input_ids"])
                out["labels"].append(encoded["labels"])
        dropped = stats["dropped_empty_target"] + stats["dropped_no_labels"]
        if dropped:
            logger.warning("dropped %d turns or rows with no trainable token in a batch of %d", dropped, size)
        return out

    return tokenize


class SoulChatCollator:
    """Collate examples into `input_ids`, `attention_mask`, `labels` tensors.

    Examples are `{"input", "target"}` samples, `{"messages"}` whose last message is the
    psychologist's, or already tokenized `{"input_ids", "labels"}` (then only padded). With
    mask="final" labels are -100 everywhere but the final psychologist turn and its stop token;
    with mask="all" each `{"messages"}` dialogue trains every psychologist turn and may give more
    than one row (see the module docstring). `stats` counts dropped rows and truncations.
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
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        if max_source_length < 1 or max_target_length < 2:
            raise ValueError("max_source_length must be >= 1 and max_target_length >= 2")
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.template.check(tokenizer)
        check_mask(mask, self.template, tokenizer)
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

    def encode(self, example: Mapping[str, Any]) -> list[dict[str, list[int]]]:
        """The training rows of one example (see `encode_rows`)."""
        return encode_rows(
            example,
            self.tokenizer,
            self.template,
            self.max_source_length,
            self.max_target_length,
            self.mask,
            self.stats,
        )

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = []
        dropped_before = self.dropped
        for index, example in enumerate(examples):
            try:
                rows += self.encode(example)
            except DialogueFormatError as error:
                raise DialogueFormatError(f"example {index} of the batch: {error}") from error
        dropped = self.dropped - dropped_before
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
        import torch

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
