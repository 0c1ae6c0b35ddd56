"""What to ask for each row: settings, the model mix, the request body and the result key.

The key is a hash of everything that decides the answer (row content, requested model, prompt
version, sampling settings). Rerunning the same command gives the same keys, so the result log
tells which rows are finished; changing the prompt version or a setting starts fresh keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..endpoint import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT
from ..prompts import Prompt, load_prompt
from .inputs import SingleTurn


@dataclass(frozen=True)
class ModelMix:
    """Models with shares, e.g. `gpt-3.5-turbo=0.99,gpt-4=0.01` (the paper's mix).

    The model of a row is picked from a hash of its content, not at random, so a rerun (or a
    resume after a crash) asks the same model for the same row.
    """

    shares: tuple[tuple[str, float], ...]

    @classmethod
    def parse(cls, spec: str) -> ModelMix:
        shares = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            name, sep, weight = part.rpartition("=")
            if not sep:
                name, weight = part, "1"
            try:
                value = float(weight)
            except ValueError:
                raise ValueError(f"--model {spec!r}: share of {name!r} is not a number: {weight!r}") from None
            if not name or value < 0:
                raise ValueError(f"--model {spec!r}: expected NAME or NAME=SHARE,NAME=SHARE with shares >= 0")
            shares.append((name, value))
        total = sum(v for _, v in shares)
        if not shares or total <= 0:
            raise ValueError(f"--model {spec!r}: expected NAME or NAME=SHARE,... with a positive total")
        if len({n for n, _ in shares}) != len(shares):
            raise ValueError(f"--model {spec!r}: a model is named twice")
        return cls(tuple((n, v / total) for n, v in shares))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.shares]

    def pick(self, content: str) -> str:
        digest = hashlib.sha256(content.encode("utf-8")).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        cumulative = 0.0
        for name, share in self.shares:
            cumulative += share
            if point < cumulative:
                return name
        return self.shares[-1][0]  # rounding: the last model takes the remainder

    def __str__(self) -> str:
        return ",".join(f"{n}={v:g}" for n, v in self.shares)


@dataclass
class RewriteSettings:
    """How the rewrite runs. Fields marked `keyed` are part of every result key."""

    model: str = field(metadata={"help": "model name, or a mix NAME=SHARE,NAME=SHARE (keyed)"})
    prompt: str = field(default="soulchat", metadata={"help": "soulchat | smile (its version is keyed)"})
    language: str = field(default="zh", metadata={"help": "prompt language: zh (used by the paper) | en"})
    temperature: float | None = field(default=None, metadata={"help": "sampling temperature; None: server default (keyed)"})
    max_tokens: int | None = field(default=None, metadata={"help": "completion token cap; None: server default (keyed)"})
    concurrency: int = field(default=8, metadata={"help": "requests in flight at once"})
    requests_per_minute: float | None = field(default=None, metadata={"help": "request rate cap; None: no cap"})
    tokens_per_minute: float | None = field(default=None, metadata={"help": "token rate cap (estimated up front, corrected by usage)"})
    timeout: float = field(default=DEFAULT_TIMEOUT, metadata={"help": "seconds before a request counts as hung and is retried"})
    max_attempts: int = field(default=DEFAULT_ATTEMPTS, metadata={"help": "tries per row for 429/5xx/timeouts before logging a transient error"})
    max_cost: float | None = field(default=None, metadata={"help": "stop starting requests once this many USD are spent (whole log)"})
    backoff_base: float = field(default=1.0, metadata={"help": "first back-off in seconds; doubles per try, with jitter"})
    backoff_max: float = field(default=60.0, metadata={"help": "back-off ceiling in seconds"})

    def __post_init__(self) -> None:
        self.mix = ModelMix.parse(self.model)
        self.prompt_template: Prompt = load_prompt(self.prompt, self.language)
        if self.concurrency < 1:
            raise ValueError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.max_attempts < 1 or not self.timeout > 0:
            raise ValueError(f"need --max-attempts >= 1 and --timeout > 0, got {self.max_attempts} and {self.timeout}")

    @property
    def prompt_version(self) -> str:
        return self.prompt_template.version

    def keyed(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


@dataclass(frozen=True)
class Request:
    key: str
    row: SingleTurn
    model: str  # requested model
    body: dict[str, Any]  # the chat-completions request body


def plan_request(row: SingleTurn, settings: RewriteSettings) -> Request:
    model = settings.mix.pick(row.single_turn)
    material = json.dumps(
        [row.single_turn, model, settings.prompt_version, settings.keyed()], ensure_ascii=False, sort_keys=True
    )
    key = hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": settings.prompt_template.render(row.single_turn)}],
    }
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        body["max_tokens"] = settings.max_tokens
    return Request(key, row, model, body)
