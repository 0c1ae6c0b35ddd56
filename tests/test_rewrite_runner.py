"""The live rewrite runner against the loopback fake OpenAI server (real openai client, real HTTP)."""

import json
import threading
import time
from collections import Counter

import pytest

from soulchat.bundled import SAMPLE_SINGLE_TURN
from soulchat.rewrite import RewriteSettings, iter_results, plan_request, read_single_turn
from soulchat.rewrite.costs import PriceTable
from soulchat.rewrite.limits import parse_duration, retry_delay
from soulchat.rewrite.results import ResultLog
from soulchat.rewrite.runner import RewriteRunner
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

DIALOGUE = "分析：用户很焦虑。\n改写后的对话：\n用户：我睡不着。\n心理咨询师：听起来你最近很辛苦。"
ROWS = list(read_single_turn(SAMPLE_SINGLE_TURN))


def settings(**overrides) -> RewriteSettings:
    values = {"model": "gpt-3.5-turbo", "concurrency": 4, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0}
    return RewriteSettings(**(values | overrides))


class KeyedResponder:
    """Answers by row: `plan(key, nth_request_for_that_key) -> Reply`; counts requests per key."""

    def __init__(self, plan, rows=ROWS, **setting_overrides):
        requests = [plan_request(row, settings(**setting_overrides)) for row in rows]
        self.key_of = {r.body["messages"][0]["content"]: r.key for r in requests}
        self.keys = [r.key for r in requests]
        self.plan = plan
        self.counts: Counter = Counter()
        self.arrivals: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def __call__(self, body):
        key = self.key_of[body["messages"][0]["content"]]
        with self.lock:
            self.counts[key] += 1
            nth = self.counts[key]
            self.arrivals.append((time.monotonic(), key))
        reply = self.plan(key, nth)
        return Reply(DIALOGUE) if reply is None else reply


def run(server, output, rows=ROWS, **overrides):
    runner = RewriteRunner(settings(**overrides), output, base_url=server.base_url, progress=False)
    return runner.run(rows)


def results(output):
    return [record for _, record in iter_results(output / "results.jsonl")]


def test_normal_rewrite_writes_one_exact_line_per_pair(tmp_path):
    responder = KeyedResponder(lambda key, nth: None)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path)
        again = run(server, tmp_path)
    lines = results(tmp_path)
    assert len(lines) == 28 and report.ok == 28 and report.complete
    assert sorted(r["key"] for r in lines) == sorted(responder.keys)
    assert set(responder.counts.values()) == {1}
    first = next(r for r in lines if r["row"]["line"] == 1 and r["row"]["answer_index"] == 1)
    assert first["row"] == ROWS[1].to_json()
    prompt_chars = len(settings().prompt_template.render(ROWS[1].single_turn))
    assert {k: v for k, v in first.items() if k not in ("key", "row", "latency_s", "time")} == {
        "status": "ok", "prompt": "soulchat", "prompt_version": "soulchat_empathy.zh.v1",
        "requested_model": "gpt-3.5-turbo", "model": "gpt-3.5-turbo", "text": DIALOGUE, "finish_reason": "stop",
        "usage": {"prompt_tokens": prompt_chars, "completion_tokens": len(DIALOGUE),
                  "total_tokens": prompt_chars + len(DIALOGUE)},
        "attempts": 1, "error": None,
    }
    assert first["time"].endswith("+00:00") and first["latency_s"] > 0
    assert report.finish_reasons == {"stop": 28}
    assert again.ok == 0 and again.skipped_done == 28 and sum(responder.counts.values()) == 28


def test_429_pauses_the_whole_pool_then_succeeds(tmp_path):
    first_key = []

    def plan(key, nth):
        if not first_key:
            first_key.append(key)
            return Reply(status=429, error_type="rate_limit_exceeded", headers={"retry-after-ms": "400"})
        return Reply(DIALOGUE, delay=0.02)

    responder = KeyedResponder(plan)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:12])
    assert report.ok == 12 and report.retries == {"rate_limit": 1} and report.pauses == 1
    times = [t for t, _ in responder.arrivals]
    limited = times[0]
    # the 4 requests that started together were already in flight; every later one waited ~400 ms
    assert all(t - limited < 0.1 for t in times[:4])
    assert all(t - limited >= 0.39 for t in times[4:])
    assert responder.counts[first_key[0]] == 2
    assert len(results(tmp_path)) == 12


def test_500_is_retried_with_backoff(tmp_path):
    responder = KeyedResponder(lambda key, nth: Reply(status=500, error_type="server_error") if nth < 3 else None)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:3])
    assert report.ok == 3 and report.retries == {"http_500": 6}
    assert [r["attempts"] for r in results(tmp_path)] == [3, 3, 3]


def test_a_hang_past_the_timeout_is_retried(tmp_path):
    responder = KeyedResponder(lambda key, nth: Reply(hang=True) if nth == 1 else None)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:2], timeout=0.3)
    assert report.ok == 2 and report.retries == {"timeout": 2}
    assert set(responder.counts.values()) == {2}


def test_finish_reason_length_is_recorded(tmp_path):
    responder = KeyedResponder(lambda key, nth: Reply("用户：我", finish_reason="length"))
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:2])
    assert report.finish_reasons == {"length": 2}
    assert [(r["status"], r["finish_reason"], r["text"]) for r in results(tmp_path)] == [("ok", "length", "用户：我")] * 2


