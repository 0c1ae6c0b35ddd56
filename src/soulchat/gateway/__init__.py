"""`soulchat serve`: an OpenAI-compatible endpoint that puts the safety layer in front of any
serving engine (vLLM, llama.cpp's server, Ollama) or of a model in this process.

    from soulchat.gateway import Gateway, build_app
    app = build_app(Gateway(backend, model="soulchat", api_keys=("sk-…",)))   # an ASGI app

Every request goes through `ChatSession` exactly as `soulchat chat` does (see turns.py for the two
things the gateway adds); the wire format is in protocol.py, the HTTP side in app.py. See
docs/serving.md.
"""

from .app import Gateway, build_app, running
from .protocol import ApiError, Limits

__all__ = ["ApiError", "Gateway", "Limits", "build_app", "running"]
