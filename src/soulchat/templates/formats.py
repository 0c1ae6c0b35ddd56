"""The paper's plain format and the ChatGLM family's formats, each checked against its official source.

What each template trains (the psychologist's reply plus its stop token) and the official source
it follows is stated in the class docstring; README's template table says the same. The prompt
always ends where the reply begins, so the trained span is exactly reply + stop.
"""

from __future__ import annotations

from ..dialogue import LABELS, PSYCHOLOGIST, USER
from .base import ChatTemplate, Piece, Special, leading_special_tokens


class SoulChatTemplate(ChatTemplate):
    """The paper's plain text (§2.2): `用户：u\\n心理咨询师：p\\n…用户：u_N\\n心理咨询师：`.

    Trained: the reply + the tokenizer's eos. Source: the paper and scutcyr/SoulChat's demo
    (`soulchat_app.py`), which build exactly this text; for the released model's special tokens
    around it, see `soulchat-chatglm`.
    """

    name = "soulchat"
    description = "the paper's plain format: 用户：…\\n心理咨询师：…, stop = the tokenizer's eos"

    def prefix(self, tokenizer=None) -> list[Piece]:
        # Whatever the tokenizer puts in front of text by itself (a Llama-style BOS), nothing else.
        return [Special(t) for t in leading_special_tokens(tokenizer)] if tokenizer else []

    def history_round(self, index, user, psychologist):
        return [f"{LABELS[USER]}：{user}\n{LABELS[PSYCHOLOGIST]}：{psychologist}\n"]

    def query(self, index, user):
        return [f"{LABELS[USER]}：{user}\n{LABELS[PSYCHOLOGIST]}："]


class SoulChatChatGLMTemplate(SoulChatTemplate):
    """The released SoulChat checkpoint's exact layout: the paper's text, then `[gMASK]<sop>`, the
    reply and `<eop>` (ChatGLM-6B's special tokens around it).

    scutcyr/SoulChat's demo (`soulchat_app.py`) passes the whole dialogue, rendered as the paper's
    text, to ChatGLM-6B's `chat()` as the query with no history, so no `[Round i]` header is
    written and the tokenizer appends `[gMASK]<sop>`; ChatGLM-6B's `ptuning/main.py` (the
    authors' training script) builds `prompt + [gMASK, <sop>] + reply + [<eop>]`. Trained: the
    reply + `<eop>` (the official labels also cover `<sop>`, which is always in the prompt).
    """

    name = "soulchat-chatglm"
    description = "the released SoulChat model: 用户：…\\n心理咨询师：[gMASK]<sop> …, stop <eop> (ChatGLM-6B)"

    def prefix(self, tokenizer=None) -> list[Piece]:
        return []  # ChatGLM-6B's tokenizer puts its special tokens after the text, not before

    def query(self, index, user):
        return super().query(index, user) + [Special("[gMASK]"), Special("<sop>")]

    def stop_token(self, tokenizer=None) -> str:
        return "<eop>"


class ChatGLMTemplate(ChatTemplate):
    """ChatGLM-6B: `[Round i]\\n问：q\\n答：` (i from 0), `[gMASK]<sop>` before the answer.

    Trained: the reply + `<eop>`. Source: THUDM/ChatGLM-6B `ptuning/main.py` (history rounds as
    `[Round i]\\n问：…\\n答：…\\n`, then `a_ids + [gMASK, <sop>] + b_ids + [<eop>]`; its labels also
    cover `<sop>`, which is always in the prompt). ChatGLM-6B's own `chat()` writes no header for
    a first question without history; soulchat always writes it, so that training and chat agree.
    """

    name = "chatglm"
    description = "ChatGLM-6B: [Round i]\\n问：…\\n答：… from 0, [gMASK]<sop> before the answer, <eop> after"

    def history_round(self, index, user, psychologist):
        return [f"[Round {index}]\n问：{user}\n答：{psychologist}\n"]

    def query(self, index, user):
        return [f"[Round {index}]\n问：{user}\n答：", Special("[gMASK]"), Special("<sop>")]

    def stop_token(self, tokenizer=None) -> str:
        return "<eop>"


