"""Dialogues between a person who seeks support (the user) and a psychologist.

A `Dialogue` is the unit every stage shares: the rewrite step parses LLM output into one, the corpus
stores it as `messages`, the templates render it for training and chat. Training samples follow the
paper (Chen et al., 2023, §2.2): one sample per psychologist turn, whose input is the whole history
rendered `用户：u1\\n心理咨询师：p1\\n…用户：uN\\n心理咨询师：` and whose target is that turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .errors import SoulChatError

USER = "user"
PSYCHOLOGIST = "psychologist"
ROLES = (USER, PSYCHOLOGIST)

#: Earlier rounds of a conversation, oldest first: (user turn, psychologist turn) pairs. What the
#: chat templates render, what chat sessions keep and what evaluation examples carry.
History = Sequence[tuple[str, str]]

#: Label used when rendering each role in the paper's plain format.
LABELS = {USER: "用户", PSYCHOLOGIST: "心理咨询师"}

# Labels seen in LLM rewrites, SMILE (求助者/支持者) and English dumps. Longest first so that
# 心理咨询师 wins over 咨询师 in the alternation.
_ALIASES = {
    "用户": USER,
    "求助者": USER,
    "来访者": USER,
    "user": USER,
    "client": USER,
    "心理咨询师": PSYCHOLOGIST,
    "咨询师": PSYCHOLOGIST,
    "支持者": PSYCHOLOGIST,
    "psychologist": PSYCHOLOGIST,
    "counselor": PSYCHOLOGIST,
    "counsellor": PSYCHOLOGIST,
}
_ALIAS_PATTERN = "|".join(sorted(map(re.escape, _ALIASES), key=len, reverse=True))

# A labelled line: optional markdown heading or quote ("###", ">"), optional list marker ("1.",
# "2、", "-", "*"), optional markdown emphasis around
# the label and/or the colon, the label, a full-width or ASCII colon, then the turn's first line.
_LABEL_LINE = re.compile(
    r"^\s*(?:(?:#{1,6}|>)\s*)?(?:(?:\d{1,3}\s*[.、)）]|[-*•])\s*)?"
    r"[*_]{0,2}\s*(?P<label>" + _ALIAS_PATTERN + r")\s*[*_]{0,2}\s*[：:]\s*[*_]{0,2}"
    r"(?P<content>.*)$",
    re.IGNORECASE,
)
# A role label inside a turn's text means two turns were glued together (a parse or rewrite error).
# English labels count only at a line start: "client:" in running text is too common to flag.
_LEAKED_LABEL = re.compile(
    r"(?:用户|求助者|来访者|心理咨询师|咨询师|支持者)\s*[：:]"
    r"|(?:^|\n)\s*(?:user|client|psychologist|counse(?:l)?lor)\s*:",
    re.IGNORECASE,
)

_MESSAGE_ROLES = {
    "user": USER,
    "client": USER,
    "assistant": PSYCHOLOGIST,
    "counselor": PSYCHOLOGIST,
    "counsellor": PSYCHOLOGIST,
    "psychologist": PSYCHOLOGIST,
}
_MESSAGE_ROLE_OUT = {USER: "user", PSYCHOLOGIST: "assistant"}


class DialogueFormatError(SoulChatError, ValueError):
    """Text or messages that cannot be read as a dialogue, or a dialogue that fails validation."""


class Problem(str):
    """One reason a dialogue is not a clean training dialogue: the message (a `str`, readable) with
    a stable `code` (what the cleaning report counts; rewording a message never changes it)."""

    code: str

    def __new__(cls, code: str, message: str) -> Problem:
        problem = super().__new__(cls, message)
        problem.code = code
        return problem

    def __repr__(self) -> str:
        return f"Problem({self.code!r}, {str(self)!r})"


#: Every `Problem.code`, with what it means.
PROBLEM_CODES = {
    "empty_turn": "a turn has no text (or the dialogue has no turn at all)",
    "not_user_first": "the first turn is not the user's",
    "not_psychologist_last": "the last turn is not the psychologist's",
    "not_alternating": "two turns in a row have the same role",
    "leaked_role_label": "a role label such as 心理咨询师： inside a turn's text",
    "too_few_rounds": "fewer rounds than the minimum",
    "too_many_rounds": "more rounds than the maximum",
}


@dataclass(frozen=True)
class Turn:
    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise DialogueFormatError(f"unknown turn role {self.role!r}: expected one of {ROLES}")
        if not isinstance(self.content, str):
            raise DialogueFormatError(
                f"turn content must be a string, got {type(self.content).__name__}"
            )


@dataclass
class Dialogue:
    turns: list[Turn]
    id: int | str | None = None
    topic: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_text(
        cls, text: str, *, id: int | str | None = None, topic: str | None = None
    ) -> Dialogue:
        """Parse labelled turns (`用户：…` / `心理咨询师：…` and aliases) from an LLM rewrite or a dump.

        A line without a label continues the current turn; text before the first label (a model's
        preamble or step-by-step analysis) is kept in `meta["preamble"]`, not in a turn.
        """
        if not isinstance(text, str):
            raise DialogueFormatError(f"expected text (str), got {type(text).__name__}")
        turns: list[tuple[str, list[str]]] = []
        preamble: list[str] = []
        for line in text.splitlines():
            match = _LABEL_LINE.match(line)
            if match:
                role = _ALIASES[match["label"].lower()]
                turns.append((role, [match["content"].strip()]))
            elif turns:
                turns[-1][1].append(line.strip())
            elif line.strip():
                preamble.append(line.strip())
        if not turns:
            shown = text.strip()[:60]
            raise DialogueFormatError(
                "no turn found: expected lines starting with a role label such as '用户：' or "
                f"'心理咨询师：' (aliases 求助者/来访者/支持者/咨询师/User/Client/Psychologist/Counselor); "
                f"text starts with {shown!r}" if shown else "no turn found: the text is empty"
            )
        meta = {"preamble": "\n".join(preamble)} if preamble else {}
        return cls(
            [Turn(role, "\n".join(l for l in lines if l)) for role, lines in turns],
            id=id,
            topic=topic,
            meta=meta,
        )

    @classmethod
    def from_messages(
        cls,
        messages: Iterable[Mapping[str, Any] | str],
        *,
        id: int | str | None = None,
        topic: str | None = None,
    ) -> Dialogue:
        """Read `[{"role", "content"}]` messages: user/assistant (SoulChatCorpus), client/counselor
        (SMILE), or strings prefixed with a role label (SMILE's older release: `求助者：…`)."""
        turns: list[Turn] = []
        meta: dict[str, Any] = {}
        for index, message in enumerate(messages):
            if isinstance(message, str):
                match = _LABEL_LINE.match(message.split("\n", 1)[0])
                if not match:
                    raise DialogueFormatError(
                        f"message {index}: string without a role label such as '求助者：' or '支持者：'"
                    )
                rest = message.split("\n", 1)[1:] or [""]
                content = "\n".join(p for p in (match["content"].strip(), rest[0].strip()) if p)
                turns.append(Turn(_ALIASES[match["label"].lower()], content))
                continue
            if not isinstance(message, Mapping):
                raise DialogueFormatError(
                    f"message {index}: expected an object with 'role' and 'content', "
                    f"got {type(message).__name__}"
                )
            if "role" not in message or "content" not in message:
                raise DialogueFormatError(f"message {index}: missing 'role' or 'content'")
            role, content = message["role"], message["content"]
            if not isinstance(content, str):
                raise DialogueFormatError(
                    f"message {index}: 'content' must be a string, got {type(content).__name__}"
                )
            key = role.lower() if isinstance(role, str) else role
            if key == "system":
                meta["system"] = content
            elif key in _MESSAGE_ROLES:
                turns.append(Turn(_MESSAGE_ROLES[key], content.strip()))
            else:
                raise DialogueFormatError(
                    f"message {index}: unknown role {role!r}; expected user/assistant, "
                    "client/counselor or system"
                )
        if not turns:
            raise DialogueFormatError("no user or psychologist message found")
        return cls(turns, id=id, topic=topic, meta=meta)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Dialogue:
        """Read a released SoulChatCorpus record: `{"id", "topic", "messages"}`."""
        if not isinstance(record, Mapping) or "messages" not in record:
            raise DialogueFormatError("expected an object with a 'messages' list")
        if not isinstance(record["messages"], list):
            raise DialogueFormatError(
                f"'messages' must be a list, got {type(record['messages']).__name__}"
            )
        topic = record.get("topic")
        if topic is not None and not isinstance(topic, str):
            raise DialogueFormatError(f"'topic' must be a string, got {type(topic).__name__}")
        return cls.from_messages(record["messages"], id=record.get("id"), topic=topic)

    # ---------------------------------------------------------------- rendering
    def to_text(self) -> str:
        return "\n".join(f"{LABELS[t.role]}：{t.content}" for t in self.turns)

    def to_messages(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.meta["system"]}] if "system" in self.meta else []
        return system + [
            {"role": _MESSAGE_ROLE_OUT[t.role], "content": t.content} for t in self.turns
        ]

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "topic": self.topic, "messages": self.to_messages()}

    # --------------------------------------------------------------- validation
    @property
    def rounds(self) -> int:
        """Psychologist turns that answer a user turn: the number of training samples."""
        return sum(
            1
            for before, turn in zip(self.turns, self.turns[1:])
            if before.role == USER and turn.role == PSYCHOLOGIST
        )

    def problems(self, min_rounds: int | None = None, max_rounds: int | None = None) -> list[Problem]:
        """Everything that keeps this dialogue from being a clean training dialogue: readable
        messages, each with its `code` (see PROBLEM_CODES)."""
        found: list[Problem] = []
        if not self.turns:
            return [Problem("empty_turn", "has no turns")]
        if self.turns[0].role != USER:
            found.append(Problem("not_user_first", "does not start with a user turn"))
        if self.turns[-1].role != PSYCHOLOGIST:
            found.append(Problem("not_psychologist_last", "does not end with a psychologist turn"))
        for number, (before, turn) in enumerate(zip(self.turns, self.turns[1:]), start=2):
            if before.role == turn.role:
                found.append(Problem("not_alternating", f"turns {number - 1} and {number} are both {turn.role} turns"))
        for number, turn in enumerate(self.turns, start=1):
            if not turn.content.strip():
                found.append(Problem("empty_turn", f"turn {number} ({turn.role}) is empty"))
            leaked = _LEAKED_LABEL.search(turn.content)
            if leaked:
                found.append(Problem("leaked_role_label", f"turn {number} ({turn.role}) contains a role label "
                                     f"{leaked.group().strip()!r} inside its text"))
        rounds = self.rounds
        if min_rounds is not None and rounds < min_rounds:
            found.append(Problem("too_few_rounds", f"has {rounds} rounds, fewer than the minimum {min_rounds}"))
        if max_rounds is not None and rounds > max_rounds:
            found.append(Problem("too_many_rounds", f"has {rounds} rounds, more than the maximum {max_rounds}"))
        return found

    def validate(self, min_rounds: int | None = None, max_rounds: int | None = None) -> Dialogue:
        found = self.problems(min_rounds=min_rounds, max_rounds=max_rounds)
        if found:
            name = f"dialogue {self.id}" if self.id is not None else "dialogue"
            raise DialogueFormatError(f"{name}: " + "; ".join(found))
        return self

    # ------------------------------------------------------------------ samples
    def exchanges(self) -> list[tuple[list[tuple[str, str]], str, str]]:
        """(history rounds, user turn, psychologist turn) for each psychologist turn after a user turn.

        History is a list of (user, psychologist) pairs, what the chat templates render. It needs
        strictly alternating turns; call `validate()` first for a readable error.
        """
        result = []
        history: list[tuple[str, str]] = []
        pending_user: str | None = None
        for number, turn in enumerate(self.turns, start=1):
            if turn.role == USER:
                if pending_user is not None:
                    raise DialogueFormatError(f"turns {number - 1} and {number} are both user turns")
                pending_user = turn.content
            elif pending_user is not None:
                result.append((list(history), pending_user, turn.content))
                history.append((pending_user, turn.content))
                pending_user = None
            elif number > 1:
                raise DialogueFormatError(
                    f"turns {number - 1} and {number} are both psychologist turns"
                )
        return result

    def samples(self) -> list[dict[str, str]]:
        """One `{"input", "target"}` sample per psychologist turn, with the paper's input formula."""
        return [
            {"input": render_input(history, query), "target": target}
            for history, query, target in self.exchanges()
        ]


