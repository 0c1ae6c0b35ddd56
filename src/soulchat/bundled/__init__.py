"""Small sample data bundled with the package, written for this project (not taken from any public corpus).

* `dialogues.jsonl` (`SAMPLE_DIALOGUES`): 60 multi-turn empathy dialogues, 8–20 turns each, over the
  paper's 12 topics, in the released SoulChatCorpus record shape `{"id", "topic", "messages"}`.
* `psyqa.jsonl` (`SAMPLE_SINGLE_TURN`): 24 single-turn counseling questions with long answers
  (PsyQA shape), the input of the rewrite step.

This package was `soulchat.data` until 0.1 (that name still imports, with a DeprecationWarning);
processing training data is `soulchat.train.data`.
"""

from __future__ import annotations

from pathlib import Path

from ..topics import TOPICS  # noqa: F401  (lived here until 0.1; defined in soulchat.topics)

SAMPLE_DIR = Path(__file__).parent
SAMPLE_DIALOGUES = SAMPLE_DIR / "dialogues.jsonl"
SAMPLE_SINGLE_TURN = SAMPLE_DIR / "psyqa.jsonl"


def sample_dialogues():
    """The bundled dialogues, validated, as `Dialogue` objects."""
    from ..io import read_dialogues

    return list(read_dialogues(SAMPLE_DIALOGUES))
