import pytest

from soulchat import PSYCHOLOGIST, USER, Dialogue, DialogueFormatError, Turn, parse_input, render_input
from soulchat.dialogue import PROBLEM_CODES

U, P = USER, PSYCHOLOGIST


def roles_and_contents(dialogue):
    return [(t.role, t.content) for t in dialogue.turns]


def make(*contents):
    """A dialogue alternating user/psychologist turns with these contents, user first."""
    return Dialogue([Turn(U if i % 2 == 0 else P, c) for i, c in enumerate(contents)])


# ------------------------------------------------------------------------ from_text
@pytest.mark.parametrize(
    "text",
    [
        "用户：我睡不着\n心理咨询师：听你说说",
        "用户:我睡不着\n心理咨询师:听你说说",
        "  用户 ： 我睡不着  \n  心理咨询师 ：  听你说说 ",
        "**用户**：我睡不着\n**心理咨询师**：听你说说",
        "**用户：** 我睡不着\n**心理咨询师：** 听你说说",
        "1. 用户：我睡不着\n2. 心理咨询师：听你说说",
        "1、用户：我睡不着\n2、心理咨询师：听你说说",
        "- 用户：我睡不着\n- 心理咨询师：听你说说",
        "### 用户：我睡不着\n### 心理咨询师：听你说说",
        "> **用户**: 我睡不着\n> **心理咨询师**: 听你说说",
        "**用户**：\n我睡不着\n**心理咨询师**：\n听你说说",
        "用户：我睡不着\n\n\n心理咨询师：听你说说\n",
        "求助者：我睡不着\n支持者：听你说说",
        "来访者：我睡不着\n咨询师：听你说说",
        "User: 我睡不着\nPsychologist: 听你说说",
        "client：我睡不着\nCounselor：听你说说",
        "CLIENT: 我睡不着\nCOUNSELOR: 听你说说",
    ],
)
def test_from_text_accepts_every_label_colon_and_markdown_variant(text):
    dialogue = Dialogue.from_text(text)
    assert roles_and_contents(dialogue) == [(U, "我睡不着"), (P, "听你说说")]
    assert dialogue.meta == {}


def test_from_text_joins_unlabelled_lines_to_the_current_turn():
    text = "用户：第一行\n第二行\n\n第三行\n心理咨询师：好的\n我在听"
    assert roles_and_contents(Dialogue.from_text(text)) == [
        (U, "第一行\n第二行\n第三行"),
        (P, "好的\n我在听"),
    ]


def test_from_text_drops_and_records_a_preamble():
    text = "好的，我先逐步分析。\n改写结果如下：\n\n用户：你好\n心理咨询师：你好呀"
    dialogue = Dialogue.from_text(text)
    assert roles_and_contents(dialogue) == [(U, "你好"), (P, "你好呀")]
    assert dialogue.meta["preamble"] == "好的，我先逐步分析。\n改写结果如下："


@pytest.mark.parametrize("text", ["", "   \n  ", "这是一段没有任何角色标签的文字。", "用户 我睡不着"])
def test_from_text_without_any_turn_raises_a_clear_error(text):
    with pytest.raises(DialogueFormatError, match="no turn found"):
        Dialogue.from_text(text)


def test_dialogue_format_error_is_a_value_error():
    assert issubclass(DialogueFormatError, ValueError)
    with pytest.raises(ValueError):
        Dialogue.from_text(123)


# -------------------------------------------------------------------- from_messages
def test_from_messages_reads_corpus_and_smile_roles_and_keeps_system_in_meta():
    corpus = Dialogue.from_messages(
        [
            {"role": "system", "content": "你是心理咨询师"},
            {"role": "user", "content": "我好累"},
            {"role": "assistant", "content": "辛苦了"},
        ]
    )
    assert roles_and_contents(corpus) == [(U, "我好累"), (P, "辛苦了")]
    assert corpus.meta == {"system": "你是心理咨询师"}
    smile = Dialogue.from_messages(
        [{"role": "client", "content": "我好累"}, {"role": "counselor", "content": "辛苦了"}]
    )
    assert roles_and_contents(smile) == roles_and_contents(corpus)
    legacy = Dialogue.from_messages(["求助者：我好累", "支持者：辛苦了"])
    assert roles_and_contents(legacy) == roles_and_contents(corpus)


