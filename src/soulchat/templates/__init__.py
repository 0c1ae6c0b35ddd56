"""Chat templates by name: soulchat (the paper's format), chatglm, chatglm2, chatglm3, glm4, native."""

from __future__ import annotations

from .base import ChatTemplate, PromptEncoding, Special, TargetEncoding, TemplateError
from .formats import (
    ChatGLM2Template,
    ChatGLM3Template,
    ChatGLMTemplate,
    GLM4Template,
    SoulChatTemplate,
)
from .native import NativeTemplate

__all__ = [
    "TEMPLATES",
    "ChatTemplate",
    "PromptEncoding",
    "Special",
    "TargetEncoding",
    "TemplateError",
    "add_special_tokens",
    "get_template",
]

TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        SoulChatTemplate(),
        ChatGLMTemplate(),
        ChatGLM2Template(),
        ChatGLM3Template(),
        GLM4Template(),
        NativeTemplate(),
    )
}


def get_template(template: str | ChatTemplate) -> ChatTemplate:
    if isinstance(template, ChatTemplate):
        return template
    if template not in TEMPLATES:
        raise TemplateError(f"unknown template {template!r}; choose one of {sorted(TEMPLATES)}")
    return TEMPLATES[template]


def add_special_tokens(tokenizer, template: str | ChatTemplate) -> list[str]:
    """Add the template's missing special tokens to the tokenizer; returns those added.

    The model's embedding matrix must then be resized to `len(tokenizer)`.
    """
    from tokenizers import AddedToken

    template = get_template(template)
    missing = template.missing_tokens(tokenizer)
    if missing:
        tokenizer.add_tokens(
            [AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True
        )
    return missing
