"""Kept for compatibility: the backends live in `soulchat.backends`, shared by evaluation, chat, the
web page and any server."""

from ..backends import (  # noqa: F401
    ChatBackendError,
    EndpointBackend,
    GenerationSettings,
    History,
    TransformersBackend,
    is_endpoint,
    load_backend,
    load_model,
)
