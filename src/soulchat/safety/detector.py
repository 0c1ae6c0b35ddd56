"""Crisis detection: the rules (what matched, where, about whom, how urgent), then the n-gram model.

For every rule match the detector asks three questions, in this order:
1. Is it negated right before ("我从来没想过自杀", "我不会伤害自己")? Then it is ignored.
2. Who is it about? The nearest person named before the match in the same clause, else the first
   one named in the sentence, else the user (Chinese drops the subject: "不想活了").
3. Is the sentence reporting news, history, fiction, a topic or a hypothetical? A reported or
   hypothetical mention about someone else is ignored; about the user it still counts.
A match about the user gives its rule's category; a match about someone the user knows (a friend,
a parent) gives "third_party_risk"; a match about strangers, characters or "you" is ignored.
Rules marked `victim` (threats and abuse aimed at the user) skip question 2 when "我" is their object.

Then the learned crisis model (model.py: n-grams, a pretrained sentence encoder and the rule
verdict, weighed together) may flag what the rules missed or ask for a gentle check-in; and a turn
can be judged within its conversation (context.py). See `Detector`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import overload

from soulchat.safety import rules as R
from soulchat.safety.normalize import (
    CLAUSE,
    SENTENCE,
    normalize,
    offsets,
    original_span,
)

Span = tuple[int, int, str]
SENTENCE_REACH = 200  # characters around a match that count as its sentence (see _judge_match)
HITS_PER_RULE = 8  # accepted matches of one rule that are enough: spans beyond them explain nothing new


@dataclass(frozen=True)
class Assessment:
    """The safety verdict on one text. `spans` index the original text: text[start:end] == matched."""

    flagged: bool
    category: str | None = None  # primary category, most urgent first (rules.CATEGORIES order)
    spans: tuple[Span, ...] = ()
    categories: tuple[str, ...] = ()  # every category that matched, most urgent first
    rules: tuple[str, ...] = ()  # ids of the rules that fired: the explanation
    severity: int = 0  # 0 none, 1 concern, 2 moderate, 3 high, 4 imminent (rules.SEVERITY)
    source: str = "rules"  # "rules", "model", "context", "judge", or a "+" of them
    reason: str | None = None  # free-text reason from an LLM judge, when one was asked
    score: float | None = None  # the crisis model's P(any risk), when it was asked
    # not flagged, but the model saw some sign of risk: the reply should gently ask about safety
    check_in: bool = False
    # the verdict needed the conversation's earlier user turns (flagged or check-in only in context)
    context: bool = False
    # not a new crisis, but an earlier turn of this conversation was: keep the safety follow-up
    follow_up: bool = False

    @property
    def level(self) -> str:
        return ("none", "concern", "moderate", "high", "imminent")[self.severity]

    def to_dict(self, with_text: bool = True) -> dict:
        data = asdict(self)
        data["spans"] = [list(s) if with_text else [s[0], s[1]] for s in self.spans]
        data["categories"] = list(self.categories)
        data["rules"] = list(self.rules)
        data["level"] = self.level
        return data


NOT_FLAGGED = Assessment(flagged=False)


@dataclass
class _Hit:
    category: str
    rule: str
    start: int
    end: int


_DEFAULT = object()
MEMO_SIZE = 4096  # verdicts kept per detector: a conversation's earlier turns are judged again as context


class Detector:
    """Compiled rules plus their context logic, then the learned crisis model (model.py).

    `model`: the shipped `CrisisModel` by default, any `CrisisModel`, or None for the rules alone.
    The model weighs its n-gram and sentence-encoder scores with the rule verdict into P(risk):
    at or above `model.threshold` the turn is flagged (a rule flag keeps the rules' category and
    spans; a model flag names the n-grams behind it); between `model.check_threshold` and it, the
    turn gets a gentle check-in. A rule flag always stands, whatever the model says; a match the
    rules declined (negation, news, someone else) gets at most the check-in from the model.
    `assess(text, context=earlier_user_turns)` judges a turn within its conversation (context.py).
    """

    def __init__(self, rules: tuple[R.Rule, ...] = R.RULES, model=_DEFAULT):
        if model is _DEFAULT:
            from soulchat.safety.model import default_model

            model = default_model()
        self.model = model
        self.rules = R.compile_rules(rules)
        # One alternation of every pattern: most texts match nothing and leave after one scan.
        self.any_rule = re.compile("|".join(f"(?:{c.regex.pattern})" for c in self.rules))
        self.hard_negatives = re.compile(R.HARD_NEGATIVES)
        self.subject_markers = re.compile(R.SUBJECT_MARKERS)
        self.object_self = re.compile(R.OBJECT_SELF)
        self.negation = re.compile(R.NEGATION)
        self.not_negations = re.compile(R.NOT_NEGATIONS)
        self.reported = re.compile(R.REPORTED_CONTEXT)
        self.hypothetical = re.compile(R.HYPOTHETICAL)
        self.addressee = re.compile(R.ADDRESSEE)
        self.describes_other = re.compile(R.DESCRIBES_OTHER)
        self.object_before = re.compile(f"[{R.OBJECT_PREPOSITIONS}]了?(?:每个|这个|那个|所有|几个|我的|我)?$")
        self.own_writing = re.compile(R.OWN_WRITING)
        self.past_story = re.compile(R.PAST_STORY)
        self._memo: OrderedDict[str, Assessment] = OrderedDict()
        self._memo_lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------
    def assess(self, text: str, context: Sequence[str] = ()) -> Assessment:
        """The verdict on one user turn; `context`: the conversation's earlier user turns, oldest
        first (the last few are read, see context.py)."""
        text = _as_text(text)
        if context:
            from soulchat.safety.context import assess_in_context

            return assess_in_context(self, text, [_as_text(t) for t in context])
        return self.assess_alone(text)

    def assess_alone(self, text: str) -> Assessment:
        """The verdict on `text` by itself (memoized: earlier turns are judged again as context)."""
        with self._memo_lock:
            found = self._memo.get(text)
            if found is not None:
                self._memo.move_to_end(text)
                return found
        verdict = self._decide(text)
        with self._memo_lock:
            self._memo[text] = verdict
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return verdict

    def assess_rules(self, text: str) -> Assessment:
        """The rule layer alone (what `assess` returns when no model is set)."""
        return self.rule_verdict(_as_text(text))[0]

    def decide(self, text: str, embedding=None) -> Assessment:
        """Rules and model on `text`, with the sentence embedding given when the caller has it."""
        return self._decide(text, embedding)

    def _decide(self, text: str, embedding=None) -> Assessment:
        verdict, declined = self.rule_verdict(text)
        model = self.model
        if model is None or not text.strip():
            return verdict
        scores = model.score(text, verdict.flagged, declined, embedding=embedding)
        risk = round(scores.risk, 4)
        if verdict.flagged:  # the rules' category and spans explain it better than n-grams
            return replace(verdict, source="rules+model" if scores.risk >= model.threshold else "rules", score=risk)
        if scores.risk < model.check_threshold:
            return replace(NOT_FLAGGED, source="model", score=risk)
        # The model must point at words: a score carried by the prior alone ("哈喽") is no evidence.
        spans = model.explain(text, scores.category)
        if not spans:
            return replace(NOT_FLAGGED, source="model", score=risk)
        # A rule pattern matched and the rules' context logic declined it (negation, news, fiction,
        # someone else, a hypothetical): the model may ask about safety, not overrule them with a
        # crisis reply ("我从没想过自杀" gets the gentle question at most).
        if scores.risk < model.threshold or declined:
            return Assessment(flagged=False, spans=spans, categories=(scores.category,), source="model",
                              score=risk, check_in=True)
        return Assessment(flagged=True, category=scores.category, spans=spans, categories=(scores.category,),
                          rules=("model",), severity=R.SEVERITY[scores.category], source="model", score=risk)

    def rule_verdict(self, text: str) -> tuple[Assessment, bool]:
        """The rule verdict, and whether a rule pattern matched but its context declined it."""
        if not text:
            return NOT_FLAGGED, False
        norm = normalize(text)
        if not self.any_rule.search(norm):
            return NOT_FLAGGED, False
        masked = self.hard_negatives.sub(lambda m: "□" * len(m.group()), norm)
        hits = self._attempt_story(masked, _outermost([hit for hit in self._matches(masked) if hit is not None]))
        if not hits:
            return NOT_FLAGGED, True
        order = {name: i for i, name in enumerate(R.CATEGORIES)}
        categories = tuple(sorted({h.category for h in hits}, key=order.__getitem__))
        index = offsets(text)
        spans = tuple(original_span(text, index, h.start, h.end) for h in sorted(hits, key=lambda h: h.start))
        rules = tuple(dict.fromkeys(h.rule for h in sorted(hits, key=lambda h: h.start)))
        return Assessment(
            flagged=True,
            category=categories[0],
            spans=spans,
            categories=categories,
            rules=rules,
            severity=max(R.SEVERITY[c] for c in categories),
        ), False

    # -- matching ---------------------------------------------------------------------------
    def _matches(self, masked: str) -> Iterable[_Hit | None]:
        for compiled in self.rules:
            accepted = 0
            for match in compiled.regex.finditer(masked):
                hit = self._judge_match(compiled, masked, match.start(), match.end())
                yield hit
                accepted += hit is not None
                if accepted == HITS_PER_RULE:  # a long text repeating one phrase: enough evidence, stop
                    break

    def _judge_match(self, compiled: R.CompiledRule, text: str, start: int, end: int) -> _Hit | None:
        rule = compiled.rule
        # A "sentence" is cut to SENTENCE_REACH characters on each side of the match: text without
        # sentence marks (one 100,000-character line) must not make every match rescan all of it.
        floor = max(0, start - SENTENCE_REACH)
        sentence_start = max(text.rfind(SENTENCE, floor, start) + 1, floor)
        ceiling = min(len(text), end + SENTENCE_REACH)
        sentence_end = text.find(SENTENCE, end, ceiling)
        sentence = text[sentence_start : sentence_end if sentence_end >= 0 else ceiling]
        if compiled.needs is not None and not compiled.needs.search(sentence):
            return None
        if compiled.unless is not None and compiled.unless.search(sentence):
            return None
        clause_start = max(text.rfind(CLAUSE, 0, start), sentence_start - 1) + 1
        if rule.negatable and self._negated(text[clause_start:start]):
            return None
        if self.describes_other.match(text, end) and not text[max(clause_start, start - 4) : start].count("是"):
            return None
        if rule.victim:  # the user is the object: who the subject is does not matter
            if self.hypothetical.search(sentence):
                return None
            if "我" not in text[start:end]:  # "被家暴了": about whoever is the subject
                subject = self._subject(text[sentence_start:start], start - clause_start)
                if subject not in ("self", None) or (subject is None and self.reported.search(sentence)):
                    return None
            return _Hit(rule.category, rule.id, start, end)
        subject = self._subject(text[sentence_start:start], start - clause_start)
        if subject is None:
            # "要是我死了…": the speaker can sit inside the matched words themselves
            inside = self.subject_markers.search(text, start, end)
            subject = "self" if inside is not None and inside.lastgroup == "self" else None
        reported = bool(self.reported.search(sentence))
        if reported and subject == "other" and self.own_writing.search(sentence):
            reported = False
        if subject == "self" or (subject is None and not reported):
            if rule.others_only:
                return None
            return _Hit(rule.category, rule.id, start, end)
        if subject == "other" and not reported and not self.hypothetical.search(sentence):
            return _Hit("third_party_risk", rule.id, start, end)
        return None

    def _attempt_story(self, text: str, hits: list[_Hit]) -> list[_Hit]:
        """With a past attempt found, ideation words overlapping it ("试图结束自己的生命") or in a
        clause told in the past ("那次我是真的想死") belong to the attempt, not to today."""
        attempts = [h for h in hits if h.category == "past_attempt"]
        if not attempts:
            return hits
        kept = []
        for hit in hits:
            if hit.category == "suicidal_ideation":
                if any(a.start < hit.end and hit.start < a.end for a in attempts):
                    continue
                floor = max(0, hit.start - SENTENCE_REACH)
                clause_start = max(text.rfind(CLAUSE, floor, hit.start), text.rfind(SENTENCE, floor, hit.start), floor - 1) + 1
                if self.past_story.search(text, clause_start, hit.start):
                    continue
            kept.append(hit)
        return kept

    def _negated(self, clause_prefix: str) -> bool:
        prefix = self.not_negations.sub("□", clause_prefix[-12:])
        return bool(self.negation.search(prefix))

    def _subject(self, sentence_prefix: str, clause_length: int) -> str | None:
        """"self", "other" (someone the user knows), "generic" (strangers, you, characters) or None."""
        blank = lambda m: "□" * len(m.group())
        prefix = self.addressee.sub(blank, self.object_self.sub(blank, sentence_prefix))
        markers = []
        for m in self.subject_markers.finditer(prefix):
            if self.object_before.search(prefix, max(0, m.start() - 5), m.start()):
                continue
            markers.append((m.start(), m.lastgroup))
        if not markers:
            return None
        clause_from = len(prefix) - clause_length
        in_clause = [kind for pos, kind in markers if pos >= clause_from]
        return in_clause[-1] if in_clause else markers[0][1]


def _outermost(hits: list[_Hit]) -> list[_Hit]:
    """Drop a hit lying inside a longer one: in "我尝试过结束自己" the attempt explains the words,
    "结束自己" is not a second, present-tense finding.

    One sweep in start order (longest first at equal starts): a hit lies inside a longer one exactly
    when some earlier hit reaches at least as far and is longer, so the farthest end seen so far,
    with its length, decides it. O(n log n) in the number of hits, not O(n²)."""
    inside = set()
    reach, reach_length = -1, 0  # the farthest end among hits started so far, and the longest hit with that end
    for index in sorted(range(len(hits)), key=lambda i: (hits[i].start, hits[i].start - hits[i].end)):
        hit = hits[index]
        length = hit.end - hit.start
        if reach >= hit.end and reach_length > length:
            inside.add(index)
        if hit.end > reach or (hit.end == reach and length > reach_length):
            reach, reach_length = hit.end, length
    return [hit for index, hit in enumerate(hits) if index not in inside]


_default: Detector | None = None


def default_detector() -> Detector:
    global _default
    if _default is None:
        _default = Detector()
    return _default


@overload
def assess(text: str, *, model: bool = True, context: Sequence[str] = ()) -> Assessment: ...
@overload
def assess(text: list[str], *, model: bool = True) -> list[Assessment]: ...


def assess(text, *, model: bool = True, context: Sequence[str] = ()):
    """Crisis assessment of one user turn, or of a list of texts: the rules, then (unless
    `model=False`) the shipped crisis model for what they miss. `context`: the conversation's
    earlier user turns, oldest first. Offline, CPU only. Any input gets a verdict: a non-string
    is read as its text (None as empty)."""
    detector = default_detector()
    if not model:
        return detector.assess_rules(text) if isinstance(text, str) or not isinstance(text, list) else [
            detector.assess_rules(t) for t in text]
    if isinstance(text, list):
        return [detector.assess(t) for t in text]
    return detector.assess(text, context=context)


def _as_text(value) -> str:
    """A turn as text: None is empty, bytes are decoded, anything else is its str()."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def first_category(assessments: Iterable[Assessment]) -> str | None:
    """The most urgent category over several assessments (e.g. a whole conversation)."""
    order = {name: i for i, name in enumerate(R.CATEGORIES + R.OUTPUT_CATEGORIES)}
    found = [a.category for a in assessments if a.flagged and a.category]
    return min(found, key=order.__getitem__) if found else None


__all__ = ["Assessment", "Detector", "assess", "default_detector", "first_category"]
