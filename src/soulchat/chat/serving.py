"""Serving a trained model with an existing engine (vLLM): the chat template it needs.

A model trained with the paper's plain format (template `soulchat`) has no chat template of its own
that matches it; given this Jinja template, a serving engine renders `messages` exactly as
training rendered the prompt:

    python -m soulchat.chat.serving MERGED_MODEL > soulchat.jinja
    vllm serve MERGED_MODEL --chat-template soulchat.jinja
"""

from __future__ import annotations

import sys

# history rounds "用户：u\n心理咨询师：p\n", then "用户：u\n心理咨询师：" (SoulChatTemplate).
_ROUNDS = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}用户：{{ message['content'] }}\n心理咨询师："
    "{% elif message['role'] == 'assistant' %}{{ message['content'] }}\n"
    "{% endif %}"
    "{% endfor %}"
)


def soulchat_chat_template(tokenizer=None) -> str:
    """The Jinja chat template of the `soulchat` format for this tokenizer: a tokenizer that puts
    special tokens in front of text by itself (a Llama-style BOS) gets them written out, as the
    training prompt has them (engines tokenize chat prompts without adding special tokens)."""
    from ..templates import get_template

    leading = "".join(p.token for p in get_template("soulchat").prefix(tokenizer)) if tokenizer else ""
    return leading.replace("{", "{{ '{' }}") + _ROUNDS


if __name__ == "__main__":  # pragma: no cover
    tokenizer = None
    if len(sys.argv) > 1:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    print(soulchat_chat_template(tokenizer), end="")