class ChatGLM2Template(ChatTemplate):
    """ChatGLM2-6B: `[gMASK]sop` + `[Round i]\\n\\n问：q\\n\\n答：` (i from 1).

    Trained: the reply + eos. Source: THUDM/ChatGLM2-6B `ptuning/main.py` and the tokenizer's
    `build_prompt` (rounds numbered from 1, eos appended to the answer).
    """

    name = "chatglm2"
    description = "ChatGLM2-6B: [gMASK]sop, [Round i]\\n\\n问：…\\n\\n答：… from 1, stop = eos"

    def prefix(self, tokenizer=None):
        return [Special("[gMASK]"), Special("sop")]

    def history_round(self, index, user, psychologist):
        return [f"[Round {index + 1}]\n\n问：{user}\n\n答：{psychologist}\n\n"]

    def query(self, index, user):
        return [f"[Round {index + 1}]\n\n问：{user}\n\n答："]


class ChatGLM3Template(ChatTemplate):
    """ChatGLM3-6B: `[gMASK]sop<|user|>\\nq<|assistant|>\\n`, earlier replies closed by the next
    `<|user|>`.

    Trained: the reply + eos (`</s>`). Source: THUDM/ChatGLM3 `finetune_demo/finetune_hf.py`:
    every message is `<|role|>` + the tokens of its metadata line (empty) + `\\n` + the content's
    tokens; the loss mask is shifted by one, so the official labels of a reply are `\\n` + reply +
    the token after it: `<|user|>` for earlier replies, the appended eos for the last one; it
    generates until eos, `<|user|>` or `<|observation|>`.

    Where soulchat differs, and why: the `\\n` of the empty metadata line ends the prompt (the prompt
    ends where the reply begins; it is always there at chat time). Only the final reply of a sample
    is trained, with eos, as the official script trains a conversation's last reply; soulchat does
    not offer mask="all" for this format, because the official rows give the same reply a different
    stop (`<|user|>` or eos) depending on whether a turn follows, so a sample is not a prefix of the
    whole dialogue. The tokenizer's own chat template (chatglm3-6b `tokenizer_config.json`) writes
    `<|role|>\\n content`: that space is the SentencePiece dummy prefix of ChatGLM3's tokenizer,
    which encodes the metadata line and the content separately; soulchat trains native models
    whose byte-level tokenizers would turn it into a real space before every turn, so it is left
    out (tests/test_official_templates.py pins this exact difference).
    """

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
    """GLM-4 (GLM-4-9B-Chat): `[gMASK]<sop><|user|>\\nq<|assistant|>\\n`; nothing closes a reply but
    the next `<|user|>`.

    Trained: the reply + `<|user|>`, the official choice. Source: THUDM/GLM-4 `finetune/finetune.py`
    (commit 9c0e421…; `finetune_demo/finetune.py` before it) appends token 151336, `<|user|>`,
    "EOS for chat", after the last message, and its shifted loss mask trains the `<|user|>` that
    follows every earlier reply: every reply of a conversation ends with a trained `<|user|>`, and
    GLM-4 generates until `<|endoftext|>`, `<|user|>` or `<|observation|>` (its generation_config).
    Because the history repeats the trained stop, a sample is a prefix of the whole dialogue and
    one-pass training (mask="all") trains every turn in one row, as the official script does.

    The prompt equals the model's own chat template (glm-4-9b-chat `tokenizer_config.json`) plus
    the `\\n` that starts every message's content: the official labels train that `\\n` too (mask
    shift); soulchat puts it in the prompt so that the trained span is exactly reply + stop.
    """

    name = "glm4"
    description = "GLM-4: [gMASK]<sop><|user|>\\n…<|assistant|>\\n…, stop <|user|> (the official fine-tuning's)"
    _start = ("[gMASK]", "<sop>")

    def stop_token(self, tokenizer=None) -> str:
        return "<|user|>"


class GLM4EosTemplate(GLM4Template):
    """GLM-4's layout with `<|endoftext|>` as the trained stop: soulchat's `glm4` before it followed
    the official script's current choice, and the June 2024 `finetune_demo/finetune.py`'s choice
    for a conversation's last reply. Kept to continue runs trained that way; not prefix-consistent.
    """

    name = "glm4-eos"
    description = "GLM-4's layout with stop <|endoftext|> (soulchat's earlier glm4; for runs trained that way)"

    def stop_token(self, tokenizer=None) -> str:
        return "<|endoftext|>"
