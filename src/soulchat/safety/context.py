"""A user turn judged within its conversation.

People rarely say everything in one message. "药我已经攒够了" is alarming after "不想活了" and can be
innocent alone; "就这周末吧" means nothing until the turn before it is read. And after a crisis
turn, the next "嗯" is not a return to ordinary chat. So a turn is judged with the conversation's
recent user turns (the last `CONTEXT_TURNS`, oldest first):

1. **After a crisis.** When one of the recent turns was flagged by itself, the conversation is in
   crisis follow-up: the new turn is flagged (`context=True`) on a lower bar, the check-in level
   of the model, because in this conversation a weaker sign means more; otherwise it is not a new
   crisis but carries `follow_up=True`, and the chat keeps the safety follow-up in its reply
   (`messages.follow_up_note`) instead of carrying on as if nothing had been said.
2. **Risk spread over turns.** Otherwise the recent turns and the new one are read together (the
   rules and the n-gram model on the joined text, the encoder on the mean of the turns' cached
   embeddings). If together they are flagged and the earlier turns together were not, the new turn
   completed the picture: it is flagged (`context=True`, the joined text's category; spans are
   the ones inside the new turn). The same comparison gives a check-in.

Earlier turns are never re-judged more harshly: only the newest turn's verdict is decided here, and
every per-turn verdict and embedding is memoized, so a long conversation costs the same per turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from soulchat.safety import rules as R
from soulchat.safety.detector import Assessment, Detector

CONTEXT_TURNS = 3  # earlier user turns read with the new one
JOIN = "。"


def assess_in_context(detector: Detector, text: str, context: Sequence[str]) -> Assessment:
    alone = detector.assess_alone(text)
    recent = [turn for turn in context if turn.strip()][-CONTEXT_TURNS:]
    if not recent:
        return alone
    before = [detector.assess_alone(turn) for turn in recent]
    crises = [v for v in before if v.flagged]
    if crises:
        if alone.flagged:
            return replace(alone, follow_up=True)
        if alone.check_in:  # a weak sign the model could point at in words (a bare "嗯" is none)
            order = {name: i for i, name in enumerate(R.CATEGORIES)}
            earlier = min((v.category for v in crises if v.category), key=order.__getitem__, default="suicidal_ideation")
            category = alone.categories[0] if alone.categories else earlier
            return Assessment(flagged=True, category=category, spans=alone.spans, categories=(category,),
                              rules=("context",), severity=R.SEVERITY[category], source="context",
                              score=alone.score, context=True, follow_up=True)
        return replace(alone, check_in=False, follow_up=True)
    if alone.flagged:
        return alone
    together = _joined(detector, [*recent, text])
    if not (together.flagged or together.check_in):  # most turns: nothing to compare (saves a verdict)
        return alone
    earlier = _joined(detector, recent)
    offset = len(JOIN.join(recent)) + len(JOIN)
    inside = tuple((s - offset, e - offset, word) for s, e, word in together.spans if s >= offset)
    if together.flagged and not earlier.flagged:
        category = together.category or "suicidal_ideation"
        return Assessment(flagged=True, category=category, spans=inside, categories=together.categories or (category,),
                          rules=(*together.rules, "context"), severity=together.severity or R.SEVERITY[category],
                          source="context", score=together.score, context=True)
    if (together.flagged or together.check_in) and not (earlier.flagged or earlier.check_in) and not alone.check_in:
        return replace(alone, check_in=True, context=True, spans=alone.spans or inside,
                       categories=alone.categories or together.categories, score=together.score)
    return alone


def _joined(detector: Detector, turns: Sequence[str]) -> Assessment:
    """The verdict on several turns read as one text; the encoder reads the mean of the turns' own
    embeddings (each cached), not a fresh encode of the joined text."""
    text = JOIN.join(turns)
    model = detector.model
    if model is None or model.head is None:
        return detector.decide(text)
    vectors = np.stack([model.embed(turn) for turn in turns])
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return detector.decide(text, embedding=mean / norm if norm > 0 else mean)


__all__ = ["CONTEXT_TURNS", "assess_in_context"]
