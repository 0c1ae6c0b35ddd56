"""soulchat: make LLMs better listeners for people who seek emotional support.

A reimplementation of SoulChat (Chen et al., 2023, "SoulChat: Improving LLMs' Empathy, Listening,
and Comfort Abilities through Fine-tuning with Multi-turn Empathy Conversations").
"""

__version__ = "0.1.0.dev0"

from .collator import IGNORE_INDEX, SoulChatCollator, encode_example, tokenize_function
from .dialogue import (
    PSYCHOLOGIST,
    USER,
    Dialogue,
    DialogueFormatError,
    Turn,
    parse_input,
    render_input,
)
from .templates import TEMPLATES, ChatTemplate, TemplateError, add_special_tokens, get_template

__all__ = [
    "IGNORE_INDEX",
    "PSYCHOLOGIST",
    "TEMPLATES",
    "USER",
    "ChatTemplate",
    "Dialogue",
    "DialogueFormatError",
    "SoulChatCollator",
    "TemplateError",
    "Turn",
    "add_special_tokens",
    "encode_example",
    "get_template",
    "parse_input",
    "render_input",
    "tokenize_function",
]
