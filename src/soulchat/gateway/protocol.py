"""The OpenAI chat-completions wire format, as far as the gateway speaks it: a request body checked
into a `ChatRequest` (or an `ApiError` that says what was wrong), and the response shapes.

What a request may hold: `model` (the one this server serves), `messages` (system/developer
messages first, then user and assistant turns alternating, ending with the user's; content a
string or a list of text parts), `stream`, `max_tokens` / `max_completion_tokens` (capped),
`temperature`, `top_p`, `n` (1 only). Other fields are accepted and ignored, as OpenAI-compatible
engines do. System messages are accepted and not passed on: the soulchat prompt format has no
system turn, and the safety layer must not be steerable from a request.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "developer", "user", "assistant")


class ApiError(Exception):
    """An answer in OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (`soulchat serve --max-body-bytes/--max-messages/--max-new-tokens`)."""

    max_body_bytes: int = 1 << 20
    max_messages: int = 200
    max_new_tokens: int = 512


@dataclass
class ChatRequest:
    model: str
    earlier: list[dict[str, str]]  # user/assistant turns before the newest user turn
    text: str  # the newest user turn
    stream: bool = False
    max_tokens: int | None = None  # already capped
    temperature: float | None = None
    top_p: float | None = None
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))


def parse_request(body: bytes, *, model: str, limits: Limits) -> ChatRequest:
    """The checked request, or ApiError(400) naming the field that is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise ApiError(400, f"the request body is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, not a {_kind(data)}")
    asked = data.get("model")
    if not isinstance(asked, str) or not asked:
        raise ApiError(400, "'model' is required: the name this server serves (GET /v1/models)", param="model")
    if asked != model:
        raise ApiError(400, f"unknown model {asked[:200]!r}: this server serves {model!r}",
                       param="model", code="model_not_found")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages")
    if len(messages) > limits.max_messages:
        raise ApiError(400, f"'messages' holds {len(messages)} messages; this server takes at most "
                       f"{limits.max_messages}", param="messages", code="too_many_messages")
    turns = _turns(messages)
    stream = data.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", param="stream")
    if data.get("n") not in (None, 1):
        raise ApiError(400, "'n' must be 1: one reply per request", param="n")
    max_tokens = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ApiError(400, f"'{name}' must be a whole number of at least 1", param=name)
        max_tokens = min(value, limits.max_new_tokens)  # capped, as the server's --max-new-tokens says
        break
    return ChatRequest(
        model=model, earlier=turns[:-1], text=turns[-1]["content"], stream=bool(stream), max_tokens=max_tokens,
        temperature=_number(data, "temperature", 0.0, 2.0), top_p=_number(data, "top_p", 0.0, 1.0, open_low=True),
    )


def _turns(messages: list) -> list[dict[str, str]]:
    """user/assistant turns, alternating, the last the user's; system/developer ones first, dropped."""
    turns: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{where} must be an object with 'role' and 'content', not a {_kind(message)}",
                           param=where)
        role = message.get("role")
        if role not in ROLES:
            shown = repr(role)[:40] if isinstance(role, str) else f"a {_kind(role)}"
            raise ApiError(400, f"{where}.role is {shown}; expected one of {', '.join(ROLES)}", param=f"{where}.role")
        content = _content(message.get("content"), f"{where}.content")
        if role in ("system", "developer"):
            if turns:
                raise ApiError(400, f"{where}: a {role} message must come before the conversation's first "
                               "user message", param=where)
            continue
        expected = "user" if not turns or turns[-1]["role"] == "assistant" else "assistant"
        if role != expected:
            raise ApiError(400, f"{where}: roles out of order: expected a {expected} message, got {role} "
                           "(user and assistant turns alternate, starting with the user's)", param=where)
        if role == "user" and not content.strip():
            raise ApiError(400, f"{where}.content is empty", param=f"{where}.content")
        turns.append({"role": role, "content": content})
    if not turns:
        raise ApiError(400, "'messages' holds no user message", param="messages")
    if turns[-1]["role"] != "user":
        raise ApiError(400, "the last message must be the user's: there is nothing to reply to", param="messages")
    return turns


def _content(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI's content parts: text only
        texts = []
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise ApiError(400, f"{where}[{index}] is not a text part ({{\"type\": \"text\", \"text\": ...}}); "
                               "this server takes text only", param=where)
            texts.append(part["text"])
        return "".join(texts)
    raise ApiError(400, f"{where} must be a string, not {'null' if content is None else 'a ' + _kind(content)}",
                   param=where)


def _number(data: dict, name: str, low: float, high: float, open_low: bool = False) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ApiError(400, f"'{name}' must be a number", param=name)
    if value < low or value > high or (open_low and value == low):
        bound = f"more than {low:g}" if open_low else f"at least {low:g}"
        raise ApiError(400, f"'{name}' must be {bound} and at most {high:g}, got {value}", param=name)
    return float(value)


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__)


# ----------------------------------------------------------------------------- responses
def completion(request: ChatRequest, content: str, soulchat: dict) -> dict[str, Any]:
    return {
        "id": request.id, "object": "chat.completion", "created": request.created, "model": request.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "soulchat": soulchat,
    }


def chunk(request: ChatRequest, delta: dict, finish_reason: str | None = None, soulchat: dict | None = None) -> bytes:
    """One server-sent event of a streamed completion."""
    payload = {
        "id": request.id, "object": "chat.completion.chunk", "created": request.created, "model": request.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if soulchat is not None:
        payload["soulchat"] = soulchat
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"


def error_event(error: ApiError) -> bytes:
    """An error after the stream began (the status line is gone): an `error` event, as OpenAI sends."""
    return b"data: " + json.dumps(error.body(), ensure_ascii=False).encode("utf-8") + b"\n\n"


DONE = b"data: [DONE]\n\n"
