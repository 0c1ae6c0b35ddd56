"""The gateway's HTTP side: a Starlette app with `POST /v1/chat/completions` (plain and streamed),
`GET /v1/models` and `GET /health`, every error in OpenAI's shape.

Each request is authenticated (when keys are set), size-checked, parsed, and answered by a `Turn`
(soulchat.gateway.turns) that runs the safety layer. What the layer did is in the `soulchat` field
of the completion (of the last chunk when streaming) and in the `X-Soulchat-Action` /
`X-Soulchat-Category` headers. The log line of a request holds its id, status, action, category
and time: never the user's text (the flag log keeps text only with --log-text).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..backends import GenerationSettings
from .protocol import DONE, ApiError, ChatRequest, Limits, chunk, completion, error_event, parse_request
from .turns import Turn, disclosure_prefix, summary, upstream_error, without_disclosure

logger = logging.getLogger("soulchat.gateway")


@dataclass
class Gateway:
    """What `soulchat serve` puts in front of a backend."""

    backend: object
    model: str  # the name clients ask for (GET /v1/models)
    api_keys: tuple[str, ...] = ()  # none: no key asked (loopback only, checked by the command)
    settings: GenerationSettings = field(default_factory=GenerationSettings)  # defaults of a request
    limits: Limits = field(default_factory=Limits)
    locale: str = "zh-CN"
    flag_log: object | None = None
    concurrency: int = 64  # turns generated at once (threads); more requests wait
    cors_origins: tuple[str, ...] = ()  # none: no CORS headers at all


def build_app(gateway: Gateway):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.routing import Route

    executor = ThreadPoolExecutor(max_workers=gateway.concurrency, thread_name_prefix="soulchat-turn")

    async def health(request):
        return _json(200, {"status": "ok", "model": gateway.model})

    async def models(request):
        return _json(200, {"object": "list", "data": [
            {"id": gateway.model, "object": "model", "created": 0, "owned_by": "soulchat"}]})

    async def chat_completions(request):
        started = time.perf_counter()
        try:
            body = await _read_body(request, gateway.limits.max_body_bytes)
            chat = parse_request(body, model=gateway.model, limits=gateway.limits)
        except ApiError as error:
            _log(None, error.status, None, started)
            return _error(error)
        turn = Turn(gateway.backend, without_disclosure(chat.earlier, gateway.locale), chat.text,
                    settings=_settings(gateway.settings, chat), locale=gateway.locale,
                    flag_log=gateway.flag_log, session_id=f"api-{chat.id[-12:]}", executor=executor)
        if chat.stream:
            return await _streamed(request, gateway, chat, turn, started)
        return await _complete(request, gateway, chat, turn, started)

    async def not_found(request, exc):
        status = getattr(exc, "status_code", 404)
        message = "method not allowed" if status == 405 else f"no route {request.url.path}"
        return _error(ApiError(status, message))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    middleware = []
    if gateway.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(gateway.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
            expose_headers=["x-soulchat-action", "x-soulchat-category"]))
    middleware.append(Middleware(KeyCheck, keys=gateway.api_keys))
    app = Starlette(
        routes=[Route("/health", health, methods=["GET"]), Route("/v1/models", models, methods=["GET"]),
                Route("/v1/chat/completions", chat_completions, methods=["POST"])],
        middleware=middleware, exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


# ----------------------------------------------------------------------------- answering
async def _complete(request, gateway: Gateway, chat: ChatRequest, turn: Turn, started: float):
    """The whole reply as one completion; a client that leaves first cancels the turn."""
    event = await _unless_gone(request, turn, _last(turn))
    if event is None:
        _log(chat, 499, None, started)
        return _json(499, {})  # nobody reads it
    if event.kind == "error":
        error = upstream_error(event.error)
        _log(chat, error.status, None, started)
        return _error(error)
    soulchat = summary(event.record, turn.first)
    content = (disclosure_prefix(gateway.locale) if turn.first else "") + event.record.reply
    _log(chat, 200, soulchat, started)
    return _json(200, completion(chat, content, soulchat), headers=_headers(soulchat))


async def _unless_gone(request, turn: Turn, awaitable):
    """The awaitable's result, or None (the turn cancelled) when the client disconnects first."""
    result = asyncio.ensure_future(awaitable)
    left = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({result, left}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        left.cancel()
        if not result.done():
            result.cancel()
            turn.cancel()
    return result.result() if result.done() and not result.cancelled() else None


async def _last(turn: Turn):
    async for event in turn.events():
        if event.kind != "chunk":
            return event


async def _disconnected(request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _streamed(request, gateway: Gateway, chat: ChatRequest, turn: Turn, started: float):
    """Server-sent events. The status is decided by the first event: a model that fails before its
    first piece is a 502/504 like a plain request; a failure later is an `error` event."""
    from starlette.responses import StreamingResponse

    events = turn.events()
    first = await _unless_gone(request, turn, events.__anext__())
    if first is None:
        _log(chat, 499, None, started)
        return _json(499, {})
    if first.kind == "error":
        error = upstream_error(first.error)
        _log(chat, error.status, None, started)
        return _error(error)
    crisis = turn.session.last_turn is not None and turn.session.last_turn.user_category is not None
    headers = {"x-soulchat-action": "safe_reply" if crisis else "model",
               "x-soulchat-category": turn.session.last_turn.user_category if crisis else "none",
               "cache-control": "no-cache"}

    async def body():
        status, soulchat, sent, pending = 200, None, False, ""
        try:
            yield chunk(chat, {"role": "assistant", "content": ""})
            event = first
            while True:
                if event.kind == "chunk":
                    piece = event.chunk
                    if piece.replaced:  # what was shown passed the check; the fallback follows it
                        delta = ("\n\n" if sent or pending else "") + piece.text
                    else:
                        delta = piece.delta
                    if turn.first and not (sent or pending):
                        delta = disclosure_prefix(gateway.locale) + delta
                    if piece.replaced:
                        if pending:
                            yield chunk(chat, {"content": pending})
                        pending, sent = "", True
                        yield chunk(chat, {"content": delta}, soulchat={"action": "replaced"})
                    else:
                        pending += delta
                elif event.kind == "error":
                    if pending:
                        yield chunk(chat, {"content": pending})
                    error = upstream_error(event.error)
                    status = error.status
                    yield error_event(error)
                    return
                else:
                    soulchat = summary(event.record, turn.first)
                    if turn.first and not (sent or pending):  # an empty reply still carries the disclosure
                        pending = disclosure_prefix(gateway.locale).rstrip()
                    if pending:
                        yield chunk(chat, {"content": pending})
                    yield chunk(chat, {}, finish_reason="stop", soulchat=soulchat)
                    yield DONE
                    return
                event = turn.ready()
                if event is None:  # nothing more yet: send what came, wait for the next piece
                    if pending:
                        yield chunk(chat, {"content": pending})
                        pending, sent = "", True
                    event = await events.__anext__()
        except BaseException:  # the client left (cancelled) or the server stops
            status = 499
            turn.cancel()
            raise
        finally:
            _log(chat, status, soulchat, started)

    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


def _settings(defaults: GenerationSettings, chat: ChatRequest) -> GenerationSettings:
    return GenerationSettings(
        top_p=defaults.top_p if chat.top_p is None else chat.top_p,
        temperature=defaults.temperature if chat.temperature is None else chat.temperature,
        max_new_tokens=chat.max_tokens or defaults.max_new_tokens,
        max_length=defaults.max_length,
    )


async def _read_body(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {declared} bytes; this server takes at most {limit}",
                       code="request_too_large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:  # a chunked body has no length to check up front
            raise ApiError(413, f"the request body is over {limit} bytes, the most this server takes",
                           code="request_too_large")
    return bytes(body)


# ----------------------------------------------------------------------------- keys, shapes, log
class KeyCheck:
    """`Authorization: Bearer KEY` on /v1/*, compared in constant time; /health stays open."""

    def __init__(self, app, keys: tuple[str, ...]) -> None:
        self.app, self.keys = app, tuple(k.encode() for k in keys)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        given = given.strip()
        ok = scheme.lower() == b"bearer" and any(hmac.compare_digest(given, key) for key in self.keys)
        if ok:
            return await self.app(scope, receive, send)
        message = ("no API key: send 'Authorization: Bearer KEY'" if not header
                   else "the API key is not one this server accepts")
        response = _error(ApiError(401, message, code="invalid_api_key"))
        await response(scope, receive, send)


def _json(status: int, payload: dict, headers: dict | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse(payload, status_code=status, headers=headers)


def _error(error: ApiError):
    return _json(error.status, error.body())


def _headers(soulchat: dict) -> dict[str, str]:
    return {"x-soulchat-action": soulchat["action"] or "none", "x-soulchat-category": soulchat["category"] or "none"}


def _log(chat: ChatRequest | None, status: int, soulchat: dict | None, started: float) -> None:
    soulchat = soulchat or {}
    logger.info("%s %s status=%d action=%s category=%s %.0fms", chat.id if chat else "-",
                "stream" if chat and chat.stream else "plain", status, soulchat.get("action"),
                soulchat.get("category"), (time.perf_counter() - started) * 1000)


def new_key() -> str:
    """A random key, for docs and tests (`python -c 'from soulchat.gateway.app import new_key; print(new_key())'`)."""
    return "sk-soulchat-" + uuid.uuid4().hex


@contextlib.contextmanager
def running(app, host: str = "127.0.0.1", port: int = 0):
    """Serve `app` with uvicorn in a thread for as long as the block runs; yields its /v1 URL
    (tests, benchmarks, notebooks; `soulchat serve` runs uvicorn in the foreground instead)."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the gateway could not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{bound[0]}:{bound[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
