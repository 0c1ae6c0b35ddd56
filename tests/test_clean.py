"""Parse/validate/clean on real-looking Chinese rewrites, with a hand-written result log."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from soulchat.clean import (
    CleanConfig,
    Cleaner,
    iter_candidates,
    scrub_privacy,
    self_reference,
)
from soulchat.clean.dedup import NearDuplicateIndex

USER_LINES = [
    "最近总是睡不着，一闭眼就想到工作上的事。",
    "领导上周当着全组的面批评了我，我到现在都抬不起头。",
    "我是组里最年轻的，总觉得大家都在看我笑话。",
    "其实我也想过换工作，可又怕下一份工作更糟。",
    "我妈一直说要稳定，让我忍一忍就过去了。",
    "可是我每天早上到公司楼下就开始心慌。",
    "周末也不想出门，就躺着刷手机。",
    "你这么说我好像轻松了一点。",
    "那我可以先从哪里开始呢？",
]
PSY_LINES = [
    "听起来这段时间你被工作的事压得喘不过气，连睡觉都不得安宁，一定很累吧。",
    "当众被批评确实让人难堪，那种被所有人看着的感觉会在心里停留很久。",
    "作为组里最年轻的人，你很在意别人的眼光，这份在意也说明你很认真。",
    "想离开又担心更糟，这种两难很常见，你愿意说说最担心的是什么吗？",
    "妈妈希望你稳定，你却每天都很难受，夹在中间一定不好受。",
    "身体的心慌是在提醒你，压力已经很大了，它值得被认真对待。",
    "周末只想躺着，也许是你太累了，需要先让自己缓一缓。",
    "能感觉到一点轻松很好，这说明你已经在慢慢整理自己的感受了。",
    "可以先从每天记录一件让你心慌的小事开始，我们再一起看看它背后的想法。",
]


def rewrite_text(rounds: int = 9, *, psychologist_say: dict[int, str] | None = None, user_say=None) -> str:
    lines = ["分析：用户的核心困扰是工作压力和失眠。", "改写后的对话："]
    for i in range(rounds):
        lines.append("用户：" + (user_say or {}).get(i, USER_LINES[i % 9]))
        lines.append("心理咨询师：" + (psychologist_say or {}).get(i, PSY_LINES[i % 9]))
    return "\n".join(lines)


def result(key: str, text: str | None, *, status="ok", finish_reason="stop", topic="职场", error=None) -> dict:
    return {
        "key": key, "status": status,
        "row": {"source": "psyqa.jsonl", "line": 1, "question_id": 7, "answer_index": 0, "topic": topic,
                "single_turn": "用户：…\n心理咨询师：…"},
        "prompt": "soulchat", "prompt_version": "soulchat-zh-v1", "requested_model": "gpt-3.5-turbo",
        "model": "gpt-3.5-turbo-0613" if status == "ok" else None, "text": text,
        "finish_reason": finish_reason if status == "ok" else None, "usage": None, "latency_s": 1.0,
        "error": error, "time": "2026-11-25T00:00:00Z",
    }


def write_log(folder, records, torn_tail: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.jsonl", "w", encoding="utf-8") as stream:
        stream.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        stream.write(torn_tail)


def never_flagged(text):
    return SimpleNamespace(flagged=False, category=None, spans=[])


def keyword_detector(text):
    hit = "不想活" in text or "自杀" in text
    return SimpleNamespace(flagged=hit, category="suicide" if hit else None, spans=[])


def run(folder, tmp_path, config=None, detector=keyword_detector):
    cleaner = Cleaner(config or CleanConfig(), work_dir=tmp_path / "work", crisis_detector=detector)
    outcomes = [cleaner.clean(c) for c in iter_candidates([folder])]
    cleaner.close()
    return cleaner.report, outcomes


def test_the_cleaner_discards_its_own_work_files(tmp_path):
    with Cleaner(CleanConfig(), work_dir=tmp_path / "done", crisis_detector=never_flagged) as cleaner:
        assert all(path.is_file() for path in cleaner.work_files) and len(cleaner.work_files) == 2
    assert list((tmp_path / "done").iterdir()) == []
    cleaner.close()  # a second close does nothing
    # an exception inside the block leaves them, to look at
    with pytest.raises(RuntimeError):
        with Cleaner(CleanConfig(), work_dir=tmp_path / "crashed", crisis_detector=never_flagged):
            raise RuntimeError("killed")
    assert sorted(p.name for p in (tmp_path / "crashed").iterdir()) == ["dedup-ids.txt", "signatures.bin"]


# ----------------------------------------------------------------------- rules
@pytest.mark.parametrize(
    "text, rule",
    [
        ("我是一个AI，没有办法真正体会你的感受。", "ai_self_reference"),
        ("作为一个人工智能语言模型，我建议你寻求专业帮助。", "ai_self_reference"),
        ("我只是一个程序，但我愿意听你说。", "ai_self_reference"),
        ("我是一名心理咨询师，从业十年了。", "persona_claim"),
        ("我是王老师，你可以慢慢说。", "persona_claim"),
        ("我是真的很想听听你的想法。", None),
        ("我能理解你现在的心情。", None),
    ],
)
def test_self_reference_rule(text, rule):
    hit = self_reference(text)
    assert (hit[0] if hit else None) == rule


def test_privacy_scrubbing_replaces_each_kind_and_counts():
    counts: dict[str, int] = {}
    text = (
        "我的手机号是13812345678，备用 +86 139-1234-5678，身份证110101199003074514，"
        "邮箱 zhang.san@163.com，QQ：123456789，微信号：abc_12345，"
        "银行卡 6222 0212 3456 7890 123，住在北京市朝阳区建国路88号2单元301室，之前住阳光花园3栋2单元。"
    )
    assert scrub_privacy(text, counts) == (
        "我的手机号是[手机号]，备用 [手机号]，身份证[身份证号]，邮箱 [邮箱]，QQ：[QQ号]，微信号：[微信号]，"
        "银行卡 [银行卡号]，住在北京市朝阳区[地址]，之前住[地址]。"
    )
    assert counts == {"mobile": 2, "id_card": 1, "email": 1, "qq": 1, "wechat": 1, "bank_card": 1, "address": 2}


@pytest.mark.parametrize("text, expected", [
    ("我手机１３８１２３４５６７８，晚上打", "我手机[手机号]，晚上打"),
    ("电话：１３９　８２０８　８１７９。", "电话：[手机号]。"),
    ("企鹅号123456789", "企鹅号[QQ号]"),
    ("加我企鹅：123456789！", "加我企鹅：[QQ号]！"),
    ("Q号 1357527604", "Q号 [QQ号]"),
    ("加Q 4254314988", "加Q [QQ号]"),
    ("ＱＱ：４４５７４３１７７６", "ＱＱ：[QQ号]"),
    ("q q：912917073", "q q：[QQ号]"),
    ("v信 ou3ejohjz38", "v信 [微信号]"),
    ("加我V信yj_yx3c90", "加我V信[微信号]"),
    ("薇信：ez175u55m8", "薇信：[微信号]"),
    ("威信 o29jcl6x", "威信 [微信号]"),
    ("微 信：wmgllh8kysgp", "微 信：[微信号]"),
    ("ｖｘ：ｙｑｒｈｗ６８ｅａ", "ｖｘ：[微信号]"),
    ("发我邮箱6108264150＠qq.com", "发我邮箱[邮箱]"),
    ("手机133.7245.3250", "手机[手机号]"),
])
def test_privacy_scrubbing_reads_full_width_and_evasive_spellings(text, expected):
    assert scrub_privacy(text) == expected


@pytest.mark.parametrize("text", [
    "我IQ测试得了130分，Q1季度的业绩是12345元。",
    "我在QQ音乐听歌，也很喜欢企鹅，微信群里有200人，微信上聊了12345句。",
    "加vip会员花了128元，我的vlog播放了45678次，box 12345。",
    "请拨打全国心理援助热线 12356，或 010-82951332、400-161-9995、800-810-1117；紧急请打 110 或 120。",
    "今年２０２４年，我２３岁，每天睡６个小时：这样下去怎么办？",
])
def test_privacy_scrubbing_leaves_look_alikes_and_hotlines(text):
    assert scrub_privacy(text) == text


def test_privacy_scrubbing_leaves_ordinary_numbers():
    text = "我今年23岁，高三，每天学习12个小时，已经坚持了100天，离高考还有2025年6月7日。"
    assert scrub_privacy(text) == text


# ------------------------------------------------------------------- pipeline
def test_each_rule_counts_once_and_rejects_keep_reasons(tmp_path):
    log = tmp_path / "rewrite"
    ai = rewrite_text(psychologist_say={3: "我是一个AI，不能替代专业的心理咨询，但我愿意陪你聊聊。"})
    user_says_i_am = rewrite_text(user_say={0: "我是一名高三学生，最近总是睡不着。"})  # kept: users may say 我是
    crisis = rewrite_text(user_say={5: "有时候我真的不想活了。"})
    leaked = rewrite_text(psychologist_say={2: "我明白。用户：那我该怎么办？"})
    short = rewrite_text(rounds=5)
    records = [
        result("k-good", rewrite_text()),
        result("k-ai", ai),
        result("k-user-i-am", user_says_i_am),
        result("k-crisis", crisis),
        result("k-length", rewrite_text(), finish_reason="length"),
        result("k-leak", leaked),
        result("k-short", short),
        result("k-dup", rewrite_text()),
        result("k-fail", None, status="error", error="500 Internal Server Error"),
        result("k-garbage", "抱歉，我无法完成这个请求。"),
    ]
    write_log(log, records, torn_tail='{"key": "k-torn", "status": "o')
    # exact only: the variants below differ from k-good in one turn, near duplicates by design
    report, outcomes = run(log, tmp_path, CleanConfig(dedup="exact", crisis_policy="drop"))
    by_id = {o.candidate.id: o for o in outcomes}
    assert sorted(by_id) == sorted(r["key"] for r in records)  # the torn line is nothing at all
    assert report.kept == 2 and by_id["k-good"].kept and by_id["k-user-i-am"].kept
    assert dict(report.rejected) == {
        "ai_self_reference": 1, "crisis": 1, "finish_reason": 1, "leaked_role_label": 1,
        "too_few_rounds": 1, "exact_duplicate": 1, "request_failed": 1, "unparsable": 1,
    }
    assert report.low_quality == 7
    assert report.summary() == (
        "removed 7 low-quality dialogues (77.8% of 9 dialogues); kept 2; 1 requests produced no dialogue"
    )
    assert by_id["k-ai"].details == ["turn 8 (psychologist) says '我是一个AI'"]
    assert by_id["k-dup"].details == ["exact duplicate of dialogue k-good (similarity 1.0)"]
    assert by_id["k-short"].details == ["has 5 rounds, fewer than the minimum 8"]
    record = by_id["k-crisis"].reject_record()
    assert record["reason"] == "crisis" and record["details"] == ["turn 11 (user) flagged as suicide"]
    assert record["origin"]["key"] == "k-crisis" and record["messages"][10]["content"] == "有时候我真的不想活了。"


def test_last_ok_line_of_a_key_wins_and_failed_keys_are_counted(tmp_path):
    log = tmp_path / "rewrite"
    write_log(log, [
        result("a", None, status="error", error="timeout"),
        result("a", rewrite_text(rounds=8)),
        result("b", rewrite_text(rounds=10)),
        result("b", None, status="error", error="429"),  # a later failure does not undo an ok
        result("c", None, status="error", error="timeout"),
        result("c", None, status="error", error="500"),
    ])
    report, outcomes = run(log, tmp_path, CleanConfig(dedup="off"))
    assert [(o.candidate.id, o.reason) for o in outcomes] == [("a", None), ("b", None), ("c", "request_failed")]
    assert outcomes[2].details == ["500"]
    assert [o.dialogue.rounds for o in outcomes[:2]] == [8, 10]


def test_repairs_trailing_user_and_empty_final_label(tmp_path):
    log = tmp_path / "rewrite"
    write_log(log, [result("x", rewrite_text() + "\n用户：谢谢你。\n心理咨询师：")])
    report, (outcome,) = run(log, tmp_path)
    assert outcome.kept and outcome.dialogue.turns[-1].content == PSY_LINES[8]
    assert dict(report.repaired) == {"trimmed_empty_final_turn": 1, "trimmed_trailing_user_turn": 1}


def test_crisis_keep_and_tag_policy(tmp_path):
    log = tmp_path / "rewrite"
    write_log(log, [result("c", rewrite_text(user_say={5: "有时候我真的不想活了。"}))])
    report, (outcome,) = run(log, tmp_path, CleanConfig(crisis_policy="tag"))
    assert outcome.kept and outcome.tags == ["crisis:suicide"] and dict(report.tagged) == {"crisis:suicide": 1}


def test_privacy_is_scrubbed_in_kept_dialogues(tmp_path):
    log = tmp_path / "rewrite"
    write_log(log, [result("p", rewrite_text(user_say={4: "你可以打我电话13812345678聊聊吗？"}))])
    report, (outcome,) = run(log, tmp_path)
    assert outcome.dialogue.turns[8].content == "你可以打我电话[手机号]聊聊吗？"
    assert dict(report.scrubbed) == {"mobile": 1}


def test_round_limits_are_configurable(tmp_path):
    log = tmp_path / "rewrite"
    write_log(log, [result("s", rewrite_text(rounds=5))])
    assert run(log, tmp_path, CleanConfig(min_rounds=4))[0].kept == 1
    assert run(log, tmp_path / "again", CleanConfig(min_rounds=8, max_rounds=20))[0].kept == 0


def test_near_duplicates_are_caught_without_all_pairs(tmp_path):
    index = NearDuplicateIndex(tmp_path / "sig.bin", threshold=0.8)
    base = rewrite_text()
    assert index.check_and_add(base) is None
    assert index.check_and_add(rewrite_text(user_say={0: "最近老是睡不着，一闭眼就想到工作。"}))[0] == "near_duplicate"
    assert index.check_and_add(base.replace("。", "！"))[0] == "exact_duplicate"  # punctuation is normalized away
    other = "\n".join(f"用户：第{i}个完全不同的问题关于学习和考试的焦虑\n心理咨询师：我们聊聊考试{i}" for i in range(8))
    assert index.check_and_add(other) is None
    index.close()


def test_multi_turn_files_are_accepted_directly(tmp_path):
    smile = tmp_path / "smile.jsonl"
    lines = [[{"role": "client", "content": u}, {"role": "counselor", "content": p}] for u, p in zip(USER_LINES, PSY_LINES)]
    flat = [m for pair in lines for m in pair]
    smile.write_text(json.dumps(flat, ensure_ascii=False) + "\n" + json.dumps(flat[:4], ensure_ascii=False) + "\n")
    report, outcomes = run(smile, tmp_path, detector=never_flagged)
    assert [o.candidate.id for o in outcomes] == ["1", "2"]
    assert [o.reason for o in outcomes] == [None, None]  # round limits are for rewrites unless asked
    report, outcomes = run(smile, tmp_path / "b", CleanConfig(rounds_for_files=True), detector=never_flagged)
    assert [o.reason for o in outcomes] == [None, "too_few_rounds"]


def test_key_index_first_writer_wins_across_flushes():
    from soulchat.clean.dedup import KeyIndex

    index = KeyIndex(buffer_size=4)
    for row, key in enumerate([40, 10, 30, 20, 50, 10]):
        index.add(key, row)
    assert len(index) == 5 and index.get(10) == 1 and index.get(50) == 4 and index.get(60) is None
    assert index.get_many([20, 60, 50, 40]) == [3, None, 4, 0]


def test_default_crisis_detector_is_the_rule_layer_unless_asked(tmp_path):
    from soulchat.clean.pipeline import default_crisis_detector

    # the crisis model flags this; the rules do not (see docs/safety.md, the crisis model)
    text = "想找个没人的地方一直走下去"
    from soulchat import safety

    assert safety.assess(text).flagged and not safety.assess(text, model=False).flagged
    assert not default_crisis_detector()(text).flagged
    assert default_crisis_detector(model=True)(text).flagged
    assert Cleaner(CleanConfig(crisis_model=True, dedup="off"), work_dir=tmp_path).detector(text).flagged
