"""A learned second layer for crisis detection: a linear model over character n-grams.

Hand-written rules catch the phrasings their author has seen and miss new ones (docs/safety.md
measures it: recall 0.43-0.83 on each set written after the rules). This layer generalises from
labelled examples instead: multinomial logistic regression over the character 1-4-grams of the
normalized text (the same normalization as the rules: traditional to simplified, separators and
spacing tricks removed), one class per category plus "none".

It stays in the spirit of the rules: offline, numpy only, about 0.1 ms a text, and explainable:
`explain` lists the n-grams that pushed the text towards its category, with their positions in
the user's own text.

It is one of the two learned parts of the shipped crisis model (model.py: this, a head over
pretrained sentence embeddings, and a stacker that weighs both with the rules). Training is
deterministic (linear.py: full-batch Adam from zeros).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from soulchat.safety.linear import Sparse, softmax, softmax_regression
from soulchat.safety.normalize import model_view, offsets, original_span
from soulchat.safety.rules import CATEGORIES

NONE = "none"
CLASSES = (NONE, *CATEGORIES)
BIAS = "\x00bias"
LENGTH = "\x00len"  # features that are not text (bias, length bucket) start with NUL


def ngrams(norm: str, orders: Sequence[int] = (1, 2, 3, 4)) -> Iterable[tuple[str, int]]:
    """(feature, start) pairs of a normalized text: its character n-grams of each order ("^"/"$" mark
    the text's ends), then one message-length bucket (1-3, 4-7, 8-15, ... characters), so that a bare
    "哈喽" is decided by its length, not by the bias alone."""
    padded = f"^{norm}$"
    length = len(padded)
    for n in orders:
        for i in range(length - n + 1):
            yield padded[i : i + n], i - 1  # position in `norm` (the "^" is at -1)
    yield f"{LENGTH}{min(len(norm), 255).bit_length()}", -1


@dataclass
class TrainConfig:
    orders: tuple[int, ...] = (1, 2, 3)
    min_count: int = 2  # an n-gram must occur in at least this many training texts
    l2: float = 1e-2  # weight decay on the n-gram weights (not on the bias); measured in docs/safety.md
    steps: int = 400
    learning_rate: float = 0.005


class NgramClassifier:
    """Multinomial logistic regression over binary character n-gram features."""

    def __init__(self, vocab: dict[str, int], weights: np.ndarray, orders: Sequence[int] = (1, 2, 3),
                 classes: Sequence[str] = CLASSES, meta: dict | None = None):
        if weights.shape != (len(vocab), len(classes)):
            raise ValueError(f"weights shape {weights.shape} does not match {len(vocab)} n-grams x {len(classes)} classes")
        self.vocab = vocab
        self.weights = weights.astype(np.float32, copy=False)
        self.orders = tuple(orders)
        self.classes = tuple(classes)
        self.meta = dict(meta or {})
        self._bias = vocab[BIAS]

    # -- features ----------------------------------------------------------------------------
    def _ids(self, norm: str) -> list[int]:
        vocab = self.vocab
        found = {vocab[g] for g, _ in ngrams(norm, self.orders) if g in vocab}
        found.add(self._bias)
        return list(found)

    # -- prediction --------------------------------------------------------------------------
    def logits(self, text: str) -> np.ndarray:
        return self.weights[self._ids(model_view(text))].sum(axis=0)

    def proba(self, text: str) -> np.ndarray:
        return softmax(self.logits(text))

    def risk(self, text: str) -> tuple[float, str]:
        """P(any risk) = 1 - P(none), and the most likely risk category."""
        p = self.proba(text)
        best = 1 + int(np.argmax(p[1:]))
        return float(1.0 - p[0]), self.classes[best]

    def explain(self, text: str, category: str, top: int = 3) -> tuple[tuple[int, int, str], ...]:
        """The n-grams that pushed `text` most towards `category` (against "none"), as spans of `text`."""
        norm = model_view(text)
        if not norm:
            return ()
        column = self.classes.index(category)
        scored: dict[str, tuple[float, int]] = {}
        for gram, start in ngrams(norm, self.orders):
            row = self.vocab.get(gram)
            if row is None:
                continue
            gain = float(self.weights[row, column] - self.weights[row, 0])
            # a single character explains little; the length bucket is not in the text
            if gain > 0 and len(gram.strip("^$")) >= 2 and not gram.startswith(LENGTH) and gram not in scored:
                scored[gram] = (gain, start)
        index = offsets(text)
        spans: list[tuple[int, int, str]] = []
        taken: list[tuple[int, int]] = []
        for gram, (gain, start) in sorted(scored.items(), key=lambda item: -item[1][0]):
            begin, end = max(start, 0), min(start + len(gram), len(norm))
            if begin >= end or any(b < end and begin < e for b, e in taken):
                continue
            taken.append((begin, end))
            spans.append(original_span(text, index, begin, end))
            if len(spans) == top:
                break
        return tuple(sorted(spans))

    # -- persistence (inside the crisis model's file, see model.py) -----------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        grams = sorted(self.vocab, key=self.vocab.__getitem__)
        return {"ngram_grams": np.array(grams, dtype=object).astype(str), "ngram_weights": self.weights.astype(np.float16)}

    @classmethod
    def from_arrays(cls, arrays, orders: Sequence[int], classes: Sequence[str]) -> NgramClassifier:
        vocab = {str(g): i for i, g in enumerate(arrays["ngram_grams"])}
        return cls(vocab, np.asarray(arrays["ngram_weights"], dtype=np.float32), orders, classes)


def fit(texts: Sequence[str], labels: Sequence[str | None], config: TrainConfig | None = None,
        sample_weight: Sequence[float] | None = None, meta: dict | None = None) -> NgramClassifier:
    """Train on (text, category-or-None) pairs. Deterministic: the same data gives the same model."""
    config = config or TrainConfig()
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    y = class_indices(labels)
    grams_per_text = [sorted({g for g, _ in ngrams(model_view(t), config.orders)}) for t in texts]
    counts: dict[str, int] = {}
    for grams in grams_per_text:
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
    vocabulary = [BIAS] + sorted(g for g, c in counts.items() if c >= config.min_count)
    vocab = {g: i for i, g in enumerate(vocabulary)}
    features = Sparse.from_lists([[0] + [vocab[g] for g in grams if g in vocab] for grams in grams_per_text], len(vocab))
    weights = softmax_regression(features, y, len(CLASSES), sample_weight, config.l2, config.steps, config.learning_rate)
    info = {"examples": len(texts), "ngrams": len(vocab), **config.__dict__, **(meta or {})}
    info["orders"] = list(config.orders)
    return NgramClassifier(vocab, weights, config.orders, CLASSES, info)


def class_indices(labels: Sequence[str | None]) -> list[int]:
    """Class index per label (None = "none"); an unknown label is an error that names it."""
    unknown = sorted({str(label) for label in labels if label is not None and label not in CATEGORIES})
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected one of {list(CATEGORIES)} or None")
    return [CLASSES.index(label if label is not None else NONE) for label in labels]


__all__ = ["CLASSES", "NgramClassifier", "TrainConfig", "class_indices", "fit", "ngrams"]
