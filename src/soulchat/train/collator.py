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

One function, `encode(example, tokenizer, settings)`, turns an example into `TrainingRow`s; the
collator (`SoulChatCollator`, which also pads) and the `datasets.map` helper (`tokenize_function`)
are built on it. Labels are built once per example (TRL-style) and the collator only pads what is
already built, so the real eos keeps its label even when the pad token is the eos token.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..dialogue import DialogueFormatError, exchange_from_record, message_exchanges
from ..templates import MAX_SOURCE_LENGTH, MAX_TARGET_LENGTH, ChatTemplate, TemplateError, get_template

if TYPE_CHECKING:  # torch loads on first padding: `soulchat --help` need not wait for it
    import torch

IGNORE_INDEX = -100
MASKS = ("final", "all")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodingSettings:
    """How examples become training rows: the chat template, the token budgets and the mask."""

    template: str | ChatTemplate = "soulchat"
    max_source_length: int = MAX_SOURCE_LENGTH  # prompt budget: the oldest history rounds go first
    max_target_length: int = MAX_TARGET_LENGTH  # reply budget, stop token included
    mask: str = "final"  # "final": the last psychologist turn (the paper); "all": every one (one pass)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", get_template(self.template))
        if self.mask not in MASKS:
            raise ValueError(f"mask={self.mask!r} is not supported; choose one of {MASKS}")
        if self.max_source_length < 1 or self.max_target_length < 2:
            raise ValueError("max_source_length must be >= 1 and max_target_length >= 2")

    def check(self, tokenizer) -> None:
        """The template's special tokens are in the tokenizer; mask="all" has a prefix-consistent template."""
        self.template.check(tokenizer)
        if self.mask == "all" and not self.template.prefix_consistent(tokenizer):
            raise TemplateError(
                f"mask='all' (one pass per dialogue) needs a prefix-consistent template, and "
                f"{self.template.name!r} is not: its history does not repeat the stop token that ends a "
                "trained reply, so a sample is not a prefix of the whole dialogue. Use mask='final', or "
                "a template whose turns are closed in the history ('glm4', or 'native' with ChatML)."
            )


@dataclass(frozen=True)
class TrainingRow:
    """One row to train on: token ids, their labels (IGNORE_INDEX where nothing is trained)."""

    input_ids: list[int]
    labels: list[int]
    turn_spans: tuple[tuple[int, int], ...] = ()  # (start, end) of each trained reply + stop in labels
    truncated: bool = False  # history rounds, the user turn or the reply were cut to the budgets

    def as_dict(self) -> dict[str, list[int]]:
        return {"input_ids": list(self.input_ids), "labels": list(self.labels)}


def encode(
    example: Mapping[str, Any], tokenizer, settings: EncodingSettings | str = "soulchat", stats: Counter | None = None
) -> list[TrainingRow]:
    """The training rows of one example: `{"input", "target"}`, `{"messages"}` (a dialogue ending
    with the psychologist's turn) or already tokenized `{"input_ids", "labels"}` (passed through).

    With mask="final" an example gives one row, or none when nothing in it can be trained (an empty
    target: counted in `stats`, never trained as all IGNORE_INDEX). With mask="all" a `{"messages"}`
    dialogue gives its one-pass row plus a row per turn that could not join it (module docstring).
    `settings` may be a template name for the defaults.
    """
    settings = settings if isinstance(settings, EncodingSettings) else EncodingSettings(settings)
    stats = stats if stats is not None else Counter()
    if "input_ids" in example and "labels" in example:
        ids, labels = list(example["input_ids"]), list(example["labels"])
        if len(ids) != len(labels):
            raise ValueError(f"input_ids ({len(ids)}) and labels ({len(labels)}) differ in length")
        if all(label == IGNORE_INDEX for label in labels):
            stats["dropped_no_labels"] += 1
            return []
        return [TrainingRow(ids, labels)]
    if settings.mask == "all":
        return _one_pass_rows(example, tokenizer, settings, stats)
    if "messages" not in example and "input" not in example and "target" not in example:
        raise DialogueFormatError(
            f"expected keys 'input' and 'target', or 'messages', or 'input_ids' and 'labels'; got {sorted(example)}"
        )
    row = _exchange_row(exchange_from_record(example, require_text=False), tokenizer, settings, stats)
    return [row] if row is not None else []


