"""SoulChatCorpus: clean rewritten (or existing) dialogues and write a `load_dataset` folder.

`build_corpus(paths, output)` does both passes; see `soulchat.corpus.build` for the folder layout.
`SoulChatCorpus` (loaded on first use: it imports datasets) is the same build as a datasets builder.
"""

from .build import CONFIGS, SPLITS, BuildConfig, build_corpus, corpus_rows, is_corpus_folder, is_finished_build, split_hash
from .figures import MissingFontError, find_cjk_font
from .stats import CorpusStats

__all__ = [
    "CONFIGS",
    "SoulChatCorpus",
    "SPLITS",
    "BuildConfig",
    "CorpusStats",
    "MissingFontError",
    "build_corpus",
    "corpus_rows",
    "find_cjk_font",
    "is_corpus_folder",
    "is_finished_build",
    "split_hash",
]


def __getattr__(name: str):
    if name == "SoulChatCorpus":
        from .builder import SoulChatCorpus

        return SoulChatCorpus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"SoulChatCorpus"})
