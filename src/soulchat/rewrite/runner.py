"""The async rewrite runner: a capped pool of workers over AsyncOpenAI, writing the result log.

Failure handling (what a run over 600k requests meets):

* 429 rate limit: the whole pool pauses for as long as the server's retry headers say (or a
  jittered back-off), then the row is tried again;
* 429 `insufficient_quota`: no new request starts, in-flight ones finish, the run stops; a rerun
  resumes once the account has credit;
* 5xx, timeouts (a hung request), connection errors, a 200 answer without text (`choices: []`,
  `content: null`, no `choices`, not JSON): jittered exponential back-off, retried up to
  `max_attempts`, then logged as a transient error that a rerun retries (never as "ok");
* 400/413/422: the request itself is bad; logged as a final error for that row only;
* 401/403/404: nothing will work (key, permission, model name); the run stops;
* `Breaker.limit` rows in a row failed for good: the endpoint is down, the run stops (a rerun resumes).

These are the rules of soulchat.endpoint, shared with every command that calls an endpoint.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..endpoint import ROW_FATAL, RUN_FATAL, Answer, Breaker, EmptyAnswer, RequestFailed, describe, is_quota, parse_answer, where
from .costs import PriceTable
from .inputs import SingleTurn
from .limits import PoolPause, RateLimiter, backoff, retry_delay
from .plan import Request, RewriteSettings, plan_request
from .results import ResultLog, now_iso

__all__ = ["ROW_FATAL", "RUN_FATAL", "RewriteRunner", "RunReport", "make_client", "make_clients"]

#: Connections per client. httpcore walks its whole pool about twice per request, so one pool of
#: 128 connections spent ~30 % of the client's CPU at concurrency 128; several small pools, each
#: serving a fixed share of the workers, keep that walk short (same requests, same connections).
CONNECTIONS_PER_CLIENT = 16


@dataclass
class RunReport:
    ok: int = 0
    final_errors: int = 0
    transient_errors: int = 0
    skipped_done: int = 0  # finished in an earlier run
    skipped_duplicate: int = 0  # same key twice in the input
    not_started: int = 0  # left when the run stopped
    attempts: int = 0
    retries: Counter = field(default_factory=Counter)  # reason -> count
    finish_reasons: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # this run
    cost_total: float = 0.0  # the whole log
    pauses: int = 0
    causes: Counter = field(default_factory=Counter)  # error of each failed row -> count, for the screen
    stopped: str | None = None
    elapsed_s: float = 0.0

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.transient_errors == 0 and self.not_started == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "final_errors": self.final_errors,
            "transient_errors": self.transient_errors,
            "skipped_done": self.skipped_done,
            "skipped_duplicate": self.skipped_duplicate,
            "not_started": self.not_started,
            "attempts": self.attempts,
            "retries": dict(self.retries),
            "rate_limit_pauses": self.pauses,
            "errors": dict(self.causes.most_common(10)),
            "finish_reasons": dict(self.finish_reasons),
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens,
                       "total": self.prompt_tokens + self.completion_tokens},
            "cost_usd": {"this_run": round(self.cost, 6), "total": round(self.cost_total, 6)},
            "stopped": self.stopped,
            "complete": self.complete,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def make_client(base_url: str | None, api_key: str, settings: RewriteSettings, connections: int | None = None,
                verify: Any = True):
    """AsyncOpenAI with our own retry policy (its built-in retries would hide 429s from the pool)
    and a connection pool as large as the concurrency (the default keeps only 100 alive), or as
    `connections` when given; `verify` as httpx takes it (an SSL context may be shared)."""
    import httpx2
    import openai

    connections = connections or settings.concurrency
    http_client = openai.DefaultAsyncHttpxClient(
        limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=settings.timeout,
        verify=verify,
    )
    return openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key, timeout=settings.timeout, max_retries=0, http_client=http_client
    )


def make_clients(base_url: str | None, api_key: str, settings: RewriteSettings) -> list:
    """ceil(concurrency / CONNECTIONS_PER_CLIENT) clients whose pools together hold one
    connection per worker; worker i uses client i % len(clients), so no worker waits for a
    connection. They share one SSL context (the default one, built once: loading the CA bundle
    costs ~20 ms per client)."""
    import httpx2

    shards = -(-settings.concurrency // CONNECTIONS_PER_CLIENT)
    size = -(-settings.concurrency // shards)
    verify = httpx2.create_ssl_context() if shards > 1 else True
    return [make_client(base_url, api_key, settings, connections=size, verify=verify) for _ in range(shards)]


class Runner:
    """What every way of running a rewrite shares (live requests: RewriteRunner; the Batch API:
    BatchRunner): the settings, the output folder and its result log, the endpoint (`base_url`,
    `api_key`), the price table and whether a progress bar is shown."""

    def __init__(
        self,
        settings: RewriteSettings,
        output: str | Path,
        *,
        base_url: str | None = None,
        api_key: str = "EMPTY",
        prices: PriceTable | None = None,
        progress: bool = True,
    ) -> None:
        self.settings = settings
        self.output = Path(output)
        self.base_url, self.api_key = base_url, api_key
        self.prices = prices or PriceTable.load()
        self.progress = progress
        self.log = ResultLog(self.output, cost_of=self.prices.cost_of)
        self.report = RunReport()


class RewriteRunner(Runner):
    """Live requests in an async pool (rate limits, pauses, breaker); `total` rows for the progress bar."""

    def __init__(self, settings: RewriteSettings, output: str | Path, *, total: int | None = None, **shared) -> None:
        super().__init__(settings, output, **shared)
        self.total = total
        self.limiter = RateLimiter(settings.requests_per_minute, settings.tokens_per_minute)
        self.pause = PoolPause()
        self.breaker = Breaker(limit=max(8, 2 * settings.concurrency))
        self._counts_shown = 0.0

    # -- the pool ---------------------------------------------------------------------------
    def run(self, rows: Iterable[SingleTurn]) -> RunReport:
        return asyncio.run(self.run_async(rows))

    async def run_async(self, rows: Iterable[SingleTurn]) -> RunReport:
        from tqdm.auto import tqdm

        started = time.monotonic()
        state = self.log.load()
        self.finished = state.finished
        self.report.cost_total = state.cost
        self._check_budget()
        clients = make_clients(self.base_url, self.api_key, self.settings)
        queue: asyncio.Queue = asyncio.Queue(maxsize=2 * self.settings.concurrency)
        self.bar = tqdm(total=self.total, desc="rewrite", unit="req", file=sys.stderr,
                        disable=not self.progress, dynamic_ncols=True)
        try:
            with self.log:
                workers = [asyncio.create_task(self._worker(clients[i % len(clients)], queue))
                           for i in range(self.settings.concurrency)]
                await self._feed(rows, queue)
                for _ in workers:
                    await queue.put(None)
                await asyncio.gather(*workers)
        finally:
            self._show_counts()
            self.bar.close()
            for client in clients:
                await client.close()
        self.report.pauses = self.pause.pauses
        self.report.elapsed_s = time.monotonic() - started
        return self.report

    async def _feed(self, rows: Iterable[SingleTurn], queue: asyncio.Queue) -> None:
        seen: set[str] = set()
        for count, row in enumerate(rows):
            if self.report.stopped:
                break
            request = plan_request(row, self.settings)
            if request.key in self.finished:
                self.report.skipped_done += 1
                self.bar.update(1)
                if count % 1000 == 0:
                    await asyncio.sleep(0)  # a long resume scan must not starve the workers
                continue
            if request.key in seen:
                self.report.skipped_duplicate += 1
                self.bar.update(1)
                continue
            seen.add(request.key)
            await queue.put(request)

    async def _worker(self, client, queue: asyncio.Queue) -> None:
        while (request := await queue.get()) is not None:
            if self.report.stopped:
                self.report.not_started += 1
                continue
            await self._rewrite(client, request)
            self.bar.update(1)
            # the bar redraws at most every `mininterval` seconds; formatting the counts more
            # often than that is CPU spent on text nobody sees
            if not self.bar.disable and time.monotonic() - self._counts_shown >= self.bar.mininterval:
                self._show_counts()

    def _show_counts(self) -> None:
        self._counts_shown = time.monotonic()
        self.bar.set_postfix(ok=self.report.ok, failed=self.report.final_errors + self.report.transient_errors,
                             cost=f"${self.report.cost_total:.2f}", refresh=False)

    def _check_budget(self) -> None:
        limit = self.settings.max_cost
        if limit is not None and self.report.cost_total >= limit and not self.report.stopped:
            self.report.stopped = (f"cost limit reached: ${self.report.cost_total:.4f} spent >= --max-cost "
                                   f"${limit:g}; rerun with a higher --max-cost to continue")

    # -- one row ----------------------------------------------------------------------------
    async def _rewrite(self, client, request: Request) -> None:
        import httpx2
        import openai

        settings = self.settings
        prompt_estimate, completion_estimate = self.prices.estimate_tokens(
            request.body["messages"][0]["content"], request.row.single_turn, settings.max_tokens
        )
        estimate = prompt_estimate + completion_estimate
        attempt = 0
        while True:
            await self.pause.wait()
            await self.limiter.acquire(estimate)
            if self.report.stopped:
                self.report.not_started += 1
                return
            self.report.attempts += 1
            begin = time.monotonic()
            try:
                # The documented raw route (`client.post`, as for undocumented endpoints): same
                # errors and headers as `chat.completions.create`, without its per-request
                # parameter transform and response model (~half the client's CPU per request,
                # which decides throughput at concurrency 128).
                response = await client.post("/chat/completions", cast_to=httpx2.Response, body=request.body)
                answer = parse_answer(response.content)
            except openai.APIStatusError as error:
                failure = error  # `error` is unbound after the except block
                latency = time.monotonic() - begin
                self.limiter.settle(estimate, 0)
                status = error.status_code
                if status == 429 and is_quota(error):
                    self.report.stopped = ("insufficient_quota: the account has no credit left; "
                                           "add credit, then rerun the same command to resume")
                    self._log_error(request, error, latency, attempt + 1)
                    return
                if status in ROW_FATAL:
                    self._log_error(request, error, latency, attempt + 1, final=True)
                    return
                if status in RUN_FATAL:
                    self.report.stopped = f"{describe(error)} from the server: check the key, base URL and model"
                    self._log_error(request, error, latency, attempt + 1)
                    return
                if status == 429:
                    delay = retry_delay(error.response.headers)
                    self.pause.extend(delay if delay is not None else
                                      backoff(attempt, settings.backoff_base, settings.backoff_max))
                    reason = "rate_limit"
                else:  # 5xx, 408, 409 and friends: the server's trouble, try again
                    await asyncio.sleep(backoff(attempt, settings.backoff_base, settings.backoff_max))
                    reason = f"http_{status}"
            except (openai.APITimeoutError, openai.APIConnectionError, EmptyAnswer) as error:
                # EmptyAnswer: a 200 without text (or not JSON: a proxy's error page): the server's
                # fault, and a row logged "ok" without text would never be asked again
                failure = error
                latency = time.monotonic() - begin
                self.limiter.settle(estimate, 0)
                reason = ("timeout" if isinstance(error, openai.APITimeoutError)
                          else "connection" if isinstance(error, openai.APIConnectionError) else "no_text")
                await asyncio.sleep(backoff(attempt, settings.backoff_base, settings.backoff_max))
            else:
                self.breaker.success()
                self._log_ok(request, answer, time.monotonic() - begin, attempt + 1, estimate)
                return
            attempt += 1
            self.report.retries[reason] += 1
            if attempt >= settings.max_attempts or self.report.stopped:
                self._log_error(request, failure, latency, attempt)
                self.breaker.failure(RequestFailed(where(self.base_url or "https://api.openai.com/v1"),
                                                   describe(failure), "retry"))
                if self.breaker.tripped and not self.report.stopped:
                    self.report.stopped = f"{self.breaker.reason}; rerun the same command to resume"
                return

    def _record(self, request: Request, status: str, latency: float, attempts: int) -> dict[str, Any]:
        return {
            "key": request.key,
            "status": status,
            "row": request.row.to_json(),
            "prompt": self.settings.prompt,
            "prompt_version": self.settings.prompt_version,
            "requested_model": request.model,
            "model": None,
            "text": None,
            "finish_reason": None,
            "usage": None,
            "latency_s": round(latency, 4),
            "attempts": attempts,
            "error": None,
            "time": now_iso(),
        }

    def _log_ok(self, request: Request, answer: Answer, latency: float, attempts: int, estimate: int) -> None:
        record = self._record(request, "ok", latency, attempts)
        usage = answer.usage or None
        record |= {"model": answer.model, "text": answer.text, "finish_reason": answer.finish_reason, "usage": usage}
        self.log.append(record)
        cost = self.prices.cost_of(record)
        self.report.ok += 1
        self.report.finish_reasons[str(record["finish_reason"])] += 1
        if usage:
            self.report.prompt_tokens += usage["prompt_tokens"]
            self.report.completion_tokens += usage["completion_tokens"]
            self.limiter.settle(estimate, usage["total_tokens"])
        self.report.cost += cost
        self.report.cost_total += cost
        self._check_budget()

    def _log_error(self, request: Request, error: Exception, latency: float, attempts: int, final: bool = False) -> None:
        record = self._record(request, "error", latency, attempts)
        record["error"] = describe(error)
        self.report.causes[record["error"]] += 1
        if isinstance(error, EmptyAnswer) and error.usage:  # billed although empty: the log's cost counts it
            record |= {"model": error.model, "usage": error.usage}
            cost = self.prices.cost_of(record)
            self.report.cost += cost
            self.report.cost_total += cost
        if final:
            record["final"] = True
            self.report.final_errors += 1
        else:
            self.report.transient_errors += 1
        self.log.append(record)
