"""Publish to the Hugging Face Hub: a SoulChatCorpus folder as a dataset repo, a trained model or
LoRA adapter as a model repo, each with its card.

    from soulchat.hub import CardSources, push_corpus, push_model
    push_corpus("corpus/", "me/SoulChatCorpus", private=True)
    push_model("outputs/run", "me/soulchat-qwen-lora",
               CardSources(corpus_repo="me/SoulChatCorpus", metrics="eval/metrics.json", cehs="judge/cehs.json"))

The token comes from huggingface_hub itself (HF_TOKEN, else `hf auth login`) and is never written
to any file. Pass `api=` to use another `HfApi` (tests pass a recording fake). Unchanged files are
not re-sent; a failed push raises `PushError` listing what was not uploaded and leaves the local
folder as it was. See docs/hub.md.
"""

from __future__ import annotations

from .corpus import corpus_uploads, push_corpus
from .model import CardSources, model_card_text, model_uploads, push_model, render_model_card
from .run import RunInfo, read_cehs, read_metrics, read_run
from .upload import PushError, PushResult, Upload

__all__ = [
    "PushError",
    "PushResult",
    "RunInfo",
    "Upload",
    "corpus_uploads",
    "CardSources",
    "model_card_text",
    "model_uploads",
    "push_corpus",
    "push_model",
    "read_cehs",
    "read_metrics",
    "read_run",
    "render_model_card",
]
