"""The Batch API path against the fake server: split files, state, polling, join, resubmission."""

import json

from soulchat.rewrite import iter_results
from soulchat.rewrite.batch import BatchRunner
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

from test_rewrite_runner import DIALOGUE, ROWS, KeyedResponder, settings


class DroppingServer(FakeOpenAIServer):
    """Loses one key from the first batch's output file, as a real batch sometimes does."""

    def __init__(self, responder, drop):
        super().__init__(responder)
        self.drop = drop

    def _run_batch(self, batch_id, input_file_id):
        super()._run_batch(batch_id, input_file_id)
        file_id = self.batches[batch_id].get("output_file_id")
        if file_id and self.drop:
            lines = self.files[file_id].decode().splitlines(keepends=True)
            kept = [line for line in lines if json.loads(line)["custom_id"] != self.drop]
            if len(kept) < len(lines):
                self.files[file_id] = "".join(kept).encode()
                self.drop = None


def test_batch_flow_joins_output_and_errors_and_resubmits_missing_keys(tmp_path):
    responder = KeyedResponder(lambda key, nth: None)
    dropped, flaky, bad = responder.keys[3], responder.keys[12], responder.keys[20]

    def plan(key, nth):
        if key == flaky and nth == 1:
            return Reply(status=500, error_message="try later")
        if key == bad:
            return Reply(status=400, error_message="bad request")
        return Reply(DIALOGUE, finish_reason="length" if key == responder.keys[0] else "stop")

    responder.plan = plan
    with DroppingServer(responder, drop=dropped) as server:
        runner = BatchRunner(settings(), tmp_path, base_url=server.base_url, progress=False,
                             max_lines=10, poll_interval=0.01)
        report = runner.run(ROWS)
        again = BatchRunner(settings(), tmp_path, base_url=server.base_url, progress=False,
                            max_lines=10, poll_interval=0.01).run(ROWS)
        batches = len(server.batches)
    assert (report.ok, report.final_errors, report.complete) == (27, 1, True)
    assert report.retries == {"resubmitted": 2} and report.finish_reasons == {"stop": 26, "length": 1}
    assert {k: n for k, n in responder.counts.items() if n != 1} == {dropped: 2, flaky: 2}
    assert again.ok == 0 and batches == 4  # 3 parts (10+10+8 lines) + 1 resubmission; the rerun sent nothing
    folder = tmp_path / "batch"
    state = json.loads((folder / "state.json").read_text())["parts"]
    assert [(p["name"], p["count"], p["status"], p["collected"]) for p in state] == [
        ("r1-0001", 10, "completed", True), ("r1-0002", 10, "completed", True),
        ("r1-0003", 8, "completed", True), ("r2-0001", 2, "completed", True)]
    assert all(p["input_file_id"] and p["batch_id"] for p in state)
    first = json.loads((folder / "r1-0001.requests.jsonl").read_text().splitlines()[0])
    assert first["method"] == "POST" and first["url"] == "/v1/chat/completions" and first["custom_id"] == responder.keys[0]
    records = [r for _, r in iter_results(tmp_path / "results.jsonl")]
    by_status = {}
    for r in records:
        by_status.setdefault((r["status"], r.get("final", False)), set()).add(r["key"])
    assert by_status[("error", True)] == {bad} and by_status[("error", False)] == {flaky}
    assert by_status[("ok", False)] == set(responder.keys) - {bad}
    ok = next(r for r in records if r["key"] == responder.keys[1])
    assert (ok["text"], ok["batch"], ok["prompt_version"], ok["model"]) == (DIALOGUE, True, "soulchat_empathy.zh.v1", "gpt-3.5-turbo")
    assert ok["row"] == ROWS[1].to_json()


def test_request_files_split_by_size(tmp_path):
    runner = BatchRunner(settings(), tmp_path, progress=False, max_lines=100, max_bytes=9000)
    parts = []
    from soulchat.rewrite import plan_request

    written = runner._write_parts(((plan_request(r, settings()).key, r) for r in ROWS[:6]), 1, parts)
    sizes = [len((tmp_path / "batch" / f"{p.name}.requests.jsonl").read_bytes()) for p in written]
    assert len(written) > 1 and all(size <= 9000 for size in sizes)
    assert [p.bytes for p in written] == sizes and sum(p.count for p in written) == 6


def test_interrupted_batch_is_polled_not_resubmitted(tmp_path):
    responder = KeyedResponder(lambda key, nth: None)
    with FakeOpenAIServer(responder) as server:
        runner = BatchRunner(settings(), tmp_path, base_url=server.base_url, progress=False, poll_interval=0.01)
        import openai

        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        parts = []
        from soulchat.rewrite import plan_request

        work = runner._write_parts(((plan_request(r, settings()).key, r) for r in ROWS[:5]), 1, parts)
        runner._submit(client, work, parts)  # then the process "dies" before collecting
        report = BatchRunner(settings(), tmp_path, base_url=server.base_url, progress=False,
                             poll_interval=0.01).run(ROWS[:5])
        assert len(server.batches) == 1
    assert report.ok == 5 and set(responder.counts.values()) == {1}
