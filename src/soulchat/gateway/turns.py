"""One request's turn: `ChatSession.send` run in a worker thread, its chunks handed to the event loop.

The safety layer is `ChatSession`'s, unchanged: the conversation is rebuilt with
`ChatSession.from_messages` and the newest user turn goes through `send`, which runs the crisis
check (in the context of the earlier user turns), the streamed output check, the check-in and
follow-up notes, and the flag log. The gateway adds two things a front-end cannot do for itself:

* the disclosure on the first reply of a conversation (a front-end that knows nothing of soulchat
  shows it as part of the reply; it is taken out of the history again when the conversation comes
  back, so the model sees the prompt `soulchat chat` would give it);
* no model call after a crisis turn: the safe reply is the whole answer and the request never
  reaches the engine (`ChatSession` alone would append the model's checked reply to it).

Backends are synchronous (the openai client, transformers' streamer): each turn holds one thread
of a pool the size of `--concurrency`; requests beyond that wait for a thread. A turn whose client
left is cancelled: the session's generator is closed, which closes the upstream stream (or stops
generating) at the next piece.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass

from ..backends import ChatBackendError, GenerationSettings
from ..chat.session import ChatSession, ReplyChunk, TurnRecord


class _NoModelAfterSafeReply:
    """The backend as a turn sees it: after a flagged user turn it is not asked at all."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.session: ChatSession | None = None

    def stream(self, history, query, settings):
        turn = self.session.last_turn if self.session is not None else None
        if turn is not None and turn.user_category is not None:
            return iter(())  # an empty model reply: ChatSession keeps the safe reply as it is
        return self.backend.stream(history, query, settings)


def disclosure_prefix(locale: str) -> str:
    from .. import safety

    return safety.disclosure(locale) + "\n\n"


def without_disclosure(earlier: list[dict[str, str]], locale: str) -> list[dict[str, str]]:
    """The conversation as the model saw it: the disclosure this gateway put in front of the first
    reply is not part of what the psychologist said."""
    prefix = disclosure_prefix(locale)
    for index, message in enumerate(earlier):
        if message["role"] == "assistant":
            if message["content"].startswith(prefix):
                earlier = list(earlier)
                earlier[index] = {"role": "assistant", "content": message["content"][len(prefix):]}
            break
    return earlier


def summary(record: TurnRecord | None, disclosure: bool) -> dict:
    """What the safety layer did, for the `soulchat` field: categories and actions, never text."""
    category = action = None
    if record is not None:
        if record.user_category is not None:
            action, category = "safe_reply", record.user_category
        elif record.model_blocked is not None:
            action, category = "replaced", record.model_blocked
        elif getattr(record, "follow_up", False):
            action = "follow_up"
        elif record.check_in:
            action = "check_in"
        else:
            action = "passed"
    return {"action": action, "category": category, "disclosure": disclosure}


@dataclass
class Event:
    kind: str  # "chunk", "done" or "error"
    chunk: ReplyChunk | None = None
    record: TurnRecord | None = None
    error: BaseException | None = None


class Turn:
    """Runs one turn in `executor`; `events()` yields its chunks, then "done" or "error"."""

    def __init__(self, backend, earlier: list[dict[str, str]], text: str, *, settings: GenerationSettings,
                 locale: str, flag_log, session_id: str, executor: Executor) -> None:
        guarded = _NoModelAfterSafeReply(backend)
        self.session = ChatSession.from_messages(guarded, earlier, settings=settings, locale=locale,
                                                 flag_log=flag_log, session_id=session_id)
        guarded.session = self.session
        self.first = not self.session.history  # the first reply of the conversation carries the disclosure
        self.text = text
        self._cancelled = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pending: list[Event] = []  # put by the worker, not yet handed to the loop
        self._lock = threading.Lock()
        self._future = self._loop.run_in_executor(executor, self._run)

    def _put(self, event: Event) -> None:
        # One wake-up of the event loop per batch, not per piece: waking it costs a write to its
        # self-pipe and a loop iteration, a good part of the gateway's CPU per request.
        with self._lock:
            self._pending.append(event)
            if len(self._pending) > 1:
                return  # a hand-over is already scheduled and will take this one too
        try:
            self._loop.call_soon_threadsafe(self._hand_over)
        except RuntimeError:  # the server stopped while this turn was generating
            pass

    def _hand_over(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        for event in events:
            self._queue.put_nowait(event)

    def _run(self) -> None:
        if self._cancelled.is_set():
            return
        chunks = self.session.send(self.text)
        try:
            for piece in chunks:
                if self._cancelled.is_set():
                    return
                self._put(Event("chunk", chunk=piece))
        except Exception as error:  # noqa: BLE001 - reported to the client as 502/504 or an error event
            self._put(Event("error", error=error))
            return
        finally:
            chunks.close()  # closes the upstream stream / stops generating when the client left
        self._put(Event("done", record=self.session.last_turn))

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            yield event
            if event.kind != "chunk":
                return

    def ready(self) -> Event | None:
        """The next event if it has already arrived (pieces that came together go out together)."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def cancel(self) -> None:
        self._cancelled.set()
        self._future.cancel()  # not started yet: never starts


def upstream_error(error: BaseException):
    """The ApiError for a failed model: 504 when the engine did not answer in time, else 502."""
    import openai

    from .protocol import ApiError

    from ..endpoint import describe

    cause = error.__cause__
    # The cause, not the whole message: the engine's address is no business of the client's.
    said = describe(cause) if cause is not None else str(error)
    if isinstance(error, ChatBackendError) and isinstance(cause, openai.APITimeoutError):
        return ApiError(504, f"the model did not answer in time ({said})", type="upstream_timeout",
                        code="upstream_timeout")
    if isinstance(error, ChatBackendError):
        return ApiError(502, f"the model failed: {said}", type="upstream_error", code="upstream_error")
    return ApiError(502, f"the reply failed: {type(error).__name__}", type="server_error", code="reply_failed")
