"""Single-turn counseling Q&A in, one `SingleTurn` per (question, answer) pair out.

Two record shapes are read, one JSON object per line (or one JSON array for small files):

* PsyQA: `{"question", "description", "keywords", "answers": [{"answer_text", ...}], "questionID"}`
  (an optional `"topic"` is kept, and the keywords, which decide the topic when there is none);
* flat: `{"question", "answer", "topic"}` (optional `"description"`, `"id"`/`"questionID"`).

A bad record raises `InputError` naming file and line and what was expected, or, with `on_reject`,
is handed over with its reason while reading goes on: nothing is dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..io import InputError, Reject, iter_records, require_file
from ..topics import split_keywords

USER, PSYCHOLOGIST = "用户：", "心理咨询师："
# A question that already ends with punctuation runs straight into its description, as PsyQA's
# questions do; otherwise a full stop keeps the two sentences apart.
_SENTENCE_END = tuple("。？！?!.…；;，,：:~～")


@dataclass(frozen=True)
class SingleTurn:
    """One (question, answer) pair, ready to rewrite; `source`/`line` say where it came from."""

    source: str
    line: int
    question_id: Any
    answer_index: int
    topic: str | None
    single_turn: str
    #: PsyQA's `keywords` as a list (they decide the topic when `topic` is missing: soulchat.topics)
    keywords: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "keywords": list(self.keywords)}


def single_turn_text(question: str, description: str, answer: str) -> str:
    """`用户：<question + description>\\n心理咨询师：<answer>` (the text the rewrite prompt receives)."""
    question, description = question.strip(), description.strip()
    if description and not question.endswith(_SENTENCE_END):
        question += "。"
    return f"{USER}{question}{description}\n{PSYCHOLOGIST}{answer.strip()}"


def read_single_turn(
    paths: str | Path | Iterable[str | Path],
    *,
    on_reject: Callable[[Reject], None] | None = None,
) -> Iterator[SingleTurn]:
    """Stream the pairs of every file in order (memory does not grow with the corpus)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for path in paths:
        path = require_file(path)
        records = 0
        for number, record in iter_records(path):
            records += 1
            try:
                if isinstance(record, InputError):
                    raise record
                pairs = list(_pairs(record))
            except InputError as error:
                if on_reject is None:
                    raise
                raw = "" if isinstance(record, InputError) else json.dumps(record, ensure_ascii=False)
                on_reject(Reject(error.path, error.line, error.reason, raw))
                continue
            except ValueError as error:
                located = InputError(path, number, str(error))
                if on_reject is None:
                    raise located from None
                on_reject(Reject(str(path), number, str(error), json.dumps(record, ensure_ascii=False)))
                continue
            keywords = tuple(split_keywords(record.get("keywords")))
            for index, (question_id, topic, text) in enumerate(pairs):
                yield SingleTurn(str(path), number, question_id, index, topic, text, keywords)
        if not records:  # not a record to skip: nothing was there at all
            raise InputError(path, None, "no records (the file is empty or holds only blank lines); expected "
                             "PsyQA {question, description, answers} or flat {question, answer} objects")


def _pairs(record: Any) -> Iterator[tuple[Any, str | None, str]]:
    """(question id, topic, single-turn text) per answer; ValueError says what was expected."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object with 'question' and 'answers' or 'answer', got {type(record).__name__}")
    question = _text(record, "question")
    description = _text(record, "description", required=False)
    topic = record.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise ValueError(f"'topic' must be a string, got {type(topic).__name__}")
    question_id = record.get("questionID", record.get("id"))
    if "answers" in record:
        answers = record["answers"]
        if not isinstance(answers, list) or not answers:
            raise ValueError("'answers' must be a non-empty list of {\"answer_text\": str}")
        texts = []
        for index, answer in enumerate(answers):
            if not isinstance(answer, dict):
                raise ValueError(f"answers[{index}] must be an object with 'answer_text', got {type(answer).__name__}")
            texts.append(_text(answer, "answer_text", where=f"answers[{index}]."))
    elif "answer" in record:
        texts = [_text(record, "answer")]
    else:
        raise ValueError("missing 'answers' (PsyQA shape) or 'answer' (flat shape)")
    # Built before yielding so a bad answer rejects the whole record, not half of it.
    pairs = [(question_id, topic, single_turn_text(question, description, text)) for text in texts]
    yield from pairs


def _text(record: dict, field: str, *, required: bool = True, where: str = "") -> str:
    value = record.get(field)
    if value is None:
        if required:
            raise ValueError(f"missing field '{where}{field}' (expected a non-empty string)")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{where}{field}' must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"'{where}{field}' is empty (expected a non-empty string)")
    return value
