import json

import pytest

from soulchat.io import InputError, iter_jsonl, read_dialogues

GOOD = {"id": 7, "topic": "情绪", "messages": [{"role": "user", "content": "我好累"}, {"role": "assistant", "content": "辛苦了，想说说吗？"}]}


def write_lines(path, lines):
    path.write_bytes(b"".join(line if isinstance(line, bytes) else (line + "\n").encode() for line in lines))
    return path


def test_reads_records_and_names_bad_lines(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD, ensure_ascii=False), "", "{broken"])
    reader = read_dialogues(path)
    assert next(reader).id == 7
    with pytest.raises(InputError, match=r"d\.jsonl:3: broken JSON .*expected one JSON object per line"):
        next(reader)


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"\xff\xfe not utf-8\n", "not valid UTF-8"),
        ('{"messages": "用户：你好"}', "'messages' must be a list"),
        ('{"messages": [{"role": "user", "content": 5}]}', "'content' must be a string"),
        ('{"messages": [{"role": "doctor", "content": "a"}]}', "unknown role 'doctor'"),
        ('{"messages": [{"role": "user", "content": "a"}]}', "does not end with a psychologist turn"),
        ('{"topic": 3, "messages": []}', "'topic' must be a string"),
        ('{"question": "x"}', "expected an object with 'messages'"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_each_bad_record_is_an_error_with_file_line_and_reason(tmp_path, line, reason):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD, ensure_ascii=False), line])
    with pytest.raises(InputError) as caught:
        list(read_dialogues(path))
    assert caught.value.line == 2 and reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:2: ")


def test_skipping_collects_every_reject_with_its_reason_and_loses_no_good_record(tmp_path):
    lines = [json.dumps(GOOD, ensure_ascii=False), "{broken", b"\xff\n", '{"messages": []}',
             json.dumps({**GOOD, "id": 8}, ensure_ascii=False)]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    rejects = []
    dialogues = list(read_dialogues(path, on_reject=rejects.append))
    assert [d.id for d in dialogues] == [7, 8]
    assert [(r.line, r.reason.split(" ")[0]) for r in rejects] == [(2, "broken"), (3, "not"), (4, "no")]
    assert rejects[2].raw == '{"messages": []}' and rejects[0].to_json()["path"] == str(path)


def test_a_json_array_file_and_line_numbers_as_ids(tmp_path):
    record = {k: v for k, v in GOOD.items() if k != "id"}
    path = tmp_path / "array.json"
    path.write_text(json.dumps([record, record], ensure_ascii=False))
    assert [d.id for d in read_dialogues(path)] == [1, 2]
    lines_of_lists = write_lines(tmp_path / "smile.jsonl", ['["求助者：我好累", "支持者：辛苦了"]'])
    assert list(iter_jsonl(lines_of_lists)) == [(1, ["求助者：我好累", "支持者：辛苦了"])]
    text_dump = write_lines(tmp_path / "t.jsonl", ['{"text": "改写如下：\\n用户：你好\\n心理咨询师：你好呀"}'])
    assert [d.meta for d in read_dialogues(text_dump)] == [{"preamble": "改写如下："}]


def test_round_limits_are_checked_when_asked(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD, ensure_ascii=False)])
    with pytest.raises(InputError, match="fewer than the minimum 4"):
        list(read_dialogues(path, min_rounds=4))
    assert list(iter_jsonl(path))[0][0] == 1


def test_a_torn_last_line_is_skipped_only_when_asked(tmp_path):
    from soulchat.io import iter_records

    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": 3, "tor')
    assert [r for _, r in iter_records(path, skip_torn_tail=True)] == [{"a": 1}, {"b": 2}]
    assert isinstance(list(iter_records(path))[-1][1], InputError)
    path.write_bytes(b'{"a": 1}\n{broken}\n{"c": 3}')  # a broken line with its newline is bad data
    records = [r for _, r in iter_records(path, skip_torn_tail=True)]
    assert isinstance(records[1], InputError) and records[2] == {"c": 3}
