"""SoulChatCorpus: clean rewritten (or existing) dialogues and write a `load_dataset` folder.

`build_corpus(paths, output)` does both passes; see `soulchat.corpus.build` for the folder layout.
"""

from .build import CONFIGS, SPLITS, BuildConfig, build_corpus, corpus_rows, split_hash
from .figures import MissingFontError, find_cjk_font
from .stats import CorpusStats

__all__ = [
    "CONFIGS",
    "SPLITS",
    "BuildConfig",
    "CorpusStats",
    "MissingFontError",
    "build_corpus",
    "corpus_rows",
    "find_cjk_font",
    "split_hash",
]