def test_too_many_transient_failures_leave_the_row_for_a_rerun(tmp_path):
    responder = KeyedResponder(lambda key, nth: Reply(status=503) if nth <= 2 else None)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:1], max_attempts=2)
        assert (report.transient_errors, report.complete) == (1, False)
        again = run(server, tmp_path, rows=ROWS[:1], max_attempts=2)
    assert again.ok == 1 and again.complete
    assert [(r["status"], r.get("final")) for r in results(tmp_path)] == [("error", None), ("ok", None)]
    assert results(tmp_path)[0]["error"].startswith("HTTP 503: ")


def test_400_is_final_for_that_row_only(tmp_path):
    bad = []

    def plan(key, nth):
        if not bad:
            bad.append(key)
        if key == bad[0]:
            return Reply(status=400, error_type="invalid_request_error", error_message="context too long")
        return None

    responder = KeyedResponder(plan)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:5])
        again = run(server, tmp_path, rows=ROWS[:5])
    assert (report.ok, report.final_errors, report.complete) == (4, 1, True)
    error = next(r for r in results(tmp_path) if r["status"] == "error")
    assert (error["key"], error["final"], error["error"]) == (bad[0], True, "HTTP 400: context too long")
    assert again.skipped_done == 5 and responder.counts[bad[0]] == 1


def test_quota_exhausted_stops_cleanly_and_resumes(tmp_path):
    served = Counter()

    def plan(key, nth):
        served["n"] += 1
        if served["n"] > 3:
            return Reply(status=429, error_type="insufficient_quota", error_message="You exceeded your current quota")
        return None

    responder = KeyedResponder(plan)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, concurrency=1)
    assert report.ok == 3 and report.stopped.startswith("insufficient_quota: ")
    assert "rerun the same command to resume" in report.stopped
    assert sum(responder.counts.values()) == 4  # nothing was sent after the quota error
    done = {r["key"] for r in results(tmp_path) if r["status"] == "ok"}
    responder.counts.clear()
    with FakeOpenAIServer(KeyedResponder(lambda key, nth: None)) as server:
        server.responder = responder
        responder.plan = lambda key, nth: None
        resumed = run(server, tmp_path)
    assert resumed.ok == 25 and resumed.complete
    assert set(responder.counts) == set(responder.keys) - done and set(responder.counts.values()) == {1}


def test_torn_last_line_is_tolerated_and_cut(tmp_path):
    responder = KeyedResponder(lambda key, nth: None)
    with FakeOpenAIServer(responder) as server:
        run(server, tmp_path, rows=ROWS[:3])
        log = tmp_path / "results.jsonl"
        lines = log.read_bytes().splitlines(keepends=True)
        log.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # a kill in the middle of a write
        state = ResultLog(tmp_path).load()
        assert (len(state.finished), state.torn_bytes) == (2, 40)
        responder.counts.clear()
        report = run(server, tmp_path, rows=ROWS[:3])
    assert report.ok == 1 and report.skipped_done == 2 and sum(responder.counts.values()) == 1
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == ["ok"] * 3


def test_broken_line_inside_the_log_is_an_error(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"key": "a", "status": "ok"}\nnot json\n{"key": "b", "status": "ok"}\n')
    with pytest.raises(ValueError, match=r"results.jsonl:2: broken result line"):
        ResultLog(tmp_path).load()


def test_max_cost_stops_starting_requests(tmp_path):
    prices = PriceTable.load()
    prices.models = {"gpt-3.5-turbo": type(prices.price("gpt-4"))(input=1000.0, output=0.0)}  # $1 per 1000 prompt tokens
    responder = KeyedResponder(lambda key, nth: Reply(DIALOGUE, usage={"prompt_tokens": 1000, "completion_tokens": 0, "total_tokens": 1000}))
    with FakeOpenAIServer(responder) as server:
        runner = RewriteRunner(settings(concurrency=1, max_cost=2.5), tmp_path, base_url=server.base_url, prices=prices, progress=False)
        report = runner.run(ROWS)
    assert report.ok == 3 and report.cost == pytest.approx(3.0) and report.stopped.startswith("cost limit reached: $3.0000")
    assert sum(responder.counts.values()) == 3


def test_rate_limiter_paces_requests(tmp_path):
    responder = KeyedResponder(lambda key, nth: None)
    with FakeOpenAIServer(responder) as server:
        report = run(server, tmp_path, rows=ROWS[:8], requests_per_minute=300, concurrency=8)
    times = sorted(t - responder.arrivals[0][0] for t, _ in responder.arrivals)
    # 5 per second: one second's worth (5) at once, then one every 0.2 s
    assert report.ok == 8 and times[4] < 0.1
    assert [round(b - a, 1) for a, b in zip(times[4:], times[5:])] == [0.2, 0.2, 0.2]


def test_retry_headers():
    assert retry_delay({"Retry-After-Ms": "250"}) == 0.25
    assert retry_delay({"retry-after": "3"}) == 3.0
    assert retry_delay({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s",
                        "x-ratelimit-remaining-tokens": "0", "x-ratelimit-remaining-requests": "12"}) == 360.0
    assert retry_delay({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "2s"}) == 0.02
    assert retry_delay({"retry-after": "99999"}) == 600.0
    assert retry_delay({}) is None
    assert parse_duration("1h2m3.5s") == 3723.5 and parse_duration("soon") is None