def test_from_messages_unknown_role_names_it():
    with pytest.raises(DialogueFormatError, match="'doctor'"):
        Dialogue.from_messages([{"role": "user", "content": "a"}, {"role": "doctor", "content": "b"}])


@pytest.mark.parametrize(
    "messages, reason",
    [
        ([{"role": "user", "content": 3}], "must be a string"),
        ([{"role": "user"}], "missing 'role' or 'content'"),
        ([42], "expected an object"),
        (["随便说说"], "without a role label"),
        ([{"role": "system", "content": "x"}], "no user or psychologist message"),
    ],
)
def test_from_messages_rejects_malformed_messages(messages, reason):
    with pytest.raises(DialogueFormatError, match=reason):
        Dialogue.from_messages(messages)


def test_turn_rejects_unknown_role():
    with pytest.raises(DialogueFormatError, match="unknown turn role"):
        Turn("assistant", "hi")


# ------------------------------------------------------------------------- problems
def test_a_clean_dialogue_has_no_problems():
    dialogue = make("我好累", "辛苦了", "睡不着", "想聊聊吗")
    assert dialogue.problems(min_rounds=2, max_rounds=2) == []
    assert dialogue.validate() is dialogue


@pytest.mark.parametrize(
    "turns, problem, code",
    [
        ([(P, "你好"), (U, "嗯"), (P, "嗯")], "does not start with a user turn", "not_user_first"),
        ([(U, "你好"), (P, "嗯"), (U, "嗯")], "does not end with a psychologist turn", "not_psychologist_last"),
        ([(U, "你好"), (U, "在吗"), (P, "在")], "turns 1 and 2 are both user turns", "not_alternating"),
        ([(U, "你好"), (P, "嗯"), (P, "在")], "turns 2 and 3 are both psychologist turns", "not_alternating"),
        ([(U, "你好"), (P, "  ")], "turn 2 (psychologist) is empty", "empty_turn"),
        ([(U, "你好"), (P, "好的。用户：我也是")], "turn 2 (psychologist) contains a role label '用户：", "leaked_role_label"),
        ([(U, "你好\nPsychologist: hi"), (P, "嗯")], "turn 1 (user) contains a role label", "leaked_role_label"),
        ([], "has no turns", "empty_turn"),
    ],
)
def test_problems_are_found_and_described(turns, problem, code):
    dialogue = Dialogue([Turn(r, c) for r, c in turns])
    assert any(p.startswith(problem) for p in dialogue.problems()), dialogue.problems()
    # the code comes with the message (issue #14): rewording a message cannot change it
    assert [p.code for p in dialogue.problems() if p.startswith(problem)] == [code]
    assert code in PROBLEM_CODES
    with pytest.raises(DialogueFormatError, match="dialogue"):
        dialogue.validate()


def test_rounds_out_of_range_are_problems():
    dialogue = make("a", "b", "c", "d")
    assert dialogue.problems(min_rounds=3) == ["has 2 rounds, fewer than the minimum 3"]
    assert dialogue.problems(max_rounds=1) == ["has 2 rounds, more than the maximum 1"]
    assert [p.code for p in dialogue.problems(min_rounds=3, max_rounds=1)] == ["too_few_rounds", "too_many_rounds"]


# -------------------------------------------------------------------------- samples
def test_samples_follow_the_papers_input_formula_exactly():
    dialogue = make("u1", "p1", "u2", "p2", "u3", "p3")
    assert dialogue.samples() == [
        {"input": "用户：u1\n心理咨询师：", "target": "p1"},
        {"input": "用户：u1\n心理咨询师：p1\n用户：u2\n心理咨询师：", "target": "p2"},
        {
            "input": "用户：u1\n心理咨询师：p1\n用户：u2\n心理咨询师：p2\n用户：u3\n心理咨询师：",
            "target": "p3",
        },
    ]


