"""The OpenAI Batch API path (`soulchat rewrite --batch`): half the price, up to 24 h latency.

    OUTPUT/batch/state.json                 parts with their file and batch ids (rewritten atomically)
    OUTPUT/batch/r1-0001.requests.jsonl     what was uploaded: {"custom_id": key, "method", "url", "body"}
    OUTPUT/batch/r1-0001.rows.jsonl         key -> row, to join the answers back on
    OUTPUT/batch/r1-0001.output.jsonl       downloaded output file (and .errors.jsonl)

Request files are split by line count and by size (the API caps both). Every state change is saved
before the next step, so an interrupted run picks up its batches where they were: it polls them
instead of resubmitting. Output and error files are joined on `custom_id`; keys found in neither,
or failed for a transient reason, are resubmitted in a next round (up to `max_rounds`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from ..endpoint import EmptyAnswer, describe, parse_answer
from .inputs import SingleTurn
from .plan import RewriteSettings, plan_request
from .results import now_iso
from .runner import ROW_FATAL, Runner, RunReport

TERMINAL = {"completed", "failed", "expired", "cancelled"}
ENDPOINT = "/v1/chat/completions"


@dataclass
class Part:
    name: str
    count: int
    bytes: int
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    submitted_at: float | None = None
    collected: bool = False


class BatchRunner(Runner):
    """The OpenAI Batch API: files of at most `max_lines` requests and `max_bytes`, polled every
    `poll_interval` seconds, failed rows resubmitted up to `max_rounds` times."""

    def __init__(
        self,
        settings: RewriteSettings,
        output: str | Path,
        *,
        max_lines: int = 50_000,
        max_bytes: int = 190 * 2**20,
        poll_interval: float = 30.0,
        max_rounds: int = 3,
        **shared,
    ) -> None:
        super().__init__(settings, output, **shared)
        self.folder = self.output / "batch"
        self.state_path = self.folder / "state.json"
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self.poll_interval, self.max_rounds = poll_interval, max_rounds

    # -- state ------------------------------------------------------------------------------
    def _load_state(self) -> list[Part]:
        if not self.state_path.exists():
            return []
        return [Part(**p) for p in json.loads(self.state_path.read_text(encoding="utf-8"))["parts"]]

    def _save_state(self, parts: list[Part]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"parts": [asdict(p) for p in parts]}, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, self.state_path)  # atomic: a kill leaves the old or the new state

    def _say(self, message: str) -> None:
        if self.progress:
            print(f"batch: {message}", file=sys.stderr)

    # -- run --------------------------------------------------------------------------------
    def run(self, rows: Iterable[SingleTurn]) -> RunReport:
        import openai

        started = time.monotonic()
        state = self.log.load()
        self.finished = state.finished
        self.report.cost_total = state.cost
        client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=3,
                               timeout=self.settings.timeout)
        parts = self._load_state()
        open_parts = [p for p in parts if not p.collected]
        active = {key for p in open_parts for key, _ in self._part_rows(p)}
        round_number = 1 + max((int(p.name[1:].split("-")[0]) for p in parts), default=0)
        with self.log:
            # Round 1 of this run: batches left open by an earlier run, plus the input's new rows.
            fresh = (plan_request(row, self.settings) for row in rows)
            pending = ((r.key, r.row) for r in fresh if r.key not in self.finished and r.key not in active)
            new_parts = self._write_parts(pending, round_number, parts)
            work = open_parts + new_parts
            for _ in range(self.max_rounds):
                if not work or self.report.stopped:
                    break
                self._submit(client, work, parts)
                self._wait(client, work, parts)
                missing = []
                for part in work:
                    missing.extend(self._collect(client, part, parts))
                round_number += 1
                if missing:
                    self._say(f"{len(missing)} keys without a final answer: resubmitting (round {round_number})")
                    self.report.retries["resubmitted"] += len(missing)
                work = self._write_parts(iter(missing), round_number, parts)
            # Written but not submitted after max_rounds: the next run submits them first.
            self.report.not_started += sum(p.count for p in work)
        self.report.elapsed_s = time.monotonic() - started
        return self.report

    def _part_rows(self, part: Part) -> Iterable[tuple[str, dict[str, Any]]]:
        with (self.folder / f"{part.name}.rows.jsonl").open(encoding="utf-8") as stream:
            for line in stream:
                item = json.loads(line)
                yield item["key"], item["row"]

    def _write_parts(self, pending, round_number: int, parts: list[Part]) -> list[Part]:
        """Request files of at most max_lines lines and max_bytes bytes each."""
        self.folder.mkdir(parents=True, exist_ok=True)
        written: list[Part] = []
        requests = rows = None
        seen: set[str] = set()

        def close() -> None:
            requests.close()
            rows.close()
            parts.append(written[-1])
            self._save_state(parts)

        for key, row in pending:
            if key in seen:
                continue
            seen.add(key)
            row = SingleTurn(**row) if isinstance(row, dict) else row
            request = plan_request(row, self.settings)
            line = json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": request.body},
                              ensure_ascii=False) + "\n"
            size = len(line.encode("utf-8"))
            current = written[-1] if written and requests is not None else None
            if current is None or current.count >= self.max_lines or current.bytes + size > self.max_bytes:
                if current is not None:
                    close()
                name = f"r{round_number}-{len(written) + 1:04d}"
                written.append(Part(name=name, count=0, bytes=0))
                requests = (self.folder / f"{name}.requests.jsonl").open("w", encoding="utf-8")
                rows = (self.folder / f"{name}.rows.jsonl").open("w", encoding="utf-8")
            requests.write(line)
            rows.write(json.dumps({"key": key, "row": row.to_json()}, ensure_ascii=False) + "\n")
            written[-1].count += 1
            written[-1].bytes += size
        if requests is not None:
            close()
        if written:
            self._say(f"wrote {len(written)} request file(s), {sum(p.count for p in written)} requests")
        return written

    def _submit(self, client, work: list[Part], parts: list[Part]) -> None:
        for part in work:
            if part.batch_id:
                continue
            if part.input_file_id is None:
                with (self.folder / f"{part.name}.requests.jsonl").open("rb") as stream:
                    part.input_file_id = client.files.create(file=stream, purpose="batch").id
                self._save_state(parts)
            batch = client.batches.create(input_file_id=part.input_file_id, endpoint=ENDPOINT,
                                          completion_window="24h")
            part.batch_id, part.status, part.submitted_at = batch.id, batch.status, time.time()
            self._save_state(parts)
            self._say(f"{part.name}: {part.count} requests submitted as {batch.id}")

    def _wait(self, client, work: list[Part], parts: list[Part]) -> None:
        while True:
            waiting = [p for p in work if p.status not in TERMINAL]
            for part in waiting:
                part.status = client.batches.retrieve(part.batch_id).status
            self._save_state(parts)
            if all(p.status in TERMINAL for p in work):
                return
            time.sleep(self.poll_interval)

    def _collect(self, client, part: Part, parts: list[Part]) -> list[tuple[str, dict[str, Any]]]:
        """Join output and error lines on key, log them; return the rows still without an answer."""
        batch = client.batches.retrieve(part.batch_id)
        latency = time.time() - (part.submitted_at or time.time())
        rows = dict(self._part_rows(part))
        answered: set[str] = set()
        for kind, file_id in (("output", batch.output_file_id), ("errors", batch.error_file_id)):
            if not file_id:
                continue
            path = self.folder / f"{part.name}.{kind}.jsonl"
            client.files.content(file_id).write_to_file(path)
            with path.open(encoding="utf-8") as stream:
                for line in stream:
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    key = item.get("custom_id")
                    if key not in rows or key in answered:
                        continue
                    if self._log_line(key, rows[key], item, latency):
                        answered.add(key)
        part.collected = True
        self._save_state(parts)
        return [(key, row) for key, row in rows.items() if key not in answered]

    def _log_line(self, key: str, row: dict[str, Any], item: dict[str, Any], latency: float) -> bool:
        """Log one batch line; True when the key is finished (ok or a final error)."""
        single = SingleTurn(**row)
        request = plan_request(single, self.settings)
        response = item.get("response") or {}
        body = response.get("body") or {}
        status = response.get("status_code")
        record = {
            "key": key, "status": "ok", "row": row, "prompt": self.settings.prompt,
            "prompt_version": self.settings.prompt_version, "requested_model": request.model,
            "model": None, "text": None, "finish_reason": None, "usage": None,
            "latency_s": round(latency, 3), "attempts": 1, "error": None, "time": now_iso(), "batch": True,
        }
        answer = None
        if status == 200:
            try:
                answer = parse_answer(body)
            except EmptyAnswer as empty:  # billed, but nothing to keep: a next round asks again
                record |= {"status": "error", "error": describe(empty), "model": empty.model, "usage": empty.usage or None}
                self.report.causes[record["error"]] += 1
                self.log.append(record)
                cost = self.prices.cost_of(record)
                self.report.cost += cost
                self.report.cost_total += cost
                return False
        if answer is not None:
            usage = answer.usage or None
            record |= {"model": answer.model, "text": answer.text, "finish_reason": answer.finish_reason, "usage": usage}
            self.log.append(record)
            cost = self.prices.cost_of(record)
            self.report.ok += 1
            self.report.finish_reasons[str(record["finish_reason"])] += 1
            self.report.prompt_tokens += int((usage or {}).get("prompt_tokens") or 0)
            self.report.completion_tokens += int((usage or {}).get("completion_tokens") or 0)
            self.report.cost += cost
            self.report.cost_total += cost
            return True
        error = (body.get("error") if isinstance(body, dict) else None) or item.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        record |= {"status": "error", "error": f"HTTP {status}: {message}" if status else str(message)}
        self.report.causes[record["error"]] += 1
        final = status in ROW_FATAL
        if final:
            record["final"] = True
            self.report.final_errors += 1
        self.log.append(record)
        return final
