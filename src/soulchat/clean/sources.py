"""Where dialogues come from: a rewrite folder's result log, or multi-turn files users already have.

Every source yields `Candidate`s in a deterministic order (the log's order, files sorted by name).
A rewrite log can hold several lines per key (retries, resumed runs): the last "ok" line wins, or,
when a key never succeeded, its last line (counted as a failed request, never silently dropped).
Finding the winners takes one extra pass that keeps 12 bytes per log line, not the lines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..dialogue import Dialogue, DialogueFormatError
from ..io import InputError, dialogue_from_record, iter_records

RESULTS_FILE = "results.jsonl"


@dataclass
class Candidate:
    """One dialogue to clean, before it is parsed (rewrite output) or after (multi-turn files)."""

    id: str
    topic: str | None
    origin: dict[str, Any]
    text: str | None = None
    dialogue: Dialogue | None = None
    #: set when the source already knows this cannot become a dialogue (reason code, detail)
    failure: tuple[str, str] | None = None
    finish_reason: str | None = None
    #: "rewrite" (LLM output from a result log) or "dialogues" (an existing multi-turn file)
    kind: str = "rewrite"
    #: what else the input knows: `keywords` (PsyQA) and `request` (the single-turn text a rewrite
    #: was asked for); both help `soulchat.topics.assign_topic` when `topic` is missing
    meta: dict[str, Any] = field(default_factory=dict)


def _key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def _read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Records of a log, with a torn final line (a killed writer) read as nothing at all."""
    return iter_records(path, skip_torn_tail=True)


def winning_lines(path: Path) -> np.ndarray:
    """Sorted line numbers of the lines that decide each key's outcome."""
    hashes, lines, oks = [], [], []
    for number, record in _read_lines(path):
        if isinstance(record, InputError) or not isinstance(record, dict) or not isinstance(record.get("key"), str):
            continue  # reported by iter_rewrite_log when it meets the line
        hashes.append(_key_hash(record["key"]))
        lines.append(number)
        oks.append(record.get("status") == "ok")
    if not lines:
        return np.zeros(0, dtype=np.int64)
    hashes_a = np.array(hashes, dtype=np.uint64)
    lines_a = np.array(lines, dtype=np.int64)
    order = np.lexsort((lines_a, np.array(oks, dtype=np.int8), hashes_a))
    hashes_a, lines_a = hashes_a[order], lines_a[order]
    last_of_key = np.append(hashes_a[1:] != hashes_a[:-1], True)
    return np.sort(lines_a[last_of_key])


def is_rewrite_log(path: Path) -> bool:
    if path.name == RESULTS_FILE:
        return True
    for _, record in iter_records(path):
        return isinstance(record, dict) and "status" in record and "row" in record and "key" in record
    return False


def iter_rewrite_log(path: Path) -> Iterator[Candidate]:
    winners = winning_lines(path)
    at = 0
    for number, record in _read_lines(path):
        origin: dict[str, Any] = {"path": str(path), "line": number}
        if isinstance(record, InputError) or not isinstance(record, dict) or not isinstance(record.get("key"), str):
            reason = record.reason if isinstance(record, InputError) else "expected a result object with a 'key'"
            yield Candidate(f"{path.name}:{number}", None, origin, failure=("unreadable_record", reason))
            continue
        while at < len(winners) and winners[at] < number:
            at += 1
        if at >= len(winners) or winners[at] != number:
            continue  # superseded by a later line for the same key
        row = record.get("row") if isinstance(record.get("row"), dict) else {}
        origin.update(
            key=record["key"],
            source=row.get("source"),
            source_line=row.get("line"),
            question_id=row.get("question_id"),
            answer_index=row.get("answer_index"),
            prompt=record.get("prompt"),
            prompt_version=record.get("prompt_version"),
            model=record.get("model") or record.get("requested_model"),
        )
        topic = row.get("topic") if isinstance(row.get("topic"), str) else None
        candidate = Candidate(record["key"], topic, origin, finish_reason=record.get("finish_reason"),
                              meta={"keywords": row.get("keywords"), "request": row.get("single_turn")})
        if record.get("status") != "ok":
            candidate.failure = ("request_failed", str(record.get("error") or record.get("status")))
        elif not isinstance(record.get("text"), str):
            candidate.failure = ("unparsable", "the result has no text")
        else:
            candidate.text = record["text"]
        yield candidate


def iter_dialogue_file(path: Path, id_prefix: str = "") -> Iterator[Candidate]:
    """Released SoulChatCorpus JSON/JSONL, SMILE-style lists, or `{text}` dumps."""
    for number, record in iter_records(path):
        origin = {"path": str(path), "line": number}
        fallback_id = f"{id_prefix}{number}"
        if isinstance(record, InputError):
            yield Candidate(fallback_id, None, origin, failure=("unreadable_record", record.reason), kind="dialogues")
            continue
        try:
            dialogue = dialogue_from_record(record)
        except DialogueFormatError as error:
            yield Candidate(fallback_id, None, origin, failure=("unparsable", str(error)), kind="dialogues")
            continue
        ident = f"{id_prefix}{dialogue.id}" if dialogue.id is not None else fallback_id
        keywords = record.get("keywords") if isinstance(record, dict) else None
        yield Candidate(ident, dialogue.topic, origin, dialogue=dialogue, kind="dialogues", meta={"keywords": keywords})


def resolve_inputs(paths: list[str | Path]) -> list[tuple[str, Path]]:
    """(kind, file) for each input: a rewrite folder gives its log; another folder its JSON(L) files."""
    found: list[tuple[str, Path]] = []
    for given in map(Path, paths):
        if given.is_dir():
            if (given / RESULTS_FILE).is_file():
                found.append(("rewrite", given / RESULTS_FILE))
                continue
            files = sorted(p for p in given.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
            if not files:
                raise InputError(given, None, f"no {RESULTS_FILE} and no .json/.jsonl file in this folder")
            found.extend(("rewrite" if is_rewrite_log(p) else "dialogues", p) for p in files)
        elif given.is_file():
            found.append(("rewrite" if is_rewrite_log(given) else "dialogues", given))
        else:
            raise InputError(given, None, "no such file or folder")
    return found


def iter_candidates(paths: list[str | Path]) -> Iterator[Candidate]:
    inputs = resolve_inputs(paths)
    dialogue_files = [p for kind, p in inputs if kind == "dialogues"]
    for kind, path in inputs:
        if kind == "rewrite":
            yield from iter_rewrite_log(path)
        else:
            # ids stay as released when there is one file; several files could reuse ids
            prefix = f"{path.stem}-" if len(dialogue_files) > 1 else ""
            yield from iter_dialogue_file(path, prefix)


def input_fingerprint(paths: list[str | Path]) -> list[dict[str, Any]]:
    """What identifies the inputs for resuming: path, size and modification time of every file."""
    return [
        {"kind": kind, "path": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
        for kind, p in resolve_inputs(paths)
    ]


def dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)
