"""Where generated text comes from: one backend layer for evaluation, chat, the web page and any
server built on them.

* `TransformersBackend`: a causal LM in this process. `stream(history, query, settings)` yields one
  reply piece by piece (chat, web); `generate(exchanges, settings, seed)` answers a batch, left-padded
  (evaluation). Prompts are encoded exactly as in training (same template, same truncation).
* `EndpointBackend`: any OpenAI-compatible server. `stream` for chat, `complete` for one answer under
  soulchat.endpoint's request policy (evaluation).
* `load_model`: the one model loader (LoRA adapter, dtype, embedding resize, device).
* `load_backend`: a backend for a model folder, or for `base_url` + model name.
* `GenerationSettings`: the paper's decoding (top-p 0.75, temperature 0.95) and the prompt budget
  (1536 tokens, the training default), defined here and nowhere else.

Serving at scale is an existing engine's job (vLLM serving the merged model, see docs/chat.md): the
endpoint backend is how soulchat talks to it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from .dialogue import history_messages
from .errors import SoulChatError
from .templates import MAX_SOURCE_LENGTH, ChatTemplate, PromptEncoding, get_template, stop_token_ids

History = Sequence[tuple[str, str]]

#: The paper's decoding (SoulChat §4, the released demo): nucleus sampling at top-p 0.75, temperature 0.95.
PAPER_TOP_P = 0.75
PAPER_TEMPERATURE = 0.95
MAX_NEW_TOKENS = 512


class ChatBackendError(SoulChatError, RuntimeError):
    """The model could not produce a reply (endpoint down, generation failed)."""


@dataclass
class GenerationSettings:
    """How a reply is decoded: the paper's values unless told otherwise."""

    top_p: float = field(default=PAPER_TOP_P, metadata={"help": "nucleus sampling mass (the paper: 0.75)"})
    temperature: float = field(default=PAPER_TEMPERATURE, metadata={"help": "sampling temperature (the paper: 0.95); 0 = greedy"})
    max_new_tokens: int = field(default=MAX_NEW_TOKENS, metadata={"help": "longest reply, in tokens"})
    max_length: int = field(
        default=MAX_SOURCE_LENGTH,
        metadata={"help": "prompt budget in tokens; the oldest history rounds are cut to fit it"},
    )

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def generate_kwargs(self) -> dict:
        """The decoding keywords of `model.generate` (greedy at temperature 0)."""
        if self.sampling:
            return {"max_new_tokens": self.max_new_tokens, "do_sample": True, "top_p": self.top_p,
                    "temperature": self.temperature}
        return {"max_new_tokens": self.max_new_tokens, "do_sample": False, "top_p": None, "temperature": None,
                "top_k": None}


def paper_generation_config() -> dict:
    """The decoding a published model's generation_config.json carries."""
    return {"do_sample": True, "top_p": PAPER_TOP_P, "temperature": PAPER_TEMPERATURE}


