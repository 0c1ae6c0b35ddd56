"""The `soulchat` command. Human summaries go to stderr, machine-readable results under --output.

Exit codes: 0 done, 1 failed (the message names the file and line, or the request), 2 bad usage.
Subcommands live in `soulchat.commands`, one module per stage.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except (ValueError, OSError, ImportError) as error:
        print(f"soulchat {args.command}: error: {error}", file=sys.stderr)
        return 1


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
