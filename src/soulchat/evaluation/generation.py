"""Generation harness: test set in, predictions JSONL and metrics JSON out.

A test example is (history rounds, final user turn, reference reply). The local generator renders
prompts with the same chat template used in training (`get_template(name).encode_prompt`), pads on
the left and samples in batches; the endpoint generator sends the same conversation as chat
messages to any OpenAI-compatible server. Predictions are appended as they come, keyed by the
example's position in the test set, so a rerun continues where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
class Decoding:
    top_p: float = field(default=0.75, metadata={"help": "nucleus sampling (the paper: 0.75)"})
    temperature: float = field(default=0.95, metadata={"help": "sampling temperature (the paper: 0.95); 0 = greedy"})
    max_new_tokens: int = field(default=512, metadata={"help": "longest reply generated"})
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
    """Batched sampling with a transformers causal LM, prompts from a training chat template."""

    def __init__(self, model, tokenizer, template: str, decoding: Decoding, max_source_length: int = 1024):
        from ..templates import get_template, stop_token_ids

        self.model, self.tokenizer, self.decoding = model, tokenizer, decoding
        self.template = get_template(template)
        self.max_source_length = max_source_length
        self.stop_ids = stop_token_ids(self.template, tokenizer, model)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]

    def generate(self, examples: Sequence[Example], batch_number: int = 0) -> list[str]:
        import torch

        prompts = [
            self.template.encode_prompt(self.tokenizer, e.history, e.query, self.max_source_length).input_ids
            for e in examples
        ]
        width = max(len(p) for p in prompts)
        # left padding: every prompt ends at the same column, where generation starts
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        d = self.decoding
        sampling = d.temperature > 0
        torch.manual_seed(d.seed + batch_number)
        settings = {"max_new_tokens": d.max_new_tokens, "do_sample": sampling, "pad_token_id": self.pad_id,
                    "eos_token_id": self.stop_ids}
        if sampling:
            settings.update(top_p=d.top_p, temperature=d.temperature)
        else:
            settings.update(top_p=None, temperature=None, top_k=None)
        with torch.no_grad():
            output = self.model.generate(input_ids=input_ids.to(self.model.device),
                                         attention_mask=attention.to(self.model.device), **settings)
        replies = []
        for row in output[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in self.stop_ids), len(row))
            replies.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
        return replies


class EndpointGenerator:
    """Chat completions from an OpenAI-compatible endpoint (ChatGPT baseline, vLLM-served model),
    under the request policy of soulchat.endpoint: a failed request gives no prediction (None, its
    cause in `failures`), and the run stops asking once the endpoint looks dead."""

    def __init__(self, client, model: str, decoding: Decoding, concurrency: int = 8, system: str | None = None,
                 attempts: int | None = None):
        from ..endpoint import DEFAULT_ATTEMPTS, Breaker

        self.client, self.model, self.decoding = client, model, decoding
        self.concurrency, self.system = concurrency, system
        self.attempts = attempts or DEFAULT_ATTEMPTS
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.failures: list[str] = []  # cause of each failed request
        self.breaker = Breaker(limit=max(8, 2 * concurrency))

    def _one(self, example: Example) -> str | None:
        from ..endpoint import RequestFailed, complete

        if self.breaker.tripped:
            return None
        d = self.decoding
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + example.messages()
        body = {"model": self.model, "messages": messages, "top_p": d.top_p, "temperature": d.temperature,
                "max_tokens": d.max_new_tokens, "seed": d.seed + example.id}
        try:
            answer = complete(self.client, body, attempts=self.attempts)
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
