"""Small bundled data written for this project (not taken from any public corpus).

* `dialogues.jsonl`: 60 multi-turn empathy dialogues, 8–20 turns each, over the paper's
  12 topics, in the released SoulChatCorpus record shape `{"id", "topic", "messages"}`.
* `psyqa.jsonl`: 24 single-turn counseling questions with long answers (PsyQA shape), the
  input of the rewrite step.

Was `soulchat.data` (that name still imports, with a DeprecationWarning, for one release);
`soulchat.train.data` is training-data processing.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).parent
SAMPLE_DIALOGUES = SAMPLE_DIR / "dialogues.jsonl"
SAMPLE_SINGLE_TURN = SAMPLE_DIR / "psyqa.jsonl"

#: The paper's 12 topics, Chinese name -> English name.
TOPICS = {
    "家庭": "Family",
    "婚恋": "Marriage",
    "性心理": "Sex",
    "成长发展": "Growth",
    "人际关系": "Relationship",
    "职场": "Career",
    "自我认知": "Self-awareness",
    "行为": "Behavior",
    "情绪": "Emotion",
    "治疗": "Treatment",
    "社会事件": "Social events",
    "心理学知识": "Psychological knowledge",
}


def sample_dialogues():
    """The bundled dialogues, validated, as `Dialogue` objects."""
    from ..io import read_dialogues

    return list(read_dialogues(SAMPLE_DIALOGUES))
