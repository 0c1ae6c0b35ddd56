"""Table-1-style report from several runs' metrics.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from soulchat.evaluation.report import PAPER_ROWS, load_runs, write_report


def run(tmp_path, name, base):
    folder = tmp_path / name
    folder.mkdir()
    metrics = {k: base + i for i, k in enumerate(["bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l"])}
    (folder / "metrics.json").write_text(json.dumps({"model": name, "metrics": {**metrics, "count": 10},
                                                     "bleu_tokens": "char"}))
    return folder


def test_markdown_csv_and_chart(tmp_path):
    runs = load_runs([run(tmp_path, "soulchat-lora", 10.0), run(tmp_path, "chatglm6b", 5.0) / "metrics.json"])
    files = write_report(runs, tmp_path / "out")
    lines = (tmp_path / "out" / "report.md").read_text().splitlines()
    assert lines[0] == "| Model | B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L | n |"
    assert lines[2] == ("| *SoulChat (paper, Table 1, SoulChatCorpus)* | 33.78 | 20.07 | 12.86 | 8.52 | 31.47 "
                        "| 8.92 | 26.57 |  |")
    assert lines[3] == "| soulchat-lora | **10.00** | **11.00** | **12.00** | **13.00** | **14.00** | **15.00** | **16.00** | 10 |"
    assert lines[4] == "| chatglm6b | 5.00 | 6.00 | 7.00 | 8.00 | 9.00 | 10.00 | 11.00 | 10 |"
    with open(files["csv"], newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["source"] for r in rows] == ["paper", "run", "run"] and rows[1]["bleu-4"] == "13.0000"
    png = (tmp_path / "out" / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_without_paper_rows_and_bad_input(tmp_path):
    write_report(load_runs([run(tmp_path, "a", 1.0)]), tmp_path / "out", paper=False, chart=False)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "paper" not in text.split("\n\n")[0] and not (tmp_path / "out" / "report.png").exists()
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not a soulchat eval metrics.json"):
        load_runs([tmp_path / "bad.json"])
    assert PAPER_ROWS["SoulChat (paper, Table 1, SoulChatCorpus)"]["rouge-l"] == 26.57


def test_cli_eval_report_judge_and_human_kit(tmp_path, monkeypatch, capsys):
    """The whole evaluation path through `soulchat`, against a loopback fake endpoint."""
    from soulchat.cli import main
    from soulchat.testing.fake_server import FakeOpenAIServer

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    test = tmp_path / "test.jsonl"
    test.write_text(
        "".join(json.dumps({"input": f"用户：我最近睡不好{i}\n心理咨询师：", "target": f"睡不好很难受，能说说{i}吗？"},
                           ensure_ascii=False) + "\n" for i in range(4)), encoding="utf-8")

    def responder(request):
        if request["model"] == "judge":
            return '{"content": 2, "empathy": 1, "helpfulness": 1, "safety": 1}'
        return "睡不好很难受。" if request["model"] == "gpt" else "多喝水。"

    with FakeOpenAIServer(responder) as server:
        for name in ("gpt", "plain"):
            assert main(["eval", "--test", str(test), "--output", str(tmp_path / name), "--model", name,
                         "--base-url", server.base_url]) == 0
        assert main(["report", str(tmp_path / "gpt"), str(tmp_path / "plain"), "--output", str(tmp_path / "report"),
                     "--no-chart"]) == 0
        assert main(["judge", str(tmp_path / "gpt" / "predictions.jsonl"), "--output", str(tmp_path / "judge"),
                     "--model", "judge", "--base-url", server.base_url]) == 0
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| gpt | **" in table and "| plain |" in table
    cehs = json.loads((tmp_path / "judge" / "cehs.json").read_text())
    assert cehs["systems"]["gpt"] == {"items": 4, "content": 2.0, "empathy": 1.0, "helpfulness": 1.0, "safety": 1.0}

    predictions = [str(tmp_path / n / "predictions.jsonl") for n in ("gpt", "plain")]
    assert main(["cehs", "export", *predictions, "--output", str(tmp_path / "kit"), "--items", "3"]) == 0
    key = json.loads((tmp_path / "kit.key.json").read_text())
    assert len(key["items"]) == 6
    sheets = [str(tmp_path / "kit" / f"annotator_{k}.csv") for k in (1, 2, 3)]
    capsys.readouterr()
    assert main(["cehs", "import", *sheets, "--key", str(tmp_path / "kit.key.json"), "--output", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "annotator_1.csv row 2 (R0001): content is empty"
    for sheet in sheets:
        path = Path(sheet)
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        filled = [lines[0]] + [line.replace(",,,,,", ",2,2,1,1,") for line in lines[1:]]
        path.write_text("\n".join(filled) + "\n", encoding="utf-8-sig")
    assert main(["cehs", "import", *sheets, "--key", str(tmp_path / "kit.key.json"), "--output", str(tmp_path)]) == 0
    human = json.loads((tmp_path / "cehs_human.json").read_text())
    assert human["models"]["gpt"]["empathy"] == 2.0 and human["kappa"]["safety"] == 1.0