def is_endpoint(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def load_backend(
    model: str,
    *,
    base_url: str | None = None,
    template: str = "soulchat",
    adapter: str | None = None,
    endpoint_model: str | None = None,
    timeout: float | None = None,
    attempts: int | None = None,
):
    """A backend for a local model folder, or for an OpenAI-compatible endpoint: `base_url` with
    `model` the served model's name (the old form, `model` a URL with `endpoint_model` the name,
    still works). Endpoint requests follow soulchat.endpoint's policy: `timeout` seconds,
    `attempts` tries."""
    if base_url is None and is_endpoint(model):
        base_url, model = model, endpoint_model
    if base_url is not None:
        if adapter:
            raise ValueError("--adapter applies to a local model; an endpoint serves its own weights")
        return EndpointBackend(base_url, model_name=model or None, timeout=timeout, attempts=attempts)
    return TransformersBackend.from_pretrained(model, adapter=adapter, template=template)


def load_model(path: str, *, adapter: str | None = None, dtype=None, device: str | None = None):
    """(model, tokenizer) ready to generate: the tokenizer of a LoRA adapter folder when it has one
    (training may add template tokens), embeddings resized to it, the adapter applied, bfloat16 on
    a GPU and float32 on a CPU unless `dtype` says otherwise, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .io import model_source

    name, local = model_source(str(path))
    tokenizer_path = adapter if adapter and (Path(adapter) / "tokenizer_config.json").exists() else name
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, local_files_only=local or tokenizer_path != name)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, local_files_only=local)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device)
    model.eval()
    return model, tokenizer


# ----------------------------------------------------------------------------- in-process model
class TransformersBackend:
    """A causal LM in this process; prompts are encoded exactly as in training (same template,
    same truncation), so the model sees at chat time the token ids it was trained on."""

    def __init__(self, model, tokenizer, template: str | ChatTemplate = "soulchat") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.template.check(tokenizer)
        self.name = getattr(getattr(model, "config", None), "_name_or_path", "") or "in-process model"
        self.stop_ids = stop_token_ids(self.template, tokenizer, model)
        # One generation at a time: a CPU/GPU model is not faster when shared by threads, and
        # concurrent users at scale belong to a serving engine (vLLM).
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls, path: str, *, adapter: str | None = None, template: str = "soulchat"
    ) -> TransformersBackend:
        model, tokenizer = load_model(path, adapter=adapter)
        backend = cls(model, tokenizer, template)
        backend.name = str(path) + (f" + {adapter}" if adapter else "")
        return backend

    def encode(self, history: History, query: str, max_length: int | None = MAX_SOURCE_LENGTH) -> PromptEncoding:
        return self.template.encode_prompt(self.tokenizer, history, query, max_length=max_length)

    def stream(self, history: History, query: str, settings: GenerationSettings) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        prompt = self.encode(history, query, settings.max_length)
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([prompt.input_ids], device=device)
        cancelled = threading.Event()

        class _Cancelled(StoppingCriteria):
            # The reader stopped listening (output check failed, user left): stop generating.
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        kwargs = dict(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Cancelled()]),
            **settings.generate_kwargs(),
        )
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as error:  # surfaced in the reader's thread below
                failure.append(error)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=generate, daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                cancelled.set()
                worker.join()
        if failure:
            raise ChatBackendError(f"generation failed: {failure[0]}") from failure[0]

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.stop_ids[0]

    def generate(self, exchanges: Sequence[tuple[History, str]], settings: GenerationSettings,
                 seed: int | None = None) -> list[str]:
        """One reply per (history, query), generated together: prompts are left-padded so that every
        one ends at the column where generation starts; `seed` reseeds sampling first."""
        import torch

        prompts = [self.encode(history, query, settings.max_length).input_ids for history, query in exchanges]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        if seed is not None:
            torch.manual_seed(seed)
        device = next(self.model.parameters()).device
        with self._lock, torch.no_grad():
            output = self.model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                                         pad_token_id=self.pad_id, eos_token_id=self.stop_ids,
                                         **settings.generate_kwargs())
        replies = []
        for row in output[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in self.stop_ids), len(row))
            replies.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
        return replies


# ----------------------------------------------------------------------------- endpoint
class EndpointBackend:
    """Any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, OpenAI), streamed.

    The history goes as `messages`; the server applies the model's chat template (for a model
    trained with a named soulchat template, serve it with the matching `--chat-template`, see
    docs/chat.md). Without a tokenizer here, the history is cut oldest round first to a budget
    of `max_length` characters (about one token per Chinese character).
    """

    def __init__(
        self, base_url: str, *, model_name: str | None = None, api_key: str | None = None,
        timeout: float | None = None, attempts: int | None = None, client=None,
    ) -> None:
        import openai

        from .commands._common import api_key as default_key
        from .endpoint import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT

        self.base_url = base_url.rstrip("/")
        # A stream cannot be re-asked halfway; the client's own retries cover the request that opens it.
        self.client = client or openai.OpenAI(
            base_url=self.base_url, api_key=api_key or default_key(), timeout=timeout or DEFAULT_TIMEOUT,
            max_retries=(attempts or DEFAULT_ATTEMPTS) - 1,
        )
        self._model_name = model_name
        self.attempts = attempts
        self.name = self.base_url
        self.coalesce = False  # stream: one piece per event (True: per network read, see stream)

    @property
    def model_name(self) -> str:
        if self._model_name is None:
            from .endpoint import describe

            try:
                models = list(self.client.models.list())
            except Exception as error:  # noqa: BLE001 - whatever the server did, the turn gets a message
                raise ChatBackendError(f"{self.base_url}/models: {describe(error)}") from error
            if not models:
                raise ChatBackendError(f"{self.base_url}/models lists no model")
            self._model_name = models[0].id
        return self._model_name

    @staticmethod
    def messages(history: History, query: str, max_chars: int | None = None) -> list[dict[str, str]]:
        rounds = list(history)
        if max_chars is not None:
            size = len(query) + sum(len(u) + len(p) for u, p in rounds)
            while rounds and size > max_chars:
                size -= len(rounds[0][0]) + len(rounds[0][1])
                rounds.pop(0)
        return history_messages(rounds, query)

    def stream(self, history: History, query: str, settings: GenerationSettings) -> Iterator[str]:
        """The reply piece by piece: one piece per streamed event, or, with `coalesce` set (`soulchat
        serve` sets it), one per network read: events that arrived together, joined (fewer output
        checks and hand-offs when a server falls behind). The request goes through the openai client (its
        timeout, its retries of the request that opens the stream, its errors); the server-sent
        events are read here, straight from the HTTP response: the openai client would build a
        model object per event, most of a gateway's CPU time per request."""
        import httpx2
        import openai

        from .endpoint import describe

        body = {"model": self.model_name, "messages": self.messages(history, query, settings.max_length),
                "max_tokens": settings.max_new_tokens, "stream": True, "temperature": settings.temperature}
        if settings.sampling:
            body["top_p"] = settings.top_p
        try:
            # "stream": the client returns the response unread, as with_streaming_response does
            response = self.client.post("/chat/completions", body=body, cast_to=httpx2.Response,
                                        options={"headers": {"X-Stainless-Raw-Response": "stream"}})
        except Exception as error:  # noqa: BLE001 - openai errors and malformed answers alike
            raise ChatBackendError(f"{self.base_url}/chat/completions: {describe(error)}") from error
        pieces = 0
        try:
            for content in _sse_contents(response, openai, together=self.coalesce):
                pieces += 1
                yield content
        except Exception as error:  # noqa: BLE001
            raise ChatBackendError(f"{self.base_url}/chat/completions (stream): {describe(error)}") from error
        finally:
            response.close()  # read to its end, the connection goes back to the pool; else it is dropped
        if not pieces:
            raise ChatBackendError(f"{self.base_url}/chat/completions: answer without text")

    def complete(self, history: History, query: str, settings: GenerationSettings, *, system: str | None = None,
                 seed: int | None = None, attempts: int | None = None):
        """One answer (`endpoint.Answer`: text, usage) under soulchat.endpoint's request policy:
        retried, checked for text; `endpoint.RequestFailed` when it fails for good. The history is
        sent whole (the server's own budget applies)."""
        from .endpoint import DEFAULT_ATTEMPTS, complete

        messages = ([{"role": "system", "content": system}] if system else []) + history_messages(history, query)
        body = {"model": self.model_name, "messages": messages, "top_p": settings.top_p,
                "temperature": settings.temperature, "max_tokens": settings.max_new_tokens}
        if seed is not None:
            body["seed"] = seed
        return complete(self.client, body, attempts=attempts or self.attempts or DEFAULT_ATTEMPTS)


