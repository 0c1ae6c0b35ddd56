"""The `soulchat` command. Human summaries go to stderr, machine-readable results under --output.

Exit codes: 0 done, 1 failed (the message names the file and line, or the request), 2 bad usage.
Subcommands live in `soulchat.commands`, one module per stage. No traceback reaches a user: the
errors a command expects carry their own message; anything else is reported in one line as an
internal error (SOULCHAT_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from . import __version__, commands
from .commands._common import UsageError
from .errors import SoulChatError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        if not getattr(args, "takes_recipe_keys", False):
            parser.parse_args(argv)  # argparse's own "unrecognized arguments" message, exit code 2
        args.overrides = extras  # `soulchat train`: recipe keys as flags (see commands/train.py)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    sub = next((getattr(args, key) for key in ("action", "kind", "safety_command") if getattr(args, key, None)), None)
    name = " ".join(filter(None, (args.command, sub)))
    try:
        check_output(args)
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except UsageError as error:
        print(f"soulchat {name}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the last net: a message, never a traceback
        if os.environ.get("SOULCHAT_DEBUG"):
            raise
        print(f"soulchat {name}: error: {describe(error)}", file=sys.stderr)
        return 1


def check_output(args: argparse.Namespace) -> None:
    """Every `--output` is a folder: an existing file there is bad usage, named before any work."""
    from pathlib import Path

    output = getattr(args, "output", None)
    if isinstance(output, (str, Path)) and Path(output).exists() and not Path(output).is_dir():
        raise UsageError(f"--output {output}: is a file; expected a folder (it is created when missing)")


def describe(error: BaseException) -> str:
    """One line for an error that reached the command line."""
    if type(error).__module__.split(".")[0] == "openai":  # a request no command caught: say what failed
        from .endpoint import describe as request_failure

        url = getattr(getattr(error, "request", None), "url", None)
        return f"request {url or 'to the endpoint'} failed: {request_failure(error)}"
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, UnicodeDecodeError):
        return f"input is not valid UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8"
    if isinstance(error, RecursionError):
        return "input nested too deeply to read"
    if isinstance(error, (SoulChatError, ValueError, OSError, ImportError, RuntimeError)):
        return str(error) or type(error).__name__
    return (f"internal error ({type(error).__name__}: {error}); please report it with the command that "
            "caused it (SOULCHAT_DEBUG=1 shows the traceback)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soulchat",
        description="Make LLMs better listeners for people who seek emotional support "
        "(a reimplementation of SoulChat, Chen et al., 2023).",
    )
    parser.add_argument("--version", action="version", version=f"soulchat {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [
        importlib.import_module(f"{commands.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__)):
        module.register(subparsers)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
