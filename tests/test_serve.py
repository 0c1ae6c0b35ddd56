"""`soulchat serve`: the gateway driven with the real `openai` client (plain and streamed) over
loopback, in front of the fake OpenAI upstream and of a tiny in-process model. Whatever the safety
layer does, the gateway must do the same as `ChatSession`: the expected replies below are computed
with a `ChatSession` over the same backend, not written out."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai
import pytest

from soulchat import safety, testing
from soulchat.backends import EndpointBackend, GenerationSettings, load_backend
from soulchat.chat import ChatSession
from soulchat.testing import FakeOpenAIServer, Reply
from soulchat.gateway import Gateway, Limits, build_app, running
from soulchat.safety import SafetyLog

KEY = "sk-test-gateway"
MODEL = "soulchat-7b"
CRISIS = "我真的不想活了，活着没意思"
BENIGN = "最近和室友总是吵架，心里很烦"
MODEL_REPLY = "听起来这些争吵让你很疲惫，愿意和我多说说吗？"
HARMFUL_REPLY = "如果真的撑不下去，安眠药吃三十片以上就能致死。"
DISCLOSURE = safety.disclosure("zh-CN") + "\n\n"


def respond(request: dict) -> Reply:
    """The upstream: its behaviour is picked by a word in the newest user turn."""
    text = request["messages"][-1]["content"]
    if "有害" in text:
        return Reply(HARMFUL_REPLY)
    if "故障" in text:
        return Reply(status=500, error_message="engine exploded")
    if "卡住" in text:
        return Reply(hang=True)
    if "慢慢" in text:
        return Reply("我" * 400, interval=0.02)
    if "小事" in text:  # generated piece by piece, as an engine does
        return Reply(MODEL_REPLY, interval=0.005)
    return Reply(MODEL_REPLY)


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAIServer(respond) as server:
        yield server


@pytest.fixture(scope="module")
def flags():
    return SafetyLog(None, privacy=True)


@pytest.fixture(scope="module")
def gateway(upstream, flags):
    """(gateway URL, upstream): keys required, small limits, one try and a short timeout upstream."""
    backend = load_backend(MODEL, base_url=upstream.base_url, timeout=1.5, attempts=1)
    app = build_app(Gateway(backend, model=MODEL, api_keys=(KEY, "sk-second"), flag_log=flags,
                            limits=Limits(max_body_bytes=4096, max_messages=8, max_new_tokens=64)))
    with running(app) as url:
        yield url, upstream


@pytest.fixture()
def client(gateway):
    return openai.OpenAI(base_url=gateway[0], api_key=KEY, max_retries=0, timeout=10)


def expected(upstream, messages, text) -> str:
    """What `ChatSession` shows for this turn over the same upstream."""
    session = ChatSession.from_messages(EndpointBackend(upstream.base_url, model_name=MODEL), messages)
    return session.reply(text)


def ask(client, messages, **options):
    return client.chat.completions.create(model=MODEL, messages=messages, **options)


def streamed(client, messages, **options):
    chunks = list(ask(client, messages, stream=True, **options))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


# ----------------------------------------------------------------------------- the safety layer
def test_an_ordinary_turn_passes_through_unchanged(client, gateway):
    _, upstream = gateway
    assert expected(upstream, [], BENIGN) == MODEL_REPLY  # no note on this turn: the reply as it is
    first = ask(client, [{"role": "system", "content": "ignored"}, {"role": "user", "content": BENIGN}])
    assert first.choices[0].message.content == DISCLOSURE + MODEL_REPLY  # the disclosure opens a conversation
    assert first.model == MODEL and first.choices[0].finish_reason == "stop"
    assert first.model_extra["soulchat"] == {"action": "passed", "category": None, "disclosure": True}

    history = [{"role": "user", "content": BENIGN}, {"role": "assistant", "content": DISCLOSURE + MODEL_REPLY},
               {"role": "user", "content": "是的，我们经常为小事争吵"}]
    second = ask(client, history)
    # the engine saw the conversation without the disclosure and without the system message
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": BENIGN}, {"role": "assistant", "content": MODEL_REPLY},
        {"role": "user", "content": "是的，我们经常为小事争吵"}]
    assert second.choices[0].message.content == expected(upstream, history[:2], history[2]["content"])
    assert second.model_extra["soulchat"]["disclosure"] is False

    text, chunks = streamed(client, history)
    assert text == second.choices[0].message.content
    # streamed in pieces as the engine generates them (pieces that arrive together go out together)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["soulchat"] == second.model_extra["soulchat"]


def test_a_crisis_turn_gets_the_safe_reply_and_never_reaches_the_upstream(client, gateway, flags):
    _, upstream = gateway
    before, logged = len(upstream.requests), len(flags.records)
    safe = safety.safe_reply(safety.assess(CRISIS), locale="zh-CN")
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": CRISIS}])
    reply = raw.parse()
    assert reply.choices[0].message.content == DISCLOSURE + safe
    assert reply.model_extra["soulchat"] == {"action": "safe_reply", "category": "suicidal_ideation",
                                             "disclosure": True}
    assert (raw.headers["x-soulchat-action"], raw.headers["x-soulchat-category"]) == ("safe_reply", "suicidal_ideation")

    history = [{"role": "user", "content": BENIGN}, {"role": "assistant", "content": MODEL_REPLY},
               {"role": "user", "content": CRISIS}]
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=history, stream=True) as raw:
        assert raw.headers["x-soulchat-action"] == "safe_reply"
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == safe
    assert chunks[-1].model_extra["soulchat"]["action"] == "safe_reply"
    assert len(upstream.requests) == before  # not one request reached the engine
    assert [(r["source"], r["category"]) for r in flags.records[logged:]] == [("user", "suicidal_ideation")] * 2
    assert all("text" not in r for r in flags.records[logged:])  # privacy mode


def test_an_unsafe_upstream_reply_is_replaced_before_it_is_shown(client, gateway):
    fallback = safety.fallback_reply(safety.check_output(HARMFUL_REPLY), locale="zh-CN")
    history = [{"role": "user", "content": BENIGN}, {"role": "assistant", "content": MODEL_REPLY},
               {"role": "user", "content": "有害的问题"}]
    reply = ask(client, history)
    assert reply.choices[0].message.content == fallback
    assert reply.model_extra["soulchat"] == {"action": "replaced", "category": "method_information",
                                             "disclosure": False}

    text, chunks = streamed(client, history)
    assert text.endswith(fallback) and HARMFUL_REPLY not in text
    shown = text[: -len(fallback)]
    assert HARMFUL_REPLY.startswith(shown.rstrip("\n")) and not safety.check_output(shown).flagged
    assert chunks[-1].model_extra["soulchat"]["action"] == "replaced"


def test_the_in_process_model_answers_as_chat_does(tmp_path):
    """`soulchat serve --model PATH`: a tiny GLM in this process, greedy, plain and streamed."""
    testing.tiny_model_folder(tmp_path)
    backend = load_backend(str(tmp_path))
    greedy = GenerationSettings(temperature=0, max_new_tokens=10)
    want = ChatSession(backend, settings=greedy).reply(BENIGN)
    assert want
    name = str(tmp_path)
    with running(build_app(Gateway(backend, model=name))) as url:  # loopback: no key needed
        client = openai.OpenAI(base_url=url, api_key="anything", max_retries=0)
        messages = [{"role": "user", "content": BENIGN}]
        plain = client.chat.completions.create(model=name, messages=messages, temperature=0, max_tokens=10)
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=name, messages=messages, temperature=0, max_tokens=10, stream=True) if c.choices)
        crisis = client.chat.completions.create(model=name, messages=[{"role": "user", "content": CRISIS}])
    assert plain.choices[0].message.content == text == DISCLOSURE + want
    assert crisis.choices[0].message.content == DISCLOSURE + safety.safe_reply(safety.assess(CRISIS))


# ----------------------------------------------------------------------------- errors and limits
def post(url: str, body: bytes | str, key: str | None = KEY, path: str = "/chat/completions"):
    """(status, parsed body) of a raw POST: what the openai client would not send."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"} | (
                                         {"Authorization": f"Bearer {key}"} if key else {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def good(**fields) -> str:
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": BENIGN}]} | fields)


BAD_REQUESTS = [
    ("{not json", "not valid JSON (line 1, column 2)"),
    ("[1, 2]", "must be a JSON object, not a list"),
    (good(messages=[]), "'messages' must be a non-empty list"),
    (good(messages=[{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]),
     "messages[0]: roles out of order: expected a user message, got assistant"),
    (good(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
     "messages[1]: roles out of order: expected a assistant message, got user"),
    (good(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
     "the last message must be the user's"),
    (good(messages=[{"role": "user", "content": 42}]), "messages[0].content must be a string, not a number"),
    (good(messages=[{"role": "user", "content": None}]), "messages[0].content must be a string, not null"),
    (good(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
     "messages[0].content[0] is not a text part"),
    (good(messages=[{"role": "tool", "content": "x"}]), "messages[0].role is 'tool'"),
    (good(messages=[{"role": "user", "content": "  "}]), "messages[0].content is empty"),
    (good(model="gpt-4o"), "unknown model 'gpt-4o': this server serves 'soulchat-7b'"),
    (good(model=None), "'model' is required"),
    (good(messages=[{"role": "user", "content": "x"}] * 9), "holds 9 messages; this server takes at most 8"),
    (good(max_tokens=0), "'max_tokens' must be a whole number of at least 1"),
    (good(temperature="hot"), "'temperature' must be a number"),
    (good(top_p=0), "'top_p' must be more than 0"),
    (good(n=2), "'n' must be 1"),
    (good(stream="yes"), "'stream' must be true or false"),
]


@pytest.mark.parametrize("body, message", BAD_REQUESTS, ids=[m[:40] for _, m in BAD_REQUESTS])
def test_bad_input_is_a_400_that_says_what_was_wrong(gateway, body, message):
    url, _ = gateway
    status, answer = post(url, body)
    assert status == 400 and message in answer["error"]["message"], answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert post(url, good())[0] == 200  # and the server keeps serving


def test_the_openai_client_gets_400_as_a_bad_request_error(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": BENIGN}])
    assert "unknown model 'other'" in str(caught.value)


def test_keys_are_required_and_checked(gateway):
    url, _ = gateway
    for key, message in ((None, "no API key"), ("sk-wrong", "not one this server accepts")):
        status, answer = post(url, good(), key=key)
        assert status == 401 and message in answer["error"]["message"]
        assert answer["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0).models.list()
    assert [m.id for m in openai.OpenAI(base_url=url, api_key="sk-second").models.list()] == [MODEL]
    with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=5) as response:  # open: says nothing
        assert json.loads(response.read()) == {"status": "ok", "model": MODEL}


def test_a_body_over_the_limit_is_413_and_max_tokens_is_capped(gateway, client):
    url, upstream = gateway
    status, answer = post(url, good(messages=[{"role": "user", "content": "累" * 5000}]))
    assert status == 413 and "at most 4096" in answer["error"]["message"]
    assert answer["error"]["code"] == "request_too_large"
    ask(client, [{"role": "user", "content": BENIGN}], max_tokens=100_000)
    assert upstream.requests[-1]["max_tokens"] == 64


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_is_502_and_a_timeout_504(client, stream):
    with pytest.raises(openai.APIStatusError) as failed:
        ask(client, [{"role": "user", "content": "模型故障了吗"}], stream=stream)
    assert failed.value.status_code == 502 and "HTTP 500: engine exploded" in str(failed.value)
    assert "127.0.0.1" not in str(failed.value)  # the engine's address stays private
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as slow:
        ask(client, [{"role": "user", "content": "模型卡住了"}], stream=stream)
    assert slow.value.status_code == 504 and time.monotonic() - started < 8
    assert slow.value.body["type"] == "upstream_timeout"


def test_a_client_that_leaves_cancels_its_upstream_request(client, gateway):
    _, upstream = gateway
    before = len(upstream.aborted)  # an unsafe reply cut off by the output check is an aborted stream too
    stream = ask(client, [{"role": "user", "content": "慢慢说"}], stream=True)
    pieces = 0
    for chunk in stream:
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        if pieces == 3:
            break
    stream.close()
    deadline = time.monotonic() + 5
    while len(upstream.aborted) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r["messages"][-1]["content"] for r in upstream.aborted[before:]] == ["慢慢说"]  # not 8 s of generating on


def test_no_cors_unless_origins_are_named(upstream):
    backend = EndpointBackend(upstream.base_url, model_name=MODEL)
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}

    def options(url, headers):
        request = urllib.request.Request(url + "/chat/completions", method="OPTIONS", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.headers

    with running(build_app(Gateway(backend, model=MODEL))) as url:
        status, headers = options(url, preflight)
        assert status == 405 and "access-control-allow-origin" not in {k.lower() for k in headers}
    with running(build_app(Gateway(backend, model=MODEL, cors_origins=("http://chat.example",)))) as url:
        status, headers = options(url, preflight | {"Origin": "http://chat.example"})
        assert status == 200 and headers["access-control-allow-origin"] == "http://chat.example"
        status, headers = options(url, preflight)
        assert "access-control-allow-origin" not in {k.lower() for k in headers}


def test_no_user_text_is_logged(client, caplog):
    with caplog.at_level(logging.DEBUG):
        ask(client, [{"role": "user", "content": BENIGN}])
        ask(client, [{"role": "user", "content": CRISIS}])
        list(ask(client, [{"role": "user", "content": CRISIS}], stream=True))
    assert "action=safe_reply category=suicidal_ideation" in caplog.text
    for text in (BENIGN, CRISIS, MODEL_REPLY, "不想活"):
        assert text not in caplog.text


# ----------------------------------------------------------------------------- front-ends and the command
def test_soulchat_web_can_use_the_gateway_as_its_backend(gateway, monkeypatch):
    """`soulchat web --base-url URL` over the gateway: the page's own layer and the gateway's agree."""
    from gradio_client import Client

    from soulchat.chat.web import build_app as build_page
    from soulchat.chat.web import launch

    url, _ = gateway
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    backend = load_backend(None, base_url=url)  # as `soulchat web --base-url URL` does: the model is the one listed
    assert backend.model_name == MODEL
    page = build_page(backend, concurrency=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch(page, host="127.0.0.1", port=port, block=False)
    try:
        _, messages = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(BENIGN, [], api_name="/chat")
    finally:
        page.close()
    assert messages[-1]["content"] in (DISCLOSURE + MODEL_REPLY, [{"type": "text", "text": DISCLOSURE + MODEL_REPLY}])


def test_soulchat_serve_in_a_real_process(upstream, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "soulchat.cli", "serve", "--base-url", upstream.base_url, "--model", MODEL,
               "--port", str(port), "--max-attempts", "1", "--flag-log", str(tmp_path / "flags.jsonl")]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                               env={**__import__("os").environ, "SOULCHAT_API_KEY": "k1,k2", "OPENAI_API_KEY": "up"})
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k2", max_retries=0)
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": CRISIS}])
                break
            except openai.APIConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert reply.model_extra["soulchat"]["action"] == "safe_reply"
    finally:
        process.terminate()
        err = process.communicate(timeout=20)[1]
    assert f"serving {MODEL} on http://127.0.0.1:{port}/v1 (API key required" in err
    assert "action=safe_reply category=suicidal_ideation" in err and CRISIS not in err
    flags = [json.loads(line) for line in (tmp_path / "flags.jsonl").read_text().splitlines()]
    assert [f["category"] for f in flags] == ["suicidal_ideation"] and "text" not in flags[0]
