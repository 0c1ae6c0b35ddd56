"""How topics are assigned on the bundled data, and how far each fallback agrees with the hand labels.

    python scripts/topic_agreement.py

The bundled records all carry their topic, so a build takes every topic from the input (coverage by
source below). To see what the fallbacks would do where an input has no topic, each one is also run
with the topic hidden and compared with the hand label: PsyQA keywords, the rewrite request (the
question and description), and a dialogue's user turns. The cue words were written, and then
adjusted once, while looking at the bundled dialogues, so their agreement there is optimistic; the
single-turn records were not used to adjust them.
"""

from __future__ import annotations

import json
from collections import Counter

from soulchat.bundled import SAMPLE_DIALOGUES, SAMPLE_SINGLE_TURN
from soulchat.dialogue import USER
from soulchat.io import read_dialogues
from soulchat.rewrite.inputs import read_single_turn
from soulchat.topics import UNKNOWN, assign_topic


def agreement(pairs) -> str:
    pairs = list(pairs)
    hits = sum(1 for got, want in pairs if got == want)
    unknown = sum(1 for got, _ in pairs if got == UNKNOWN)
    return f"{hits}/{len(pairs)} agree ({hits / len(pairs):.0%}), {unknown} 未知"


def main() -> None:
    dialogues = list(read_dialogues(SAMPLE_DIALOGUES))
    records = [json.loads(line) for line in SAMPLE_SINGLE_TURN.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = list(read_single_turn(SAMPLE_SINGLE_TURN))
    users = {d.id: [t.content for t in d.turns if t.role == USER] for d in dialogues}

    sources = Counter(assign_topic(d.topic, None, None, users[d.id]).source for d in dialogues)
    sources_rows = Counter(assign_topic(r.topic, r.keywords, r.single_turn).source for r in rows)
    print(f"bundled dialogues ({len(dialogues)}): topic from {dict(sources)}")
    print(f"bundled single-turn records ({len(rows)} question/answer pairs): topic from {dict(sources_rows)}")
    print()
    print("with the topic hidden, against the hand label:")
    print(f"  PsyQA keywords ({len(records)} questions): "
          + agreement((assign_topic(None, r.get("keywords")).topic, r["topic"]) for r in records))
    print(f"  rewrite request, question + description ({len(records)} questions): "
          + agreement((assign_topic(None, None, f"用户：{r['question']}{r.get('description', '')}").topic, r["topic"])
                      for r in records))
    print(f"  dialogue user turns ({len(dialogues)} dialogues, the cues' tuning set): "
          + agreement((assign_topic(None, None, None, users[d.id]).topic, d.topic) for d in dialogues))
    confusions = Counter((d.topic, assign_topic(None, None, None, users[d.id]).topic) for d in dialogues)
    print("  most common disagreements (label -> assigned): "
          + ", ".join(f"{a}->{b} {n}" for (a, b), n in confusions.most_common() if a != b)[:300])


if __name__ == "__main__":
    main()
