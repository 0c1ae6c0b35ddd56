"""Where replies come from: a transformers model in this process, or an OpenAI-compatible endpoint.

Both stream a reply as text pieces through `stream(history, query, settings)`. Serving at scale is
an existing engine's job (vLLM serving the merged model, see docs/chat.md): the endpoint backend is
how soulchat talks to it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from ..dialogue import history_messages
from ..errors import SoulChatError
from ..templates import ChatTemplate, PromptEncoding, get_template, stop_token_ids

History = Sequence[tuple[str, str]]


class ChatBackendError(SoulChatError, RuntimeError):
    """The model could not produce a reply (endpoint down, generation failed)."""


@dataclass
class GenerationSettings:
    """Decoding defaults of the released SoulChat demo."""

    top_p: float = field(default=0.75, metadata={"help": "nucleus sampling mass"})
    temperature: float = field(default=0.95, metadata={"help": "sampling temperature; 0 = greedy"})
    max_new_tokens: int = field(default=512, metadata={"help": "longest reply, in tokens"})
    max_length: int = field(
        default=1536,
        metadata={"help": "prompt budget in tokens; the oldest history rounds are cut to fit it"},
    )


def is_endpoint(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def load_backend(
    model: str,
    *,
    template: str = "soulchat",
    adapter: str | None = None,
    endpoint_model: str | None = None,
    timeout: float | None = None,
    attempts: int | None = None,
):
    """A backend for `--model PATH_OR_URL`: a URL means an OpenAI-compatible endpoint (requests
    under soulchat.endpoint's policy: `timeout` seconds, `attempts` tries)."""
    if is_endpoint(model):
        if adapter:
            raise ValueError("--adapter applies to a local model; an endpoint serves its own weights")
        return EndpointBackend(model, model_name=endpoint_model, timeout=timeout, attempts=attempts)
    return TransformersBackend.from_pretrained(model, adapter=adapter, template=template)


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
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        local = Path(path).is_dir()
        # Training may add template tokens: the adapter folder's tokenizer then is the right one.
        tokenizer_path = adapter if adapter and (Path(adapter) / "tokenizer_config.json").exists() else path
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, local_files_only=local)
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=local)
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter)
        if torch.cuda.is_available():
            model = model.to("cuda")
        model.eval()
        backend = cls(model, tokenizer, template)
        backend.name = str(path) + (f" + {adapter}" if adapter else "")
        return backend

    def encode(self, history: History, query: str, max_length: int | None = 1536) -> PromptEncoding:
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
        sampling = (
            {"do_sample": True, "top_p": settings.top_p, "temperature": settings.temperature}
            if settings.temperature > 0
            else {"do_sample": False}
        )
        kwargs = dict(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=settings.max_new_tokens,
            eos_token_id=self.stop_ids,
            pad_token_id=self.tokenizer.pad_token_id or self.stop_ids[0],
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Cancelled()]),
            **sampling,
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

        from ..commands._common import api_key as default_key
        from ..endpoint import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT

        self.base_url = base_url.rstrip("/")
        # A stream cannot be re-asked halfway; the client's own retries cover the request that opens it.
        self.client = client or openai.OpenAI(
            base_url=self.base_url, api_key=api_key or default_key(), timeout=timeout or DEFAULT_TIMEOUT,
            max_retries=(attempts or DEFAULT_ATTEMPTS) - 1,
        )
        self._model_name = model_name
        self.name = self.base_url

    @property
    def model_name(self) -> str:
        if self._model_name is None:
            from ..endpoint import describe

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
        from ..endpoint import describe

        sampling = {"temperature": settings.temperature}
        if settings.temperature > 0:
            sampling["top_p"] = settings.top_p
        try:
            response = self.client.chat.completions.create(
                model=self.model_name,
                messages=self.messages(history, query, settings.max_length),
                max_tokens=settings.max_new_tokens,
                stream=True,
                **sampling,
            )
        except Exception as error:  # noqa: BLE001 - openai errors and malformed answers alike
            raise ChatBackendError(f"{self.base_url}/chat/completions: {describe(error)}") from error
        pieces = 0
        try:
            for chunk in response:
                # a malformed chunk (no choices, delta null, not an object) carries no text: skipped
                choices = getattr(chunk, "choices", None)
                delta = getattr(choices[0], "delta", None) if isinstance(choices, list) and choices else None
                content = getattr(delta, "content", None)
                if isinstance(content, str) and content:
                    pieces += 1
                    yield content
        except Exception as error:  # noqa: BLE001
            raise ChatBackendError(f"{self.base_url}/chat/completions (stream): {describe(error)}") from error
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        if not pieces:
            raise ChatBackendError(f"{self.base_url}/chat/completions: answer without text")
