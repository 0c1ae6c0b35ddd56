"""One request policy for every command that calls an endpoint (soulchat.endpoint): a 200 without
text is a failure that a rerun asks again, never a result; failures are described by cause; a dead
endpoint stops the run. Rewrite, eval and judge, against the loopback fake server."""

from __future__ import annotations

import json

import openai
import pytest

from soulchat import endpoint
from soulchat.bundled import SAMPLE_SINGLE_TURN
from soulchat.endpoint import Breaker, EmptyAnswer, RequestFailed, parse_answer
from soulchat.rewrite import RewriteSettings, iter_results, read_single_turn
from soulchat.rewrite.costs import PriceTable
from soulchat.rewrite.runner import RewriteRunner
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

ROWS = list(read_single_turn(SAMPLE_SINGLE_TURN))[:6]
DIALOGUE = "用户：我睡不着。\n心理咨询师：听起来你最近很辛苦。"
EMPTY = {"id": "x", "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "content_filter",
                                                          "message": {"role": "assistant", "content": None}}],
         "usage": {"prompt_tokens": 1000, "completion_tokens": 0, "total_tokens": 1000}}


@pytest.mark.parametrize("body, reason", [
    ({"choices": []}, "empty 'choices' list"),
    ({"id": "x"}, "no 'choices'"),
    ({"error": {"message": "upstream overloaded"}}, "no 'choices' (error: upstream overloaded)"),
    (EMPTY, "choices[0].message.content is null (finish_reason content_filter)"),
    ({"choices": [{"message": {"content": "   "}}]}, "content is empty"),
    ({"choices": [{"message": {"content": 5}}]}, "content is a int"),
    ({"choices": [None]}, "content is null"),
    ([1, 2], "a JSON list"),
    (b"<html>502 Bad Gateway</html>", "not JSON"),
    (b"[" * 100_000, "not JSON"),
])
def test_an_answer_without_text_says_what_is_missing(body, reason):
    with pytest.raises(EmptyAnswer, match=pytest.importorskip("re").escape(reason)):
        parse_answer(body)


def test_an_answer_with_text_keeps_model_finish_reason_and_usage():
    answer = parse_answer(json.dumps({"model": "m", "choices": [{"message": {"content": "你好"}, "finish_reason": "stop"}],
                                      "usage": {"prompt_tokens": 3, "completion_tokens": "x"}}))
    assert (answer.text, answer.model, answer.finish_reason) == ("你好", "m", "stop")
    assert answer.usage == {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 0}


def test_the_breaker_stops_at_once_on_a_key_error_and_after_a_run_of_failures():
    breaker = Breaker(limit=3)
    breaker.failure(RequestFailed("u", "cannot connect", "retry"))
    breaker.success()
    for _ in range(2):
        breaker.failure(RequestFailed("u", "cannot connect", "retry"))
    assert not breaker.tripped
    breaker.failure(RequestFailed("u", "cannot connect", "retry"))
    assert breaker.tripped and "3 requests in a row failed" in breaker.reason
    fatal = Breaker(limit=100)
    fatal.failure(RequestFailed("u", "HTTP 401: bad key", "run"))
    assert fatal.tripped and "check the key" in fatal.reason


def test_complete_retries_an_empty_answer_then_succeeds():
    answers = iter([Reply(body={"choices": []}), Reply(DIALOGUE)])
    with FakeOpenAIServer(lambda request: next(answers)) as server:
        client = endpoint.client(server.base_url, timeout=5)
        answer = endpoint.complete(client, {"model": "m", "messages": []}, attempts=2, sleep=lambda s: None)
        assert answer.text == DIALOGUE and len(server.requests) == 2


def test_complete_does_not_retry_a_bad_request():
    with FakeOpenAIServer(lambda request: Reply(status=400, error_message="context too long")) as server:
        client = endpoint.client(server.base_url, timeout=5)
        with pytest.raises(RequestFailed) as failed:
            endpoint.complete(client, {"model": "m", "messages": []}, attempts=4, sleep=lambda s: None)
        assert (failed.value.kind, failed.value.cause, len(server.requests)) == ("request", "HTTP 400: context too long", 1)
        assert str(failed.value).endswith("/v1/chat/completions: HTTP 400: context too long")


# ----------------------------------------------------------------------------- rewrite
def rewrite(server, output, rows=ROWS, **overrides):
    values = {"model": "gpt-4o-mini", "concurrency": 2, "backoff_base": 0.01, "backoff_max": 0.02, "timeout": 5.0,
              "max_attempts": 2} | overrides
    runner = RewriteRunner(RewriteSettings(**values), output, base_url=server.base_url, progress=False,
                           prices=PriceTable.load())
    return runner.run(rows)


