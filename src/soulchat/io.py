"""Streaming readers that name the file and line of every bad record.

Corpora are large (the paper's is ~1 GB of JSON), so records are read one line at a time; a bad
line raises `InputError` with its location, or, when the caller asked to skip, is handed to a
rejects writer with its reason and the run goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .dialogue import Dialogue, DialogueFormatError


class InputError(ValueError):
    """A record that cannot be read; says where it is and what was expected."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Reject:
    path: str
    line: int | None
    reason: str
    raw: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "reason": self.reason, "raw": self.raw}


def iter_records(path: str | Path, *, skip_torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or InputError) for each non-blank line: bad lines do not stop
    the reading, the caller decides. A `.json` file holding one JSON array is read too (parsed
    whole, so for small files only; its "line" numbers are 1-based item positions); a `.jsonl`
    file is always JSON lines, even when each line is a list.

    `skip_torn_tail`: an unreadable last line without its newline is what a killed writer of an
    append-only log leaves behind, not bad data: it is skipped instead of reported."""
    path = Path(path)
    with path.open("rb") as stream:
        head = stream.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        stream.seek(0)
        if head.startswith(b"[") and path.suffix.lower() != ".jsonl":
            yield from _iter_json_array(path, stream.read())
            return
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                if skip_torn_tail and not raw.endswith(b"\n"):  # only the last line lacks one
                    return
                yield number, _line_error(path, number, error)


def _line_error(path: Path, number: int, error: Exception) -> InputError:
    if isinstance(error, UnicodeDecodeError):
        return InputError(path, number, f"not valid UTF-8 ({error.reason} at byte {error.start})")
    return InputError(
        path, number, f"broken JSON ({error.msg} at column {error.colno}); expected one JSON object per line"
    )


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object); raises InputError at the first bad line."""
    for number, record in iter_records(path):
        if isinstance(record, InputError):
            raise record
        yield number, record


def _iter_json_array(path: Path, data: bytes) -> Iterator[tuple[int, Any]]:
    try:
        items = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        yield 1, InputError(path, None, f"not valid UTF-8 ({error.reason} at byte {error.start})")
        return
    except json.JSONDecodeError as error:
        yield error.lineno, InputError(
            path, error.lineno, f"broken JSON ({error.msg} at column {error.colno})"
        )
        return
    if not isinstance(items, list):
        yield 1, InputError(path, None, "expected a JSON array or JSON lines")
        return
    yield from enumerate(items, start=1)


def read_dialogues(
    path: str | Path,
    *,
    on_reject: Callable[[Reject], None] | None = None,
    min_rounds: int | None = None,
    max_rounds: int | None = None,
    validate: bool = True,
) -> Iterator[Dialogue]:
    """Dialogues from a JSONL file of `{"id", "topic", "messages"}` records (or `{"text"}` dumps).

    Without `on_reject` the first bad record raises InputError; with it, each bad record is passed
    on with its reason and reading continues. A record without an id gets its line number.
    """
    for number, record in iter_records(path):
        try:
            if isinstance(record, InputError):
                raise record
            dialogue = dialogue_from_record(record)
            if dialogue.id is None:
                dialogue.id = number
            if validate:
                dialogue.validate(min_rounds=min_rounds, max_rounds=max_rounds)
        except (InputError, DialogueFormatError) as error:
            located = error if isinstance(error, InputError) else InputError(path, number, str(error))
            if on_reject is None:
                raise located from None
            raw = "" if isinstance(record, InputError) else json.dumps(record, ensure_ascii=False)
            on_reject(Reject(located.path, located.line, located.reason, raw))
            continue
        yield dialogue


def dialogue_from_record(record: Any) -> Dialogue:
    """A dialogue from one record: `{"id", "topic", "messages"}` (also under the keys `dialogue`
    or `conversation`), a bare list of messages (SMILE), or a `{"text"}` dump."""
    if isinstance(record, list):
        return Dialogue.from_messages(record)
    if isinstance(record, dict):
        topic = record.get("topic")
        if topic is not None and not isinstance(topic, str):
            raise DialogueFormatError(f"'topic' must be a string, got {type(topic).__name__}")
        for name in ("messages", "dialogue", "conversation"):
            if name in record:
                if not isinstance(record[name], list):
                    raise DialogueFormatError(
                        f"'{name}' must be a list, got {type(record[name]).__name__}"
                    )
                return Dialogue.from_messages(record[name], id=record.get("id"), topic=topic)
        if isinstance(record.get("text"), str):
            return Dialogue.from_text(record["text"], id=record.get("id"), topic=topic)
    raise DialogueFormatError(
        "expected an object with 'messages' (a list of {role, content}) or 'text', or a list of "
        "messages; got " + (f"keys {sorted(record)}" if isinstance(record, dict) else type(record).__name__)
    )
