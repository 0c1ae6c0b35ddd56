"""A learned second layer for crisis detection: a linear model over character n-grams.

Hand-written rules catch the phrasings their author has seen and miss new ones (docs/safety.md
measures it: recall 0.43-0.83 on each set written after the rules). This layer generalises from
labelled examples instead: multinomial logistic regression over the character 1-4-grams of the
normalized text (the same normalization as the rules: traditional to simplified, separators and
spacing tricks removed), one class per category plus "none".

It stays in the spirit of the rules: offline, numpy only, about 0.1 ms a text, and explainable:
`explain` lists the n-grams that pushed the text towards its category, with their positions in
the user's own text.

The shipped model (`data/crisis_ngram.npz`) is trained by `soulchat safety train` on the labelled
sets in tests/data; training is deterministic (full-batch gradient descent from zeros), so the
file can be rebuilt from the data and a test checks that it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path

import numpy as np

from soulchat.safety.normalize import normalize, offsets, original_span
from soulchat.safety.rules import CATEGORIES

NONE = "none"
CLASSES = (NONE, *CATEGORIES)
BIAS = "\x00bias"
LENGTH = "\x00len"  # features that are not text (bias, length bucket) start with NUL
MODEL_FILE = "crisis_ngram.npz"


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
    orders: tuple[int, ...] = (1, 2, 3, 4)
    min_count: int = 2  # an n-gram must occur in at least this many training texts
    l2: float = 1e-4  # weight decay on the n-gram weights (not on the bias)
    steps: int = 400
    learning_rate: float = 0.5
    risk_weight: float = 1.0  # loss weight of a risk example relative to a "none" example


class NgramClassifier:
    """Multinomial logistic regression over binary character n-gram features."""

    def __init__(self, vocab: dict[str, int], weights: np.ndarray, threshold: float = 0.5,
                 orders: Sequence[int] = (1, 2, 3, 4), classes: Sequence[str] = CLASSES, meta: dict | None = None,
                 veto_threshold: float | None = None, check_threshold: float | None = None):
        if weights.shape != (len(vocab), len(classes)):
            raise ValueError(f"weights shape {weights.shape} does not match {len(vocab)} n-grams x {len(classes)} classes")
        self.vocab = vocab
        self.weights = weights.astype(np.float32, copy=False)
        self.threshold = float(threshold)
        # the score needed to flag a text whose rule match was declined by context (negation, news…)
        self.veto_threshold = float(veto_threshold if veto_threshold is not None else max(threshold, 0.95))
        # at or above this (and below `threshold`) the text is not flagged but earns a gentle check-in
        self.check_threshold = float(check_threshold if check_threshold is not None else threshold)
        if not 0.0 < self.check_threshold <= self.threshold:
            raise ValueError(f"check_threshold {self.check_threshold} must be in (0, threshold={self.threshold}]")
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
        return self.weights[self._ids(normalize(text))].sum(axis=0)

    def proba(self, text: str) -> np.ndarray:
        z = self.logits(text)
        z = np.exp(z - z.max())
        return z / z.sum()

    def risk(self, text: str) -> tuple[float, str]:
        """P(any risk) = 1 - P(none), and the most likely risk category."""
        p = self.proba(text)
        best = 1 + int(np.argmax(p[1:]))
        return float(1.0 - p[0]), self.classes[best]

    def explain(self, text: str, category: str, top: int = 3) -> tuple[tuple[int, int, str], ...]:
        """The n-grams that pushed `text` most towards `category` (against "none"), as spans of `text`."""
        norm = normalize(text)
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

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        grams = sorted(self.vocab, key=self.vocab.__getitem__)
        header = {"threshold": self.threshold, "veto_threshold": self.veto_threshold,
                  "check_threshold": self.check_threshold, "orders": list(self.orders), "classes": list(self.classes), "meta": self.meta}
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                grams=np.array(grams, dtype=object).astype(str),
                weights=self.weights.astype(np.float16),
                header=np.array(json.dumps(header, ensure_ascii=False)),
            )

    @classmethod
    def load(cls, path: str | Path) -> NgramClassifier:
        with np.load(path, allow_pickle=False) as data:
            grams = [str(g) for g in data["grams"]]
            weights = data["weights"].astype(np.float32)
            header = json.loads(str(data["header"]))
        vocab = {g: i for i, g in enumerate(grams)}
        return cls(vocab, weights, header["threshold"], header["orders"], header["classes"], header.get("meta"),
                   header.get("veto_threshold"), header.get("check_threshold"))


def fit(texts: Sequence[str], labels: Sequence[str | None], config: TrainConfig | None = None,
        threshold: float = 0.5, meta: dict | None = None, check_threshold: float | None = None) -> NgramClassifier:
    """Train on (text, category-or-None) pairs. Deterministic: the same data gives the same model."""
    config = config or TrainConfig()
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    unknown = sorted({str(label) for label in labels if label is not None and label not in CATEGORIES})
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected one of {list(CATEGORIES)} or None")
    grams_per_text = [sorted({g for g, _ in ngrams(normalize(t), config.orders)}) for t in texts]
    counts: dict[str, int] = {}
    for grams in grams_per_text:
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
    vocabulary = [BIAS] + sorted(g for g, c in counts.items() if c >= config.min_count)
    vocab = {g: i for i, g in enumerate(vocabulary)}
    rows, cols = [], []
    for r, grams in enumerate(grams_per_text):
        ids = [0] + [vocab[g] for g in grams if g in vocab]
        rows.extend([r] * len(ids))
        cols.extend(ids)
    rows_a = np.asarray(rows, dtype=np.int64)
    cols_a = np.asarray(cols, dtype=np.int64)
    n, v, c = len(texts), len(vocab), len(CLASSES)
    y = np.array([CLASSES.index(label if label is not None else NONE) for label in labels])
    sample_weight = np.where(y == 0, 1.0, config.risk_weight)
    sample_weight = sample_weight / sample_weight.sum()
    onehot = np.zeros((n, c))
    onehot[np.arange(n), y] = 1.0
    weights = np.zeros((v, c))
    decay = np.full((v, 1), config.l2)
    decay[0] = 0.0
    # Adam, full batch: deterministic and fast enough for tens of thousands of texts.
    m = np.zeros_like(weights)
    s = np.zeros_like(weights)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    starts = np.searchsorted(rows_a, np.arange(n))
    for step in range(1, config.steps + 1):
        z = np.add.reduceat(weights[cols_a], starts, axis=0)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g_rows = (p - onehot) * sample_weight[:, None]
        grad = np.empty_like(weights)
        per_entry = g_rows[rows_a]
        for k in range(c):
            grad[:, k] = np.bincount(cols_a, weights=per_entry[:, k], minlength=v)
        grad += decay * weights
        m = beta1 * m + (1 - beta1) * grad
        s = beta2 * s + (1 - beta2) * grad * grad
        m_hat = m / (1 - beta1**step)
        s_hat = s / (1 - beta2**step)
        weights -= config.learning_rate * 0.01 * m_hat / (np.sqrt(s_hat) + eps)
    info = {"examples": n, "ngrams": v, **config.__dict__, **(meta or {})}
    info["orders"] = list(config.orders)
    return NgramClassifier(vocab, weights, threshold, config.orders, CLASSES, info, check_threshold=check_threshold)


_shipped: NgramClassifier | None = None


def shipped_model_path() -> Path:
    return Path(str(importlib_resources.files("soulchat.safety") / "data" / MODEL_FILE))


def default_classifier() -> NgramClassifier | None:
    """The model shipped with the package (None if the file is missing, e.g. while it is rebuilt)."""
    global _shipped
    if _shipped is None:
        path = shipped_model_path()
        if not path.exists():
            return None
        _shipped = NgramClassifier.load(path)
    return _shipped


__all__ = ["CLASSES", "NgramClassifier", "TrainConfig", "default_classifier", "fit", "ngrams"]


# -- model selection ------------------------------------------------------------------------------
def out_of_fold(sets: dict[str, list[dict]], config: TrainConfig | None = None, progress=None) -> dict[str, list[float]]:
    """Leave-one-set-out: for each labelled set, P(any risk) from a model trained on all the others.

    Sets are whole files written at different times (and by different writers), so a held-out set
    measures phrasings the model has not seen, not near-copies of its training lines."""
    scores: dict[str, list[float]] = {}
    for name, rows in sets.items():
        train = [r for other, others in sets.items() if other != name for r in others]
        model = fit([r["text"] for r in train], [r["label"] for r in train], config)
        scores[name] = [model.risk(r["text"])[0] for r in rows]
        if progress is not None:
            progress(name)
    return scores


def pick_threshold(gold: Sequence[bool], scores: Sequence[float], target_recall: float = 0.95) -> float:
    """The highest threshold whose recall on `gold` is still >= target_recall (a grid of 0.01)."""
    positives = sum(gold)
    if not positives:
        raise ValueError("no risk example to choose a threshold on")
    best = 0.01
    for step in range(1, 100):
        tau = step / 100
        recall = sum(1 for g, s in zip(gold, scores) if g and s >= tau) / positives
        if recall >= target_recall:
            best = tau
    return best


def lowest_threshold_within(scores: Sequence[float], max_rate: float) -> float:
    """The lowest threshold (grid of 0.01) at which at most `max_rate` of `scores` (all from texts
    without risk) reach it: how often ordinary messages may get the crisis reply."""
    if not scores:
        raise ValueError("no background text to bound the false-alarm rate on")
    for step in range(1, 100):
        tau = step / 100
        if sum(1 for s in scores if s >= tau) / len(scores) <= max_rate:
            return tau
    return 0.99
