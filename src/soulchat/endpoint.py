"""How every command talks to an OpenAI-compatible endpoint: rewrite, eval, judge, chat and web.

One policy, whatever the command:

* a request has a timeout (`--timeout`, default 180 s) and up to `--max-attempts` tries (default 4);
  timeouts, connection errors, 408/409/429/5xx and answers without text are tried again after a
  jittered exponential back-off (a 429 waits as long as the server's headers say);
* 400/413/422 are the request's own fault: that request fails at once, the run goes on;
  401/403/404 (key, permission, model name) and 429 `insufficient_quota` stop the run;
* a 200 answer without text (`choices: []`, `content: null`, no `choices`, not JSON at all) is a
  failed request, never an empty result: nothing is recorded as done that has no text;
* a failed request is described in one line naming the endpoint and the cause, and the command
  prints it on screen (not only into its results file);
* a run stops once `Breaker.limit` requests in a row have failed (after their own retries): a
  dead endpoint costs seconds, not one timeout per row.

The rewrite runner applies the same rules in its async pool (soulchat.rewrite.runner).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import SoulChatError

#: how long one request may take, and how many tries it gets (`--timeout`, `--max-attempts`)
DEFAULT_TIMEOUT = 180.0
DEFAULT_ATTEMPTS = 4
#: the request itself is bad: asking again gives the same answer
ROW_FATAL = frozenset({400, 413, 422})
#: nothing will work (key, permission, model name): the run stops
RUN_FATAL = frozenset({401, 403, 404})
BACKOFF_BASE, BACKOFF_MAX = 1.0, 30.0


class EmptyAnswer(SoulChatError, ValueError):
    """A 200 answer that holds no text; `usage` is what the server says it billed for it."""

    def __init__(self, reason: str, usage: dict | None = None, model: str | None = None):
        super().__init__(reason)
        self.usage, self.model = usage, model


class RequestFailed(SoulChatError, RuntimeError):
    """A request that failed for good. `kind`: "retry" (worth another try later), "request" (this
    request is bad), "run" (no request will work: stop)."""

    def __init__(self, where: str, cause: str, kind: str, status: int | None = None, delay: float | None = None):
        super().__init__(f"{where}: {cause}")
        self.where, self.cause, self.kind, self.status, self.delay = where, cause, kind, status, delay


@dataclass
class Answer:
    text: str
    finish_reason: str | None = None
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


def parse_answer(data: Any) -> Answer:
    """The text of a chat completion (parsed JSON, or the raw body); EmptyAnswer says what is missing."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise EmptyAnswer("the answer is not JSON (an error page from a proxy?)") from None
    if not isinstance(data, dict):
        raise EmptyAnswer(f"the answer is a JSON {type(data).__name__}, not a chat completion object")
    usage = _usage(data.get("usage"))
    model = data.get("model") if isinstance(data.get("model"), str) else None
    if "choices" not in data:
        detail = data.get("error") if isinstance(data.get("error"), (str, dict)) else None
        raise EmptyAnswer("the answer has no 'choices'" + (f" (error: {_error_message(detail)})" if detail else ""),
                          usage, model)
    choices = data["choices"]
    if not isinstance(choices, list) or not choices:
        raise EmptyAnswer("the answer has an empty 'choices' list", usage, model)
    first = choices[0] if isinstance(choices[0], dict) else {}
    finish = first.get("finish_reason") if isinstance(first.get("finish_reason"), str) else None
    message = first.get("message") if isinstance(first.get("message"), dict) else {}
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        shown = "null" if content is None else "empty" if isinstance(content, str) else f"a {type(content).__name__}"
        raise EmptyAnswer(f"choices[0].message.content is {shown}" + (f" (finish_reason {finish})" if finish else ""),
                          usage, model)
    return Answer(content, finish, model, usage)


def _usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    out = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        try:
            out[key] = int(usage.get(key) or 0)
        except (TypeError, ValueError):
            out[key] = 0
    return out


