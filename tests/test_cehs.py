"""CEHS: Fleiss' κ on the textbook example, the blind human kit round trip, and the LLM judge."""

from __future__ import annotations

import csv
import json

import pytest

from soulchat.evaluation.cehs import (
    KEYS,
    KitError,
    export_kit,
    fleiss_kappa,
    import_sheets,
    rating_table,
    summarize,
)

# Fleiss (1971) / Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_textbook_example():
    kappa = fleiss_kappa(FLEISS_TABLE)
    # P̄ = 0.378, P̄e = 0.213 (to 3 places); κ = 0.210
    assert round(kappa, 3) == 0.210
    assert kappa == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_edges():
    assert fleiss_kappa([[3, 0], [3, 0]]) == 1.0  # everyone always agrees (the paper's Safety)
    assert fleiss_kappa([[3, 0], [0, 3]]) == 1.0
    assert fleiss_kappa([[2, 1], [1, 2]]) == pytest.approx(-1 / 3)
    with pytest.raises(ValueError, match="subject 1 has 2 ratings"):
        fleiss_kappa([[3, 0], [2, 0]])
    assert rating_table([[0, 2, 2], [1, 1, 1]], [0, 1, 2]) == [[1, 0, 2], [0, 3, 0]]
    with pytest.raises(ValueError, match=r"ratings \[3\]"):
        rating_table([[3, 0]], [0, 1, 2])


def runs():
    records = lambda model: [
        {"id": i, "input": f"用户：问题{i}\n心理咨询师：", "target": "t", "prediction": f"{model}回复{i}"}
        for i in range(6)
    ]
    return {"soulchat": records("soulchat"), "chatglm": records("chatglm")}


