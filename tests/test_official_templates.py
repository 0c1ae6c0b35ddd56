"""Fidelity: soulchat's ChatGLM-family templates against the models' own chat templates and the
official fine-tuning script, token for token, for 1, 2 and 5 rounds.

The official Jinja templates are kept verbatim in tests/data/official_templates/ with their
provenance (repository, path, commit). transformers' `apply_chat_template` renders them with a
tokenizer that carries the family's special tokens:

* `qwen+glm4`: Qwen's real 151k byte-level BPE vocabulary (the same kind of tokenizer as GLM-4's,
  with the same pre-tokenization pattern) plus GLM-4's 14 special tokens. The ids of those tokens
  are not GLM-4's (151329-151342): the real GLM-4 vocabulary cannot be had offline here.
* `trained+glm4`: the small BPE trained on the bundled dialogues, plus the same tokens.

What is compared, for GLM-4 (glm-4-9b-chat `tokenizer_config.json`, THUDM/GLM-4
`finetune/finetune.py`):

1. the prompt text and ids equal the official template's generation prompt plus the one `\\n`
   that starts every message's content (soulchat ends the prompt where the reply begins);
2. the training rows equal the official script's rows: the same ids, message by message
   (`apply_chat_template([message])[2:]`, then `<|user|>` appended as "EOS for chat"), and the
   same labels (the official shifted loss mask) except the `\\n` after each `<|assistant|>`, which
   the official labels train and soulchat keeps in the prompt. mask="all" is the official row;
   mask="final" trains only its last reply.

For ChatGLM3 (chatglm3-6b `tokenizer_config.json`) only the text is compared: the official
template writes `<|role|>\\n content`, whose space is the SentencePiece dummy prefix of ChatGLM3's
own tokenizer (see ChatGLM3Template); the test pins that this space and the generation prompt's
`\\n` are the only differences. ChatGLM3's ids come from its SentencePiece model through remote
code, which neither runs on transformers 5 nor can be had offline.

For the released SoulChat model (`soulchat-chatglm`): the rows equal those of ChatGLM-6B's
`ptuning/main.py` on the text scutcyr/SoulChat's demo builds, but for the trained `<sop>`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from soulchat import IGNORE_INDEX, testing
from soulchat.train.collator import EncodingSettings, encode, encode_example
from soulchat.templates import get_template

OFFICIAL = Path(__file__).parent / "data" / "official_templates"
ROUNDS = [1, 2, 5]


def official(name: str) -> dict:
    return json.loads((OFFICIAL / f"{name}.json").read_text(encoding="utf-8"))


def with_family_tokens(tokenizer, record: dict):
    from tokenizers import AddedToken

    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in record["special_tokens"]],
                         special_tokens=True)
    tokenizer.chat_template = record["chat_template"]
    return tokenizer


@pytest.fixture(scope="module", params=["qwen+glm4", "trained+glm4"])
def glm4_tokenizer(request):
    base = testing.qwen_tokenizer(with_template_tokens=False) if request.param == "qwen+glm4" else \
        testing.train_tokenizer()
    return with_family_tokens(base, official("glm-4-9b-chat"))


@pytest.fixture(scope="module")
def conversations(sample_dialogues):
    """For each round count n: the first n rounds of a long bundled dialogue, as messages."""
    dialogue = next(d for d in sample_dialogues if d.rounds >= max(ROUNDS))
    messages = dialogue.to_messages()
    return {n: messages[: 2 * n] for n in ROUNDS}


def parts(messages):
    """(history, final user turn, reply) of messages ending with the reply."""
    rounds = [(messages[i]["content"], messages[i + 1]["content"]) for i in range(0, len(messages) - 2, 2)]
    return rounds, messages[-2]["content"], messages[-1]["content"]


def chat_ids(tokenizer, messages, **kwargs) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, **kwargs))


def official_glm4_row(tokenizer, messages):
    """THUDM/GLM-4 `finetune/finetune.py` (commit 9c0e421), `process_batch` with combine=False,
    restated: [gMASK]<sop>, then each message rendered alone by the chat template without its
    [gMASK]<sop>; assistant messages are trained; `<|user|>` ("EOS for chat") is appended; the loss
    mask is shifted one position to the right."""
    special = tokenizer.get_added_vocab()
    ids, trained = [special["[gMASK]"], special["<sop>"]], [False, False]
    for message in messages:
        piece = chat_ids(tokenizer, [message])[2:]
        ids += piece
        trained += [message["role"] == "assistant"] * len(piece)
    ids.append(special["<|user|>"])
    trained = [False, *trained]
    return ids, [i if t else IGNORE_INDEX for i, t in zip(ids, trained)]


# ------------------------------------------------------------------------------------- GLM-4
@pytest.mark.parametrize("n", ROUNDS)
def test_glm4_prompt_is_the_official_generation_prompt_plus_the_content_newline(n, glm4_tokenizer, conversations):
    tokenizer, messages = glm4_tokenizer, conversations[n]
    history, query, _ = parts(messages)
    template = get_template("glm4")
    text = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert text.startswith("[gMASK]<sop><|user|>\n") and text.endswith("<|assistant|>")
    assert template.render_prompt(history, query, tokenizer) == text + "\n"
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    official_ids = chat_ids(tokenizer, messages[:-1], add_generation_prompt=True)
    assert template.encode_prompt(tokenizer, history, query).input_ids == official_ids + newline


@pytest.mark.parametrize("n", ROUNDS)
def test_glm4_training_rows_are_the_official_fine_tuning_rows(n, glm4_tokenizer, conversations):
    tokenizer, messages = glm4_tokenizer, conversations[n]
    ids, labels = official_glm4_row(tokenizer, messages)
    # the official row is the whole conversation as the chat template renders it, then <|user|>
    assert ids == chat_ids(tokenizer, messages) + [tokenizer.convert_tokens_to_ids("<|user|>")]
    assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert len(newline) == 1
    # the one difference: the "\n" after <|assistant|> is trained there, in the prompt here
    expected = [IGNORE_INDEX if i > 0 and ids[i - 1] == assistant else label for i, label in enumerate(labels)]
    assert sum(label != IGNORE_INDEX for label in labels) - sum(label != IGNORE_INDEX for label in expected) == n

    (row,) = encode({"messages": messages}, tokenizer, EncodingSettings("glm4", mask="all"))  # every reply
    assert row.input_ids == ids and row.labels == expected
    final = encode_example({"messages": messages}, tokenizer, "glm4")  # mask="final": the last reply
    last = max(i for i, token in enumerate(ids) if token == assistant)
    assert final["input_ids"] == ids
    assert final["labels"] == [IGNORE_INDEX] * (last + 2) + expected[last + 2 :]
    assert tokenizer.decode([t for t in final["labels"] if t != IGNORE_INDEX]) == messages[-1]["content"] + "<|user|>"


# ----------------------------------------------------------------------------------- ChatGLM3
def sentencepiece_spaces(text: str) -> str:
    """The official ChatGLM3 template's rendering of soulchat's text: a space after each role line."""
    return re.sub(r"(<\|(?:user|assistant)\|>\n)", r"\1 ", text)


@pytest.mark.parametrize("n", ROUNDS)
def test_chatglm3_differs_from_its_official_template_only_by_the_sentencepiece_spaces(n, conversations):
    record = official("chatglm3-6b")
    tokenizer = with_family_tokens(testing.train_tokenizer(), record)
    messages = conversations[n]
    history, query, reply = parts(messages)
    template = get_template("chatglm3")
    prompt = template.render_prompt(history, query, tokenizer)
    text = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>\n") and text.endswith("<|assistant|>")
    assert text == sentencepiece_spaces(prompt[:-1])
    whole = tokenizer.apply_chat_template(messages, tokenize=False)
    assert whole == sentencepiece_spaces(prompt + reply)
    assert template.render_target(reply, tokenizer) == reply + tokenizer.eos_token  # the official last-reply stop


# ---------------------------------------------------------------------- the released SoulChat
def soulchat_app_input(history, query) -> str:
    """scutcyr/SoulChat `soulchat_app.py` (commit cd69d25), restated: the text it sends to
    ChatGLM-6B's chat() as the query, with no history."""
    if not history:
        return "用户：" + query + "\n心理咨询师："
    context = "\n".join(f"用户：{u}\n心理咨询师：{p}" for u, p in history)
    return context + "\n用户：" + query + "\n心理咨询师："


@pytest.mark.parametrize("n", ROUNDS)
def test_soulchat_chatglm_rows_are_the_released_models_training_rows(n, conversations, trained_tokenizer):
    """THUDM/ChatGLM-6B `ptuning/main.py` builds a_ids + [gMASK, <sop>] + b_ids + [<eop>] and trains
    from <sop> on; soulchat-chatglm trains from the reply on (<sop> is always in the prompt)."""
    tokenizer = trained_tokenizer
    history, query, reply = parts(conversations[n])
    special = tokenizer.get_added_vocab()
    text_ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    a_ids, b_ids = text_ids(soulchat_app_input(history, query)), text_ids(reply)
    ids = a_ids + [special["[gMASK]"], special["<sop>"]] + b_ids + [special["<eop>"]]
    row = encode_example({"messages": conversations[n]}, tokenizer, "soulchat-chatglm")
    assert row["input_ids"] == ids
    assert row["labels"] == [IGNORE_INDEX] * (len(a_ids) + 2) + b_ids + [special["<eop>"]]
    assert get_template("soulchat-chatglm").render_prompt(history, query) == (
        soulchat_app_input(history, query) + "[gMASK]<sop>")
