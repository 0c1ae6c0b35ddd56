"""The loopback OpenAI-compatible server that other tests rely on, checked with the real client."""

import io
import json

import openai
import pytest

from soulchat.testing.fake_server import FakeOpenAIServer, Reply


@pytest.fixture
def server():
    replies = {"hi": "你好呀", "slow429": Reply(status=429, headers={"retry-after-ms": "10"},
                                                 error_type="rate_limit_exceeded")}
    with FakeOpenAIServer(lambda r: replies.get(r["messages"][-1]["content"], "嗯")) as running:
        yield running


def client(server, **kw):
    return openai.OpenAI(base_url=server.base_url, api_key="test", **kw)


def test_chat_completion_and_usage(server):
    done = client(server).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "你好呀" and done.choices[0].finish_reason == "stop"
    assert done.usage.completion_tokens == 3 and server.requests[0]["model"] == "m"


def test_streaming(server):
    stream = client(server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "你好呀"


def test_errors_reach_the_client_with_their_headers(server):
    with pytest.raises(openai.RateLimitError) as caught:
        client(server, max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "slow429"}]
        )
    assert caught.value.response.headers["retry-after-ms"] == "10"
    assert caught.value.code == "rate_limit_exceeded"


def test_batch_flow(server):
    api = client(server)
    lines = [{"custom_id": f"k{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}} for i in range(2)]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    uploaded = api.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    batch = api.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    batch = api.batches.retrieve(batch.id)
    assert batch.status == "completed"
    rows = [json.loads(x) for x in api.files.content(batch.output_file_id).text.splitlines()]
    assert [r["custom_id"] for r in rows] == ["k0", "k1"]
    assert rows[0]["response"]["body"]["choices"][0]["message"]["content"] == "你好呀"
