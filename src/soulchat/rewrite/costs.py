"""Token prices from a YAML table (not code): running cost, up-front estimate, --max-cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        """The table at `path` (default: the bundled one); InputError names the file and the entry."""
        from ..io import InputError, read_yaml

        path = Path(path or DEFAULT_PRICES)
        data = read_yaml(path, "a price table: models: {NAME: {input: USD, output: USD}}") or {}
        if not isinstance(data, dict):
            raise InputError(path, None, "a price table is a mapping with 'models:' (see soulchat/rewrite/prices.yaml)")

        def amount(value, where: str, positive: bool = False) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise InputError(path, None, f"{where} must be a number, got {value!r}")
            if value < 0 or (positive and value == 0):
                raise InputError(path, None, f"{where} must be {'more than' if positive else 'at least'} 0, got {value!r}")
            return float(value)

        entries = data.get("models") or {}
        if not isinstance(entries, dict):
            raise InputError(path, None, "'models' must be a mapping of model name to {input: USD, output: USD}")
        models = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
                raise InputError(path, None, f"models.{name} must be {{input: USD, output: USD}}")
            models[str(name)] = Price(amount(entry["input"], f"models.{name}.input"),
                                      amount(entry["output"], f"models.{name}.output"))
        estimate = data.get("estimate") or {}
        if not isinstance(estimate, dict):
            raise InputError(path, None, "'estimate' must be a mapping (tokens_per_char, completion_ratio)")
        discount = amount(data.get("batch_discount", 1.0), "batch_discount", positive=True)
        if discount > 1:
            raise InputError(path, None, f"batch_discount is a price factor in (0, 1], got {discount:g}")
        per_tokens = amount(data.get("per_tokens", 1_000_000), "per_tokens", positive=True)
        return cls(
            models=models,
            per_tokens=int(per_tokens),
            batch_discount=discount,
            tokens_per_char=amount(estimate.get("tokens_per_char", 1.0), "estimate.tokens_per_char", positive=True),
            completion_ratio=amount(estimate.get("completion_ratio", 1.8), "estimate.completion_ratio", positive=True),
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
