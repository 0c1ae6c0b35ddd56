"""SoulChatCorpus folders: load_dataset round trips, splits, rejects, card, resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml

from soulchat.bundled import SAMPLE_DIALOGUES
from soulchat.clean import CleanConfig
from soulchat.corpus import BuildConfig, build_corpus, find_cjk_font
from soulchat.corpus import figures as figures_module
from soulchat.evaluation.metrics import METRICS as PAPER_METRICS

from test_clean import result, rewrite_text, write_log


def quiet(text):
    return SimpleNamespace(flagged=False, category=None, spans=[])


SAMPLE_BUILD = BuildConfig(test_size=50, validation_size=30, max_split_fraction=0.5, plots=False, shard_rows=100)


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory):
    output = tmp_path_factory.mktemp("corpus")
    summary = build_corpus(
        [SAMPLE_DIALOGUES], output, crisis_detector=quiet,
        build_config=SAMPLE_BUILD,
    )
    return output, summary


def load(folder, name, tmp_path):
    import datasets

    return datasets.load_dataset(str(folder), name, cache_dir=str(tmp_path / "cache"))


def test_sample_builds_with_paper_shapes_and_exact_counts(sample_corpus, sample_dialogues):
    output, summary = sample_corpus
    assert summary["report"]["read"] == 60 and summary["report"]["kept"] == 60
    total = sum(d.rounds for d in sample_dialogues)
    assert total == 407
    assert sum(summary["splits"]["samples"].values()) == total == sum(summary["splits"]["messages"].values())
    assert sum(summary["splits"]["dialogues"].values()) == 60
    assert summary["splits"]["samples"]["test"] >= 50 and summary["splits"]["samples"]["test"] < 50 + 11
    assert sorted((output / "data" / "samples").iterdir())[0].name == "test-00000.jsonl"
    assert (output / "data" / "samples" / "train-00003.jsonl").is_file()  # 100-row shards


@pytest.mark.parametrize("name", ["dialogues", "samples", "messages"])
def test_load_dataset_round_trip(sample_corpus, sample_dialogues, tmp_path, name, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    output, summary = sample_corpus
    loaded = load(output, name, tmp_path)
    assert {s: loaded[s].num_rows for s in loaded} == summary["splits"][name]
    originals = {str(d.id): d for d in sample_dialogues}
    if name == "dialogues":
        row = next(r for r in loaded["train"] if r["id"] == next(iter(r2["id"] for r2 in loaded["train"])))
        original = originals[row["id"]]
        assert row["messages"] == original.to_messages() and row["topic"] == original.topic and row["tags"] == []
    elif name == "samples":
        row = loaded["test"][0]
        dialogue = originals[row["dialogue_id"]]
        assert row["id"] == f"{row['dialogue_id']}-{row['turn']}"
        assert {"input": row["input"], "target": row["target"]} == dialogue.samples()[row["turn"] - 1]
    else:
        row = loaded["validation"][0]
        dialogue = originals[row["dialogue_id"]]
        assert row["messages"] == dialogue.to_messages()[: 2 * row["turn"]]
        assert row["messages"][-1]["role"] == "assistant"


def test_splits_are_disjoint_by_dialogue(sample_corpus, tmp_path):
    output, _ = sample_corpus
    samples = load(output, "samples", tmp_path)
    owners = [set(samples[s]["dialogue_id"]) for s in ("train", "validation", "test")]
    assert not (owners[0] & owners[1]) and not (owners[0] & owners[2]) and not (owners[1] & owners[2])
    dialogues = load(output, "dialogues", tmp_path)
    assert [set(dialogues[s]["id"]) for s in ("train", "validation", "test")] == owners


def test_card_renders_and_its_yaml_parses(sample_corpus):
    output, _ = sample_corpus
    text = (output / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n")[1])
    assert [c["config_name"] for c in front["configs"]] == ["dialogues", "samples", "messages"]
    assert front["license"] == "apache-2.0" and front["language"] == ["zh"]
    assert "removed 0 low-quality dialogues (0.0% of 60 dialogues); kept 60" in text
    assert "| 家庭 | Family | 8 | 56 | 13.8% |" in text
    assert "chen-etal-2023-soulchat" in text and "## Ethics statement" in text
    stats = json.loads((output / "statistics.json").read_text())
    assert stats["rounds_per_dialogue"] == {"count": 60, "min": 4, "mean": 6.8, "p50": 7, "p95": 10, "max": 10}


def test_rebuild_is_a_no_op_and_deterministic(sample_corpus, tmp_path):
    output, summary = sample_corpus
    before = (output / "data" / "samples" / "test-00000.jsonl").read_bytes()
    again = build_corpus([SAMPLE_DIALOGUES], output, crisis_detector=quiet,
                         build_config=SAMPLE_BUILD)
    assert again["splits"] == summary["splits"]
    fresh = build_corpus([SAMPLE_DIALOGUES], tmp_path / "fresh", crisis_detector=quiet,
                         build_config=SAMPLE_BUILD)
    assert (tmp_path / "fresh" / "data" / "samples" / "test-00000.jsonl").read_bytes() == before
    assert fresh["splits"] == summary["splits"]


def test_resume_after_the_clean_pass_does_not_clean_again(tmp_path, monkeypatch):
    import soulchat.corpus.build as build_module

    config = BuildConfig(test_size=0.1, validation_size=0, plots=False)

    def crash(record):
        raise KeyboardInterrupt("killed while writing shards")

    monkeypatch.setattr(build_module, "corpus_rows", crash)
    with pytest.raises(KeyboardInterrupt):
        build_corpus([SAMPLE_DIALOGUES], tmp_path / "c", crisis_detector=quiet, build_config=config)
    assert (tmp_path / "c" / ".build" / "clean-done.json").is_file()
    assert not (tmp_path / "c" / "build-done.json").exists()
    # what resuming needs survives; the cleaner's own work files (duplicate index) are gone
    work = sorted(path.name for path in (tmp_path / "c" / ".build").iterdir())
    assert work == ["clean-done.json", "kept.jsonl", "split-hashes.npy", "split-samples.npy"]
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr(build_module, "_clean_pass", lambda *a, **k: calls.append(a))
    summary = build_corpus([SAMPLE_DIALOGUES], tmp_path / "c", crisis_detector=quiet, build_config=config)
    assert calls == [] and summary["report"]["kept"] == 60
    assert sum(summary["splits"]["samples"].values()) == 407 and "validation" not in summary["splits"]["samples"]
    assert not (tmp_path / "c" / "data.partial").exists() and not (tmp_path / "c" / ".build").exists()


def test_build_from_a_rewrite_log_writes_rejects_with_reasons(tmp_path):
    log = tmp_path / "rewrite"
    write_log(log, [
        result("good", rewrite_text()),
        result("ai", rewrite_text(psychologist_say={1: "作为一个AI语言模型，我无法体会你的感受。"})),
        result("cut", rewrite_text(), finish_reason="length"),
    ])
    summary = build_corpus([log], tmp_path / "corpus", crisis_detector=quiet,
                           clean_config=CleanConfig(dedup="exact"), build_config=BuildConfig(plots=False))
    rejects = [json.loads(l) for l in (tmp_path / "corpus" / "cleaning" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rejects] == [("ai", "ai_self_reference"), ("cut", "finish_reason")]
    assert rejects[0]["details"] == ["turn 4 (psychologist) says '作为一个AI'"]
    assert summary["statistics"]["prompt_versions"] == {"soulchat:soulchat-zh-v1": 1}
    assert summary["splits"]["dialogues"] == {"train": 1}
    report = json.loads((tmp_path / "corpus" / "cleaning" / "report.json").read_text())
    assert report["rejected"] == {"ai_self_reference": 1, "finish_reason": 1}
    card = (tmp_path / "corpus" / "README.md").read_text()
    assert "`soulchat:soulchat-zh-v1` (1)" in card and "| `finish_reason` | 1 |" in card


def test_figures_are_drawn_with_a_cjk_font(sample_corpus, tmp_path):
    from collections import Counter

    font = find_cjk_font()  # fonts-wqy-microhei is part of the project's setup
    drawn = figures_module.draw_figures({"家庭": 56, "情绪": 30}, Counter({"感受": 9, "理解": 5}), tmp_path / "figures")
    assert drawn == ["figures/topic_distribution.png", "figures/psychologist_wordcloud.png"]
    assert (tmp_path / "figures" / "topic_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert font.is_file()


def test_without_a_cjk_font_the_topic_chart_is_english_and_the_word_cloud_skipped(tmp_path, monkeypatch):
    from collections import Counter

    monkeypatch.setenv("SOULCHAT_CJK_FONT", str(tmp_path / "nope.ttf"))
    with pytest.warns(UserWarning, match="word cloud skipped: SOULCHAT_CJK_FONT=.*no such file"):
        drawn = figures_module.draw_figures({"家庭": 1}, Counter({"感受": 1}), tmp_path / "figures")
    assert drawn == ["figures/topic_distribution.png"]
    said = []
    figures_module.draw_figures({"家庭": 1}, Counter({"感受": 1}), tmp_path / "again", say=said.append)
    assert said == [f"warning: topic chart in English, word cloud skipped: SOULCHAT_CJK_FONT={tmp_path / 'nope.ttf'}: "
                    "no such file"]


def test_a_core_install_without_matplotlib_still_writes_a_loadable_corpus_and_report(tmp_path, monkeypatch, capsys):
    import sys

    from soulchat.cli import main

    for name in ("matplotlib", "wordcloud"):
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib` raises ImportError
    out = tmp_path / "core"
    capsys.readouterr()
    assert main(["build", str(SAMPLE_DIALOGUES), "--output", str(out), "--crisis-policy", "off",
                 "--test-size", "0.1", "--validation-size", "0"]) == 0
    assert not (out / "figures").exists() and (out / "build-done.json").is_file()
    hints = [line for line in capsys.readouterr().err.splitlines() if "matplotlib" in line]
    assert hints == ["warning: figures skipped: matplotlib is not installed (pip install 'soulchat[plots]')"]
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert load(out, "samples", tmp_path).num_rows == {"train": 365, "test": 42}

    from soulchat.evaluation.report import write_report

    said = []
    files = write_report([{"name": "m", "metrics": {k: 1.0 for k in PAPER_METRICS}, "count": 1,
                           "bleu_tokens": "char"}], tmp_path / "report", say=said.append)
    assert set(files) == {"markdown", "csv"}
    assert said == ["warning: report.png skipped: matplotlib is not installed (pip install 'soulchat[plots]')"]


def test_cli_build_and_bad_input(tmp_path, capsys):
    from soulchat.cli import main

    out = tmp_path / "cli"
    assert main(["build", str(SAMPLE_DIALOGUES), "--output", str(out), "--crisis-policy", "off", "--no-plots",
                 "--test-size", "0.1", "--validation-size", "0"]) == 0
    assert "samples    train" in capsys.readouterr().err
    assert (out / "build-done.json").is_file()
    assert main(["build", str(tmp_path / "missing"), "--output", str(out), "--crisis-policy", "off"]) == 1
    assert "missing: no such file or folder" in capsys.readouterr().err
