"""Reading single-turn records: both shapes, exact single-turn text, file:line errors, rejects."""

import json
from pathlib import Path

import pytest

from soulchat.bundled import SAMPLE_SINGLE_TURN
from soulchat.io import InputError
from soulchat.rewrite import ModelMix, RewriteSettings, plan_request, read_single_turn, single_turn_text


def write(path: Path, lines: list) -> Path:
    with path.open("wb") as stream:
        for line in lines:
            stream.write(line if isinstance(line, bytes) else (json.dumps(line, ensure_ascii=False) + "\n").encode())
    return path


def test_bundled_sample_gives_28_pairs():
    rows = list(read_single_turn(SAMPLE_SINGLE_TURN))
    assert len(rows) == 28
    first = json.loads(SAMPLE_SINGLE_TURN.read_text(encoding="utf-8").splitlines()[0])
    assert rows[0].single_turn == (
        f"用户：{first['question']}{first['description']}\n心理咨询师：{first['answers'][0]['answer_text']}"
    )
    assert (rows[0].line, rows[0].question_id, rows[0].answer_index, rows[0].topic) == (1, 1, 0, "家庭")
    assert [r.answer_index for r in rows if r.line == 1] == [0, 1]


def test_flat_shape_and_joining(tmp_path):
    path = write(tmp_path / "flat.jsonl", [
        {"question": "总是失眠", "description": "  每晚三点才睡着。 ", "answer": " 先别着急。 ", "topic": "情绪", "id": 7},
        {"question": "怎么办？", "answer": "慢慢来。"},
    ])
    rows = list(read_single_turn(path))
    assert [r.single_turn for r in rows] == ["用户：总是失眠。每晚三点才睡着。\n心理咨询师：先别着急。",
                                             "用户：怎么办？\n心理咨询师：慢慢来。"]
    assert [(r.question_id, r.topic, r.line) for r in rows] == [(7, "情绪", 1), (None, None, 2)]
    assert single_turn_text("我该劝吗？", "爸妈总吵架", "你很累") == "用户：我该劝吗？爸妈总吵架\n心理咨询师：你很累"


BAD = [
    {"question": "好", "answers": [{"answer_text": "好"}]},
    b'{"question": "broken", \n',
    {"answers": [{"answer_text": "无题"}]},
    {"question": "类型", "answers": [{"answer_text": 42}]},
    b'{"question": "\xff\xfe", "answer": "x"}\n',
    {"question": "空", "answer": "   "},
    ["not", "an", "object"],
    {"question": "无回答", "answers": []},
    {"question": "话题", "answer": "好", "topic": 3},
]


def test_each_bad_record_is_named_by_file_and_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", BAD)
    with pytest.raises(InputError) as caught:
        list(read_single_turn(path))
    assert str(caught.value).startswith(f"{path}:2: broken JSON (")
    rejects = []
    rows = list(read_single_turn(path, on_reject=rejects.append))
    assert [r.line for r in rows] == [1]
    assert [(r.line, r.reason) for r in rejects] == [
        (2, "broken JSON (Expecting property name enclosed in double quotes at column 1); expected one JSON object per line"),
        (3, "missing field 'question' (expected a non-empty string)"),
        (4, "'answers[0].answer_text' must be a string, got int"),
        (5, "not valid UTF-8 (invalid start byte at byte 14)"),
        (6, "'answer' is empty (expected a non-empty string)"),
        (7, "expected a JSON object with 'question' and 'answers' or 'answer', got list"),
        (8, "'answers' must be a non-empty list of {\"answer_text\": str}"),
        (9, "'topic' must be a string, got int"),
    ]
    assert all(r.path == str(path) for r in rejects)
    assert json.loads(rejects[1].raw) == BAD[2]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_single_turn(tmp_path / "nope.jsonl"))


def test_model_mix_is_deterministic_and_follows_the_shares():
    mix = ModelMix.parse("gpt-3.5-turbo=0.99,gpt-4=0.01")
    assert mix.names == ["gpt-3.5-turbo", "gpt-4"]
    picks = [mix.pick(f"问题{i}") for i in range(20000)]
    assert picks == [mix.pick(f"问题{i}") for i in range(20000)]
    assert 140 <= picks.count("gpt-4") <= 260  # 1 % of 20,000 = 200
    assert ModelMix.parse("a").pick("x") == "a"
    assert str(ModelMix.parse("a=3,b=1")) == "a=0.75,b=0.25"
    for bad in ["a=x", "a=0", "a=1,a=2", "=1", ""]:
        with pytest.raises(ValueError):
            ModelMix.parse(bad)


def test_keys_depend_on_content_model_prompt_version_and_settings():
    row = next(read_single_turn(SAMPLE_SINGLE_TURN))
    base = plan_request(row, RewriteSettings(model="m"))
    assert base.key == plan_request(row, RewriteSettings(model="m", concurrency=99)).key  # not keyed
    others = [
        plan_request(row, RewriteSettings(model="n")),
        plan_request(row, RewriteSettings(model="m", prompt="smile")),
        plan_request(row, RewriteSettings(model="m", temperature=0.5)),
        plan_request(row, RewriteSettings(model="m", max_tokens=100)),
    ]
    assert len({base.key, *(o.key for o in others)}) == 5
    assert base.body == {"model": "m", "messages": [{"role": "user", "content": RewriteSettings(model="m").prompt_template.render(row.single_turn)}]}
    assert others[3].body["max_tokens"] == 100 and others[2].body["temperature"] == 0.5