def _exchange_row(exchange, tokenizer, settings: EncodingSettings, stats: Counter) -> TrainingRow | None:
    """The row that trains one reply: its prompt (masked), the reply and its stop token."""
    history, query, target = exchange
    if not target.strip():
        stats["dropped_empty_target"] += 1
        return None
    template = settings.template
    prompt = template.encode_prompt(tokenizer, history, query, max_length=settings.max_source_length)
    reply = template.encode_target(tokenizer, target, max_length=settings.max_target_length)
    prompt_cut = bool(prompt.dropped_rounds or prompt.query_truncated)
    stats["examples"] += 1
    stats["dropped_history_rounds"] += prompt.dropped_rounds
    stats["truncated_prompts"] += prompt_cut
    stats["truncated_user_turns"] += prompt.query_truncated
    stats["truncated_targets"] += reply.truncated
    ids = prompt.input_ids + reply.input_ids
    return TrainingRow(ids, [IGNORE_INDEX] * len(prompt.input_ids) + reply.input_ids,
                       turn_spans=((len(prompt.input_ids), len(ids)),), truncated=prompt_cut or reply.truncated)


def _one_pass_rows(example, tokenizer, settings: EncodingSettings, stats: Counter) -> list[TrainingRow]:
    """The first row trains the longest run of turns that chain token for token (each turn's sample
    is a prefix of the next one's, none truncated); each remaining turn gets its own row, as in
    mask="final"."""
    if "messages" not in example:
        raise DialogueFormatError(
            "mask='all' trains whole dialogues: expected {'messages': [...]}; {'input', 'target'} "
            "samples are already the paper's expansion (use mask='final')"
        )
    chain: TrainingRow | None = None  # the one-pass row, grown while turns still join it
    chain_open = True
    separate = []
    for exchange in message_exchanges(example["messages"]):
        row = _exchange_row(exchange, tokenizer, settings, stats)
        if row is None:
            continue
        joins = chain_open and not row.truncated and (
            chain is None or row.input_ids[: len(chain.input_ids)] == chain.input_ids)
        if joins and chain is not None:
            # between the previous row's end and this reply: the new user turn, masked
            (start, _), = row.turn_spans
            labels = chain.labels + [IGNORE_INDEX] * (start - len(chain.labels)) + row.labels[start:]
            row = TrainingRow(row.input_ids, labels, chain.turn_spans + row.turn_spans)
        if joins:
            chain = row
        else:
            chain_open = False
            separate.append(row)
        stats["one_pass_turns" if joins else "separate_turns"] += 1
    return ([chain] if chain else []) + separate


def encode_example(example: Mapping[str, Any], tokenizer, template: str | ChatTemplate = "soulchat",
                   max_source_length: int = MAX_SOURCE_LENGTH, max_target_length: int = MAX_TARGET_LENGTH,
                   stats: Counter | None = None) -> dict[str, list[int]] | None:
    """`{"input_ids", "labels"}` of one example under mask="final", or None when nothing in it can
    be trained. Kept for existing callers; `encode` is the one encoding function."""
    rows = encode(example, tokenizer, EncodingSettings(template, max_source_length, max_target_length), stats)
    return rows[0].as_dict() if rows else None


def tokenize_function(tokenizer, template: str | ChatTemplate | EncodingSettings = "soulchat",
                      **settings) -> Callable[[Mapping[str, list]], dict[str, list]]:
    """A batched `datasets.map` function: `dataset.map(fn, batched=True, remove_columns=...)`.

    `template` is a template name (then `settings` are EncodingSettings' other fields:
    max_source_length, max_target_length, mask) or an `EncodingSettings`. Rows with nothing to
    train are dropped (the mapped dataset is shorter) and logged.
    """
    if not isinstance(template, EncodingSettings):
        template = EncodingSettings(template, **settings)
    encoding = template
    encoding.check(tokenizer)

    def tokenize(batch: Mapping[str, list]) -> dict[str, list]:
        columns = list(batch)
        size = len(batch[columns[0]]) if columns else 0
        out: dict[str, list] = {"input_ids": [], "labels": []}
        stats: Counter = Counter()
        for index in range(size):
            for row in encode({column: batch[column][index] for column in columns}, tokenizer, encoding, stats):
                out["input_ids"].append(row.input_ids)
                out["labels"].append(row.labels)
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
        max_source_length: int = MAX_SOURCE_LENGTH,
        max_target_length: int = MAX_TARGET_LENGTH,
        mask: str = "final",
        padding_side: str = "right",
        pad_to_multiple_of: int | None = None,
    ) -> None:
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        self.tokenizer = tokenizer
        self.settings = EncodingSettings(template, max_source_length, max_target_length, mask)
        self.settings.check(tokenizer)
        self.template = self.settings.template
        self.padding_side = padding_side
        self.pad_to_multiple_of = pad_to_multiple_of
        self.pad_token_id = _pad_token_id(tokenizer)
        self.stats: Counter = Counter()

    @property
    def dropped(self) -> int:
        return self.stats["dropped_empty_target"] + self.stats["dropped_no_labels"]

    def encode(self, example: Mapping[str, Any]) -> list[dict[str, list[int]]]:
        """The training rows of one example (see `encode`), as `{"input_ids", "labels"}`."""
        return [row.as_dict() for row in encode(example, self.tokenizer, self.settings, self.stats)]

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
