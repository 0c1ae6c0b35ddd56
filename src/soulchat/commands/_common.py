"""Argument shapes every subcommand shares (docs/architecture.md, command-line conventions).

A flag value that cannot work is bad usage: argparse types below reject it with exit code 2 before
any work starts, and a handler that finds a bad combination raises `UsageError` (also exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..endpoint import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT  # one request policy for every command
from ..errors import SoulChatError


class UsageError(SoulChatError, ValueError):
    """A flag value or combination that cannot work: exit code 2, like argparse's own errors."""


def say(message: str = "") -> None:
    """Human-readable progress and summaries go to stderr; results go to files under --output."""
    print(message, file=sys.stderr)


# ------------------------------------------------------------------ argparse types
def integer(minimum: int | None = 1, maximum: int | None = None):
    """An argparse type: an int within [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        return _within(value, text, minimum, maximum)

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def number(minimum: float | None = 0.0, maximum: float | None = None, above: float | None = None):
    """An argparse type: a finite float within [minimum, maximum], or > `above` when given."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be more than {above:g}, got {text}")
        return _within(value, text, minimum, maximum)

    parse.__name__ = "number"
    return parse


def _within(value, text: str, minimum, maximum):
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {text}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {text}")
    return value


port = integer(0, 65535)
port.__name__ = "port"


def size_or_fraction(text: str) -> float:
    """A held-out size: a fraction in (0, 1) or a count >= 1 (0 keeps nothing apart)."""
    value = number(0.0)(text)
    if value < 1 or value.is_integer():
        return value
    raise argparse.ArgumentTypeError(f"expected a fraction below 1 or a whole count, got {text}")


# ------------------------------------------------------------------ shared arguments
def add_output_argument(parser: argparse.ArgumentParser, default: str | None = None, what: str = "results") -> None:
    parser.add_argument(
        "--output",
        required=default is None,
        default=default,
        help=f"folder for {what}; rerunning the same command continues there"
        + (" (default: %(default)s)" if default else ""),
    )


def add_llm_arguments(
    parser: argparse.ArgumentParser,
    model_required: bool = True,
    *,
    model_help: str = "model name the endpoint serves",
    model_action: str | None = None,
    base_url_help: str | None = None,
    concurrency: int | None = 8,
    concurrency_help: str = "requests in flight at once (default: %(default)s)",
    request_policy: bool = True,
) -> None:
    """The one way every command names a model behind an endpoint: `--base-url URL --model NAME`,
    plus `--concurrency N` (unless `concurrency` is None and no help is wanted: pass
    concurrency_help=None) and the request policy (`--timeout`, `--max-attempts`); the key comes
    from OPENAI_API_KEY only. Commands that also run local models (eval, chat, web) read `--model`
    as a folder when no base URL is set."""
    parser.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        metavar="URL",
        help=base_url_help or "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vLLM "
        "(default: $OPENAI_BASE_URL, else OpenAI). The API key is read from $OPENAI_API_KEY.",
    )
    options = {"action": model_action} if model_action else {}
    parser.add_argument("--model", required=model_required, help=model_help, **options)
    if concurrency is not None or concurrency_help is not None:
        parser.add_argument("--concurrency", type=integer(1), default=concurrency, help=concurrency_help)
    if request_policy:
        add_request_arguments(parser)


def add_generation_arguments(parser: argparse.ArgumentParser, *, max_new_tokens: int | None = None) -> None:
    """Decoding flags with the paper's defaults (soulchat.backends.GenerationSettings): --top-p,
    --temperature, --max-new-tokens and the prompt budget --max-source-length (also --max-length)."""
    from ..backends import GenerationSettings

    paper = GenerationSettings()
    parser.add_argument("--top-p", type=number(above=0, maximum=1), default=paper.top_p,
                        help="nucleus sampling mass (the paper: %(default)s)")
    parser.add_argument("--temperature", type=number(0.0), default=paper.temperature,
                        help="sampling temperature, 0 for greedy (the paper: %(default)s)")
    parser.add_argument("--max-new-tokens", type=integer(1), default=max_new_tokens or paper.max_new_tokens,
                        help="longest reply in tokens (default: %(default)s)")
    parser.add_argument("--max-source-length", "--max-length", dest="max_source_length", type=integer(16),
                        default=paper.max_length,
                        help="prompt budget in tokens; the oldest history rounds are cut first (default: %(default)s)")


def generation_settings(args: argparse.Namespace, cls=None, **extra):
    """GenerationSettings (or `cls`, e.g. evaluation's Decoding) from add_generation_arguments' flags."""
    from ..backends import GenerationSettings

    return (cls or GenerationSettings)(top_p=args.top_p, temperature=args.temperature,
                                       max_new_tokens=args.max_new_tokens, max_length=args.max_source_length, **extra)


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """The endpoint request policy every command shares (soulchat.endpoint)."""
    parser.add_argument("--timeout", type=number(above=0), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="seconds before a request counts as hung and is tried again (default: %(default)s)")
    parser.add_argument("--max-attempts", type=integer(1), default=DEFAULT_ATTEMPTS,
                        help="tries per request on timeouts, connection errors, 429, 5xx and empty answers "
                        "(default: %(default)s)")


def add_local_model_arguments(parser: argparse.ArgumentParser) -> None:
    """How a local model folder is loaded (`chat`, `web`, `serve`): --adapter, --template."""
    from ..templates import TEMPLATES

    parser.add_argument("--adapter", metavar="PATH", help="LoRA adapter folder on top of --model (local models)")
    parser.add_argument("--template", default="soulchat", choices=sorted(TEMPLATES),
                        help="chat template the model was trained with (local models; default: %(default)s)")


def add_safety_arguments(parser: argparse.ArgumentParser) -> None:
    """The safety layer's locale and flag log (`chat`, `web`, `serve`): --locale, --flag-log, --log-text."""
    parser.add_argument("--locale", default="zh-CN", help="locale of safety replies and hotlines (default: %(default)s)")
    parser.add_argument("--flag-log", metavar="FILE",
                        help="append every safety flag to this JSON Lines file, checked for writing at start-up; "
                        "a write that fails later is reported on stderr and never holds back a reply "
                        "(default: kept in memory; servers also log category and rules to stderr)")
    parser.add_argument("--log-text", action="store_true",
                        help="keep the flagged text and matched words in the flag log (privacy mode, the "
                        "default, keeps categories, rules and offsets only)")


def safety_log(args: argparse.Namespace):
    """The SafetyLog that add_safety_arguments' flags ask for."""
    from ..safety import SafetyLog

    return SafetyLog(args.flag_log, privacy=not args.log_text)


def check_port(host: str, number: int) -> None:
    """Fail before "serving on …" when the address cannot be bound (in use, no such interface)."""
    import socket

    if number == 0:
        return  # any free port
    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: not an address of this machine ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as error:
            raise OSError(f"cannot serve on {host}:{number}: {error.strerror or error} "
                          "(another server there? pick another --port)") from None


def api_key() -> str:
    # Local servers (vLLM, Ollama, llama.cpp) accept any key; OpenAI itself rejects a missing one.
    return os.environ.get("OPENAI_API_KEY") or "EMPTY"


def writable_file(path: str | Path, flag: str) -> Path:
    """Check at start-up that `path` can be appended to (creating its folder), so that a bad path
    is reported before any work, not when the first write is due."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; expected a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise OSError(f"{flag} {path}: cannot write there ({error.strerror or error})") from None
    return path
