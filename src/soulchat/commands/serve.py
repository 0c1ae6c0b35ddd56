"""`soulchat serve`: an OpenAI-compatible endpoint with the safety layer in front of a model."""

from __future__ import annotations

import argparse
import ipaddress
import os

from ._common import (
    UsageError,
    add_generation_arguments,
    add_llm_arguments,
    add_local_model_arguments,
    add_safety_arguments,
    check_port,
    generation_settings,
    integer,
    port,
    safety_log,
    say,
    writable_file,
)

ORDER = 82

DESCRIPTION = """\
Serve an OpenAI-compatible API (POST /v1/chat/completions with and without streaming, GET
/v1/models, GET /health) that puts soulchat's safety layer in front of a model: the crisis check on
every user turn (a flagged turn gets the safe-messaging reply and never reaches the model), the
output check on every reply (streamed too: unsafe text never reaches the client), the disclosure on
a conversation's first reply, and the check-in note. What the layer did is in each response's
`soulchat` field and X-Soulchat-* headers. With --base-url, requests go to that engine (vLLM,
llama.cpp's server, Ollama; its key from $OPENAI_API_KEY) and --model is its model name; without
it, --model is a local model folder generated from in this process. Clients' keys: --api-key or
$SOULCHAT_API_KEY (comma-separated; required to bind beyond loopback). --top-p and --temperature
are the defaults of a request that sets none; a request's max_tokens is capped to --max-new-tokens.
See docs/serving.md."""

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def register(commands) -> None:
    serve = commands.add_parser("serve", help="OpenAI-compatible API with the safety layer in front of a model",
                                description=DESCRIPTION)
    # a gateway mostly waits on the engine: many turns at once
    add_llm_arguments(serve, model_help="with --base-url, the model name the engine serves (and the name "
                      "clients ask for); without it, a local model folder",
                      concurrency=64, concurrency_help="turns generated at once; more requests wait "
                      "(default: %(default)s)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s); "
                       "anything but loopback needs an API key")
    serve.add_argument("--port", type=port, default=8080, help="port, checked free at start-up (default: %(default)s)")
    serve.add_argument("--api-key", action="append", default=[], metavar="KEY",
                       help="a key clients must send as 'Authorization: Bearer KEY'; repeat for several. "
                       "Prefer $SOULCHAT_API_KEY (comma-separated): a flag value lands in shell history")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="a browser origin allowed to call the API (e.g. http://localhost:3000); repeat "
                       "for several (default: none, no CORS headers)")
    add_local_model_arguments(serve)
    # the defaults of a request that does not say; a request's max_tokens is capped to --max-new-tokens
    add_generation_arguments(serve)
    serve.add_argument("--max-messages", type=integer(1), default=200,
                       help="most messages in one request (default: %(default)s)")
    serve.add_argument("--max-body-bytes", type=integer(1024), default=1 << 20,
                       help="largest request body, larger ones get 413 (default: %(default)s)")
    add_safety_arguments(serve)
    serve.set_defaults(handler=run_serve)


def api_keys(args) -> tuple[str, ...]:
    keys = list(args.api_key) + os.environ.get("SOULCHAT_API_KEY", "").split(",")
    keys = [key.strip() for key in keys if key.strip()]
    for key in keys:
        if any(c.isspace() or not c.isprintable() for c in key):
            raise UsageError("an API key must be printable and without spaces")
    return tuple(dict.fromkeys(keys))


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(args) -> tuple[str, ...]:
    """Everything that can be checked before a model is loaded or a port is bound."""
    from ..io import model_source

    keys = api_keys(args)
    if not keys and not is_loopback(args.host):
        raise UsageError(f"--host {args.host}: serving beyond loopback needs an API key (--api-key or "
                         "$SOULCHAT_API_KEY); anyone who can reach the port could use the model otherwise")
    for origin in args.cors_origin:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise UsageError(f"--cors-origin {origin}: expected an origin such as https://chat.example.org")
    if args.flag_log is not None:
        writable_file(args.flag_log, "--flag-log")
    if args.base_url:
        if not args.base_url.startswith(("http://", "https://")):
            raise UsageError(f"--base-url {args.base_url}: expected an http:// or https:// URL")
        if args.adapter:
            raise UsageError("--adapter applies to a local model; an endpoint serves its own weights")
    else:
        from ..backends import is_endpoint

        if is_endpoint(args.model):
            raise UsageError(f"--model {args.model}: an endpoint is named with --base-url URL --model NAME")
        model_source(args.model)
    check_port(args.host, args.port)
    return keys


def _backend(args):
    from ..backends import load_backend

    if args.base_url:
        say(f"forwarding to {args.base_url} (model {args.model})")
        backend = load_backend(args.model, base_url=args.base_url, timeout=args.timeout, attempts=args.max_attempts)
        backend.coalesce = True  # pieces that arrived together are checked and sent together
        _look_upstream(backend, args)
        return backend
    say(f"loading {args.model} …")
    return load_backend(args.model, template=args.template, adapter=args.adapter)


def _look_upstream(backend, args) -> None:
    """A warning, not a failure: an engine often starts after its gateway (requests get 502 until then)."""
    from ..endpoint import describe

    try:
        served = [model.id for model in backend.client.with_options(max_retries=0, timeout=10).models.list()]
    except Exception as error:  # noqa: BLE001 - any failure is only worth a line
        say(f"warning: {args.base_url}/models: {describe(error)}; requests get 502 until the engine answers")
        return
    if served and args.model not in served:
        say(f"warning: {args.base_url} serves {', '.join(served[:5])}, not {args.model}; check --model")


def run_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from ..gateway import Gateway, Limits, build_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    for name in ("soulchat.chat", "soulchat.gateway"):  # category, action and timing; never text
        logging.getLogger(name).setLevel(logging.INFO)
    keys = _check(args)
    backend = _backend(args)
    gateway = Gateway(
        backend, model=args.model, api_keys=keys,
        settings=generation_settings(args),
        limits=Limits(max_body_bytes=args.max_body_bytes, max_messages=args.max_messages,
                      max_new_tokens=args.max_new_tokens),
        locale=args.locale, flag_log=safety_log(args), concurrency=args.concurrency,
        cors_origins=tuple(args.cors_origin),
    )
    check_port(args.host, args.port)  # loading a model takes a while: someone may have taken it since
    say(f"serving {args.model} on http://{args.host}:{args.port}/v1 "
        f"({'API key required' if keys else 'no API key: loopback only'}; Ctrl-C to stop)")
    # Front-ends keep their connections; a short keep-alive races with their next request when busy.
    uvicorn.run(build_app(gateway), host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=30, timeout_graceful_shutdown=5)
    return 0
