"""`soulchat recipes list|copy`: the training recipes that ship with the package."""

from __future__ import annotations

import argparse

from ._common import say

ORDER = 45

DESCRIPTION = """\
The YAML training recipes (the paper's full fine-tuning, MeChat's LoRA, GLM-4 and Qwen variants,
the CPU demo), their accelerate and DeepSpeed configs and recipes/train.py ship inside the package,
so an installed soulchat has them too. `list` shows them; `copy NAME DIR` writes a recipe with every
config its launch line uses into DIR and prints that line (`copy soulchat-glm4-9b recipes` makes the
README's `accelerate launch recipes/...` lines work in the current folder)."""


def register(commands) -> None:
    parser = commands.add_parser("recipes", help="list the training recipes, or copy one with its configs",
                                 description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="name, launch config and summary of every recipe")
    listing.set_defaults(handler=run_list)
    copy = actions.add_parser("copy", help="copy a recipe (FOLDER/STEM or FOLDER) and what it needs into DIR")
    copy.add_argument("name", metavar="NAME", help="recipe name from `soulchat recipes list`, or its folder")
    copy.add_argument("directory", metavar="DIR", help="folder to copy into (created if missing)")
    copy.add_argument("--force", action="store_true", help="overwrite files that differ from the recipe's")
    copy.set_defaults(handler=run_copy)


def run_list(args: argparse.Namespace) -> int:
    from ..recipes import list_recipes

    recipes = list_recipes()
    width = max(len(r.name) for r in recipes)
    for recipe in recipes:
        print(f"{recipe.name:{width}}  {recipe.accelerate_config:32}  {recipe.description}")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    from ..recipes import copy_recipes

    files, recipes = copy_recipes(args.name, args.directory, force=args.force)
    say(f"copied {len(files)} files into {args.directory}: " + ", ".join(f.relative_to(args.directory).as_posix() for f in files))
    folder = args.directory.rstrip("/")
    for recipe in recipes:
        print(recipe.launch_line(folder))
    return 0
