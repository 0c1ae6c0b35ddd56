"""The bundled sample is what the demo and later stages run on: hold it to the issue's spec."""

import json
from collections import Counter

from soulchat.bundled import SAMPLE_SINGLE_TURN
from soulchat.topics import TOPICS


def test_bundled_dialogues_cover_the_twelve_topics_with_8_to_20_turns(sample_dialogues):
    assert len(sample_dialogues) >= 48
    topics = Counter(d.topic for d in sample_dialogues)
    assert set(topics) == set(TOPICS) and min(topics.values()) >= 4
    for dialogue in sample_dialogues:
        assert 8 <= len(dialogue.turns) <= 20, dialogue.id
        assert dialogue.problems(min_rounds=4, max_rounds=10) == [], dialogue.id
    assert len({d.id for d in sample_dialogues}) == len(sample_dialogues)


def test_bundled_single_turn_records_are_psyqa_shaped():
    records = [json.loads(line) for line in SAMPLE_SINGLE_TURN.read_text(encoding="utf-8").splitlines() if line]
    assert len(records) >= 24
    assert Counter(r["topic"] for r in records).keys() == TOPICS.keys()
    for record in records:
        assert isinstance(record["questionID"], int)
        assert record["question"] and record["description"] and record["keywords"]
        assert record["answers"] and all(len(a["answer_text"]) >= 200 for a in record["answers"])
