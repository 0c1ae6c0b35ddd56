"""Precision and recall of the detector on a labelled set (JSONL: {"text", "label": category|null}).

Per category, a prediction counts when the *primary* category equals the label (strict: calling
a plan "ideation" is a miss for suicide_plan). "any_risk" is the binary question that decides
whether the safe reply is shown: flagged or not, whatever the category. "safety_response" also
counts the gentle check-in question a turn gets when the model saw some sign of risk without
reaching the flag threshold (`Assessment.check_in`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from soulchat.safety.detector import Assessment, assess
from soulchat.safety.rules import CATEGORIES


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def support(self) -> int:
        return self.tp + self.fn


def read_labelled(path: str | Path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") is not None and row["label"] not in CATEGORIES:
            raise ValueError(f"{path}:{number}: unknown label {row['label']!r}")
        rows.append(row)
    return rows


def score(rows: Iterable[dict], detect: Callable[[list[str]], list[Assessment]] = assess) -> dict[str, Score]:
    rows = list(rows)
    predictions = detect([r["text"] for r in rows])
    scores: dict[str, Score] = {}
    for name in (*CATEGORIES, "any_risk", "user_risk", "safety_response"):
        tp = fp = fn = 0
        for row, pred in zip(rows, predictions):
            if name == "any_risk":
                gold, guess = row["label"] is not None, pred.flagged
            elif name == "safety_response":  # flagged (crisis reply) or a gentle check-in question
                gold, guess = row["label"] is not None, pred.flagged or pred.check_in
            elif name == "user_risk":  # the user themselves at risk (or a danger to others)
                gold = row["label"] not in (None, "third_party_risk")
                guess = pred.flagged and pred.category != "third_party_risk"
            else:
                gold, guess = row["label"] == name, pred.category == name
            tp += gold and guess
            fp += guess and not gold
            fn += gold and not guess
        scores[name] = Score(tp, fp, fn)
    return scores


def errors(rows: Iterable[dict], detect: Callable[[list[str]], list[Assessment]] = assess) -> list[tuple[str, str | None, Assessment]]:
    rows = list(rows)
    return [
        (r["text"], r["label"], p)
        for r, p in zip(rows, detect([r["text"] for r in rows]))
        if (p.category if p.flagged else None) != r["label"]
    ]


def table(scores: dict[str, Score]) -> str:
    lines = [f"{'category':<22}{'support':>8}{'precision':>11}{'recall':>8}"]
    for name, s in scores.items():
        lines.append(f"{name:<22}{s.support:>8}{s.precision:>11.3f}{s.recall:>8.3f}")
    return "\n".join(lines)
