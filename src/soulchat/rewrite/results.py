"""The append-only result log, `OUTPUT/results.jsonl`: the contract with parse/validate/clean.

One JSON object per finished request, written in one `write` and flushed at once, so a kill -9
loses at most the requests in flight and leaves at worst a torn last line. Opening the log for a
resume cuts such a torn tail (it was never a finished result) before appending.

A key is finished when it has an "ok" line or an "error" line with `"final": true` (a 400: the
request itself is bad, asking again gives the same answer). Other errors are retried by a rerun.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..io import InputError, iter_records

RESULTS = "results.jsonl"


@dataclass
class LogState:
    """What a log already holds: finished keys and what they cost."""

    finished: set[str] = field(default_factory=set)
    ok: int = 0
    final_errors: int = 0
    transient_errors: int = 0
    cost: float = 0.0
    torn_bytes: int = 0  # bytes of a torn last line (cut when the log is opened for appending)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def iter_results(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each complete line; a torn last line is skipped, a broken line
    anywhere else raises InputError (something other than a crash wrote it)."""
    path = Path(path)
    for number, record in iter_records(path, skip_torn_tail=True):
        if isinstance(record, InputError):
            raise InputError(path, number, f"broken result line: {record.reason}")
        if not isinstance(record, dict) or "key" not in record or "status" not in record:
            raise InputError(path, number, "expected a result object with 'key' and 'status'")
        yield number, record


def is_finished(record: dict[str, Any]) -> bool:
    return record.get("status") == "ok" or bool(record.get("final"))


class ResultLog:
    """Reads what is finished, then appends results one flushed line at a time."""

    def __init__(self, output: str | Path, cost_of: Callable[[dict[str, Any]], float] | None = None):
        self.path = Path(output) / RESULTS
        self.cost_of = cost_of or (lambda record: 0.0)
        self._stream = None

    def load(self) -> LogState:
        state = LogState()
        if not self.path.exists():
            return state
        for _, record in iter_results(self.path):
            state.cost += self.cost_of(record)
            if record["status"] == "ok":
                state.ok += 1
            elif record.get("final"):
                state.final_errors += 1
            else:
                state.transient_errors += 1
            if is_finished(record):
                state.finished.add(record["key"])
        state.torn_bytes = self._torn_tail()
        return state

    def _torn_tail(self) -> int:
        """Bytes after the last newline (0 when the file ends cleanly)."""
        size = self.path.stat().st_size
        if size == 0:
            return 0
        with self.path.open("rb") as stream:
            position = size
            while position > 0:
                step = min(65536, position)
                stream.seek(position - step)
                chunk = stream.read(step)
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    return size - (position - step + cut + 1)
                position -= step
            return size

    def open(self) -> ResultLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            torn = self._torn_tail()
            if torn:
                size = self.path.stat().st_size
                with self.path.open("r+b") as stream:
                    stream.seek(size - torn)
                    try:  # complete but for its newline: keep it (load() counted it)
                        json.loads(stream.read().decode("utf-8"))
                        stream.write(b"\n")
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        stream.truncate(size - torn)
        self._stream = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._stream.flush()

    def sync(self) -> None:
        if self._stream is not None:
            self._stream.flush()
            os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            self.sync()
            self._stream.close()
            self._stream = None

    def __enter__(self) -> ResultLog:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
