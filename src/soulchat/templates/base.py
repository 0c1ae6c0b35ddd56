"""Chat templates: how (history, user turn) becomes a prompt and a psychologist turn a trained span.

One encoding rule serves training and chat alike, so a trained prompt is token for token the prompt
the model sees at chat time:

* the prompt is rendered to pieces (text, or a special token by name) and every run of text is
  tokenized as one string, with special-token strings inside user text kept as plain text;
* the target is tokenized on its own and followed by the template's stop token, which is trained;
* history that does not fit the budget is dropped oldest round first, and round numbers restart as
  they would in a chat with the shorter history.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Sequence

from ..dialogue import History
from ..errors import SoulChatError


class TemplateError(SoulChatError, ValueError):
    """A template cannot be used with this tokenizer or these lengths."""


#: Token budgets wherever nothing else is said (training, evaluation, chat, `soulchat samples`): the
#: prompt, whose oldest history rounds are cut first, and the reply with its stop token.
MAX_SOURCE_LENGTH = 1536
MAX_TARGET_LENGTH = 512


@dataclass(frozen=True)
class Special:
    """A special token, encoded by its id rather than by tokenizing its text."""

    token: str


@dataclass(frozen=True)
class Rendered:
    """Text a tokenizer's own chat_template wrote: its special-token strings are meant as tokens
    (they come from the template, not from the user), so it is tokenized as it stands."""

    text: str


#: What a prompt is rendered to: plain text (user text included: never split into special
#: tokens), a special token by name, or a chat_template's rendered output.
Piece = str | Special | Rendered


@dataclass(frozen=True)
class PromptEncoding:
    input_ids: list[int]
    dropped_rounds: int = 0  # oldest history rounds cut to fit the budget
    query_truncated: bool = False  # the final user turn alone was too long and lost its start


@dataclass(frozen=True)
class TargetEncoding:
    input_ids: list[int]  # the reply's tokens, then the stop token
    truncated: bool = False  # the reply was longer than max_target_length


#: A placeholder dialogue of two rounds, rendered to find a template's structure (its special
#: tokens, its stop, whether a sample is a prefix of the whole dialogue).
PROBE = (("U1", "P1"), ("U2", "P2"))


class ChatTemplate:
    """Base for the built-in formats. Subclasses say how rounds render; this class encodes them."""

    name: str = ""
    description: str = ""

    # -- format (subclasses) --------------------------------------------------
    def prefix(self, tokenizer=None) -> list[Piece]:
        return []

    def history_round(self, index: int, user: str, psychologist: str) -> list[Piece]:
        raise NotImplementedError

    def query(self, index: int, user: str) -> list[Piece]:
        raise NotImplementedError

    def stop_token(self, tokenizer=None) -> str:
        """The token trained after the psychologist's reply, which ends generation."""
        return eos_token(tokenizer, self.name)

    def stop_pieces(self, tokenizer=None) -> list[Piece]:
        """How the stop token is encoded after the reply: by its id."""
        return [Special(self.stop_token(tokenizer))]

    # -- rendering --------------------------------------------------------------
    def prompt_pieces(self, history: History, query: str, tokenizer=None) -> list[Piece]:
        pieces = list(self.prefix(tokenizer))
        for index, (user, psychologist) in enumerate(history):
            pieces += self.history_round(index, user, psychologist)
        return pieces + self.query(len(history), query)

    def render_prompt(self, history: History, query: str, tokenizer=None) -> str:
        """The prompt as text, special tokens written out (for reading and for debugging)."""
        return "".join(_text(p) for p in self.prompt_pieces(history, query, tokenizer))

    def render_target(self, target: str, tokenizer=None) -> str:
        """The trained span as text: the psychologist's turn followed by the stop token."""
        return target + self.stop_token(tokenizer)

    def special_tokens(self, tokenizer=None) -> list[str]:
        """Every special token this template writes, in order of first use."""
        pieces = self.prompt_pieces([PROBE[0]], PROBE[1][0], tokenizer)
        tokens = [p.token for p in pieces if isinstance(p, Special)] + [self.stop_token(tokenizer)]
        return list(dict.fromkeys(tokens))

    def prefix_consistent(self, tokenizer=None) -> bool:
        """True when a sample's rendering (stop token included) is a prefix of the rendering of
        the whole dialogue, so that one sequence per dialogue can train every turn at once."""
        (u1, p1), (u2, p2) = PROBE
        first = self.render_prompt([], u1, tokenizer) + self.render_target(p1, tokenizer)
        whole = self.render_prompt([(u1, p1)], u2, tokenizer) + self.render_target(p2, tokenizer)
        return whole.startswith(first)

    # -- tokenizer checks -----------------------------------------------------
    def missing_tokens(self, tokenizer) -> list[str]:
        """Special tokens of this template that the tokenizer does not encode as one token."""
        return [t for t in self.special_tokens(tokenizer) if _token_id(tokenizer, t) is None]

    def check(self, tokenizer) -> None:
        missing = self.missing_tokens(tokenizer)
        if missing:
            raise TemplateError(
                f"template {self.name!r} needs special tokens the tokenizer lacks: {missing}. "
                "Add them with soulchat.templates.add_special_tokens(tokenizer, template) and resize "
                "the model's embeddings (model.resize_token_embeddings(len(tokenizer)))."
            )

    # -- encoding -------------------------------------------------------------
    def encode_pieces(self, tokenizer, pieces: Sequence[Piece]) -> list[int]:
        ids: list[int] = []
        text: list[str] = []
        for piece in list(pieces) + [None]:
            if isinstance(piece, str):
                text.append(piece)
                continue
            if text:
                ids += encode_text(tokenizer, "".join(text))
                text = []
            if isinstance(piece, Rendered):
                ids += tokenizer(piece.text, add_special_tokens=False)["input_ids"]
            elif piece is not None:
                token_id = _token_id(tokenizer, piece.token)
                if token_id is None:
                    self.check(tokenizer)
                ids.append(token_id)
        return ids

    def encode_prompt(
        self, tokenizer, history: History, query: str, max_length: int | None = None
    ) -> PromptEncoding:
        """Token ids of the prompt; with `max_length`, the oldest rounds are cut to fit it."""
        history = list(history)

        def encode(start: int, text: str = query) -> list[int]:
            return self.encode_pieces(tokenizer, self.prompt_pieces(history[start:], text, tokenizer))

        ids = encode(0)
        if max_length is None or len(ids) <= max_length:
            return PromptEncoding(ids)
        # Guess how many rounds to drop from each round's own length, then step to the exact answer.
        sizes = [len(self.encode_pieces(tokenizer, self.history_round(i, u, p))) for i, (u, p) in enumerate(history)]
        excess, drop = len(ids) - max_length, 0
        while drop < len(history) and excess > 0:
            excess -= sizes[drop]
            drop += 1
        fits = {}

        def fits_at(start: int) -> bool:
            if start not in fits:
                fits[start] = len(encode(start)) <= max_length
            return fits[start]

        while drop > 0 and fits_at(drop - 1):
            drop -= 1
        while drop < len(history) and not fits_at(drop):
            drop += 1
        if drop < len(history) or fits_at(drop):
            return PromptEncoding(encode(drop), dropped_rounds=drop)
        return self._encode_cut_query(tokenizer, query, max_length, len(history))

    def _encode_cut_query(self, tokenizer, query: str, max_length: int, dropped: int) -> PromptEncoding:
        """No history left and the user turn alone is too long: keep its end (the newest words)."""

        def encode(start: int) -> list[int]:
            return self.encode_pieces(tokenizer, self.prompt_pieces([], query[start:], tokenizer))

        if len(encode(len(query))) > max_length:
            raise TemplateError(
                f"max_source_length={max_length} is shorter than template {self.name!r}'s own "
                f"tokens ({len(encode(len(query)))}) without any user text"
            )
        low, high = 0, len(query)  # smallest start whose prompt fits: binary search on characters
        while low < high:
            middle = (low + high) // 2
            if len(encode(middle)) <= max_length:
                high = middle
            else:
                low = middle + 1
        return PromptEncoding(encode(low), dropped_rounds=dropped, query_truncated=low > 0)

    def encode_target(self, tokenizer, target: str, max_length: int | None = None) -> TargetEncoding:
        """Token ids of the trained span: target tokens (cut to the budget) plus the stop token."""
        stop_ids = self.encode_pieces(tokenizer, self.stop_pieces(tokenizer))
        ids = encode_text(tokenizer, target)
        room = len(ids)
        if max_length is not None:
            if max_length <= len(stop_ids):
                raise TemplateError(f"max_target_length={max_length} leaves no room for the target")
            room = max_length - len(stop_ids)
        return TargetEncoding(ids[:room] + stop_ids, truncated=len(ids) > room)

    def __repr__(self) -> str:
        return f"<ChatTemplate {self.name}>"


