"""Argument shapes every subcommand shares (DESIGN.md, command-line conventions)."""

from __future__ import annotations

import argparse
import os
import sys


def say(message: str = "") -> None:
    """Human-readable progress and summaries go to stderr; results go to files under --output."""
    print(message, file=sys.stderr)


def add_output_argument(parser: argparse.ArgumentParser, default: str | None = None, what: str = "results") -> None:
    parser.add_argument(
        "--output",
        required=default is None,
        default=default,
        help=f"folder for {what}; rerunning the same command continues there"
        + (" (default: %(default)s)" if default else ""),
    )


def add_llm_arguments(parser: argparse.ArgumentParser, model_required: bool = True) -> None:
    """`--base-url URL --model NAME --concurrency N`; the key comes from OPENAI_API_KEY only."""
    parser.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vLLM "
        "(default: $OPENAI_BASE_URL, else OpenAI). The API key is read from $OPENAI_API_KEY.",
    )
    parser.add_argument("--model", required=model_required, help="model name the endpoint serves")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default: %(default)s)")


def api_key() -> str:
    # Local servers (vLLM, Ollama, llama.cpp) accept any key; OpenAI itself rejects a missing one.
    return os.environ.get("OPENAI_API_KEY") or "EMPTY"
