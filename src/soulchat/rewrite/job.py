"""One `soulchat rewrite` job: check the input, estimate, run (live or Batch API), summarise.

The input is read twice, streaming: a first pass validates every record (so a bad line stops the
job before any money is spent, or goes to `rejects.jsonl` with --skip-invalid), counts what the
log already holds and estimates tokens and cost; the second pass feeds the runner.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..io import Reject
from .costs import PriceTable
from .inputs import SingleTurn, read_single_turn
from .plan import RewriteSettings, plan_request
from .results import ResultLog

REJECTS = "rejects.jsonl"
SUMMARY = "rewrite-summary.json"
ESTIMATE = "rewrite-estimate.json"


@dataclass
class Estimate:
    rows: int = 0  # (question, answer) pairs read
    rejected: int = 0
    done: int = 0  # already finished in the log
    duplicates: int = 0
    pending: int = 0
    models: Counter = field(default_factory=Counter)  # requested model -> pending rows
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # estimated USD for the pending rows
    spent: float = 0.0  # USD already in the log
    unpriced: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "rejected": self.rejected, "already_done": self.done,
            "duplicates": self.duplicates, "pending": self.pending, "models": dict(self.models),
            "estimated_tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "estimated_cost_usd": round(self.cost, 4), "spent_usd": round(self.spent, 6),
            "unpriced_models": self.unpriced,
        }


class RewriteJob:
    def __init__(
        self,
        inputs: list[str | Path],
        output: str | Path,
        settings: RewriteSettings,
        *,
        skip_invalid: bool = False,
        prices: PriceTable | None = None,
        base_url: str | None = None,
        api_key: str = "EMPTY",
        progress: bool = True,
        batch: bool = False,
    ) -> None:
        self.inputs = [Path(p) for p in inputs]
        self.output = Path(output)
        self.settings = settings
        self.skip_invalid = skip_invalid
        self.prices = prices or PriceTable.load()
        self.base_url, self.api_key = base_url, api_key
        self.progress, self.batch = progress, batch

    def rows(self, on_reject=None) -> Iterator[SingleTurn]:
        if on_reject is None and self.skip_invalid:
            on_reject = lambda reject: None  # noqa: E731 (written by the first pass already)
        return read_single_turn(self.inputs, on_reject=on_reject)

    def scan(self) -> Estimate:
        """First pass: validate, count, estimate. Writes rejects.jsonl with --skip-invalid."""
        estimate = Estimate()
        log = ResultLog(self.output, cost_of=self.prices.cost_of)
        state = log.load()
        estimate.spent = state.cost
        seen: set[str] = set()
        rejects_stream = None
        if self.skip_invalid:
            self.output.mkdir(parents=True, exist_ok=True)
            rejects_stream = (self.output / REJECTS).open("w", encoding="utf-8")

        def on_reject(reject: Reject) -> None:
            estimate.rejected += 1
            rejects_stream.write(json.dumps(reject.to_json(), ensure_ascii=False) + "\n")

        try:
            for row in read_single_turn(self.inputs, on_reject=on_reject if self.skip_invalid else None):
                estimate.rows += 1
                request = plan_request(row, self.settings)
                if request.key in state.finished:
                    estimate.done += 1
                    continue
                if request.key in seen:
                    estimate.duplicates += 1
                    continue
                seen.add(request.key)
                estimate.pending += 1
                estimate.models[request.model] += 1
                prompt, completion = self.prices.estimate_tokens(
                    request.body["messages"][0]["content"], row.single_turn, self.settings.max_tokens
                )
                estimate.prompt_tokens += prompt
                estimate.completion_tokens += completion
                estimate.cost += self.prices.cost(request.model, prompt, completion, batch=self.batch)
        finally:
            if rejects_stream is not None:
                rejects_stream.close()
        estimate.unpriced = self.prices.unpriced(self.settings.mix.names)
        return estimate

    def check_budget(self) -> None:
        if self.settings.max_cost is not None:
            unpriced = self.prices.unpriced(self.settings.mix.names)
            if unpriced:
                raise ValueError(
                    f"--max-cost needs a price for every model; {', '.join(unpriced)} not in {self.prices.source} "
                    "(add it there or pass --prices FILE.yaml)"
                )

    def run(self, estimate: Estimate):
        """Second pass: live requests (or the Batch API); returns the run's report."""
        self.check_budget()
        if self.batch:
            from .batch import BatchRunner

            runner = BatchRunner(self.settings, self.output, base_url=self.base_url, api_key=self.api_key,
                                 prices=self.prices, progress=self.progress)
        else:
            from .runner import RewriteRunner

            runner = RewriteRunner(self.settings, self.output, base_url=self.base_url, api_key=self.api_key,
                                   prices=self.prices, progress=self.progress, total=estimate.rows)
        return runner.run(self.rows())

    def write_summary(self, estimate: Estimate, report) -> dict[str, Any]:
        summary = {
            "inputs": [str(p) for p in self.inputs],
            "prompt": self.settings.prompt,
            "prompt_version": self.settings.prompt_version,
            "model": str(self.settings.mix),
            "mode": "batch" if self.batch else "live",
            "input": estimate.to_json(),
            "run": report.to_json(),
            "results": str(self.output / "results.jsonl"),
            "rejects": str(self.output / REJECTS) if self.skip_invalid else None,
        }
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return summary

    def write_estimate(self, estimate: Estimate) -> Path:
        self.output.mkdir(parents=True, exist_ok=True)
        path = self.output / ESTIMATE
        payload = {"prompt_version": self.settings.prompt_version, "model": str(self.settings.mix),
                   "prices": self.prices.source, "batch": self.batch} | estimate.to_json()
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path
