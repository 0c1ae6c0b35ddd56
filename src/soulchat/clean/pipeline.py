"""The cleaning pipeline: parse → repair → validate → self-reference → crisis → privacy → duplicates.

Each dialogue is rejected by the first rule it fails (so the per-rule counts add up to the number
removed), and every rejected dialogue is written with its reasons. It is a pure function of the
result log and `CleanConfig`: changing a filter and rebuilding costs no API call.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dialogue import PSYCHOLOGIST, USER, Dialogue, DialogueFormatError, Turn
from .dedup import NearDuplicateIndex
from .rules import scrub_privacy, self_reference
from .sources import Candidate

CRISIS_POLICIES = ("drop", "tag", "off")
DEDUP_MODES = ("near", "exact", "off")

#: Reasons that mean "the request never produced a dialogue" rather than "a low-quality dialogue".
NOT_LOW_QUALITY = ("request_failed", "unreadable_record")


@dataclass
class CleanConfig:
    min_rounds: int = field(default=8, metadata={"help": "fewest user/psychologist rounds (paper: 8)"})
    max_rounds: int = field(default=20, metadata={"help": "most rounds (paper: 20)"})
    rounds_for_files: bool = field(
        default=False,
        metadata={"help": "apply the round limits to existing multi-turn files too, not only to rewrites"},
    )
    require_stop: bool = field(
        default=True, metadata={"help": "reject rewrites whose finish_reason is not 'stop' (cut off by length)"}
    )
    trim_trailing_user: bool = field(
        default=True, metadata={"help": "drop one unanswered final user turn instead of rejecting the dialogue"}
    )
    self_reference: bool = field(
        default=True,
        metadata={"help": "reject dialogues whose psychologist says it is an AI/model or claims a human identity"},
    )
    crisis_policy: str = field(
        default="tag",
        metadata={"help": "crisis content (suicide, self-harm…): keep the dialogue and tag it (`tags`: "
                  "crisis:CATEGORY), drop it, or off. Default tag: dropping removed the dialogues in which "
                  "the psychologist asks about safety (docs/corpus.md, scripts/crisis_policy.py)"},
    )
    crisis_model: bool = field(
        default=False,
        metadata={"help": "also use the safety layer's n-gram model (wider net, more false alarms: 2-8% of "
                  "ordinary counseling turns); default: the rules alone, precise and reproducible"},
    )
    scrub_privacy: bool = field(
        default=True, metadata={"help": "replace phone/ID/bank numbers, emails, QQ/WeChat ids, addresses"}
    )
    dedup: str = field(default="near", metadata={"help": "duplicate removal: near (MinHash/LSH), exact or off"})
    near_threshold: float = field(
        default=0.8, metadata={"help": "estimated Jaccard similarity (5-character shingles) that makes a near duplicate"}
    )
    num_perm: int = field(default=128, metadata={"help": "MinHash permutations"})
    bands: int = field(default=16, metadata={"help": "LSH bands (num_perm / bands rows each)"})

    def __post_init__(self) -> None:
        if self.crisis_policy not in CRISIS_POLICIES:
            raise ValueError(f"crisis_policy {self.crisis_policy!r}: expected one of {CRISIS_POLICIES}")
        if self.dedup not in DEDUP_MODES:
            raise ValueError(f"dedup {self.dedup!r}: expected one of {DEDUP_MODES}")
        if not 1 <= self.min_rounds <= self.max_rounds:
            raise ValueError(f"rounds: need 1 <= min_rounds ({self.min_rounds}) <= max_rounds ({self.max_rounds})")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_crisis_detector(model: bool = False) -> Callable[[str], Any]:
    """soulchat.safety.assess: the rule layer alone unless `model` (see CleanConfig.crisis_model).

    A corpus filter drops whole dialogues, so precision matters more than in a live chat, where a
    false alarm costs one extra safety question; and a corpus should not change when the model is
    retrained."""
    try:
        from ..safety import assess
    except ImportError as error:  # pragma: no cover - depends on the safety module being installed
        raise RuntimeError(
            f"the default crisis detector soulchat.safety.assess cannot be imported ({error}); "
            "pass another detector or use crisis_policy='off' (--crisis-policy off)"
        ) from error
    return assess if model else functools.partial(assess, model=False)


@dataclass
class Outcome:
    candidate: Candidate
    dialogue: Dialogue | None = None
    reason: str | None = None
    details: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return self.reason is None

    def reject_record(self) -> dict[str, Any]:
        c = self.candidate
        record: dict[str, Any] = {"id": c.id, "topic": c.topic, "reason": self.reason, "details": self.details}
        record["origin"] = c.origin
        if self.dialogue is not None:
            record["messages"] = self.dialogue.to_messages()
        elif c.dialogue is not None:
            record["messages"] = c.dialogue.to_messages()
        else:
            record["text"] = c.text
        return record


@dataclass
class CleanReport:
    read: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    scrubbed: Counter = field(default_factory=Counter)
    tagged: Counter = field(default_factory=Counter)

    @property
    def low_quality(self) -> int:
        return sum(n for reason, n in self.rejected.items() if reason not in NOT_LOW_QUALITY)

    def summary(self) -> str:
        produced = self.read - sum(self.rejected[r] for r in NOT_LOW_QUALITY)
        share = f" ({self.low_quality / produced:.1%} of {produced:,} dialogues)" if produced else ""
        failed = sum(self.rejected[r] for r in NOT_LOW_QUALITY)
        return (
            f"removed {self.low_quality:,} low-quality dialogues{share}; kept {self.kept:,}"
            + (f"; {failed:,} requests produced no dialogue" if failed else "")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "removed_low_quality": self.low_quality,
            "rejected": dict(sorted(self.rejected.items())),
            "repaired": dict(sorted(self.repaired.items())),
            "scrubbed": dict(sorted(self.scrubbed.items())),
            "tagged": dict(sorted(self.tagged.items())),
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CleanReport:
        return cls(
            read=data["read"],
            kept=data["kept"],
            rejected=Counter(data["rejected"]),
            repaired=Counter(data["repaired"]),
            scrubbed=Counter(data["scrubbed"]),
            tagged=Counter(data["tagged"]),
        )


class Cleaner:
    """Stateful only through the duplicate index; call `clean(candidate)` once per dialogue, in order."""

    def __init__(
        self,
        config: CleanConfig | None = None,
        *,
        work_dir: str | Path,
        crisis_detector: Callable[[str], Any] | None = None,
    ) -> None:
        self.config = config or CleanConfig()
        self.report = CleanReport()
        self.detector = crisis_detector
        if self.detector is None and self.config.crisis_policy != "off":
            self.detector = default_crisis_detector(self.config.crisis_model)
        self.dedup = None
        if self.config.dedup != "off":
            self.dedup = NearDuplicateIndex(
                Path(work_dir) / "signatures.bin",
                threshold=self.config.near_threshold,
                num_perm=self.config.num_perm,
                bands=self.config.bands,
                near=self.config.dedup == "near",
            )
        # row -> id, only to name the earlier dialogue of a duplicate: ids on disk, 8 bytes per row here
        self._id_offsets = array("Q")
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        self._ids = open(Path(work_dir) / "dedup-ids.txt", "w+b")

    def close(self) -> None:
        if self.dedup is not None:
            self.dedup.close()
        self._ids.close()

    def _earlier_id(self, row: int) -> str:
        self._ids.flush()
        start = self._id_offsets[row]
        end = self._id_offsets[row + 1] if row + 1 < len(self._id_offsets) else self._ids.seek(0, 2)
        return os.pread(self._ids.fileno(), end - start, start).decode("utf-8").rstrip("\n")

    def clean(self, candidate: Candidate) -> Outcome:
        outcome = self._clean(candidate)
        self.report.read += 1
        if outcome.kept:
            self.report.kept += 1
            self.report.tagged.update(outcome.tags)
        else:
            self.report.rejected[outcome.reason] += 1
        return outcome

    def _clean(self, candidate: Candidate) -> Outcome:
        config = self.config
        outcome = Outcome(candidate)
        if candidate.failure is not None:
            outcome.reason, detail = candidate.failure
            outcome.details = [detail]
            return outcome
        if config.require_stop and candidate.text is not None and candidate.finish_reason != "stop":
            outcome.reason = "finish_reason"
            outcome.details = [f"finish_reason is {candidate.finish_reason!r}, not 'stop' (output cut off?)"]
            return outcome
        dialogue = candidate.dialogue
        if dialogue is None:
            try:
                dialogue = Dialogue.from_text(candidate.text or "")
            except DialogueFormatError as error:
                outcome.reason, outcome.details = "unparsable", [str(error)]
                return outcome
        dialogue = Dialogue(list(dialogue.turns), id=candidate.id, topic=candidate.topic, meta=dict(dialogue.meta))
        outcome.dialogue = dialogue
        self._repair(dialogue)
        limits = candidate.kind == "rewrite" or config.rounds_for_files
        problems = dialogue.problems(
            min_rounds=config.min_rounds if limits else None, max_rounds=config.max_rounds if limits else None
        )
        if problems:
            outcome.reason, outcome.details = problems[0].code, [str(p) for p in problems]
            return outcome
        if config.self_reference:
            for number, turn in enumerate(dialogue.turns, start=1):
                hit = turn.role == PSYCHOLOGIST and self_reference(turn.content)
                if hit:
                    outcome.reason = hit[0]
                    outcome.details = [f"turn {number} (psychologist) says {hit[1]!r}"]
                    return outcome
        if config.crisis_policy != "off":
            for number, turn in enumerate(dialogue.turns, start=1):
                assessment = self.detector(turn.content)
                if getattr(assessment, "flagged", False):
                    category = getattr(assessment, "category", None) or "crisis"
                    if config.crisis_policy == "drop":
                        outcome.reason = "crisis"
                        outcome.details = [f"turn {number} ({turn.role}) flagged as {category}"]
                        return outcome
                    tag = f"crisis:{category}"
                    if tag not in outcome.tags:
                        outcome.tags.append(tag)
        if config.scrub_privacy:
            counts: dict[str, int] = {}
            dialogue.turns = [Turn(t.role, scrub_privacy(t.content, counts)) for t in dialogue.turns]
            self.report.scrubbed.update(counts)
        if self.dedup is not None:
            duplicate = self.dedup.check_and_add(dialogue.to_text())
            if duplicate is not None:
                kind, row, similarity = duplicate
                outcome.reason = kind
                outcome.details = [f"{kind.replace('_', ' ')} of dialogue {self._earlier_id(row)} (similarity {similarity})"]
                return outcome
            self._ids.seek(0, 2)
            self._id_offsets.append(self._ids.tell())
            self._ids.write(f"{dialogue.id}\n".encode())
        return outcome

    def _repair(self, dialogue: Dialogue) -> None:
        # an LLM that follows "end with 心理咨询师：" literally leaves an empty last turn
        while len(dialogue.turns) > 1 and not dialogue.turns[-1].content.strip():
            dialogue.turns.pop()
            self.report.repaired["trimmed_empty_final_turn"] += 1
        if (
            self.config.trim_trailing_user
            and len(dialogue.turns) > 1
            and dialogue.turns[-1].role == USER
            and dialogue.turns[-2].role == PSYCHOLOGIST
        ):
            dialogue.turns.pop()
            self.report.repaired["trimmed_trailing_user_turn"] += 1
