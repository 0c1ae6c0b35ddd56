import json
import subprocess
import sys
from pathlib import Path

import pytest

from soulchat.cli import main

SUBCOMMANDS = ("demo", "samples", "validate", "templates", "rewrite", "build", "train", "eval", "report", "judge", "chat", "web")


def test_help_lists_subcommands_and_each_has_help(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0


def test_no_command_and_bad_usage_exit_2(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["samples", "--batch-size", "many"])
    assert exited.value.code == 2


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "soulchat"
    done = subprocess.run([str(script), "templates"], capture_output=True, text=True)
    assert done.returncode == 0 and "glm4" in done.stdout and "not prefix-consistent" in done.stdout


def test_samples_of_the_bundled_dialogues(tmp_path, capsys, sample_dialogues, trained_tokenizer_folder):
    assert main(["samples", "--output", str(tmp_path), "--tokenizer", trained_tokenizer_folder, "--template", "chatglm2"]) == 0
    summary = json.loads((tmp_path / "samples-summary.json").read_text())
    assert summary["dialogues"] == len(sample_dialogues)
    assert summary["samples"] == summary["encoded"] == sum(d.rounds for d in sample_dialogues)
    assert len(summary["topics"]) == 12 and summary["dropped"] == 0
    assert 0 < summary["trained_token_fraction"] < 1
    assert summary["batch"]["shape"][0] == 8
    err = capsys.readouterr().err
    assert "trained tokens" in err and "[Round 1]" in err


def test_samples_reports_rejected_lines_and_goes_on(tmp_path, capsys, trained_tokenizer_folder):
    data = tmp_path / "d.jsonl"
    good = {"messages": [{"role": "user", "content": "我好累"}, {"role": "assistant", "content": "辛苦了"}]}
    data.write_text(json.dumps(good, ensure_ascii=False) + "\n{oops\n", encoding="utf-8")
    assert main(["samples", "--data", str(data), "--output", str(tmp_path / "out"), "--tokenizer", trained_tokenizer_folder]) == 0
    assert f"rejected {data}:2: broken JSON" in capsys.readouterr().err


def test_validate_lists_problems_by_file_and_line(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"messages": [{"role": "assistant", "content": "你好"}]}\n', encoding="utf-8")
    assert main(["validate", str(data)]) == 1
    assert f"{data}:1: dialogue 1: does not start with a user turn" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err
