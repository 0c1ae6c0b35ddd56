"""The web demo: served for real on a loopback port, driven through gradio's API and through a
headless Chromium over the Chrome DevTools protocol (no browser download: Debian `chromium`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from soulchat import safety
from soulchat.chat import EndpointBackend
from soulchat.chat.web import build_app, launch
from soulchat.safety import SafetyLog
from soulchat.testing.fake_server import FakeOpenAIServer

MODEL_REPLY = "我在听。能和我说说，这种感觉是从什么时候开始的吗？"
BENIGN = "最近工作压力很大，晚上总是睡不着"
CRISIS = "我真的不想活了，活着没意思"


class SlowPieces:
    """Wraps a backend so each streamed piece takes a moment: streaming becomes visible."""

    def __init__(self, backend, pause: float) -> None:
        self.backend, self.pause = backend, pause

    def stream(self, history, query, settings):
        for piece in self.backend.stream(history, query, settings):
            time.sleep(self.pause)
            yield piece


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def web():
    """(url, fake server, flags): the page served on a free port over a fake endpoint."""
    flags = SafetyLog(None)
    server = FakeOpenAIServer(lambda request: MODEL_REPLY).start()
    backend = SlowPieces(EndpointBackend(server.base_url, model_name="m"), pause=0.04)
    app = build_app(backend, concurrency=4, flag_log=flags)
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/", server, flags
    finally:
        app.close()
        server.stop()


def texts(messages):
    return [(m["role"], "".join(p["text"] for p in m["content"]) if isinstance(m["content"], list) else m["content"])
            for m in messages]


def test_page_binds_loopback_with_analytics_off(web):
    url, _, _ = web
    assert url.startswith("http://127.0.0.1:")
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    page = urllib.request.urlopen(url, timeout=10).read().decode("utf-8")
    assert "<title>SoulChat" in page or "SoulChat" in page


def test_chat_api_streams_replies_and_applies_safety(web):
    from gradio_client import Client

    url, server, flags = web
    client = Client(url, verbose=False)
    job = client.submit(BENIGN, [], api_name="/chat")
    updates = [texts(update[1]) for update in job]
    final = texts(job.outputs()[-1][1])
    assert final == [("user", BENIGN), ("assistant", MODEL_REPLY)]
    partial = [u[-1][1] for u in updates if len(u) == 2 and u[-1][1] != MODEL_REPLY]
    assert any(0 < len(p) < len(MODEL_REPLY) and MODEL_REPLY.startswith(p) for p in partial)  # streamed

    before = len(flags.records)
    _, messages = client.predict(CRISIS, job.outputs()[-1][1], api_name="/chat")
    safe = safety.safe_reply(safety.assess(CRISIS))
    assert texts(messages)[-1] == ("assistant", safe + "\n\n" + MODEL_REPLY)
    assert [(r["source"], r["category"]) for r in flags.records[before:]] == [("user", "suicidal_ideation")]
    assert flags.records[-1]["session"].startswith("web-") and flags.records[-1]["session"] != "web-api"
    # The server got the history the page showed (the safe reply included), as messages.
    assert server.requests[-1]["messages"][:2] == [
        {"role": "user", "content": BENIGN}, {"role": "assistant", "content": MODEL_REPLY}
    ]
    assert client.predict(api_name="/reset") == ([], "")


# ----------------------------------------------------------------------------- real browser
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1100,1000", "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class DevTools:
    """The few Chrome DevTools protocol calls the test needs, over one page's websocket."""

    def __init__(self, websocket_url: str) -> None:
        import websocket

        self.socket = websocket.create_connection(websocket_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive in between; answers carry our id
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, every: float = 0.03):
        """Poll `expression` until truthy; returns its value and every distinct value seen."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if not seen or seen[-1] != value:
                seen.append(value)
            if value:
                return value, seen
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {expression}; last values {seen[-3:]}")

    def watch(self, expression: str, until, timeout: float = 30.0, every: float = 0.02) -> list:
        """Every distinct value of `expression` until `until(value)` holds."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if not seen or seen[-1] != value:
                seen.append(value)
            if until(value):
                return seen
            time.sleep(every)
        raise AssertionError(f"timed out watching {expression}; last values {seen[-3:]}")

    def close(self) -> None:
        self.socket.close()


@pytest.fixture()
def browser(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium executable found (apt-get install chromium, or set CHROMIUM=/path)")
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"chromium did not open its DevTools port (exit code {process.poll()})")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


CHAT_TEXT = "(document.querySelector('#chat') || {}).innerText || ''"


def type_and_send(browser: DevTools, text: str) -> None:
    browser.js("document.querySelector('#message textarea').focus()")
    browser.call("Input.insertText", text=text)  # real input events, as a keyboard would send
    browser.js("document.querySelector('#send').click()")


def test_browser_chat_crisis_hotline_reset_and_screenshot(web, browser, tmp_path):
    url, _, _ = web
    browser.call("Page.navigate", url=url)
    browser.wait_for("!!document.querySelector('#message textarea')")
    disclosure, _ = browser.wait_for("(document.querySelector('#disclosure') || {}).innerText")
    first_line = safety.disclosure("zh-CN").strip().splitlines()[0].strip("#*> ")
    assert first_line[:12] in disclosure  # the disclosure is on the page before any message
    assert BENIGN not in browser.js(CHAT_TEXT)

    type_and_send(browser, BENIGN)
    snapshots = browser.watch(CHAT_TEXT, until=lambda text: MODEL_REPLY in text)
    # Streaming: the browser showed the reply growing before it was whole.
    partial = [s.split(BENIGN, 1)[1].strip() for s in snapshots if BENIGN in s and MODEL_REPLY not in s]
    assert any(0 < len(p) < len(MODEL_REPLY) and MODEL_REPLY.startswith(p) for p in partial), partial

    type_and_send(browser, CRISIS)
    # generous: the crisis model judges this turn with the earlier one as context, and a busy 2-core
    # machine once took over 30 s here (correctness, not speed, is what this test checks)
    browser.wait_for(f"({CHAT_TEXT}).includes('12356')", timeout=90.0)
    browser.wait_for(f"({CHAT_TEXT}).split({json.dumps(MODEL_REPLY[-8:])}).length === 3")  # model reply after it

    shot = tmp_path / "soulchat-web.png"
    shot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"]))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("SOULCHAT_SCREENSHOTS"):
        Path(os.environ["SOULCHAT_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["SOULCHAT_SCREENSHOTS"]) / shot.name)

    browser.js("document.querySelector('#reset').click()")
    browser.wait_for(f"!({CHAT_TEXT}).includes('12356') && !({CHAT_TEXT}).includes({json.dumps(BENIGN)})")


def test_page_over_an_in_process_model(tmp_path):
    """`soulchat web --model PATH`: a tiny GLM saved to a folder, replies through the page."""
    from gradio_client import Client

    from soulchat import testing
    from soulchat.chat import ChatSession, GenerationSettings, load_backend

    testing.tiny_model_folder(tmp_path)
    backend = load_backend(str(tmp_path))
    greedy = GenerationSettings(temperature=0, max_new_tokens=10)
    expected = ChatSession(backend, settings=greedy).reply(BENIGN)
    assert expected
    app = build_app(backend, settings=greedy)
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False)
    try:
        _, messages = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(BENIGN, [], api_name="/chat")
    finally:
        app.close()
    assert texts(messages) == [("user", BENIGN), ("assistant", expected)]