def fill(path, scores_for):
    """Rate a CSV sheet: scores_for(code) -> dict of the four scores."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream))
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            row.update({k: str(v) for k, v in scores_for(row["code"]).items()})
            writer.writerow(row)


def test_export_is_blind_shuffled_and_reproducible(tmp_path):
    key = export_kit(runs(), tmp_path / "kit", items=4, annotators=3, seed=1)
    files = sorted(p.name for p in (tmp_path / "kit").iterdir())
    assert files == ["annotator_1.csv", "annotator_1.xlsx", "annotator_2.csv", "annotator_2.xlsx",
                     "annotator_3.csv", "annotator_3.xlsx", "rubric.txt"]
    assert (tmp_path / "kit.key.json").is_file()  # the key lives outside the folder sent out
    assert json.loads((tmp_path / "kit.key.json").read_text()) == key
    assert len(key["items"]) == 8 and sorted({v["model"] for v in key["items"].values()}) == ["chatglm", "soulchat"]
    text = (tmp_path / "kit" / "annotator_1.csv").read_text(encoding="utf-8-sig")
    assert "soulchat" not in text.split("\n")[1] or "回复" in text  # model names only inside responses
    assert "model" not in text.split("\n")[0]
    first = text.splitlines()[1]
    assert first.startswith("R0001,用户：问题") and "心理咨询师：" not in first.split(",")[1]
    order = [v["model"] for v in key["items"].values()]
    assert order != sorted(order)  # shuffled, not grouped by model
    again = export_kit(runs(), tmp_path / "kit2", items=4, annotators=3, seed=1)
    assert again == key

    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "kit" / "annotator_2.xlsx")
    assert book.sheetnames == ["ratings", "rubric"]
    assert [c.value for c in book["ratings"][1]] == ["code", "context", "response", *KEYS, "note"]
    assert book["ratings"]["A2"].value == "R0001"


def test_import_summarize_means_and_kappa(tmp_path):
    key = export_kit(runs(), tmp_path / "kit", items=3, annotators=3, seed=0)
    model = {code: v["model"] for code, v in key["items"].items()}
    good = {"content": 2, "empathy": 2, "helpfulness": 1, "safety": 1}
    weak = {"content": 1, "empathy": 0, "helpfulness": 0, "safety": 1}
    for k in (1, 2):
        fill(tmp_path / "kit" / f"annotator_{k}.csv", lambda c: good if model[c] == "soulchat" else weak)
    # annotator 3 is one step more generous on empathy for the baseline
    fill(tmp_path / "kit" / "annotator_3.csv",
         lambda c: good if model[c] == "soulchat" else {**weak, "empathy": 1})
    sheets = sorted((tmp_path / "kit").glob("*.csv"))
    ratings = import_sheets(sheets, key)
    summary = summarize(ratings, key)
    assert summary["annotators"] == ["annotator_1", "annotator_2", "annotator_3"]
    assert summary["models"]["soulchat"] == {"items": 3, "content": 2.0, "empathy": 2.0, "helpfulness": 1.0, "safety": 1.0}
    assert summary["models"]["chatglm"]["empathy"] == pytest.approx(1 / 3)
    assert summary["kappa"]["content"] == 1.0 and summary["kappa"]["safety"] == 1.0
    # empathy: 3 subjects [0,0,3], 3 subjects [2,1,0] over categories 0,1,2
    assert summary["kappa"]["empathy"] == pytest.approx(fleiss_kappa([[0, 0, 3]] * 3 + [[2, 1, 0]] * 3))


def test_import_reads_xlsx_and_names_sheet_and_row(tmp_path):
    from openpyxl import load_workbook

    key = export_kit(runs(), tmp_path / "kit", items=2, annotators=2, seed=0)
    for k in (1, 2):
        path = tmp_path / "kit" / f"annotator_{k}.xlsx"
        book = load_workbook(path)
        sheet = book["ratings"]
        for row in range(2, sheet.max_row + 1):
            for column in "DEFG":
                sheet[f"{column}{row}"] = 1
        if k == 2:
            sheet["E3"] = 3          # empathy out of range
            sheet["F4"] = None       # helpfulness missing
            sheet["D5"] = "good"     # content not a number
        book.save(path)
    paths = sorted((tmp_path / "kit").glob("*.xlsx"))
    with pytest.raises(KitError) as caught:
        import_sheets(paths, key)
    assert caught.value.problems == [
        "annotator_2.xlsx:ratings row 3 (R0002): empathy is 3, must be 0-2",
        "annotator_2.xlsx:ratings row 4 (R0003): helpfulness is empty",
        "annotator_2.xlsx:ratings row 5 (R0004): content is 'good', not an integer 0-2",
    ]


def test_import_reports_unknown_missing_and_duplicate_codes(tmp_path):
    key = export_kit(runs(), tmp_path / "kit", items=2, annotators=2, seed=0)
    path = tmp_path / "kit" / "annotator_1.csv"
    fill(path, lambda c: {"content": 2, "empathy": 2, "helpfulness": 2, "safety": 1})
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    lines = [lines[0], lines[1], lines[1], lines[2].replace("R0002", "R9999")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    with pytest.raises(KitError) as caught:
        import_sheets([path, tmp_path / "kit" / "annotator_2.csv"], key)
    problems = caught.value.problems
    assert problems[:3] == [
        "annotator_1.csv row 3: R0001 rated twice",
        "annotator_1.csv row 4: unknown code 'R9999'",
        "annotator_1.csv: 3 item(s) missing: R0002, R0003, R0004",
    ]
    assert problems[3] == "annotator_2.csv row 2 (R0001): content is empty"


# ------------------------------------------------------------------------ LLM judge
from soulchat.evaluation.cehs.judge import (
    JudgeConfig,
    JudgmentError,
    parse_judgment,
    run_judge,
)
from soulchat.testing.fake_server import FakeOpenAIServer, Reply


@pytest.mark.parametrize("text, reason", [
    ("", "empty answer"),
    ("内容2分，共情2分", "not JSON"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"content": 2, "empathy": 2, "helpfulness": 1}', "missing safety"),
    ('{"content": 3, "empathy": 2, "helpfulness": 1, "safety": 1}', "content is 3, must be 0-2"),
    ('{"content": 2, "empathy": 1.5, "helpfulness": 1, "safety": 1}', "empathy is 1.5, not an integer 0-2"),
    ('{"content": 2, "empathy": "2", "helpfulness": 1, "safety": 1}', "empathy is '2', not an integer"),
    ('{"content": 2, "empathy": 2, "helpfulness": 1, "safety": true}', "safety is True, not an integer 0-1"),
    ('{"content": 2, "empathy": 2, "helpfulness": 1, "safety": 2}', "safety is 2, must be 0-1"),
    ('好的：{"content": 2, "empathy": 2, "helpfulness": 1, "safety": 1}', "not JSON"),
])
def test_malformed_judge_answers_are_rejected(text, reason):
    with pytest.raises(JudgmentError, match=reason):
        parse_judgment(text)


def test_judge_answer_parsing():
    answer = '{"content": 2, "empathy": 1, "helpfulness": 0, "safety": 1, "reason": "共情略显套路"}'
    assert parse_judgment(answer) == {"content": 2, "empathy": 1, "helpfulness": 0, "safety": 1}
    assert parse_judgment("```json\n" + answer + "\n```") == parse_judgment(answer)


def judge_items():
    return [
        {"id": 1, "model": "soulchat", "input": "用户：我睡不着\n心理咨询师：", "prediction": "听起来你最近很辛苦。"},
        {"id": 2, "model": "soulchat", "input": "用户：我很焦虑\n心理咨询师：", "prediction": "可以多说说吗？"},
    ]


def scripted_judges(request):
    """judge-a: malformed once per item, then 2/2/1/1; judge-b: 1/1/1/1."""
    text = request["messages"][1]["content"]
    if request["model"] == "judge-a":
        if len(request["messages"]) == 2:
            return Reply("内容很好", usage={"prompt_tokens": 100, "completion_tokens": 4})
        return Reply('{"content": 2, "empathy": 2, "helpfulness": 1, "safety": 1}',
                     usage={"prompt_tokens": 120, "completion_tokens": 20})
    if "焦虑" in text:
        return Reply('{"content": 1, "empathy": 0, "helpfulness": 1, "safety": 1}',
                     usage={"prompt_tokens": 100, "completion_tokens": 20})
    return Reply('{"content": 1, "empathy": 1, "helpfulness": 1, "safety": 1}',
                 usage={"prompt_tokens": 100, "completion_tokens": 20})


def test_judge_retries_averages_costs_and_resumes(tmp_path):
    import openai

    config = JudgeConfig(judges=["judge-a", "judge-b"], samples=2, price_input=1.0, price_output=2.0, concurrency=4)
    with FakeOpenAIServer(scripted_judges) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        summary = run_judge(judge_items(), tmp_path, client, config)
        first_requests = len(server.requests)
        again = run_judge(judge_items(), tmp_path, client, config)
        assert len(server.requests) == first_requests  # everything was done: nothing re-asked
    # judge-a: 2 items x 2 samples x 2 attempts; judge-b: 2 x 2 x 1
    assert first_requests == 12
    retry = next(r for r in server.requests if len(r["messages"]) == 4)
    assert retry["messages"][2] == {"role": "assistant", "content": "内容很好"}
    assert "not JSON" in retry["messages"][3]["content"]
    assert "共情" in server.requests[0]["messages"][0]["content"]  # the rubric is in the prompt
    system = summary["systems"]["soulchat"]
    # item 1: mean(a=2,b=1)=1.5 content, (2,1)->1.5 empathy; item 2: content 1.5, empathy (2,0)->1.0
    assert system == {"items": 2, "content": 1.5, "empathy": 1.25, "helpfulness": 1.0, "safety": 1.0}
    assert summary["judges"]["soulchat|judge-b"]["empathy"] == 0.5
    # tokens: judge-a 4 answers x (100+120, 4+20); judge-b 4 x (100, 20)
    assert summary["usage"] == {"prompt_tokens": 4 * 220 + 400, "completion_tokens": 4 * 24 + 80}
    assert summary["cost_usd"] == pytest.approx((1280 * 1.0 + 176 * 2.0) / 1e6)
    assert summary["failed"] == 0 and again["requested"] == 0 and again["systems"] == summary["systems"]
    rows = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["attempts"] for r in rows if r["judge"] == "judge-a"} == {2}


def test_judge_gives_up_after_max_attempts_and_rerun_retries(tmp_path):
    import openai

    answers = iter(["不合格"] * 3 + ['{"content": 2, "empathy": 2, "helpfulness": 2, "safety": 1}'])
    config = JudgeConfig(judges=["j"], max_attempts=3, concurrency=1)
    with FakeOpenAIServer(lambda request: next(answers)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        first = run_judge(judge_items()[:1], tmp_path, client, config)
        assert first["failed"] == 1 and first["systems"] == {}
        second = run_judge(judge_items()[:1], tmp_path, client, config)
    assert second["failed"] == 0 and second["systems"]["soulchat"]["helpfulness"] == 2.0
    rows = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert rows[0]["error"].startswith("malformed after 3 attempts: not JSON")


def test_judge_cost_comes_from_the_rewrite_price_table_by_default(tmp_path):
    import openai

    config = JudgeConfig(judges=["gpt-4o-mini", "local-judge"], concurrency=2)
    with FakeOpenAIServer(scripted_judges) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        summary = run_judge(judge_items(), tmp_path, client, config)
    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens in soulchat/rewrite/prices.yaml; local-judge: unlisted, free
    assert summary["cost_usd"] == pytest.approx((2 * 100 * 0.15 + 2 * 20 * 0.60) / 1e6)
    assert summary["run_cost_usd"] == pytest.approx(summary["cost_usd"])
