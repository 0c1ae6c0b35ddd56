"""Token prices from a YAML table (not code): running cost, up-front estimate, --max-cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class Price:
    input: float  # USD per `per_tokens` prompt tokens
    output: float  # USD per `per_tokens` completion tokens


@dataclass
class PriceTable:
    models: dict[str, Price]
    per_tokens: int = 1_000_000
    batch_discount: float = 1.0
    tokens_per_char: float = 1.0
    completion_ratio: float = 1.8
    source: str = field(default=str(DEFAULT_PRICES))

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        path = Path(path or DEFAULT_PRICES)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML ({error})") from None
        models = {}
        for name, entry in (data.get("models") or {}).items():
            if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
                raise ValueError(f"{path}: models.{name} must be {{input: USD, output: USD}}")
            models[str(name)] = Price(float(entry["input"]), float(entry["output"]))
        estimate = data.get("estimate") or {}
        return cls(
            models=models,
            per_tokens=int(data.get("per_tokens", 1_000_000)),
            batch_discount=float(data.get("batch_discount", 1.0)),
            tokens_per_char=float(estimate.get("tokens_per_char", 1.0)),
            completion_ratio=float(estimate.get("completion_ratio", 1.8)),
            source=str(path),
        )

    def price(self, model: str | None) -> Price | None:
        if not model:
            return None
        matches = [name for name in self.models if model.startswith(name)]
        return self.models[max(matches, key=len)] if matches else None

    def cost(self, model: str | None, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        price = self.price(model)
        if price is None:
            return 0.0
        usd = (prompt_tokens * price.input + completion_tokens * price.output) / self.per_tokens
        return usd * (self.batch_discount if batch else 1.0)

    def cost_of(self, record: dict[str, Any]) -> float:
        """Cost of one result-log line, priced by the returned model (what was billed; a name like
        "gpt-4o-2024-08-06" matches by prefix), else by the requested one."""
        usage = record.get("usage") or {}
        model = record.get("model")
        if self.price(model) is None:
            model = record.get("requested_model")
        return self.cost(
            model,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            batch=bool(record.get("batch")),
        )

    def estimate_tokens(self, prompt_text: str, single_turn: str, max_tokens: int | None) -> tuple[int, int]:
        prompt = round(len(prompt_text) * self.tokens_per_char)
        completion = round(len(single_turn) * self.tokens_per_char * self.completion_ratio)
        if max_tokens is not None:
            completion = min(completion, max_tokens)
        return prompt, completion

    def unpriced(self, models: list[str]) -> list[str]:
        return [m for m in models if self.price(m) is None]
