"""Pacing: requests/min and tokens/min buckets, the pool-wide 429 pause, back-off delays."""

from __future__ import annotations

import asyncio
import random
import re
import time
from email.utils import parsedate_to_datetime
from typing import Mapping

#: the longest pause a server's retry header may impose (a bad header must not stall a run for hours)
MAX_SERVER_PAUSE = 600.0


class _Bucket:
    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)  # at most one second's worth in a burst
        self.level = self.capacity
        self.stamp = time.monotonic()

    def refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` may be taken (a request larger than a burst waits for a full
        bucket and drives the level negative: the average rate still holds)."""
        self.refill()
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate


class RateLimiter:
    """Requests/min and tokens/min limits shared by every worker; None means no limit.

    Tokens are taken up front from an estimate and corrected with the usage the API reports.
    """

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None):
        self.requests = _Bucket(requests_per_minute) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = asyncio.Lock()

    @property
    def active(self) -> bool:
        return bool(self.requests or self.tokens)

    async def acquire(self, tokens: int) -> None:
        if not self.active:
            return
        async with self._lock:  # first come, first served
            while True:
                wait = max(
                    self.requests.wait_for(1) if self.requests else 0.0,
                    self.tokens.wait_for(tokens) if self.tokens else 0.0,
                )
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests:
                self.requests.level -= 1
            if self.tokens:
                self.tokens.level -= tokens

    def settle(self, estimated: int, actual: int) -> None:
        if self.tokens:
            self.tokens.level += estimated - actual


class PoolPause:
    """After a 429 every worker waits, not only the one that got it: the limit is the account's."""

    def __init__(self) -> None:
        self.until = 0.0
        self.pauses = 0

    def extend(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        if until > self.until:
            self.until = until
            self.pauses += 1

    async def wait(self) -> None:
        while (left := self.until - time.monotonic()) > 0:
            await asyncio.sleep(left)


def backoff(attempt: int, base: float, ceiling: float) -> float:
    """Full-jitter exponential back-off: uniform in [0, min(ceiling, base * 2**attempt)]."""
    return random.uniform(0.0, min(ceiling, base * 2**attempt))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """`1s`, `6m0s`, `20ms`, `1h2m3.5s` (OpenAI's x-ratelimit-reset-*) or plain seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def retry_delay(headers: Mapping[str, str]) -> float | None:
    """How long the server asked us to wait, from its headers; None if it did not say.

    Order: `retry-after-ms`, `retry-after` (seconds or an HTTP date), then `x-ratelimit-reset-*`
    of the exhausted limit (remaining == 0), else the nearest reset.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return _bounded(float(lower["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    if "retry-after" in lower:
        value = lower["retry-after"].strip()
        try:
            return _bounded(float(value))
        except ValueError:
            try:
                return _bounded(parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    resets = {}
    for kind in ("requests", "tokens"):
        reset = parse_duration(lower.get(f"x-ratelimit-reset-{kind}", ""))
        if reset is not None:
            resets[kind] = reset
    if not resets:
        return None
    exhausted = [v for kind, v in resets.items() if lower.get(f"x-ratelimit-remaining-{kind}", "").strip() == "0"]
    return _bounded(max(exhausted) if exhausted else min(resets.values()))


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), MAX_SERVER_PAUSE)
