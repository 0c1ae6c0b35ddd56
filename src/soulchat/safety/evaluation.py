"""Labelled sets and how the detector is scored on them.

A labelled set is JSON Lines, one utterance a line, in any of three shapes:

- soulchat's own: `{"text": "...", "label": "<category>" | null}`;
- PsySUICIDE's: `{"text": "...", "labels": ["主动自杀意图", ...], "data_source": "..."}`; its
  taxonomy maps onto soulchat's categories by `PSYSUICIDE_LABELS` (an utterance with several
  labels gets the most urgent category); soulchat category names are accepted in `labels` too;
- binary: `{"text": "...", "risk": true | false}` (scored on the risk question only).

Per category a prediction counts when the *primary* category equals the label (strict: calling a
plan "ideation" is a miss for suicide_plan). The decisions that matter to the person:

- `flagged`: the crisis reply (hotlines instead of the model's answer);
- `flagged_or_check_in`: the crisis reply or the gentle safety question a turn gets when the model
  saw some sign of risk below the flag threshold (`Assessment.check_in`);
- "touched": the share of utterances *without* risk that got one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from soulchat.io import InputError, iter_records
from soulchat.safety.detector import Assessment, assess
from soulchat.safety.rules import CATEGORIES, SEVERITY

RISK = "risk"  # the label of a binary row with risk but no category
NO_RISK_LABEL = "与自杀/自伤/攻击行为无关"
PSYSUICIDE_LABELS = {
    NO_RISK_LABEL: None,
    "主动自杀意图": "suicidal_ideation",
    "被动自杀意图": "suicidal_ideation",
    "关于自杀的探索": "suicide_inquiry",
    "自杀计划": "suicide_plan",
    "自杀准备行为": "suicide_preparation",
    "自杀未遂": "past_attempt",
    "自伤行为": "self_harm",
    "自伤意图": "self_harm",
    "用户攻击行为": "harm_to_others",
    "他人攻击行为": "threat_to_user",
}
"""PsySUICIDE's 11 labels (Qiu et al., EMNLP 2024) as soulchat categories (None: no risk)."""


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int
    negatives: int = 0  # rows without risk (for the decisions: how many an alarm could touch)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def touched(self) -> float | None:
        """Share of the rows without risk that this decision touched (None: no such row)."""
        return self.fp / self.negatives if self.negatives else None


