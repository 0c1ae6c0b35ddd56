"""`soulchat rewrite` end to end: dry run, rejects, cost cap, and a kill -9 followed by a resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soulchat.bundled import SAMPLE_SINGLE_TURN
from soulchat.cli import main
from soulchat.prompts import load_prompt
from soulchat.rewrite import iter_results
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

from test_rewrite_runner import DIALOGUE, KeyedResponder

PRICES = """\
per_tokens: 1000
estimate: {tokens_per_char: 1.0, completion_ratio: 2.0}
models:
  m: {input: 1.0, output: 2.0}
"""


def cli(*argv) -> int:
    return main(["rewrite", *map(str, argv), "--no-progress"])


def test_dry_run_estimates_and_sends_nothing(tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"question": "失眠", "answer": "别急。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "prices.yaml").write_text(PRICES)
    single = "用户：失眠\n心理咨询师：别急。"
    prompt_chars = len(load_prompt("soulchat").render(single))
    with FakeOpenAIServer() as server:
        code = cli(data, "--output", tmp_path / "out", "--base-url", server.base_url, "--model", "m",
                   "--prices", tmp_path / "prices.yaml", "--dry-run")
        assert server.requests == []
    assert code == 0
    estimate = json.loads((tmp_path / "out" / "rewrite-estimate.json").read_text())
    assert estimate["pending"] == 1 and estimate["models"] == {"m": 1}
    assert estimate["estimated_tokens"] == {"prompt": prompt_chars, "completion": 2 * len(single)}
    assert estimate["estimated_cost_usd"] == round((prompt_chars * 1.0 + 2 * len(single) * 2.0) / 1000, 4)
    assert not (tmp_path / "out" / "results.jsonl").exists()
    assert "dry run: nothing sent" in capsys.readouterr().err


def test_bad_input_fails_with_file_and_line_or_goes_to_rejects(tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_bytes(
        json.dumps({"question": "好", "answer": "好的。"}, ensure_ascii=False).encode() + b"\n"
        + b'{"question": 1, "answer": "x"}\n' + b'{"question": "\xff", "answer": "x"}\n'
    )
    with FakeOpenAIServer(lambda body: DIALOGUE) as server:
        args = [data, "--output", tmp_path / "out", "--base-url", server.base_url, "--model", "m"]
        assert cli(*args) == 1
        assert f"{data}:2: 'question' must be a string, got int" in capsys.readouterr().err
        assert server.requests == []  # the input is checked before anything is sent
        assert cli(*args, "--skip-invalid") == 0
        assert len(server.requests) == 1
    rejects = [json.loads(l) for l in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "'question' must be a string, got int"), (3, "not valid UTF-8 (invalid start byte at byte 14)")]
    summary = json.loads((tmp_path / "out" / "rewrite-summary.json").read_text())
    assert summary["input"]["rejected"] == 2 and summary["run"]["ok"] == 1 and summary["run"]["complete"]


def test_max_cost_stops_the_command(tmp_path, capsys):
    (tmp_path / "prices.yaml").write_text(PRICES)
    usage = {"prompt_tokens": 1000, "completion_tokens": 0, "total_tokens": 1000}  # $1 per request
    with FakeOpenAIServer(lambda body: Reply(DIALOGUE, usage=usage)) as server:
        args = [SAMPLE_SINGLE_TURN, "--output", tmp_path, "--base-url", server.base_url, "--model", "m",
                "--prices", tmp_path / "prices.yaml", "--concurrency", 1]
        assert cli(*args, "--max-cost", 2) == 1
        assert "stopped: cost limit reached: $2.0000 spent >= --max-cost $2" in capsys.readouterr().err
        assert len(server.requests) == 2
        assert cli(*args, "--max-cost", 2) == 1 and len(server.requests) == 2  # the log's spend counts
        assert cli(*args, "--max-cost", 3) == 1 and len(server.requests) == 3
    summary = json.loads((tmp_path / "rewrite-summary.json").read_text())
    assert summary["run"]["cost_usd"] == {"this_run": 1.0, "total": 3.0}
    with pytest.raises(SystemExit):
        main(["rewrite", "--help"])


@pytest.mark.slow
def test_kill_minus_9_then_resume_requests_exactly_the_missing_keys(tmp_path):
    fast = set()

    def plan(key, nth):
        if len(fast) < 6 or key in fast:
            fast.add(key)
            return None
        return Reply(hang=True)  # the rest stay in flight until the kill

    responder = KeyedResponder(plan)
    log = tmp_path / "results.jsonl"
    with FakeOpenAIServer(responder) as server:
        env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1] / "src")}
        process = subprocess.Popen(
            [sys.executable, "-m", "soulchat.cli", "rewrite", str(SAMPLE_SINGLE_TURN), "--output", str(tmp_path),
             "--base-url", server.base_url, "--model", "gpt-3.5-turbo", "--concurrency", "4", "--no-progress"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.exists() and log.read_text().count("\n") >= 6 and sum(responder.counts.values()) >= 10:
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        first_run = dict(responder.counts)
        logged = {r["key"] for _, r in iter_results(log)}
        assert len(logged) == 6 and set(first_run.values()) == {1} and len(first_run) == 10
        responder.counts.clear()
        responder.plan = lambda key, nth: None
        assert cli(SAMPLE_SINGLE_TURN, "--output", tmp_path, "--base-url", server.base_url,
                   "--model", "gpt-3.5-turbo", "--concurrency", 4) == 0
    assert set(responder.counts) == set(responder.keys) - logged
    assert set(responder.counts.values()) == {1}
    assert sorted(r["key"] for _, r in iter_results(log)) == sorted(responder.keys)
