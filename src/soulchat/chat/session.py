"""A multi-turn chat with a person who seeks support, guarded by the safety layer on every turn.

Per turn (whatever the backend):

1. the user's text goes through `safety.assess`, judged with the conversation's earlier user turns
   (a turn that completes a risk begun earlier is flagged; see safety/context.py); a flagged turn is answered first with the
   safe-messaging reply (feelings acknowledged, safety asked about, hotlines), and the model's own
   reply is generated in full, checked, and appended only if `safety.check_output` passes;
2. an unflagged turn streams the model's reply, checking the text shown so far on every piece: a
   reply that fails the output check stops generating and is replaced by `safety.fallback_reply`
   (an apology that re-opens listening) before the failing piece is ever shown;
   When the turn was not flagged but the crisis model saw some sign of risk (`check_in`), the
   model's reply is followed by `safety.check_in_note`: one gentle, direct question about safety
   and one hotline, at most once every CHECK_IN_GAP turns so that it never becomes a refrain;
   on the turns right after a crisis turn (`follow_up`) the reply carries `safety.follow_up_note`
   instead: the conversation does not go back to ordinary chat as if nothing had been said;
3. every flag (user turn or model reply) goes to the safety layer's flag log (`SafetyLog`; without
   text in privacy mode) and to the `soulchat.chat` logger (category and rules only).

The history keeps what the person saw, so the next prompt matches the conversation on screen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..dialogue import history_messages, message_rounds
from .backends import ChatBackendError, GenerationSettings

logger = logging.getLogger("soulchat.chat")
CHECK_IN_GAP = 4  # turns between two gentle check-ins (a safe reply counts as one)


@dataclass(frozen=True)
class ReplyChunk:
    """One streaming step of a reply."""

    text: str  # the whole reply as it should be displayed now
    delta: str  # what was appended since the previous chunk ("" when `replaced`)
    replaced: bool = False  # text shown so far was withdrawn: display `text` anew


@dataclass
class TurnRecord:
    """What happened in one turn, for the interface and for tests."""

    user: str
    reply: str = ""
    user_category: str | None = None  # crisis category of the user's turn, None when not flagged
    model_reply: str = ""  # the model's own reply as generated (shown or not)
    model_blocked: str | None = None  # category that made the output check fail, else None
    backend_error: str | None = None  # the model failed after a safe reply was already given
    check_in: bool = False  # the gentle safety question was added to the model's reply
    follow_up: bool = False  # an earlier turn was a crisis: the safety follow-up was added to the reply


@dataclass
class ChatSession:
    backend: object
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    locale: str = "zh-CN"
    flag_log: object | None = None  # a safety.SafetyLog; None: the process-wide in-memory log
    session_id: str | None = None  # tags flag records, so one conversation's flags can be found
    history: list[tuple[str, str]] = field(default_factory=list)
    last_turn: TurnRecord | None = None
    _last_safety_turn: int | None = field(default=None, repr=False)  # history index of the last safe reply / check-in

    # -- conversation ---------------------------------------------------------
    def send(self, text: str) -> Iterator[ReplyChunk]:
        """Stream the reply to `text`; the turn enters the history once the reply is complete."""
        from .. import safety

        text = text.strip()
        if not text:
            raise ValueError("empty message")
        record = TurnRecord(user=text)
        self.last_turn = record
        history = list(self.history)
        user_check = self._assess(text, [user for user, _ in history])
        record.follow_up = user_check.follow_up and not user_check.flagged
        if user_check.flagged:
            self._last_safety_turn = len(history)
            record.user_category = user_check.category
            self._flag("user", user_check, text)
            shown = safety.safe_reply(user_check, locale=self.locale)
            yield ReplyChunk(shown, shown)
            # Buffered, never streamed: after a crisis turn only a checked reply may follow.
            # The safe reply is a complete answer: a failing backend must not take it away.
            try:
                record.model_reply = "".join(self.backend.stream(history, text, self.settings)).strip()
            except ChatBackendError as error:  # any other error reaches the caller after the safe reply (web, chat)
                record.backend_error = str(error)
            verdict = safety.check_output(record.model_reply)
            if verdict.flagged:
                record.model_blocked = verdict.category
                self._flag("output", verdict, record.model_reply)
            elif record.model_reply:
                addition = "\n\n" + record.model_reply
                shown += addition
                yield ReplyChunk(shown, addition)
        else:
            shown = ""
            pieces = self.backend.stream(history, text, self.settings)
            try:
                for piece in pieces:
                    candidate = record.model_reply + piece
                    verdict = safety.check_output(candidate)
                    if verdict.flagged:
                        record.model_reply = candidate
                        record.model_blocked = verdict.category
                        self._flag("output", verdict, candidate)
                        # not a crisis turn: apologise and keep listening (hotlines only if risk-related)
                        shown = safety.fallback_reply(verdict, locale=self.locale)
                        yield ReplyChunk(shown, "", replaced=True)
                        break
                    record.model_reply = shown = candidate
                    yield ReplyChunk(shown, piece)
            finally:
                close = getattr(pieces, "close", None)
                if close:
                    close()  # stops generation when the check failed or the reader left
            # Sampling can leave leading/trailing whitespace; the history keeps the clean text.
            if record.model_blocked is None:
                shown = shown.strip()
                recent = self._last_safety_turn is not None and len(history) - self._last_safety_turn < CHECK_IN_GAP
                if record.follow_up:  # an earlier turn was a crisis: the follow-up stays in every reply for now
                    addition = ("\n\n" if shown else "") + safety.follow_up_note(self.locale)
                    shown += addition
                    yield ReplyChunk(shown, addition)
                elif user_check.check_in and not recent:
                    record.check_in = True
                    self._last_safety_turn = len(history)
                    addition = ("\n\n" if shown else "") + safety.check_in_note(self.locale)
                    shown += addition
                    yield ReplyChunk(shown, addition)
        record.reply = shown
        self.history.append((text, shown))

    def reply(self, text: str) -> str:
        """The complete reply to `text` (the non-streaming form of `send`)."""
        final = ""
        for chunk in self.send(text):
            final = chunk.text
        return final if not self.history else self.history[-1][1]

    def reset(self) -> None:
        self.history.clear()
        self.last_turn = None
        self._last_safety_turn = None

    # -- export ---------------------------------------------------------------
    def to_messages(self) -> list[dict[str, str]]:
        """The conversation as OpenAI-style messages (the corpus' `messages` shape)."""
        return history_messages(self.history)

    def save(self, path: str | Path) -> Path:
        """Write `{"messages": [...]}` as UTF-8 JSON (readable by Dialogue.from_messages)."""
        path = Path(path)
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"messages": self.to_messages()}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_messages(cls, backend, messages: list[dict], **options) -> ChatSession:
        """A session continuing a conversation given as messages (user/assistant alternating; an
        unanswered last user message is left out)."""
        history, _ = message_rounds(messages)
        return cls(backend, history=history, **options)

    # -- internals --------------------------------------------------------------
    def _assess(self, text: str, context: list[str]):
        """The crisis verdict on `text` within this conversation. Should the model fail (a broken
        install, a corrupt model file), the rules still judge the turn: there is always a verdict."""
        from .. import safety

        try:
            return safety.assess(text, context=context)
        except Exception as error:
            logger.error("crisis model failed (%s: %s); the rules alone judge this turn", type(error).__name__, error)
            return safety.assess(text, model=False)

    def _flag(self, source: str, assessment, text: str) -> None:
        from .. import safety

        try:
            safety.log_flag(assessment, text=text, source=source, log=self.flag_log, session=self.session_id)
        except Exception as error:  # noqa: BLE001 - a failing flag log must never hold back the (safe) reply
            logger.error("safety flag log failed, reply sent anyway: %s: %s", type(error).__name__, error)
        logger.info("safety flag: %s %s (rules %s)", source, assessment.category, ",".join(assessment.rules))