def _text(piece: Piece) -> str:
    if isinstance(piece, Special):
        return piece.token
    return piece.text if isinstance(piece, Rendered) else piece


def eos_token(tokenizer, name: str) -> str:
    """The tokenizer's eos token, which template `name` ends replies with."""
    if tokenizer is None:
        return "<eos>"  # placeholder for structural checks without a tokenizer
    if not tokenizer.eos_token:
        raise TemplateError(
            f"template {name!r} ends each reply with the tokenizer's eos token, and this tokenizer "
            "has none: set tokenizer.eos_token"
        )
    return tokenizer.eos_token


def encode_text(tokenizer, text: str) -> list[int]:
    """Ids of plain text; special-token strings inside it stay text."""
    # split_special_tokens: a user who types "<|user|>" must not forge a turn boundary
    return tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def _token_id(tokenizer, token: str) -> int | None:
    """The id of `token` when the tokenizer has it as one added (special) token, else None."""
    return _per_tokenizer(tokenizer, "added", tokenizer.get_added_vocab).get(token)


def leading_special_tokens(tokenizer) -> list[str]:
    """The special tokens this tokenizer puts in front of any text by itself (a Llama-style BOS)."""

    def compute() -> list[str]:
        plain = tokenizer("用户", add_special_tokens=False)["input_ids"]
        full = tokenizer("用户", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return tokenizer.convert_ids_to_tokens(full[:start])
        return []

    return _per_tokenizer(tokenizer, "leading", compute)


_TOKENIZER_FACTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _per_tokenizer(tokenizer, key: str, compute):
    # Facts about a tokenizer are asked for every sample; recompute only when tokens were added.
    facts = _TOKENIZER_FACTS.setdefault(tokenizer, {})
    stamp = len(tokenizer)
    if facts.get(key, (None, None))[0] != stamp:
        facts[key] = (stamp, compute())
    return facts[key][1]