def test_rewrite_never_logs_a_200_without_text_as_ok_and_a_rerun_asks_again(tmp_path):
    state = {"broken": True}
    with FakeOpenAIServer(lambda request: Reply(body=EMPTY) if state["broken"] else Reply(DIALOGUE)) as server:
        report = rewrite(server, tmp_path)
        records = [record for _, record in iter_results(tmp_path / "results.jsonl")]
        assert report.ok == 0 and report.transient_errors == len(ROWS) and not report.complete
        assert {r["status"] for r in records} == {"error"} and not any(r.get("final") for r in records)
        assert records[0]["error"] == "answer without text: choices[0].message.content is null (finish_reason content_filter)"
        assert report.retries["no_text"] == 2 * len(ROWS)  # each failed try, the second included
        assert report.cost > 0 and records[0]["usage"]["prompt_tokens"] == 1000  # billed, so counted
        state["broken"] = False
        again = rewrite(server, tmp_path)
    assert again.ok == len(ROWS) and again.complete
    assert report.causes == {records[0]["error"]: len(ROWS)}


def test_rewrite_stops_when_the_endpoint_is_dead(tmp_path):
    with FakeOpenAIServer(lambda request: Reply(body=b"<html>502</html>")) as server:
        every = list(read_single_turn(SAMPLE_SINGLE_TURN))
        report = rewrite(server, tmp_path, rows=every, max_attempts=1, concurrency=1)
        requests = len(server.requests)
    assert report.stopped and "8 requests in a row failed" in report.stopped
    assert requests == 8 < len(every) and report.not_started > 0  # not one try per row
    assert report.to_json()["errors"] == {"answer without text: the answer is not JSON (an error page from a proxy?)": 8}


# ----------------------------------------------------------------------------- eval
def test_eval_keeps_answered_examples_and_a_rerun_asks_only_for_the_failed(tmp_path, capsys):
    from soulchat.cli import main

    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"input": f"用户：第{i}句\n心理咨询师：", "target": "我在听"}, ensure_ascii=False) + "\n"
                            for i in range(4)), encoding="utf-8")
    broken = {"第1句", "第3句"}

    def answer(request):
        text = request["messages"][-1]["content"]
        return Reply(body={"choices": []}) if text in broken else Reply("我在听")

    with FakeOpenAIServer(answer) as server:
        command = ["eval", "--test", str(test), "--model", "m", "--base-url", server.base_url,
                   "--output", str(tmp_path / "run"), "--max-attempts", "1"]
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "2 of 4 examples got no prediction" in err and "2× answer without text" in err
        assert not (tmp_path / "run" / "metrics.json").exists()
        lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
        assert sorted(json.loads(line)["id"] for line in lines) == [0, 2]
        broken.clear()
        asked = len(server.requests)
        assert main(command) == 0
        assert len(server.requests) - asked == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["metrics"]["count"] == 4


def test_eval_endpoint_timeout_is_the_flag_value(tmp_path, capsys):
    from soulchat.cli import main

    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"input": "用户：你好\n心理咨询师：", "target": "你好"}, ensure_ascii=False) + "\n")
    with FakeOpenAIServer(lambda request: Reply("你好", delay=1.0)) as server:
        common = ["eval", "--test", str(test), "--model", "m", "--base-url", server.base_url, "--max-attempts", "1"]
        assert main(common + ["--output", str(tmp_path / "a"), "--timeout", "0.2"]) == 1
        assert "no answer within the timeout" in capsys.readouterr().err
        assert main(common + ["--output", str(tmp_path / "b"), "--timeout", "5"]) == 0


# ----------------------------------------------------------------------------- judge
def test_judge_prints_the_cause_and_records_the_failure_for_a_rerun(tmp_path, capsys):
    from soulchat.cli import main

    predictions = tmp_path / "run" / "predictions.jsonl"
    predictions.parent.mkdir()
    predictions.write_text(json.dumps({"id": 1, "input": "用户：我好累\n心理咨询师：", "prediction": "我在听"},
                                      ensure_ascii=False) + "\n", encoding="utf-8")
    with FakeOpenAIServer(lambda request: Reply(body={"choices": []})) as server:
        code = main(["judge", str(predictions), "--model", "j", "--base-url", server.base_url,
                     "--output", str(tmp_path / "judge"), "--max-attempts", "2"])
    assert code == 1
    assert "failed requests: answer without text: the answer has an empty 'choices' list (after 2 tries)" in capsys.readouterr().err
    row = json.loads((tmp_path / "judge" / "judgments.jsonl").read_text().splitlines()[0])
    assert "scores" not in row and "empty 'choices'" in row["error"]


def test_describe_names_the_cause_of_client_errors():
    with pytest.raises(openai.APIConnectionError) as caught:
        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0).models.list()
    assert endpoint.describe(caught.value).startswith("cannot connect (")