def label_of(record, path: Path, line: int) -> tuple[str, str | None, str | None]:
    """(text, label, source) of one labelled record; InputError names the file, line and what was expected."""
    if not isinstance(record, dict):
        raise InputError(path, line, f"expected a JSON object with \"text\" and \"label\", \"labels\" or \"risk\", got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str):
        raise InputError(path, line, f"\"text\" must be a string, got {'nothing' if text is None else type(text).__name__}")
    source = record.get("data_source", record.get("source"))
    source = str(source) if source is not None else None
    if "label" in record:
        label = record["label"]
        if label is not None and label not in CATEGORIES:
            raise InputError(path, line, f"unknown label {label!r}; expected null or one of {', '.join(CATEGORIES)}")
        return text, label, source
    if "labels" in record:
        labels = record["labels"]
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise InputError(path, line, "\"labels\" must be a non-empty list of label names")
        mapped = []
        for name in labels:
            if name in PSYSUICIDE_LABELS:
                mapped.append(PSYSUICIDE_LABELS[name])
            elif name in CATEGORIES:
                mapped.append(name)
            else:
                raise InputError(path, line, f"unknown label {name!r}; expected a PsySUICIDE label "
                                 f"({', '.join(PSYSUICIDE_LABELS)}) or a soulchat category")
        risky = [m for m in mapped if m is not None]
        return text, (min(risky, key=lambda c: (-SEVERITY[c], CATEGORIES.index(c))) if risky else None), source
    if "risk" in record:
        if not isinstance(record["risk"], bool):
            raise InputError(path, line, "\"risk\" must be true or false")
        return text, RISK if record["risk"] else None, source
    raise InputError(path, line, "expected \"label\" (a category or null), \"labels\" (a list) or \"risk\" (true/false) next to \"text\"")


def read_labelled(path: str | Path) -> list[dict]:
    """Every row of a labelled set as {"text", "label", "source", "line"}: the first bad line
    raises InputError (file, line, what was expected); an empty set is an error too."""
    path = Path(path)
    rows = []
    for line, record in iter_records(path):
        if isinstance(record, InputError):
            raise record
        text, label, source = label_of(record, path, line)
        rows.append({"text": text, "label": label, "source": source, "line": line})
    if not rows:
        raise InputError(path, None, "holds no labelled row (an empty set scores nothing)")
    return rows


def _count(pairs: Iterable[tuple[bool, bool]], negatives: int = 0) -> Score:
    """A Score from (gold, guess) pairs."""
    tp = fp = fn = 0
    for gold, guess in pairs:
        tp += gold and guess
        fp += guess and not gold
        fn += gold and not guess
    return Score(tp, fp, fn, negatives)


def decisions(rows: Sequence[dict], predictions: Sequence[Assessment]) -> dict[str, Score]:
    """The two decisions (and the category-blind "user at risk" one) as Scores."""
    pairs = list(zip(rows, predictions))
    negatives = sum(r["label"] is None for r in rows)
    return {
        "flagged": _count(((r["label"] is not None, p.flagged) for r, p in pairs), negatives),
        "flagged_or_check_in": _count(((r["label"] is not None, p.flagged or p.check_in) for r, p in pairs), negatives),
        # the user themselves at risk (or a danger to others), not someone they worry about
        "user_risk": _count(((r["label"] not in (None, "third_party_risk"), p.flagged and p.category != "third_party_risk")
                             for r, p in pairs), negatives),
    }


def score(rows: Iterable[dict], detect: Callable[[list[str]], list[Assessment]] = assess) -> dict[str, Score]:
    """Per category (strict) and the decisions; `detect` maps texts to assessments."""
    rows = list(rows)
    predictions = detect([r["text"] for r in rows])
    scores = {name: _count((row["label"] == name, pred.flagged and pred.category == name)
                           for row, pred in zip(rows, predictions)) for name in CATEGORIES}
    return {**scores, **decisions(rows, predictions)}


def breakdown(rows: Sequence[dict], predictions: Sequence[Assessment]) -> dict[str, dict[str, dict]]:
    """The decisions per source and per label: {"source": {name: figures}, "label": {name: figures}}.
    Per label the figures are recall (a label's rows all carry risk, or none do: then "touched")."""
    out: dict[str, dict[str, dict]] = {"source": {}, "label": {}}
    by_source: dict[str, list[int]] = {}
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_source.setdefault(row.get("source") or "-", []).append(i)
        by_label.setdefault(row["label"] or "none", []).append(i)
    for name, index in sorted(by_source.items()):
        out["source"][name] = figures(decisions([rows[i] for i in index], [predictions[i] for i in index]))
    for name, index in sorted(by_label.items(), key=lambda kv: -len(kv[1])):
        out["label"][name] = figures(decisions([rows[i] for i in index], [predictions[i] for i in index]))
    return out


def figures(scores: dict[str, Score]) -> dict:
    """The decisions as plain numbers (JSON-ready)."""
    out = {}
    for name in ("flagged", "flagged_or_check_in"):
        s = scores[name]
        out[name] = {"recall": s.recall if s.support else None, "precision": s.precision if s.tp + s.fp else None,
                     "touched": s.touched, "risk": s.support, "no_risk": s.negatives}
    return out


def errors(rows: Iterable[dict], detect: Callable[[list[str]], list[Assessment]] = assess) -> list[tuple[str, str | None, Assessment]]:
    rows = list(rows)
    return [
        (r["text"], r["label"], p)
        for r, p in zip(rows, detect([r["text"] for r in rows]))
        if (p.category if p.flagged else None) != r["label"]
    ]


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(scores: dict[str, Score]) -> str:
    lines = [f"{'category / decision':<22}{'support':>8}{'precision':>11}{'recall':>8}{'touched':>9}"]
    for name, s in scores.items():
        touched = "" if name in CATEGORIES else f"{_number(s.touched):>9}"
        lines.append(f"{name:<22}{s.support:>8}{s.precision:>11.3f}{s.recall:>8.3f}{touched}")
    return "\n".join(lines)


def breakdown_table(parts: dict[str, dict[str, dict]]) -> str:
    """Markdown: per source and per label, recall / precision / touched for both decisions."""
    lines = ["| by | rows (risk / none) | flagged R | flagged P | touched | flag or check-in R | P | touched |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in ("source", "label"):
        for name, f in parts[kind].items():
            a, b = f["flagged"], f["flagged_or_check_in"]
            lines.append(f"| {kind} {name} | {a['risk']} / {a['no_risk']} | {_number(a['recall'])} | {_number(a['precision'])} "
                         f"| {_number(a['touched'])} | {_number(b['recall'])} | {_number(b['precision'])} | {_number(b['touched'])} |")
    return "\n".join(lines)
