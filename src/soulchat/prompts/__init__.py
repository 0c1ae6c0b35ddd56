"""Rewrite prompts, kept as versioned text files next to this module.

Each file starts with `#` header lines, one of them `# version: <id>`; the rest is the prompt with
one `{single_turn}` placeholder. The version id is recorded with every rewrite result and is part
of its key, so editing a prompt means bumping its version (a rerun then redoes the rows).

    prompt = load_prompt("soulchat", "zh")
    prompt.render("用户：……\\n心理咨询师：……")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROMPT_DIR = Path(__file__).parent
PLACEHOLDER = "{single_turn}"

#: prompt name -> file stem (the language is the next suffix)
PROMPTS = {"soulchat": "soulchat_empathy", "smile": "smile"}


@dataclass(frozen=True)
class Prompt:
    name: str  # "soulchat" | "smile"
    language: str  # "zh" | "en"
    version: str  # e.g. "soulchat_empathy.zh.v1"
    text: str  # the template, with one {single_turn}
    path: Path

    def render(self, single_turn: str) -> str:
        # str.replace, not str.format: answers are full of braces-free text, but a user's text may
        # hold "{...}" and must never be interpreted.
        return self.text.replace(PLACEHOLDER, single_turn)


def available() -> list[tuple[str, str]]:
    """(name, language) of every bundled prompt."""
    found = []
    for name, stem in PROMPTS.items():
        for path in sorted(PROMPT_DIR.glob(f"{stem}.*.txt")):
            found.append((name, path.suffixes[-2].lstrip(".")))
    return found


def load_prompt(name: str = "soulchat", language: str = "zh") -> Prompt:
    """A bundled prompt by name and language; a path to a text file of the same shape works too."""
    if name in PROMPTS:
        path = PROMPT_DIR / f"{PROMPTS[name]}.{language}.txt"
        if not path.is_file():
            choices = ", ".join(f"{n}/{lang}" for n, lang in available())
            raise ValueError(f"no {language!r} version of prompt {name!r}; bundled: {choices}")
    else:
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"unknown prompt {name!r}: expected one of {sorted(PROMPTS)} or a text file")
    from ..io import read_text

    return parse_prompt(read_text(path), path=path, name=name, language=language)


def parse_prompt(source: str, *, path: Path, name: str, language: str) -> Prompt:
    lines = source.splitlines()
    version = None
    body_start = 0
    for index, line in enumerate(lines):
        if not line.startswith("#"):
            body_start = index
            break
        key, _, value = line.lstrip("#").partition(":")
        if key.strip() == "version":
            version = value.strip()
    else:
        body_start = len(lines)
    text = "\n".join(lines[body_start:]).strip("\n")
    if not version:
        raise ValueError(f"{path}: missing '# version: <id>' header line")
    if text.count(PLACEHOLDER) != 1:
        raise ValueError(f"{path}: expected exactly one {PLACEHOLDER} placeholder, found {text.count(PLACEHOLDER)}")
    return Prompt(name=name, language=language, version=version, text=text, path=path)
