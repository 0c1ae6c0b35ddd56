"""Chat templates by name: soulchat (the paper's format), soulchat-chatglm (the released SoulChat
model's), chatglm, chatglm2, chatglm3, glm4, glm4-eos, native; and the ids generation stops on."""

from __future__ import annotations

from .base import MAX_SOURCE_LENGTH, MAX_TARGET_LENGTH, ChatTemplate, Piece, PromptEncoding, Rendered, Special, TargetEncoding, TemplateError
from .formats import (
    ChatGLM2Template,
    ChatGLM3Template,
    ChatGLMTemplate,
    GLM4EosTemplate,
    GLM4Template,
    SoulChatChatGLMTemplate,
    SoulChatTemplate,
)
from .native import NativeTemplate

__all__ = [
    "MAX_SOURCE_LENGTH",
    "MAX_TARGET_LENGTH",
    "TEMPLATES",
    "ChatTemplate",
    "Piece",
    "PromptEncoding",
    "Rendered",
    "Special",
    "TargetEncoding",
    "TemplateError",
    "add_special_tokens",
    "get_template",
    "stop_token_ids",
]

TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        SoulChatTemplate(),
        SoulChatChatGLMTemplate(),
        ChatGLMTemplate(),
        ChatGLM2Template(),
        ChatGLM3Template(),
        GLM4Template(),
        GLM4EosTemplate(),
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


def stop_token_ids(template: str | ChatTemplate, tokenizer, model=None) -> list[int]:
    """Every token id generation must stop on: the template's stop token (what training taught the
    model to end a reply with), the tokenizer's eos, and the model's own
    `generation_config.eos_token_id` (an id or a list: GLM-4 ends chat replies with `<|user|>` or
    `<|observation|>` as well as `<|endoftext|>`), in that order, without repeats.

    The one place that decides where a reply ends: evaluation, chat (and so the web page), and the
    generation_config a trained model is saved with all take their stops from here.
    """
    template = get_template(template)
    stop = template.stop_token(tokenizer)
    stop_id = tokenizer.convert_tokens_to_ids(stop)
    if stop_id is not None and stop_id == tokenizer.unk_token_id and stop != tokenizer.unk_token:
        stop_id = None  # not in the vocabulary: the template check names it where it matters
    config = getattr(model, "generation_config", None) or getattr(model, "config", None)
    model_eos = getattr(config, "eos_token_id", None)
    model_eos = list(model_eos) if isinstance(model_eos, (list, tuple)) else [model_eos]
    ids: list[int] = []
    for candidate in [stop_id, tokenizer.eos_token_id, *model_eos]:
        if isinstance(candidate, int) and not isinstance(candidate, bool) and candidate not in ids:
            ids.append(candidate)
    return ids
