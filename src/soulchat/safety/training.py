"""Training and cross-validating the crisis model (model.py) on real labelled text.

Two kinds of labelled rows:

- **calibration rows**, real labelled utterances (PsySUICIDE's validation split: counseling
  sessions, a counseling platform, social media). The stacker and both thresholds are learned on
  these alone, from out-of-fold scores, so the thresholds mean what they say on real text;
- **extra rows**, the sets written for this project (tests/data/safety_*.jsonl). They add
  phrasings and categories the real data has few of (threats, preparation, traditional
  characters) to the n-gram model and the encoder head, at a small weight: they were written by
  LLM writers and label some things differently (PsySUICIDE counts any talk of suicide as risk).

`fit_model` trains the shipped model; `cross_validate` measures the whole procedure honestly:
each outer fold is scored by a model (stacker and thresholds included) trained without it.
Everything is deterministic: folds by content hash, full-batch optimizers from zeros.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from soulchat.safety import classifier as ngram_model
from soulchat.safety.classifier import CLASSES, TrainConfig, class_indices
from soulchat.safety.linear import dense_proba, logit, softmax_regression
from soulchat.safety.model import CrisisModel
from soulchat.safety.normalize import normalize

Progress = Callable[[str], None]


@dataclass
class TrainSettings:
    ngram: TrainConfig = field(default_factory=TrainConfig)
    encoder: bool = True  # the head over sentence embeddings (False: n-grams and rules only)
    extra_weight_ngram: float = 0.1  # weight of a written-for-the-project row vs a real one
    extra_weight_encoder: float = 0.03
    encoder_l2: float = 1e-3
    encoder_steps: int = 800
    stack_l2: float = 1e-3
    folds: int = 5
    # the crisis-reply threshold: the lowest from which on out-of-fold precision stays >= flag_precision
    # (or, with flag_recall set instead, the highest with out-of-fold recall >= flag_recall)
    flag_precision: float | None = 0.80
    flag_recall: float | None = None
    check_recall: float = 0.98  # the check-in threshold: highest with recall of crisis reply or check-in >= this


def stratified_folds(rows: Sequence[dict], k: int) -> list[int]:
    """A fold per row: stratified by label, rows with the same normalized text always together,
    order fixed by a hash of the text (deterministic, independent of file order)."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(normalize(row["text"]), []).append(i)
    by_label: dict[str, list[str]] = {}
    for key, members in groups.items():  # a group's label: its most urgent member's (risk before none)
        labels = sorted(str(rows[i]["label"]) for i in members if rows[i]["label"] is not None)
        by_label.setdefault(labels[0] if labels else "None", []).append(key)
    fold = [0] * len(rows)
    counter = 0
    for label in sorted(by_label):
        for key in sorted(by_label[label], key=lambda k: hashlib.sha256(k.encode()).hexdigest()):
            for i in groups[key]:
                fold[i] = counter % k
            counter += 1
    return fold


