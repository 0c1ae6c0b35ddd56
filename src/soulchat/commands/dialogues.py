"""`soulchat validate` and `soulchat templates`: look at dialogue files and chat templates."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import say

ORDER = 90


def register(commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="check dialogue files and list every problem with its file and line",
        description="Check JSONL files of dialogues ({id, topic, messages} or {text}) and print each "
        "problem as FILE:LINE: reason. Exit code 1 when any record has a problem.",
    )
    validate.add_argument("files", nargs="+", type=Path, help="JSONL files of dialogues")
    validate.add_argument("--min-rounds", type=int, default=None, help="fewest user/psychologist rounds allowed")
    validate.add_argument("--max-rounds", type=int, default=None, help="most rounds allowed")
    validate.set_defaults(handler=run_validate)

    templates = commands.add_parser(
        "templates",
        help="list the chat templates",
        description="List the built-in chat templates, their special tokens and whether each is "
        "prefix-consistent (needed for one-pass multi-turn training).",
    )
    templates.set_defaults(handler=run_templates)


# ------------------------------------------------------------------------- validate
def run_validate(args: argparse.Namespace) -> int:
    from ..io import read_dialogues

    bad = good = 0

    def report(reject) -> None:
        nonlocal bad
        bad += 1
        print(f"{reject.path}:{reject.line}: {reject.reason}")

    for path in args.files:
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        for _ in read_dialogues(
            path, on_reject=report, min_rounds=args.min_rounds, max_rounds=args.max_rounds
        ):
            good += 1
    say(f"{good} valid, {bad} with problems")
    return 1 if bad else 0


# ------------------------------------------------------------------------ templates
def run_templates(args: argparse.Namespace) -> int:
    from ..templates import TEMPLATES

    width = max(map(len, TEMPLATES))
    for name, template in TEMPLATES.items():
        if name == "native":
            print(f"{name:{width}} {template.description}")
            continue
        consistent = "prefix-consistent" if template.prefix_consistent() else "not prefix-consistent"
        tokens = ", ".join(template.special_tokens())
        print(f"{name:{width}} {template.description}\n{'':{width}} special tokens: {tokens}; {consistent}")
    return 0
