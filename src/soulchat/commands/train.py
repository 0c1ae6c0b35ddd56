"""`soulchat train`: fine-tune from a YAML recipe (full or LoRA), resumable."""

from __future__ import annotations

import argparse
import json

from ._common import integer, say

ORDER = 40

DESCRIPTION = """\
Fine-tune a model on SoulChat data from a YAML recipe (recipes/*/*.yaml): full fine-tuning
(DeepSpeed ZeRO-2/3 when the recipe names a DeepSpeed config) or a MeChat-style LoRA adapter.
Every recipe key is also a flag that overrides the recipe: --learning-rate 1e-4 --mask all (the
recipe's own spelling, --learning_rate, works too, and is what recipes/train.py takes);
`soulchat train --list-arguments` prints every key with its help. Rerunning the same command
resumes from the last checkpoint in the output folder. For several GPUs or machines, launch
recipes/train.py with `accelerate launch` (see recipes/README.md); this command runs one process."""

EPILOG = """\
examples:
  soulchat train --config recipes/demo-cpu/lora.yaml --max-steps 50
  soulchat train --config recipes/demo-cpu/lora.yaml --output runs/demo --learning-rate 5e-3
results: OUTPUT/train_summary.json (steps, losses, eval loss), the model or adapter, checkpoints."""


def register(commands) -> None:
    train = commands.add_parser(
        "train",
        help="fine-tune from a YAML recipe (full, DeepSpeed or LoRA)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--config", help="YAML recipe, e.g. recipes/demo-cpu/lora.yaml")
    train.add_argument("--max-steps", type=integer(1), default=None, help="stop after N optimizer steps (smoke runs)")
    train.add_argument("--output", default=None, help="output folder (overrides the recipe's output_dir)")
    train.add_argument("--skip-invalid", action="store_true",
                       help="write bad records of JSON/JSONL data with file, line and reason to OUTPUT/rejects.jsonl "
                       "and train on the rest (as `soulchat rewrite --skip-invalid`); default: the first one stops")
    train.add_argument(
        "--list-arguments", action="store_true", help="print every recipe key with its help and exit"
    )
    # Recipe keys are many and belong to the training dataclasses, not to this parser: the command
    # line's main() hands the flags this parser does not know to run_train as `overrides`.
    train.set_defaults(handler=run_train, overrides=[], takes_recipe_keys=True)


def recipe_flags(argv: list[str]) -> list[str]:
    """Recipe-key flags in the recipe's spelling: --learning-rate -> --learning_rate (also in
    --key=value); flags that name no recipe key are left for the recipe parser to reject."""
    from ..train.arguments import field_names

    keys = field_names()
    out = []
    for token in argv:
        if token.startswith("--"):
            name, equals, value = token[2:].partition("=")
            snake = name.replace("-", "_")
            if snake in keys or snake.removeprefix("no_") in keys:
                token = f"--{snake}{equals}{value}"
        out.append(token)
    return out


def list_arguments() -> None:
    import dataclasses

    from ..train.arguments import ARGUMENT_CLASSES

    for cls in ARGUMENT_CLASSES:
        print(f"# {cls.__name__}")
        for item in dataclasses.fields(cls):
            if item.init:
                default = item.default if item.default is not dataclasses.MISSING else None
                print(f"{item.name} (default {default!r}): {item.metadata.get('help', '')}")


def run_train(args: argparse.Namespace) -> int:
    if args.list_arguments:
        list_arguments()
        return 0
    argv = recipe_flags(list(args.overrides))
    if args.max_steps is not None:
        argv += ["--max_steps", str(args.max_steps)]
    if args.output is not None:
        argv += ["--output_dir", args.output]
    if args.skip_invalid:
        argv += ["--skip_invalid", "true"]
    if args.config is None and not any(a.startswith("--output_dir") for a in argv):
        say("soulchat train: error: pass --config FILE.yaml (e.g. recipes/demo-cpu/lora.yaml) or --output")
        return 2

    from ..train import parse_arguments, train

    from ..io import InputError

    try:
        parsed = parse_arguments(argv, config=args.config)
    except InputError:
        raise  # the recipe file itself is unreadable: exit 1 with its file and line
    except (ValueError, SystemExit) as error:  # RecipeError, or a value TrainingArguments refuses
        if isinstance(error, ValueError):
            say(f"soulchat train: error: {error}")
        return 2
    model_args, data_args, lora_args, training_args = parsed
    say(
        f"soulchat train: {'LoRA' if lora_args.use_lora else 'full'} fine-tuning of "
        f"{model_args.model_name_or_path} on {data_args.dataset} (mask={data_args.mask}) -> {training_args.output_dir}"
    )
    summary = train(*parsed)
    losses = summary["losses"]
    say(
        f"done: {summary['global_step']} steps"
        + (f", resumed from {summary['resumed_from']}" if summary["resumed_from"] else "")
        + (f", loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "")
        + (f", eval loss {summary['eval_loss']:.4f}" if summary.get("eval_loss") is not None else "")
    )
    say(json.dumps({k: summary[k] for k in ("output_dir", "global_step", "train_loss")}))
    return 0