def _error_message(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return str(error)


def describe(error: BaseException) -> str:
    """The cause of a failed request in a few words (no traceback, no client internals)."""
    import openai

    if isinstance(error, RequestFailed):
        return error.cause
    if isinstance(error, EmptyAnswer):
        return f"answer without text: {error}"
    if isinstance(error, openai.APITimeoutError):
        return "no answer within the timeout (--timeout)"
    if isinstance(error, openai.APIConnectionError):
        root = error
        while root.__cause__ is not None:
            root = root.__cause__
        return f"cannot connect ({root})" if root is not error else "cannot connect"
    if isinstance(error, openai.APIStatusError):
        body = error.body
        message = _error_message(body.get("error", body)) if isinstance(body, dict) else (str(body or "") or error.message)
        return f"HTTP {error.status_code}: {message}"
    return f"{type(error).__name__}: {error}"


def classify(error: BaseException) -> str:
    """"retry", "request" or "run" (see RequestFailed)."""
    import openai

    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status == 429 and is_quota(error):
            return "run"
        if status in RUN_FATAL:
            return "run"
        if status in ROW_FATAL:
            return "request"
        return "retry"
    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError, EmptyAnswer)):
        return "retry"
    return "request"


def is_quota(error) -> bool:
    return "insufficient_quota" in {getattr(error, "code", None), getattr(error, "type", None)}


def delay_for(error: BaseException, attempt: int) -> float:
    """Seconds to wait before try `attempt + 1`: the server's retry headers on a 429, else back-off."""
    from .rewrite.limits import backoff, retry_delay

    response = getattr(error, "response", None)
    if getattr(error, "status_code", None) == 429 and response is not None:
        asked = retry_delay(response.headers)
        if asked is not None:
            return asked
    return backoff(attempt, BACKOFF_BASE, BACKOFF_MAX)


def client(base_url: str | None, *, timeout: float, api_key: str | None = None):
    """A synchronous OpenAI client with this policy's timeout and no hidden retries of its own."""
    import openai

    from .commands._common import api_key as default_key

    return openai.OpenAI(base_url=base_url, api_key=api_key or default_key(), timeout=timeout, max_retries=0)


def where(client_or_url: Any) -> str:
    base = client_or_url if isinstance(client_or_url, str) else str(getattr(client_or_url, "base_url", "") or "")
    return base.rstrip("/") + "/chat/completions"


def complete(client, body: dict[str, Any], *, attempts: int, sleep=time.sleep) -> Answer:
    """One chat completion under the policy: retried, checked for text; RequestFailed when it fails."""
    import httpx2

    for attempt in range(attempts):
        try:
            response = client.post("/chat/completions", cast_to=httpx2.Response, body=body)
            return parse_answer(response.content)
        except Exception as error:  # noqa: BLE001 - classified below; unknown errors fail this request only
            kind = classify(error)
            if kind != "retry" or attempt + 1 >= attempts:
                cause = describe(error) + (f" (after {attempts} tries)" if kind == "retry" and attempts > 1 else "")
                failed = RequestFailed(where(client), cause, kind, getattr(error, "status_code", None))
                failed.usage = getattr(error, "usage", None)
                raise failed from error
            sleep(delay_for(error, attempt))
    raise AssertionError("unreachable")  # pragma: no cover


class Breaker:
    """Stops a run that cannot succeed: at once on a "run" failure, or after `limit` requests in a
    row failed for good. Thread-safe; `reason` says why it tripped (None while closed)."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = max(1, limit)
        self.in_a_row = 0
        self.reason: str | None = None
        self._lock = threading.Lock()

    def success(self) -> None:
        with self._lock:
            self.in_a_row = 0

    def failure(self, failed: RequestFailed) -> None:
        with self._lock:
            self.in_a_row += 1
            if self.reason is None and failed.kind == "run":
                self.reason = f"{failed}: no request can succeed; check the key, base URL and model name"
            elif self.reason is None and self.in_a_row >= self.limit:
                self.reason = f"{self.in_a_row} requests in a row failed, the last with {failed}"

    @property
    def tripped(self) -> bool:
        return self.reason is not None


def first_causes(failures: list[str], shown: int = 3) -> str:
    """The distinct causes of failed requests, most frequent first, for the screen."""
    from collections import Counter

    counts = Counter(failures)
    lines = [f"{n}× {cause}" if n > 1 else cause for cause, n in counts.most_common(shown)]
    more = len(counts) - shown
    return "; ".join(lines) + (f"; and {more} other cause(s)" if more > 0 else "")