def _sse_contents(response, openai, together: bool = False) -> Iterator[str]:
    """The text of a chat-completion stream, one string per event (`together`: per network read, the
    events that arrived together joined), as the openai client reads it: `data: [DONE]` ends it, an event holding
    `error` raises openai.APIError, a read that times out or fails raises APITimeoutError or
    APIConnectionError; an event without text (no choices, delta null, not an object) is skipped."""
    import json

    from openai._httpx2 import request_exceptions, timeout_exceptions

    buffer, data, done = b"", [], False
    chunks = response.iter_bytes()
    while not done:
        try:
            chunk = next(chunks, None)
        except timeout_exceptions() as error:
            raise openai.APITimeoutError(request=response.request) from error
        except request_exceptions() as error:
            raise openai.APIConnectionError(request=response.request) from error
        if chunk is None:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        texts = []
        for line in lines:
            line = line.rstrip(b"\r")
            if line:
                if line.startswith(b"data:"):
                    data.append(line[5:].removeprefix(b" "))
                continue  # event:, id:, retry: and comments carry no text
            if not data:
                continue
            event, data = b"\n".join(data), []
            if event.startswith(b"[DONE]"):
                done = True
                break
            payload = json.loads(event)
            if not isinstance(payload, dict):
                continue
            if payload.get("error"):
                error = payload["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise openai.APIError(message if isinstance(message, str) and message else
                                      "An error occurred during streaming", response.request, body=error)
            choices = payload.get("choices")
            first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
            delta = first.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                if together:
                    texts.append(content)
                else:
                    yield content
        if texts:
            yield "".join(texts)
    if done:  # the rest is the end of the body: read it, so that the connection can be used again
        try:
            for _ in chunks:
                pass
        except Exception:  # noqa: BLE001 - the text is complete; a connection that ends badly is only dropped
            pass
