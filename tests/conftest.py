"""Shared offline fixtures: no test touches the network or a hub."""

from __future__ import annotations

import pytest

from soulchat import testing
from soulchat.data import SAMPLE_DIALOGUES
from soulchat.io import read_dialogues

# Every special token the built-in templates write, plus Qwen's ChatML ones, in a fixed order so
# that the character tokenizer below has ids a test can state literally.
CHAR_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "[gMASK]", "<sop>", "<eop>", "sop",
    "<|user|>", "<|assistant|>", "<pad>",
]
CHARS = "用户心理咨询师：问答[Round]0123456789 \n嗯好累抱不想说话睡着觉得很烦你呢我在听ab<>|userint"


@pytest.fixture(scope="session")
def char_tokenizer():
    """One token per character (ids: specials 0-9, then CHARS in order): exact label lists."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(CHAR_SPECIALS)}
    for char in CHARS:
        vocab.setdefault(char, len(vocab))
    vocab["<unk>"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in CHAR_SPECIALS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.chat_template = testing.CHATML_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def char_ids(char_tokenizer):
    """Ids of a plain string under the character tokenizer, looked up one character at a time."""
    vocab = char_tokenizer.get_vocab()
    return lambda text: [vocab[c] for c in text]


@pytest.fixture(scope="session")
def trained_tokenizer():
    return testing.train_tokenizer()


@pytest.fixture(scope="session")
def trained_tokenizer_folder(tmp_path_factory):
    """`train_tokenizer()` saved as a folder, for commands that take `--tokenizer FOLDER`."""
    folder = tmp_path_factory.mktemp("trained-tokenizer")
    testing.train_tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def qwen():
    """Qwen's real vocabulary (pad == eos == <|endoftext|>) with the templates' tokens added."""
    return testing.qwen_tokenizer()


@pytest.fixture(scope="session")
def sample_dialogues():
    return list(read_dialogues(SAMPLE_DIALOGUES))
