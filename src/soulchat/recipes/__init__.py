"""The training recipes, shipped with the package: YAML recipes, accelerate and DeepSpeed configs, and
`train.py`, the script `accelerate launch` runs. In a clone, `recipes/` at the repository root is
this folder; an installed package copies what a recipe needs with `soulchat recipes copy NAME DIR`.

A recipe is named `FOLDER/STEM` (`soulchat-glm4-9b/full`); a folder name (`soulchat-glm4-9b`)
means all its recipes. Its `# Launch:` comment names the accelerate config it is launched with,
and that config names its DeepSpeed config, so copying one recipe brings everything its launch line
uses. Paths inside the copied files say `recipes/…`; they are rewritten to the folder copied to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent
SCRIPT = "train.py"
DEFAULT_LAUNCH = "accelerate_configs/single.yaml"
_LAUNCH = re.compile(r"--config_file\s+recipes/(\S+\.yaml)")
_DEEPSPEED = re.compile(r"recipes/(deepspeed/\S+\.json)")


@dataclass(frozen=True)
class Recipe:
    name: str  # FOLDER/STEM
    path: Path
    description: str
    accelerate_config: str  # relative to the recipes folder

    def launch_line(self, folder: str = "recipes") -> str:
        return (f"accelerate launch --config_file {folder}/{self.accelerate_config} {folder}/{SCRIPT} "
                f"--config {folder}/{self.name}.yaml")


def _read(path: Path) -> Recipe:
    text = path.read_text(encoding="utf-8")
    summary = " ".join(line[1:].strip() for line in text.split("\n\n")[0].splitlines()
                       if line.startswith("#") and "Launch:" not in line and not line.startswith("#    "))
    if len(summary) > 110:
        summary = summary[:109].rsplit(" ", 1)[0] + " …"
    launch = _LAUNCH.search(text)
    name = f"{path.parent.name}/{path.stem}"
    return Recipe(name, path, summary, launch.group(1) if launch else DEFAULT_LAUNCH)


def list_recipes() -> list[Recipe]:
    """Every recipe, by name."""
    folders = (p for p in sorted(RECIPES_DIR.iterdir()) if p.is_dir() and p.name not in ("accelerate_configs", "deepspeed", "__pycache__"))
    return [_read(path) for folder in folders for path in sorted(folder.glob("*.yaml"))]


def find_recipes(name: str) -> list[Recipe]:
    """The recipe `FOLDER/STEM` (also `FOLDER/STEM.yaml`), or all recipes of `FOLDER`; ValueError naming
    the known ones otherwise."""
    wanted = name.strip("/").removesuffix(".yaml")
    recipes = list_recipes()
    found = [r for r in recipes if r.name == wanted or r.name.split("/")[0] == wanted]
    if not found:
        raise ValueError(f"no recipe {name!r}; known recipes: {', '.join(r.name for r in recipes)}")
    return found


def recipe_path(name: str) -> Path:
    """The YAML file of one recipe, e.g. recipe_path("demo-cpu/lora")."""
    (recipe,) = find_recipes(name)
    return recipe.path


def files_for(recipes: list[Recipe]) -> list[str]:
    """The files (relative to the recipes folder) that the recipes' launch lines use."""
    files = {SCRIPT, "README.md"}
    for recipe in recipes:
        files.add(recipe.path.relative_to(RECIPES_DIR).as_posix())
        files.add(recipe.accelerate_config)
        for text in (recipe.path.read_text(encoding="utf-8"),
                     (RECIPES_DIR / recipe.accelerate_config).read_text(encoding="utf-8")):
            files.update(m.group(1) for m in _DEEPSPEED.finditer(text))
    return sorted(files)


def copy_recipes(name: str, destination: str | Path, *, force: bool = False) -> tuple[list[Path], list[Recipe]]:
    """Copy a recipe (or a folder of recipes) with the configs and script it needs into `destination`,
    with `recipes/` in the copied files rewritten to `destination` as given. An existing file with other
    content is kept unless `force`: ValueError names it. Returns (files written or already there, recipes)."""
    recipes = find_recipes(name)
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise ValueError(f"{destination}: is a file, not a folder to copy recipes into")
    prefix = destination.as_posix().rstrip("/") or "."
    planned = []
    for relative in files_for(recipes):
        text = (RECIPES_DIR / relative).read_text(encoding="utf-8")
        if prefix != "recipes":
            text = text.replace("recipes/", f"{prefix}/")
        target = destination / relative
        if target.is_dir():
            raise ValueError(f"{target}: is a folder where the recipe's file goes")
        if target.exists() and target.read_text(encoding="utf-8") != text and not force:
            raise ValueError(f"{target} exists and differs from the recipe's; pass --force to overwrite it")
        planned.append((target, text))
    for target, text in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return [target for target, _ in planned], recipes