def render_input(history: Iterable[tuple[str, str]], query: str) -> str:
    """The paper's model input: `用户：u1\\n心理咨询师：p1\\n…用户：uN\\n心理咨询师：`."""
    rounds = [f"{LABELS[USER]}：{u}\n{LABELS[PSYCHOLOGIST]}：{p}" for u, p in history]
    return "\n".join(rounds + [f"{LABELS[USER]}：{query}\n{LABELS[PSYCHOLOGIST]}："])


def parse_input(text: str) -> tuple[list[tuple[str, str]], str]:
    """Inverse of `render_input`: (history rounds, final user turn) from a sample's input."""
    turns = Dialogue.from_text(text).turns
    roles = [t.role for t in turns]
    expected = [USER, PSYCHOLOGIST] * (len(turns) // 2)
    if len(turns) % 2 or roles != expected or turns[-1].content:
        raise DialogueFormatError(
            "a sample input must alternate 用户/心理咨询师 turns, starting with 用户 and ending "
            "with an empty '心理咨询师：'"
        )
    history = [(turns[i].content, turns[i + 1].content) for i in range(0, len(turns) - 2, 2)]
    return history, turns[-2].content


# ------------------------------------------------------------------ conversions
def history_messages(history: History, query: str | None = None, reply: str | None = None) -> list[dict[str, str]]:
    """OpenAI-style `messages` (user/assistant) for `history`, then the user's `query` and the
    psychologist's `reply` when given: what endpoints are sent and chat templates render."""
    messages = []
    for user, psychologist in history:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": psychologist}]
    if query is not None:
        messages.append({"role": "user", "content": query})
    if reply is not None:
        messages.append({"role": "assistant", "content": reply})
    return messages


def message_rounds(messages: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[str, str]], str | None]:
    """(rounds, pending) from chat messages as a chat page or an API client sends them: each user
    message answered by an assistant message makes a round; `pending` is a final user message
    not yet answered (None when there is none). Lenient on purpose: a system message or an
    assistant message without a user turn before it is skipped, content given as a list of parts
    (gradio, OpenAI multimodal) is joined to text."""
    rounds: list[tuple[str, str]] = []
    pending = None
    for message in messages:
        content = _message_text(message.get("content"))
        if message.get("role") == "user":
            pending = content
        elif message.get("role") == "assistant" and pending is not None:
            rounds.append((pending, content))
            pending = None
    return rounds, pending


