"""The learned crisis model: n-grams, a pretrained sentence encoder and the rules, weighed together.

Three signals, each weak alone on real text (docs/safety.md has the cross-validated figures):

1. `NgramClassifier`: character 1-3-grams of the normalized text (the words people actually use);
2. a softmax head over the 512-dimensional sentence embedding of `encoder.SentenceEncoder` (what a
   pretrained encoder knows about meaning: paraphrases no n-gram has seen);
3. the rules: whether they flagged the text, and whether a rule pattern matched but its context
   logic declined it (a negation, news, someone else).

A stacker (logistic regression over the two models' log-odds of risk and the two rule bits)
gives P(risk). Two thresholds on it, chosen on out-of-fold scores of the training data
(training.py): at or above `threshold` the turn gets the crisis reply; at or above
`check_threshold` a gentle safety question. The category is the rules' when they flagged,
else the most likely risk class of the two models together.

Long text: the n-gram model and the rules read all of it (linear time); the encoder reads the
`ENCODER_CHARS` window the n-gram model finds riskiest, so a turn costs at most one short encode.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path

import numpy as np

from soulchat.safety.classifier import CLASSES, NgramClassifier
from soulchat.safety.linear import dense_proba, logit

MODEL_FILE = "crisis_model.npz"
ENCODER_CHARS = 80  # the encoder's cost grows with length (~0.06 ms a token); beyond this, one window
STACK_FEATURES = ("ngram_logit", "encoder_logit", "rules_flagged", "rules_declined")


@dataclass(frozen=True)
class Scores:
    """What the model says about one text."""

    risk: float  # P(any risk) from the stacker
    category: str  # the most likely risk category (the rules' category takes precedence in the detector)
    ngram_risk: float
    encoder_risk: float | None  # None when the model has no encoder head


class CrisisModel:
    """`score(text, rules_flagged, rules_declined) -> Scores`; `threshold` / `check_threshold` decide."""

    def __init__(self, ngram: NgramClassifier, head: np.ndarray | None, stack: np.ndarray, threshold: float,
                 check_threshold: float, meta: dict | None = None, encoder=None):
        if not 0.0 < check_threshold <= threshold < 1.0:
            raise ValueError(f"thresholds must satisfy 0 < check_threshold ({check_threshold}) <= threshold ({threshold}) < 1")
        if stack.shape != (len(STACK_FEATURES) + 1,):
            raise ValueError(f"stacker weights must have {len(STACK_FEATURES) + 1} values, got shape {stack.shape}")
        self.ngram = ngram
        self.head = None if head is None else np.asarray(head, dtype=np.float32)
        self.stack = np.asarray(stack, dtype=float)
        self.threshold = float(threshold)
        self.check_threshold = float(check_threshold)
        self.classes = ngram.classes
        self.meta = dict(meta or {})
        self._encoder = encoder

    # -- scoring -------------------------------------------------------------------------------
    @property
    def encoder(self):
        if self._encoder is None and self.head is not None:
            from soulchat.safety.encoder import shared

            self._encoder = shared()
        return self._encoder

    def score(self, text: str, rules_flagged: bool = False, rules_declined: bool = False,
              embedding: np.ndarray | None = None) -> Scores:
        """`embedding`: the text's sentence embedding when the caller has it (a conversation's
        context is scored on the mean of its turns' cached embeddings)."""
        ngram_p = self.ngram.proba(text)
        encoder_p = None
        if self.head is not None:
            if embedding is None:
                embedding = self.embed(text)
            encoder_p = dense_proba(self.head, embedding)[0]
        return self._combine(ngram_p, encoder_p, rules_flagged, rules_declined)

    def embed(self, text: str) -> np.ndarray:
        """The sentence embedding the model reads for `text` (its riskiest window when long)."""
        return self.encoder.encode([self.encoder_window(text)])[0]

    def encoder_window(self, text: str) -> str:
        if len(text) <= ENCODER_CHARS:
            return text
        pieces = windows(text, ENCODER_CHARS)
        return max(pieces, key=lambda piece: self.ngram.risk(piece)[0])

    def _combine(self, ngram_p: np.ndarray, encoder_p: np.ndarray | None, rules_flagged: bool,
                 rules_declined: bool) -> Scores:
        ngram_risk = float(1.0 - ngram_p[0])
        encoder_risk = None if encoder_p is None else float(1.0 - encoder_p[0])
        features = np.array([logit(ngram_risk), logit(encoder_risk if encoder_risk is not None else ngram_risk),
                             float(rules_flagged), float(rules_declined), 1.0])
        risk = float(1.0 / (1.0 + np.exp(-features @ self.stack)))
        both = ngram_p if encoder_p is None else (ngram_p + encoder_p) / 2
        category = self.classes[1 + int(np.argmax(both[1:]))]
        return Scores(risk, category, ngram_risk, encoder_risk)

    def explain(self, text: str, category: str) -> tuple[tuple[int, int, str], ...]:
        """The n-grams behind a verdict, as spans of `text`."""
        return self.ngram.explain(text, category)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        header = {"threshold": self.threshold, "check_threshold": self.check_threshold,
                  "orders": list(self.ngram.orders), "classes": list(self.classes),
                  "stack_features": list(STACK_FEATURES), "meta": self.meta}
        arrays = self.ngram.arrays()
        if self.head is not None:
            arrays["encoder_head"] = self.head.astype(np.float32)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, stack=self.stack, header=np.array(json.dumps(header, ensure_ascii=False)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> CrisisModel:
        """Load a model file; a file that is not one names itself and what is wrong."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                ngram = NgramClassifier.from_arrays(data, header["orders"], header["classes"])
                head = data["encoder_head"] if "encoder_head" in data.files else None
                stack = data["stack"]
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such crisis model file") from None
        except IsADirectoryError:
            raise ValueError(f"{path}: is a folder, not a crisis model file (.npz)") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            reason = f"missing {error}" if isinstance(error, KeyError) else "not a readable .npz archive"
            raise ValueError(f"{path}: not a soulchat crisis model ({reason}); "
                             "write one with `soulchat safety train --out FILE`") from None
        if tuple(header["classes"]) != CLASSES:
            raise ValueError(f"{path}: a model for the classes {header['classes']}, but this soulchat has {list(CLASSES)}: retrain it")
        return cls(ngram, head, stack, header["threshold"], header["check_threshold"], header.get("meta"))


def windows(text: str, size: int) -> list[str]:
    """`text` cut into pieces of at most `size` characters: each piece ends at the last sentence or
    clause mark in its second half where there is one; a piece cut mid-clause overlaps the next by a
    quarter, so words on the cut are read whole at least once. Linear in the length of `text`."""
    marks = frozenset("。！？!?\n；;，,")
    pieces, start, n = [], 0, len(text)
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = next((i for i in range(end - 1, start + size // 2 - 1, -1) if text[i] in marks), None)
            if cut is not None:
                end = cut + 1
        pieces.append(text[start:end])
        if end >= n:
            break
        start = end if text[end - 1] in marks else end - size // 4
    return pieces


_shipped: CrisisModel | None = None


def shipped_model_path() -> Path:
    return Path(str(importlib_resources.files("soulchat.safety") / "data" / MODEL_FILE))


def default_model() -> CrisisModel | None:
    """The model shipped with the package (None if the file is missing, e.g. while it is rebuilt)."""
    global _shipped
    if _shipped is None:
        path = shipped_model_path()
        if not path.exists():
            return None
        _shipped = CrisisModel.load(path)
    return _shipped


__all__ = ["ENCODER_CHARS", "MODEL_FILE", "CrisisModel", "Scores", "default_model", "shipped_model_path", "windows"]
