"""Generation harness: test set in, predictions JSONL and metrics JSON out.

A test example is (history rounds, final user turn, reference reply). Replies come from the backends
chat uses (soulchat.backends): the local generator asks a `TransformersBackend` for a batch
(prompts from the training chat template, left-padded, reseeded per batch); the endpoint generator
asks an `EndpointBackend` for one answer per example under the endpoint request policy.
Predictions are appended as they come, keyed by the example's position in the test set, so a
rerun continues where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..backends import EndpointBackend, GenerationSettings, TransformersBackend
from ..dialogue import DialogueFormatError, exchange_from_record, history_messages, render_input
from ..errors import SoulChatError
from ..io import InputError, iter_jsonl


@dataclass
class Example:
    id: int  # position in the test set: stable key for resuming
    history: list[tuple[str, str]]
    query: str
    target: str
    source_id: object = None

    @property
    def input(self) -> str:
        return render_input(self.history, self.query)

    def messages(self) -> list[dict]:
        return history_messages(self.history, self.query)


@dataclass
class Decoding(GenerationSettings):
    """The backends' GenerationSettings (the paper's decoding, prompt budget 1536) plus a seed."""

    seed: int = field(default=42, metadata={"help": "sampling seed; each batch reseeds from it, so reruns repeat"})


def _example(index: int, record) -> Example:
    history, query, target = exchange_from_record(record)
    return Example(index, list(history), query, target, record.get("id"))


def load_test_set(path: str | Path, split: str = "test", limit: int | None = None) -> list[Example]:
    """Examples from a SoulChatCorpus folder (its `samples` config) or a JSONL file of
    `{input, target}` or `{messages}` records (the last assistant turn is the reference)."""
    path = Path(path)
    examples: list[Example] = []
    if path.is_dir():
        import datasets

        from ..corpus import is_corpus_folder

        if not is_corpus_folder(path):
            raise ValueError(f"{path}: a folder, but not a SoulChatCorpus (no README.md listing configs:); "
                             "pass the folder `soulchat build` wrote, or a JSONL file")
        try:
            data = datasets.load_dataset(str(path), "samples")
        except ValueError as error:
            raise ValueError(f"{path}: no 'samples' config readable ({error})") from None
        if split not in data:
            raise ValueError(f"{path}: no split {split!r} in the samples config (has {sorted(data)})")
        rows: Iterator = iter(data[split])
        for index, row in enumerate(rows):
            if limit is not None and index >= limit:
                break
            try:
                examples.append(_example(index, dict(row)))
            except DialogueFormatError as error:
                raise ValueError(f"{path} [{split}] row {index}: {error}") from None
        if not examples:
            raise ValueError(f"{path} [{split}]: no test examples")
        return examples
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    for index, (line, record) in enumerate(iter_jsonl(path)):
        if limit is not None and index >= limit:
            break
        try:
            examples.append(_example(index, record))
        except DialogueFormatError as error:
            raise InputError(path, line, str(error)) from None
    if not examples:
        raise InputError(path, None, "no test examples (the file is empty); expected {input, target} or {messages} per line")
    return examples


# ---------------------------------------------------------------------------- generators
class LocalGenerator:
    """Evaluation through a `TransformersBackend` (the one chat uses): batches of prompts from the
    training chat template, left-padded, sampled with a seed per batch.

    `LocalGenerator(backend, decoding=...)` or, for a model in hand, `LocalGenerator(model,
    tokenizer, template, decoding)`. `max_source_length`, when given, overrides the decoding's
    prompt budget (`max_length`).
    """

    def __init__(self, model, tokenizer=None, template: str = "soulchat", decoding: Decoding | None = None,
                 max_source_length: int | None = None):
        from dataclasses import replace

        self.backend = model if isinstance(model, TransformersBackend) else TransformersBackend(model, tokenizer, template)
        decoding = decoding or Decoding()
        self.decoding = decoding if max_source_length is None else replace(decoding, max_length=max_source_length)

    @property
    def stop_ids(self) -> list[int]:
        return self.backend.stop_ids

    def generate(self, examples: Sequence[Example], batch_number: int = 0) -> list[str]:
        return self.backend.generate([(e.history, e.query) for e in examples], self.decoding,
                                     seed=self.decoding.seed + batch_number)


class EndpointGenerator:
    """Chat completions from an OpenAI-compatible endpoint (ChatGPT baseline, vLLM-served model)
    through an `EndpointBackend`, under the request policy of soulchat.endpoint: a failed request
    gives no prediction (None, its cause in `failures`), and the run stops asking once the endpoint
    looks dead."""

    def __init__(self, client, model: str, decoding: Decoding, concurrency: int = 8, system: str | None = None,
                 attempts: int | None = None):
        from ..endpoint import DEFAULT_ATTEMPTS, Breaker

        self.backend = EndpointBackend(str(getattr(client, "base_url", "") or "endpoint"), model_name=model,
                                       client=client, attempts=attempts)
        self.model, self.decoding = model, decoding
        self.concurrency, self.system = concurrency, system
        self.attempts = attempts or DEFAULT_ATTEMPTS
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.failures: list[str] = []  # cause of each failed request
        self.breaker = Breaker(limit=max(8, 2 * concurrency))

    def _one(self, example: Example) -> str | None:
        from ..endpoint import RequestFailed

        if self.breaker.tripped:
            return None
        try:
            answer = self.backend.complete(example.history, example.query, self.decoding, system=self.system,
                                           seed=self.decoding.seed + example.id, attempts=self.attempts)
        except RequestFailed as failed:
            self.failures.append(failed.cause)
            self.breaker.failure(failed)
            return None
        self.breaker.success()
        self.usage["prompt_tokens"] += answer.usage.get("prompt_tokens", 0)
        self.usage["completion_tokens"] += answer.usage.get("completion_tokens", 0)
        return answer.text.strip()

    def generate(self, examples: Sequence[Example], batch_number: int = 0) -> list[str | None]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max(1, self.concurrency)) as pool:
            return list(pool.map(self._one, examples))


# ---------------------------------------------------------------------------------- runs
class GenerationIncomplete(SoulChatError, RuntimeError):
    """Some examples have no prediction (their requests failed); `missing` lists their ids."""

    def __init__(self, message: str, missing: list[int]):
        super().__init__(message)
        self.missing = missing


def _done_ids(path: Path) -> set[int]:
    done = set()
    if path.exists():
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                if line.strip():
                    try:
                        done.add(json.loads(line)["id"])
                    except (ValueError, KeyError, TypeError, RecursionError):
                        continue  # a line cut by an interrupted write is redone
    return done


def run_generation(
    examples: Sequence[Example], generator, output: str | Path, *, model_name: str, batch_size: int = 8,
    bleu_tokens: str = "char", settings: dict | None = None, progress=None,
) -> dict:
    """Write `predictions.jsonl` (resumable) and `metrics.json`; return the metrics dict."""
    from .metrics import compute_metrics

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "predictions.jsonl"
    done = _done_ids(path)
    todo = [e for e in examples if e.id not in done]
    if progress is not None:
        progress.update(len(examples) - len(todo))
    with path.open("a", encoding="utf-8") as stream:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            # batch numbers follow test-set positions so that a resumed run reseeds identically
            replies = generator.generate(batch, batch_number=batch[0].id // batch_size)
            for example, reply in zip(batch, replies):
                if reply is None:  # the request failed: nothing recorded, a rerun asks again
                    continue
                record = {"id": example.id, "source_id": example.source_id, "model": model_name,
                          "input": example.input, "target": example.target, "prediction": reply}
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            stream.flush()
            if progress is not None:
                progress.update(len(batch))
    wanted = {e.id for e in examples}
    predictions: dict[int, dict] = {}
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict) and record.get("id") in wanted and isinstance(record.get("prediction"), str):
                    predictions.setdefault(record["id"], record)
    missing = [e.id for e in examples if e.id not in predictions]
    if missing:
        failures = getattr(generator, "failures", [])
        stopped = getattr(getattr(generator, "breaker", None), "reason", None)
        from ..endpoint import first_causes

        raise GenerationIncomplete(
            f"{len(missing)} of {len(examples)} examples got no prediction"
            + (f" (stopped: {stopped})" if stopped else f" ({first_causes(failures)})" if failures else "")
            + "; no metrics written"
            + (f"; the {len(examples) - len(missing)} finished ones are kept in {path}" if len(missing) < len(examples) else "")
            + ". Rerun the same command to ask for the rest", missing)
    ordered = [predictions[e.id] for e in examples]
    metrics = compute_metrics([r["prediction"] for r in ordered], [r["target"] for r in ordered],
                              bleu_tokens=bleu_tokens)
    result = {"model": model_name, "metrics": metrics, "bleu_tokens": bleu_tokens, **(settings or {})}
    (output / "metrics.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return result


def decoding_settings(decoding: Decoding) -> dict:
    return {"decoding": asdict(decoding)}