def _message_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return "" if content is None else str(content)


def message_exchanges(messages: Any) -> list[tuple[list[tuple[str, str]], str, str]]:
    """`Dialogue.exchanges()` of a dialogue given as messages that must alternate user/assistant,
    user first, the psychologist (assistant) last: a training or test dialogue."""
    if not isinstance(messages, list):
        raise DialogueFormatError(f"'messages' must be a list, got {type(messages).__name__}")
    dialogue = Dialogue.from_messages(messages)
    roles = [turn.role for turn in dialogue.turns]
    if len(roles) % 2 or roles != [USER, PSYCHOLOGIST] * (len(roles) // 2):
        raise DialogueFormatError(
            "messages must alternate user/assistant, starting with user and ending with the "
            "psychologist's (assistant) turn: the reply to train on or to compare with"
        )
    return dialogue.exchanges()


def exchange_from_record(record: Any, *, require_text: bool = True) -> tuple[list[tuple[str, str]], str, str]:
    """(history rounds, final user turn, psychologist's reply) of one sample record: the paper's
    `{"input", "target"}` or `{"messages"}` ending with the psychologist's (assistant) turn. The
    one reading of a sample for training, evaluation and the collator; DialogueFormatError says
    what is wrong. With `require_text`, an empty input or target is an error too (the collator
    passes False: it drops and counts an empty target instead)."""
    if not isinstance(record, Mapping):
        raise DialogueFormatError(f"expected an object, got {type(record).__name__}")
    if "messages" in record:
        return message_exchanges(record["messages"])[-1]
    if "input" in record or "target" in record:
        for name in ("input", "target"):
            value = record.get(name)
            if not isinstance(value, str) or (require_text and not value.strip()):
                got = "missing" if name not in record else "empty" if isinstance(value, str) else type(value).__name__
                raise DialogueFormatError(f"'{name}' must be a non-empty string, got {got}")
        history, query = parse_input(record["input"])
        return history, query, record["target"]
    raise DialogueFormatError(f"expected {{input, target}} or {{messages}}, got keys {sorted(record)}")