def test_a_trailing_user_turn_makes_no_sample():
    assert len(make("u1", "p1", "u2").samples()) == 1
    assert make("u1").samples() == []


def test_sample_input_parses_back_to_history_and_query():
    history = [("u1", "p1\n第二行"), ("u2", "p2")]
    text = render_input(history, "u3")
    assert parse_input(text) == (history, "u3")
    with pytest.raises(DialogueFormatError):
        parse_input("用户：u1\n心理咨询师：p1")


# ----------------------------------------------------------------------- round trips
def test_text_round_trip(sample_dialogues):
    for dialogue in sample_dialogues[:10]:
        again = Dialogue.from_text(dialogue.to_text())
        assert again.turns == dialogue.turns


def test_messages_and_record_round_trip(sample_dialogues):
    for dialogue in sample_dialogues[:10]:
        assert Dialogue.from_messages(dialogue.to_messages()).turns == dialogue.turns
        again = Dialogue.from_record(dialogue.to_record())
        assert (again.id, again.topic, again.turns) == (dialogue.id, dialogue.topic, dialogue.turns)
    with_system = Dialogue.from_messages(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "p"}]
    )
    assert with_system.to_messages()[0] == {"role": "system", "content": "s"}
    assert Dialogue.from_messages(with_system.to_messages()).meta == {"system": "s"}


def test_to_text_uses_the_papers_labels():
    assert make("u", "p").to_text() == "用户：u\n心理咨询师：p"


# ----------------------------------------------------------------------- conversions
def test_history_and_messages_convert_one_way_each():
    from soulchat.dialogue import history_messages, message_rounds

    history = [("我好累", "辛苦了")]
    messages = history_messages(history, "睡不着", "想聊聊吗")
    assert messages == [{"role": "user", "content": "我好累"}, {"role": "assistant", "content": "辛苦了"},
                        {"role": "user", "content": "睡不着"}, {"role": "assistant", "content": "想聊聊吗"}]
    assert history_messages(history) == messages[:2] and history_messages(history, "睡不着") == messages[:3]
    assert message_rounds(messages) == ([("我好累", "辛苦了"), ("睡不着", "想聊聊吗")], None)
    parts = [{"role": "system", "content": "x"}, {"role": "assistant", "content": "orphan"},
             {"role": "user", "content": [{"type": "text", "text": "在"}, {"type": "text", "text": "吗"}]}]
    assert message_rounds(messages[:2] + parts) == ([("我好累", "辛苦了")], "在吗")


@pytest.mark.parametrize(
    "record, reason",
    [
        ([1], "expected an object, got list"),
        ({"prompt": "x"}, r"expected \{input, target\} or \{messages\}, got keys \['prompt'\]"),
        ({"input": "用户：累\n心理咨询师：", "target": None}, "'target' must be a non-empty string, got NoneType"),
        ({"input": "用户：累\n心理咨询师：", "target": " "}, "'target' must be a non-empty string, got empty"),
        ({"input": "用户：累\n心理咨询师："}, "'target' must be a non-empty string, got missing"),
        ({"messages": [{"role": "user", "content": "a"}]}, "must alternate"),
        ({"messages": "a"}, "'messages' must be a list"),
    ],
)
def test_one_reading_of_a_sample_record(record, reason):
    from soulchat.dialogue import exchange_from_record

    with pytest.raises(DialogueFormatError, match=reason):
        exchange_from_record(record)


def test_sample_and_messages_records_give_the_same_exchange():
    from soulchat.dialogue import exchange_from_record

    dialogue = make("我好累", "辛苦了", "睡不着", "想聊聊吗")
    (sample, last) = dialogue.samples()[-1], dialogue.exchanges()[-1]
    assert exchange_from_record(sample) == exchange_from_record({"messages": dialogue.to_messages()}) == last
    assert exchange_from_record({"input": sample["input"], "target": ""}, require_text=False)[2] == ""
