"""Multi-turn chat with a SoulChat model: in-process (full or base + LoRA) or an OpenAI-compatible
endpoint, streamed, with the safety layer on every turn. See docs/chat.md."""

from __future__ import annotations

from ..backends import (
    ChatBackendError,
    EndpointBackend,
    GenerationSettings,
    TransformersBackend,
    is_endpoint,
    load_backend,
)
from .session import ChatSession, ReplyChunk, TurnRecord

__all__ = [
    "ChatBackendError",
    "ChatSession",
    "EndpointBackend",
    "GenerationSettings",
    "ReplyChunk",
    "TransformersBackend",
    "TurnRecord",
    "is_endpoint",
    "load_backend",
]
