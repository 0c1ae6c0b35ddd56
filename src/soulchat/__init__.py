"""soulchat: make LLMs better listeners for people who seek emotional support.

A reimplementation of SoulChat (Chen et al., 2023, "SoulChat: Improving LLMs' Empathy, Listening,
and Comfort Abilities through Fine-tuning with Multi-turn Empathy Conversations").

    from soulchat import (SoulChatCorpus, SoulChatCollator, SoulChatTrainer, LoraTrainer,
                          push_corpus, push_model, compute_metrics, ChatSession)

`import soulchat` stays light (no torch, transformers or datasets): the names in `_LAZY` load their
module on first use, and `dir(soulchat)` lists them.
"""

__version__ = "0.1.0.dev0"

from .train.collator import IGNORE_INDEX, EncodingSettings, SoulChatCollator, TrainingRow, encode, encode_example, tokenize_function
from .dialogue import (
    PSYCHOLOGIST,
    USER,
    Dialogue,
    DialogueFormatError,
    Turn,
    parse_input,
    render_input,
)
from .errors import SoulChatError
from .templates import TEMPLATES, ChatTemplate, TemplateError, add_special_tokens, get_template

#: name -> module that defines it, imported on first access (PEP 562)
_LAZY = {
    "SoulChatCorpus": "soulchat.corpus.builder",
    "SoulChatTrainer": "soulchat.train.trainers",
    "LoraTrainer": "soulchat.train.trainers",
    "push_corpus": "soulchat.hub",
    "push_model": "soulchat.hub",
    "compute_metrics": "soulchat.evaluation.metrics",
    "ChatSession": "soulchat.chat",
}

__all__ = [
    "ChatSession",
    "LoraTrainer",
    "SoulChatCorpus",
    "SoulChatTrainer",
    "compute_metrics",
    "push_corpus",
    "push_model",
    "IGNORE_INDEX",
    "PSYCHOLOGIST",
    "TEMPLATES",
    "USER",
    "ChatTemplate",
    "Dialogue",
    "DialogueFormatError",
    "SoulChatCollator",
    "SoulChatError",
    "TemplateError",
    "Turn",
    "add_special_tokens",
    "EncodingSettings",
    "TrainingRow",
    "encode",
    "encode_example",
    "get_template",
    "parse_input",
    "render_input",
    "tokenize_function",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'soulchat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
