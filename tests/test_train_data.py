"""Training data: loading, the paper's expansion, labels built once (cached), length grouping, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soulchat import testing
from soulchat.train.collator import IGNORE_INDEX, encode_example
from soulchat.train import DataArguments
from soulchat.train.batching import LengthGroupedSampler, pad_fraction
from soulchat.train.data import (
    build_datasets,
    load_split,
    split_for_eval,
    tokenize_dataset,
)

DIALOGUE = {
    "id": 7,
    "topic": "情绪",
    "messages": [
        {"role": "user", "content": "我最近睡不着觉。"},
        {"role": "assistant", "content": "我在听，睡不着一定很累吧。"},
        {"role": "user", "content": "是的，很烦。"},
        {"role": "assistant", "content": "嗯，想说说是什么让你烦吗？"},
    ],
}


@pytest.fixture(scope="module")
def tokenizer():
    return testing.train_tokenizer()


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_dialogues_are_expanded_into_one_sample_per_psychologist_turn(tokenizer, tmp_path, sample_dialogues):
    data = DataArguments(dataset=str(write_jsonl(tmp_path / "d.jsonl", [DIALOGUE])))
    train, _ = build_datasets(tokenizer, "soulchat", data)
    assert len(train) == 2
    for row, (history, query, target) in zip(train, [
        ([], "我最近睡不着觉。", "我在听，睡不着一定很累吧。"),
        ([("我最近睡不着觉。", "我在听，睡不着一定很累吧。")], "是的，很烦。", "嗯，想说说是什么让你烦吗？"),
    ]):
        from soulchat.dialogue import render_input

        expected = encode_example({"input": render_input(history, query), "target": target}, tokenizer)
        assert row["input_ids"] == expected["input_ids"] and row["labels"] == expected["labels"]
        assert row["length"] == len(expected["input_ids"])

    bundled, _ = build_datasets(tokenizer, "soulchat", DataArguments(dataset="sample", max_source_length=4096))
    assert len(bundled) == sum(d.rounds for d in sample_dialogues)


def test_sample_rows_and_message_rows_are_not_expanded(tokenizer, tmp_path):
    samples = [{"input": "用户：我好累\n心理咨询师：", "target": "我在听。"}]
    data = DataArguments(dataset=str(write_jsonl(tmp_path / "s.jsonl", samples)))
    assert len(build_datasets(tokenizer, "soulchat", data)[0]) == 1
    messages = [dict(DIALOGUE, dialogue_id=7)]  # a `messages`-config row: one sample ending with its target
    data = DataArguments(dataset=str(write_jsonl(tmp_path / "m.jsonl", messages)))
    (row,) = build_datasets(tokenizer, "soulchat", data)[0]
    trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == "嗯，想说说是什么让你烦吗？" + tokenizer.eos_token


def test_a_corpus_folder_loads_by_config_and_split(tokenizer, tmp_path):
    corpus = tmp_path / "corpus"
    write_jsonl(corpus / "samples" / "train.jsonl", [
        {"id": i, "dialogue_id": i // 2, "turn": i % 2, "topic": "情绪", "input": "用户：我好累\n心理咨询师：", "target": "我在听。" * (i + 1)}
        for i in range(6)
    ])
    write_jsonl(corpus / "samples" / "test.jsonl", [
        {"id": 9, "dialogue_id": 9, "turn": 0, "topic": "情绪", "input": "用户：嗯\n心理咨询师：", "target": "好"}
    ])
    write_jsonl(corpus / "dialogues" / "train.jsonl", [DIALOGUE])
    (corpus / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: samples\n  data_files:\n  - split: train\n    path: samples/train.jsonl\n"
        "  - split: test\n    path: samples/test.jsonl\n"
        "- config_name: dialogues\n  data_files:\n  - split: train\n    path: dialogues/train.jsonl\n"
        "---\n# corpus\n"
    )
    data = DataArguments(dataset=str(corpus), eval_split="test")
    train, evaluation = build_datasets(tokenizer, "soulchat", data)
    assert (len(train), len(evaluation)) == (6, 1)
    assert len(load_split(DataArguments(dataset=str(corpus), dataset_config="dialogues"), "train")) == 1
    # held out by dialogue: rows of one dialogue never land on both sides
    rows = load_split(DataArguments(dataset=str(corpus)), "train")
    kept, held = split_for_eval(rows, 2, seed=0)
    assert len(held) == 2 and not set(kept["dialogue_id"]) & set(held["dialogue_id"])


def test_labels_are_built_once_and_cached(tokenizer, tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", [DIALOGUE] * 3)
    data = DataArguments(dataset=str(source), preprocessing_num_workers=2)
    first = tokenize_dataset(load_split(data, "train"), tokenizer, "soulchat", data)
    second = tokenize_dataset(load_split(data, "train"), tokenizer, "soulchat", data)
    assert first.cache_files and first.cache_files == second.cache_files
    assert first["input_ids"] == second["input_ids"] and len(first) == 6


def test_length_grouping_pads_less_and_keeps_its_order_per_epoch(tokenizer):
    train, _ = build_datasets(tokenizer, "soulchat", DataArguments(dataset="sample"))
    lengths = train["length"]
    sampler = LengthGroupedSampler(lengths, batch_size=8, seed=1)
    grouped = list(sampler)
    assert sorted(grouped) == list(range(len(lengths)))
    assert list(LengthGroupedSampler(lengths, batch_size=8, seed=1)) == grouped  # a resumed run
    sampler.set_epoch(1)
    assert list(sampler) != grouped
    import random

    shuffled = random.Random(0).sample(range(len(lengths)), len(lengths))
    assert pad_fraction(lengths, grouped, 8) < 0.05 < pad_fraction(lengths, shuffled, 8)
    assert pad_fraction([3, 1, 2, 2], [0, 1, 2, 3], 2) == pytest.approx(1 - 8 / 10)


def test_train_command_runs_a_recipe_and_resumes(tmp_path, capsys):
    from soulchat.cli import main

    recipe = Path(__file__).resolve().parents[1] / "recipes/tiny-cpu/lora.yaml"
    common = ["train", "--config", str(recipe), "--output", str(tmp_path), "--max_train_samples", "8",
              "--eval_size", "0", "--eval_strategy", "no", "--save_steps", "2", "--disable_tqdm", "true"]
    assert main(common + ["--max-steps", "2"]) == 0
    assert json.loads((tmp_path / "train_summary.json").read_text())["global_step"] == 2
    assert (tmp_path / "adapter_model.safetensors").exists()
    assert main(common + ["--max-steps", "3"]) == 0
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["global_step"] == 3 and summary["resumed_from"].endswith("checkpoint-2")
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("warmup_ratio: 0.1\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "warmup_ratio" in capsys.readouterr().err


def test_mask_all_is_passed_through_to_the_collator(tokenizer, tmp_path):
    from soulchat.templates import TemplateError

    source = str(write_jsonl(tmp_path / "d.jsonl", [DIALOGUE]))
    data = DataArguments(dataset=source, mask="all")
    (row,) = build_datasets(tokenizer, "native", data)[0]  # one sequence for the whole dialogue
    trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE_INDEX]
    text = tokenizer.decode(trained)
    assert "我在听，睡不着一定很累吧。" in text and "嗯，想说说是什么让你烦吗？" in text
    assert "我最近睡不着觉" not in text
    with pytest.raises(TemplateError, match="prefix-consistent"):
        build_datasets(tokenizer, "soulchat", data)


def test_bad_records_name_file_and_line_or_go_to_rejects(tokenizer, tmp_path):
    """The reader of build and validate: same errors, and --skip-invalid keeps the good rows."""
    from soulchat.io import InputError

    source = tmp_path / "d.jsonl"
    source.write_text(
        json.dumps(DIALOGUE, ensure_ascii=False) + "\n{oops\n"
        + json.dumps({"messages": [{"role": "assistant", "content": "你好"}]}, ensure_ascii=False) + "\n"
        + json.dumps({"input": "用户：嗯\n心理咨询师：", "target": "好"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"d\.jsonl:2: broken JSON"):
        build_datasets(tokenizer, "soulchat", DataArguments(dataset=str(source)))
    rejects = tmp_path / "out" / "rejects.jsonl"
    train, _ = build_datasets(tokenizer, "soulchat", DataArguments(dataset=str(source), skip_invalid=True), rejects=rejects)
    assert len(train) == 2  # the one good dialogue, two psychologist turns
    reasons = [(r["line"], r["reason"]) for r in map(json.loads, rejects.read_text(encoding="utf-8").splitlines())]
    assert [line for line, _ in reasons] == [2, 3, 4]
    assert "does not start with a user turn" in reasons[1][1] and "a record with keys ['input', 'target']" in reasons[2][1]


def test_smile_roles_are_read_as_user_and_assistant(tokenizer, tmp_path):
    smile = [[{"role": "client", "content": "我好累"}, {"role": "counselor", "content": "辛苦了，我在听。"}]]
    train, _ = build_datasets(tokenizer, "soulchat", DataArguments(dataset=str(write_jsonl(tmp_path / "s.jsonl", smile))))
    assert len(train) == 1
