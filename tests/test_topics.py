"""Topics: every dialogue gets one of the paper's 12 from what its input knows; 未知 only when nothing does."""

from __future__ import annotations

import json

import pytest

from soulchat.bundled import SAMPLE_DIALOGUES
from soulchat.clean import CleanConfig
from soulchat.corpus import BuildConfig, build_corpus
from soulchat.topics import (
    TOPICS,
    TOPIC_CUES,
    TOPIC_LABELS,
    UNKNOWN,
    assign_topic,
    classify_text,
    describe_sources,
    split_keywords,
    topic_from_keywords,
    topic_label,
)

from test_clean import result, rewrite_text, write_log
from test_corpus import quiet


def test_every_label_and_cue_points_at_one_of_the_12():
    assert set(TOPIC_LABELS.values()) == set(TOPICS) and set(TOPIC_CUES) == set(TOPICS)
    cues = [cue for words in TOPIC_CUES.values() for cue in words]
    assert len(cues) == len(set(cues)), "a cue word may belong to one topic only"


@pytest.mark.parametrize("label, topic", [
    ("家庭", "家庭"), ("Career", "职场"), ("恋爱", "婚恋"), ("婚姻", "婚恋"), ("人际", "人际关系"),
    ("成长", "成长发展"), (" 性 ", "性心理"), ("自我", "自我认知"), ("社会", "社会事件"), ("心理学", "心理学知识"),
    ("其他", None), ("", None), (3, None),
])
def test_labels_map_by_name(label, topic):
    assert topic_label(label) == topic


def test_keywords_a_section_label_decides_else_the_cues_vote():
    assert split_keywords("婚姻,婚姻经营、出轨; 信任") == ["婚姻", "婚姻经营", "出轨", "信任"]
    assert split_keywords(["父母", 3, " 内疚 "]) == ["父母", "内疚"]
    assert topic_from_keywords("婚姻,婚姻经营,出轨") == ("婚恋", ("婚姻",))
    assert topic_from_keywords("父母关系,家庭冲突,内疚") == ("家庭", ("父母", "家庭"))
    assert topic_from_keywords("") is None and topic_from_keywords(None) is None


def test_the_longest_cue_wins_and_emotion_words_weigh_half():
    assert classify_text("我男朋友最近很冷淡") == ("婚恋", ("男朋友",))  # not 朋友 → 人际关系
    assert classify_text("我很焦虑，和室友处不好") == ("人际关系", ("室友",))
    assert classify_text("我很焦虑，也很烦躁，和室友处不好")[0] == "情绪"  # 0.5 + 0.5 = 1: a tie, first mention wins
    assert classify_text("今天天气不错") is None


def test_the_opening_turn_counts_double():
    opening, later = "领导天天让我加班。", "回家以后我妈又问我对象的事，我爸也说。"
    assert classify_text(opening + later)[0] == "家庭"
    assert classify_text([opening, later])[0] == "职场"


def test_assignment_order_and_sources():
    assert assign_topic("恋爱", "父母").topic == "婚恋" and assign_topic("恋爱").source == "input"
    assert (assign_topic(None, "父母关系,内疚").topic, assign_topic(None, "父母关系").source) == ("家庭", "keywords")
    # an unknown label is read as one more keyword
    assert (assign_topic("分手后", None).topic, assign_topic("分手后", None).source) == ("婚恋", "keywords")
    by_request = assign_topic(None, None, "用户：领导总是当众批评我。\n心理咨询师：……", ["我爸妈吵架"])
    assert (by_request.topic, by_request.source, by_request.evidence) == ("职场", "request", ("领导",))
    by_dialogue = assign_topic(UNKNOWN, [], None, ["最近总是拖延，刷短视频停不下来"])
    assert (by_dialogue.topic, by_dialogue.source) == ("行为", "dialogue")
    nothing = assign_topic(None, None, None, ["嗯。"])
    assert (nothing.topic, nothing.source, nothing.evidence) == (UNKNOWN, "unknown", ())
    assert describe_sources({"input": 2, "dialogue": 1}) == (
        "topics: 2 from the input's topic, 1 from the dialogue's user turns (cue words), 0 with nothing known (未知)")


def test_a_build_assigns_topics_and_counts_their_sources(tmp_path, capsys):
    smile = tmp_path / "smile.jsonl"
    turns = ["我被裁员了，不知道怎么跟家里说。", "听起来这件事压在你心里很久了。", "嗯。", "我在听。"]
    roles = ["client", "counselor", "client", "counselor"]
    unknown = ["嗯。", "我在听。", "嗯嗯。", "慢慢说。"]
    smile.write_text("\n".join(json.dumps([{"role": r, "content": c} for r, c in zip(roles, t)], ensure_ascii=False)
                               for t in (turns, unknown)) + "\n", encoding="utf-8")
    by_keywords, by_request = result("psyqa-kw", rewrite_text(), topic=None), result("psyqa-rq", rewrite_text(), topic=None)
    by_keywords["row"].update(keywords=["恋爱", "分手"], single_turn="用户：我失恋了")
    by_request["row"].update(keywords=[], single_turn="用户：考研失败了，好迷茫")
    log = tmp_path / "rewrite"
    write_log(log, [by_keywords, by_request])
    say = []
    summary = build_corpus([log, SAMPLE_DIALOGUES, smile], tmp_path / "corpus", crisis_detector=quiet,
                           clean_config=CleanConfig(dedup="off"), build_config=BuildConfig(plots=False),
                           say=say.append)
    stats = summary["statistics"]
    assert stats["topic_sources"] == {"input": 60, "keywords": 1, "request": 1, "dialogue": 1, "unknown": 1}
    assert stats["dialogues_per_topic"][UNKNOWN] == 1
    assert "topics: 60 from the input's topic, 1 from its keywords, 1 from the rewrite request (cue words), " \
           "1 from the dialogue's user turns (cue words), 1 with nothing known (未知)" in say
    rows = {}
    for path in (tmp_path / "corpus" / "data" / "dialogues").glob("*.jsonl"):
        rows.update({r["id"]: r["topic"] for r in map(json.loads, path.read_text().splitlines())})
    assert rows["psyqa-kw"] == "婚恋" and rows["psyqa-rq"] == "成长发展"
    assert rows["smile-1"] == "职场" and rows["smile-2"] == UNKNOWN
    card = (tmp_path / "corpus" / "README.md").read_text(encoding="utf-8")
    assert "| 未知 | unknown | 1 | 2 |" in card
    assert "the input's topic 60; its keywords 1; the rewrite request (cue words) 1; " \
           "the dialogue's user turns (cue words) 1; nothing known (未知) 1." in card
    assert card.count("| 社会事件 | Social events |") == 1  # every topic is listed, empty ones too