def precise_threshold(gold: Sequence[bool], scores: Sequence[float], target_precision: float) -> float:
    """The lowest threshold (a grid of 0.005) from which on precision on `gold` never falls below
    target_precision (so a noisy dip just above it cannot pick it); 0.995 if none."""
    gold = np.asarray(gold, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    if not gold.any():
        raise ValueError("no risk example to choose a threshold on")
    best = 0.995
    for tau in np.arange(0.995, 0.0, -0.005):
        chosen = scores >= tau
        if chosen.any() and gold[chosen].mean() < target_precision:
            break
        best = float(round(tau, 3))
    return best


def pick_threshold(gold: Sequence[bool], scores: Sequence[float], target_recall: float) -> float:
    """The highest threshold (a grid of 0.005) whose recall on `gold` is still >= target_recall."""
    gold = np.asarray(gold, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    if not gold.any():
        raise ValueError("no risk example to choose a threshold on")
    best = 0.005
    for tau in np.arange(0.005, 1.0, 0.005):
        if (scores[gold] >= tau).mean() >= target_recall:
            best = float(round(tau, 3))
    return best


class _Features:
    """Rule bits and sentence embeddings of every text, computed once per training run."""

    def __init__(self, texts: Sequence[str], use_encoder: bool, progress: Progress | None,
                 memo: dict[str, np.ndarray] | None = None):
        from soulchat.safety.detector import Detector

        rules = Detector(model=None)
        verdicts = [rules.rule_verdict(t) for t in texts]
        self.rules = np.array([[v.flagged, declined] for v, declined in verdicts], dtype=float)
        self.encoder = None
        self.progress = progress
        self._memo: dict[str, np.ndarray] = {} if memo is None else memo
        if use_encoder:
            from soulchat.safety.encoder import shared

            self.encoder = shared()

    def embeddings(self, texts: Sequence[str], ngram) -> np.ndarray:
        """Each text's embedding; long texts by the window the given n-gram model finds riskiest,
        exactly as the model reads them at run time. Memoized for the whole run (the encoder's
        own cache is smaller than a training set)."""
        probe = CrisisModel(ngram, None, np.zeros(5), 0.5, 0.5, encoder=self.encoder)
        windows = [probe.encoder_window(t) for t in texts]
        missing = list(dict.fromkeys(w for w in windows if w not in self._memo))
        for start in range(0, len(missing), 256):
            chunk = missing[start:start + 256]
            self._memo.update(zip(chunk, self.encoder.encode(chunk)))
            if self.progress and len(missing) > 256:
                self.progress(f"encoded {min(start + 256, len(missing))}/{len(missing)} texts")
        return np.stack([self._memo[w] for w in windows]) if windows else np.zeros((0, 512), dtype=np.float32)


def _fit_base(rows: Sequence[dict], weights: Sequence[float], weights_encoder: Sequence[float],
              features: _Features, index: Sequence[int], settings: TrainSettings):
    texts = [rows[i]["text"] for i in index]
    labels = [rows[i]["label"] for i in index]
    ngram = ngram_model.fit(texts, labels, settings.ngram, [weights[i] for i in index])
    head = None
    if features.encoder is not None:
        head = softmax_regression(features.embeddings(texts, ngram), class_indices(labels), len(CLASSES),
                                  [weights_encoder[i] for i in index], settings.encoder_l2, settings.encoder_steps, 0.01)
    return ngram, head


def _base_logits(ngram, head, texts: Sequence[str], features: _Features) -> np.ndarray:
    """(n, 2): the n-gram model's and the encoder head's log-odds of risk."""
    ngram_risk = np.array([1.0 - ngram.proba(t)[0] for t in texts])
    encoder_risk = 1.0 - dense_proba(head, features.embeddings(texts, ngram))[:, 0] if head is not None else ngram_risk
    return np.column_stack([logit(ngram_risk), logit(encoder_risk)])


def fit_model(calibration: Sequence[dict], extra: Sequence[dict] = (), settings: TrainSettings | None = None,
              meta: dict | None = None, progress: Progress | None = None,
              embedding_memo: dict[str, np.ndarray] | None = None) -> CrisisModel:
    """Train base models on calibration + extra rows; the stacker and thresholds on out-of-fold
    scores of the calibration rows. `embedding_memo`: sentence embeddings by text, shared across
    calls (cross-validation encodes each text once)."""
    settings = settings or TrainSettings()
    calibration, extra = list(calibration), list(extra)
    if not any(r["label"] is not None for r in calibration):
        raise ValueError("the calibration rows hold no risk example")
    rows = calibration + extra
    n_cal = len(calibration)
    weights = [1.0] * n_cal + [settings.extra_weight_ngram] * len(extra)
    weights_encoder = [1.0] * n_cal + [settings.extra_weight_encoder] * len(extra)
    features = _Features([r["text"] for r in rows], settings.encoder, progress, embedding_memo)
    folds = stratified_folds(calibration, settings.folds)
    oof = np.zeros((n_cal, 2))
    for k in range(settings.folds):
        train = [i for i in range(n_cal) if folds[i] != k] + list(range(n_cal, len(rows)))
        test = [i for i in range(n_cal) if folds[i] == k]
        ngram, head = _fit_base(rows, weights, weights_encoder, features, train, settings)
        oof[test] = _base_logits(ngram, head, [rows[i]["text"] for i in test], features)
        if progress:
            progress(f"inner fold {k + 1}/{settings.folds}")
    stacked = np.column_stack([oof, features.rules[:n_cal]])
    gold = np.array([r["label"] is not None for r in calibration])
    stack_weights = softmax_regression(stacked, gold.astype(int), 2, None, settings.stack_l2, 2000, 0.01)
    # as one logistic regression: the weights of "risk" minus those of "none"
    stack = stack_weights[:, 1] - stack_weights[:, 0]
    risk = dense_proba(stack_weights, stacked)[:, 1]
    if (settings.flag_precision is None) == (settings.flag_recall is None):
        raise ValueError("set exactly one of flag_precision and flag_recall")
    if settings.flag_recall is not None:
        threshold = pick_threshold(gold, risk, settings.flag_recall)
    else:
        threshold = precise_threshold(gold, risk, settings.flag_precision)
    check_threshold = min(threshold, pick_threshold(gold, risk, settings.check_recall))
    ngram, head = _fit_base(rows, weights, weights_encoder, features, range(len(rows)), settings)
    if progress:
        progress("final model")
    info = {"calibration_rows": n_cal, "extra_rows": len(extra), "settings": _settings_dict(settings), **(meta or {})}
    return CrisisModel(ngram, head, stack, threshold, check_threshold, info, encoder=features.encoder)


def cross_validate(calibration: Sequence[dict], extra: Sequence[dict] = (), settings: TrainSettings | None = None,
                   progress: Progress | None = None) -> list[dict]:
    """Outer k-fold over the calibration rows: each row's verdict from a detector whose model
    (base models, stacker, thresholds) never saw it. Returns one prediction per row, in order."""
    from soulchat.safety.detector import Detector

    settings = settings or TrainSettings()
    calibration = list(calibration)
    folds = stratified_folds(calibration, settings.folds)
    predictions: list[dict] = [{} for _ in calibration]
    memo: dict[str, np.ndarray] = {}
    for k in range(settings.folds):
        train = [r for r, f in zip(calibration, folds) if f != k]
        model = fit_model(train, extra, settings, progress=None, embedding_memo=memo)
        detector = Detector(model=model)
        for i, row in enumerate(calibration):
            if folds[i] == k:
                verdict = detector.assess(row["text"])
                predictions[i] = {"fold": k, "flagged": verdict.flagged, "check_in": verdict.check_in,
                                  "category": verdict.category, "score": verdict.score,
                                  "threshold": model.threshold, "check_threshold": model.check_threshold}
        if progress:
            progress(f"outer fold {k + 1}/{settings.folds}")
    return predictions


def _settings_dict(settings: TrainSettings) -> dict:
    data = dict(settings.__dict__)
    data["ngram"] = {**settings.ngram.__dict__, "orders": list(settings.ngram.orders)}
    return data


__all__ = ["TrainSettings", "cross_validate", "fit_model", "pick_threshold", "precise_threshold", "stratified_folds"]
