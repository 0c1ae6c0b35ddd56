"""The paper's plain format and the ChatGLM family's formats, as DESIGN.md gives them."""

from __future__ import annotations

from ..dialogue import LABELS, PSYCHOLOGIST, USER
from .base import ChatTemplate, Piece, Special, _leading_special_tokens


class SoulChatTemplate(ChatTemplate):
    name = "soulchat"
    description = "the paper's plain format: 用户：…\\n心理咨询师：…, stop = the tokenizer's eos"

    def prefix(self, tokenizer=None) -> list[Piece]:
        # Whatever the tokenizer puts in front of text by itself (a Llama-style BOS), nothing else.
        return [Special(t) for t in _leading_special_tokens(tokenizer)] if tokenizer else []

    def history_round(self, index, user, psychologist):
        return [f"{LABELS[USER]}：{user}\n{LABELS[PSYCHOLOGIST]}：{psychologist}\n"]

    def query(self, index, user):
        return [f"{LABELS[USER]}：{user}\n{LABELS[PSYCHOLOGIST]}："]


class ChatGLMTemplate(ChatTemplate):
    name = "chatglm"
    description = "ChatGLM-6B: [Round i]\\n问：…\\n答：… from 0, [gMASK]<sop> before the answer, <eop> after"

    def history_round(self, index, user, psychologist):
        return [f"[Round {index}]\n问：{user}\n答：{psychologist}\n"]

    def query(self, index, user):
        return [f"[Round {index}]\n问：{user}\n答：", Special("[gMASK]"), Special("<sop>")]

    def stop_token(self, tokenizer=None) -> str:
        return "<eop>"


class ChatGLM2Template(ChatTemplate):
    name = "chatglm2"
    description = "ChatGLM2-6B: [gMASK]sop, [Round i]\\n\\n问：…\\n\\n答：… from 1, stop = eos"

    def prefix(self, tokenizer=None):
        return [Special("[gMASK]"), Special("sop")]

    def history_round(self, index, user, psychologist):
        return [f"[Round {index + 1}]\n\n问：{user}\n\n答：{psychologist}\n\n"]

    def query(self, index, user):
        return [f"[Round {index + 1}]\n\n问：{user}\n\n答："]


class ChatGLM3Template(ChatTemplate):
    name = "chatglm3"
    description = "ChatGLM3-6B: [gMASK]sop<|user|>\\n…<|assistant|>\\n…, stop = eos"
    _start = ("[gMASK]", "sop")

    def prefix(self, tokenizer=None):
        return [Special(t) for t in self._start]

    def history_round(self, index, user, psychologist):
        return [Special("<|user|>"), f"\n{user}", Special("<|assistant|>"), f"\n{psychologist}"]

    def query(self, index, user):
        return [Special("<|user|>"), f"\n{user}", Special("<|assistant|>"), "\n"]


class GLM4Template(ChatGLM3Template):
    name = "glm4"
    description = "GLM-4: [gMASK]<sop><|user|>\\n…<|assistant|>\\n…, stop <|endoftext|> appended and trained"
    _start = ("[gMASK]", "<sop>")

    def stop_token(self, tokenizer=None) -> str:
        return "<|endoftext|>"
