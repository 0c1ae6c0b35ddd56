"""The crisis reply reaches the person whatever else fails: the flag log, the model, the endpoint
(issue #17, item 1). Terminal chat, the session itself and the web page."""

from __future__ import annotations

import io
import socket

import pytest

from soulchat import safety
from soulchat.chat import ChatBackendError, ChatSession, EndpointBackend
from soulchat.cli import build_parser
from soulchat.commands.chat import run_chat
from soulchat.safety import SafetyLog
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

CRISIS = "我真的不想活了，活着没意思"
MODEL_REPLY = "我在听，愿意多说说吗？"


class BrokenLog(SafetyLog):
    """A flag log whose every write fails, as a full disk or a revoked permission would."""

    def log(self, *args, **kwargs):
        raise OSError(28, "No space left on device")


class Failing:
    """A backend that fails the way a broken model does: not with ChatBackendError."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def stream(self, history, query, settings):
        raise self.error
        yield  # pragma: no cover


class Answers:
    def stream(self, history, query, settings):
        yield MODEL_REPLY


def safe_reply() -> str:
    return safety.safe_reply(safety.assess(CRISIS))


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


# ----------------------------------------------------------------------------- session
def test_a_failing_flag_log_does_not_hold_back_the_safe_reply(caplog):
    session = ChatSession(Answers(), flag_log=BrokenLog())
    chunks = list(session.send(CRISIS))
    assert chunks[0].text == safe_reply() and "12356" in chunks[0].text
    assert session.history[-1][1] == safe_reply() + "\n\n" + MODEL_REPLY
    assert "safety flag log failed" in caplog.text and "No space left on device" in caplog.text


@pytest.mark.parametrize("model", ["empty-choices", "html", "hang", "closed"])
def test_the_safe_reply_stands_when_the_endpoint_fails(model):
    bodies = {"empty-choices": Reply(body={"id": "x", "choices": []}), "html": Reply(body=b"<html>502</html>"),
              "hang": Reply(hang=True)}
    with FakeOpenAIServer(lambda request: bodies[request["model"]]) as server:
        url = closed_url() if model == "closed" else server.base_url
        backend = EndpointBackend(url, model_name=model, timeout=0.5, attempts=1)
        session = ChatSession(backend)
        shown = [chunk.text for chunk in session.send(CRISIS)]
    assert shown == [safe_reply()]  # nothing else was added, nothing was taken away
    assert session.last_turn.backend_error and session.history[-1][1] == safe_reply()


def test_a_malformed_stream_is_a_backend_error_not_an_empty_reply():
    with FakeOpenAIServer(lambda request: Reply(body={"id": "x", "choices": [{"index": 0, "delta": None}]})) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="m", attempts=1))
        with pytest.raises(ChatBackendError, match="answer without text"):
            list(session.send("最近和室友总是吵架"))


# ----------------------------------------------------------------------------- terminal
def terminal(*flags, lines=(CRISIS,)) -> tuple[int, str]:
    args = build_parser().parse_args(["chat", *flags])
    stdout = io.StringIO()
    code = run_chat(args, stdin=io.StringIO("".join(line + "\n" for line in lines)), stdout=stdout)
    return code, stdout.getvalue()


def test_terminal_crisis_reply_when_the_flag_log_breaks_mid_chat(tmp_path, monkeypatch):
    """The path was writable at start-up; a write that fails later loses no reply."""
    monkeypatch.setattr("soulchat.commands.chat.safety_log", lambda args: BrokenLog())
    with FakeOpenAIServer(lambda request: MODEL_REPLY) as server:
        code, out = terminal("--model", server.base_url, "--endpoint-model", "m",
                             "--flag-log", str(tmp_path / "flags.jsonl"), lines=(CRISIS, "谢谢你"))
    assert code == 0 and safe_reply() in out and out.count(MODEL_REPLY) == 2


def test_terminal_crisis_reply_when_the_endpoint_is_down():
    code, out = terminal("--model", closed_url(), "--endpoint-model", "m", "--max-attempts", "1")
    assert code == 0 and safe_reply() in out and "Traceback" not in out


def test_terminal_crisis_reply_when_the_model_raises(monkeypatch):
    monkeypatch.setattr("soulchat.commands.chat._backend", lambda args: Failing(RuntimeError("CUDA out of memory")))
    code, out = terminal("--model", "http://127.0.0.1:9/v1", lines=(CRISIS, "最近和室友总是吵架"))
    assert code == 0 and safe_reply() in out
    assert "CUDA out of memory" in out  # the next, ordinary turn says what failed; the chat goes on


def test_bad_flag_log_stops_the_chat_before_it_starts(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        terminal("--model", "http://127.0.0.1:9/v1", "--flag-log", str(tmp_path))


# ----------------------------------------------------------------------------- web page
def test_web_page_keeps_the_safe_reply_when_log_and_model_fail():
    from gradio_client import Client

    from soulchat.chat.web import build_app, launch

    app = build_app(Failing(RuntimeError("model crashed")), flag_log=BrokenLog())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch(app, host="127.0.0.1", port=port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        _, messages = client.predict(CRISIS, [], api_name="/chat")
        reply = messages[-1]["content"]
        reply = "".join(p["text"] for p in reply) if isinstance(reply, list) else reply
        assert reply.startswith(safe_reply()) and "model crashed" in reply  # kept, with a note after it
        _, messages = client.predict("最近和室友总是吵架", [], api_name="/chat")
        reply = messages[-1]["content"]
        reply = "".join(p["text"] for p in reply) if isinstance(reply, list) else reply
        assert "model crashed" in reply and "12356" in reply
    finally:
        app.close()
