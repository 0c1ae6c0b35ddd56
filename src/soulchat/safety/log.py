"""Every flag is logged: category, severity, rules, spans and time; in privacy mode no text at all.

The log is JSON Lines (one flag per line, appended, flushed per write) so a deployer can count
flags per category or audit a decision without keeping what people wrote.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import IO

from soulchat.safety.detector import Assessment


class SafetyLog:
    """`SafetyLog(path, privacy=True)`; `log(assessment, text=..., source="user", session=...)`.

    With privacy on (the default) a record holds offsets only: no matched words, no text. With
    privacy off it also keeps the matched spans and the whole text. Records also stay in memory
    (`records`) so a chat session or a test can read them back; `path=None` keeps them only there.
    """

    def __init__(self, path: str | Path | None = None, privacy: bool = True, keep: int = 1000):
        self.path = Path(path) if path is not None else None
        self.privacy = privacy
        self.keep = keep
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    def log(self, assessment: Assessment, text: str | None = None, source: str = "user", session: str | None = None) -> dict | None:
        """Record a flagged assessment (unflagged ones are ignored); returns the record written."""
        if not assessment.flagged:
            return None
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": source,  # "user" turn or model "output"
            "category": assessment.category,
            "categories": list(assessment.categories),
            "severity": assessment.severity,
            "rules": list(assessment.rules),
            "decided_by": assessment.source,
            "spans": [[s, e] if self.privacy else [s, e, t] for s, e, t in assessment.spans],
        }
        if session is not None:
            record["session"] = session
        if not self.privacy and text is not None:
            record["text"] = text
        with self._lock:
            self.records.append(record)
            del self.records[: -self.keep]
            if self.path is not None:
                if self._file is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._file = self.path.open("a", encoding="utf-8")
                self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> SafetyLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_default_log = SafetyLog()


def log_flag(assessment: Assessment, text: str | None = None, source: str = "user", log: SafetyLog | None = None, session: str | None = None) -> dict | None:
    """Log to `log`, or to the process-wide in-memory log (privacy on)."""
    return (log or _default_log).log(assessment, text=text, source=source, session=session)
