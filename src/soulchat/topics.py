"""The paper's 12 topics, and how every dialogue of a corpus gets one.

The first source that knows decides, and the corpus report counts which one did:

1. `input`: the record's own `topic`, when it names one of the 12 or a label of `TOPIC_LABELS`
   (English names, PsyQA / 壹心理 section names such as 恋爱, 婚姻, 人际, 成长);
2. `keywords`: the record's keywords (PsyQA's `keywords`, e.g. "婚姻,婚姻经营,出轨"): a keyword that
   is itself a label decides (PsyQA lists its section first); otherwise the keywords' cue words vote;
3. `request`: the text the rewrite was asked to turn into a dialogue (question and description of
   a single-turn record), read by the cue classifier below;
4. `dialogue`: the user turns of the dialogue itself, read by the same classifier (SMILE lists and
   other inputs without a topic);
5. `unknown`: "未知", only where none of the above finds a cue.

The classifier is offline and explainable: `TOPIC_CUES` lists, per topic, words that name the
*domain* of a problem (父母, 分手, 领导, 室友 …). A text is scanned once for the longest cue at each
position (so 男朋友 counts for 婚恋, not as 朋友 for 人际关系); each hit adds one vote, emotion words
half a vote, because nearly every counseling text is about feelings whatever its domain. The topic
with most votes wins; a tie goes to the topic mentioned first. `docs/corpus.md` has the tables and
the measured agreement on the bundled data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .bundled import TOPICS

UNKNOWN = "未知"
SOURCES = ("input", "keywords", "request", "dialogue", "unknown")

#: Labels that name a topic outright (a record's `topic`, or a keyword that is a section name).
TOPIC_LABELS: dict[str, str] = {
    **{name: name for name in TOPICS},
    **{english.lower(): name for name, english in TOPICS.items()},
    # PsyQA / 壹心理 section names and other common spellings
    "成长": "成长发展", "成长发展": "成长发展", "学业": "成长发展", "学习": "成长发展", "growth": "成长发展",
    "恋爱": "婚恋", "婚姻": "婚恋", "情感": "婚恋", "恋爱婚姻": "婚恋", "婚恋情感": "婚恋", "love": "婚恋",
    "人际": "人际关系", "人际交往": "人际关系", "社交": "人际关系", "interpersonal": "人际关系",
    "家庭关系": "家庭", "亲子": "家庭", "亲子关系": "家庭", "亲子教育": "家庭",
    "职场": "职场", "工作": "职场", "职业": "职场", "work": "职场",
    "性": "性心理", "性心理": "性心理", "性与性别": "性心理", "sexuality": "性心理",
    "自我": "自我认知", "自我成长": "自我认知", "自我探索": "自我认知", "self": "自我认知",
    "行为": "行为", "行为习惯": "行为", "成瘾": "行为", "behaviour": "行为",
    "情绪": "情绪", "情绪管理": "情绪", "心情": "情绪", "emotions": "情绪",
    "治疗": "治疗", "心理治疗": "治疗", "心理疾病": "治疗", "精神疾病": "治疗", "therapy": "治疗",
    "社会": "社会事件", "社会事件": "社会事件", "时事": "社会事件", "society": "社会事件",
    "心理学": "心理学知识", "心理学知识": "心理学知识", "心理科普": "心理学知识", "科普": "心理学知识",
}

#: Cue words per topic: words that place a problem in a domain. Longest match wins at a position.
TOPIC_CUES: dict[str, tuple[str, ...]] = {
    "家庭": ("父母", "爸爸", "妈妈", "爸妈", "父亲", "母亲", "我爸", "我妈", "家里", "家人", "家庭", "原生家庭",
             "孩子", "儿子", "女儿", "婆婆", "公公", "岳母", "婆媳", "兄弟", "姐姐", "哥哥", "弟弟", "妹妹",
             "亲戚", "奶奶", "爷爷", "外婆", "姥姥", "育儿", "亲子", "二胎", "回家", "吵架"),
    "婚恋": ("男朋友", "女朋友", "男友", "女友", "恋爱", "恋人", "暗恋", "分手", "失恋", "前任", "对象", "相亲",
             "结婚", "婚姻", "老公", "老婆", "丈夫", "妻子", "爱人", "出轨", "离婚", "婚后", "异地", "表白",
             "复合", "单身", "彩礼", "婚礼", "备胎", "感情", "催婚", "过日子"),
    "性心理": ("性生活", "性欲", "性取向", "同性恋", "双性恋", "性别认同", "自慰", "手淫", "性幻想", "性行为",
              "性冷淡", "性侵", "性骚扰", "性教育", "性功能", "跨性别", "出柜", "夫妻生活", "那方面", "难以启齿"),
    "成长发展": ("成长", "学习", "学业", "考试", "高考", "考研", "中考", "成绩", "学校", "大学", "高中", "初中",
               "高三", "高一", "毕业", "人生", "目标", "专业", "留学", "青春期", "理想", "梦想", "未来", "作业",
               "上课", "复读", "考公", "上岸", "一模", "考砸", "读书"),
    "人际关系": ("朋友", "同学", "室友", "舍友", "宿舍", "人际", "社交", "合群", "孤立", "排挤", "闺蜜", "相处",
               "讨好", "拒绝别人", "聚会", "绝交", "友谊", "圈子", "邻居", "霸凌", "没人说话", "聊得", "融入"),
    "职场": ("工作", "上班", "领导", "老板", "上司", "同事", "加班", "辞职", "离职", "跳槽", "职场", "面试",
            "求职", "找工作", "公司", "单位", "升职", "绩效", "裁员", "被裁", "失业", "职业", "事业", "工资",
            "创业", "实习", "客户", "项目", "转行", "汇报"),
    "自我认知": ("自卑", "自信", "自我", "自尊", "价值感", "认识自己", "性格", "敏感", "完美主义", "不够好",
               "讨厌自己", "外貌", "容貌", "长相", "身材", "比较", "否定自己", "配不上", "没用", "失败者", "我是谁"),
    "行为": ("拖延", "沉迷", "上瘾", "成瘾", "游戏", "刷手机", "短视频", "刷视频", "刷剧", "强迫", "反复检查",
            "来回看", "洗手", "暴食", "吃多了", "厌食", "催吐", "减肥", "熬夜", "作息", "习惯", "戒烟", "喝酒",
            "抽烟", "自律", "咬指甲", "网瘾", "控制不住"),
    "情绪": ("情绪", "焦虑", "抑郁", "难过", "伤心", "烦躁", "生气", "愤怒", "害怕", "恐惧", "压抑", "崩溃",
            "孤独", "空虚", "心情", "低落", "委屈", "痛苦", "紧张", "失眠", "睡不着", "心慌", "想哭", "哭",
            "绝望", "内疚", "后悔", "火就上来", "发脾气", "很空"),
    "治疗": ("治疗", "医生", "医院", "吃药", "药物", "服药", "确诊", "诊断", "焦虑症", "强迫症", "双相",
            "精神科", "心理咨询", "咨询师", "咨询", "复发", "住院", "停药", "副作用", "精神分裂", "心理医生",
            "看病", "就医", "病情", "挂号", "心理中心"),
    "社会事件": ("新闻", "疫情", "社会", "网暴", "热搜", "地震", "灾难", "战争", "隔离", "封控", "舆论", "时事",
               "网友", "政策", "事故", "案件", "热点", "网上", "评论区"),
    "心理学知识": ("心理学", "什么是", "是什么", "是什么意思", "原理", "理论", "效应", "概念", "科普", "弗洛伊德",
                "荣格", "防御机制", "认知行为", "依恋类型", "MBTI", "惊恐发作", "人格", "潜意识", "正常吗",
                "是不是病", "心理问题", "怎么判断", "测试", "抑郁症", "请问"),
}

#: Votes per hit of a cue (default 1): emotion words are everywhere in counseling, and family or
#: work are mentioned in passing in most stories, so those decide only when nothing else does.
CUE_WEIGHT: dict[str, float] = {
    **{cue: 0.5 for cue in TOPIC_CUES["情绪"]},
    **{cue: 0.5 for cue in ("家里", "家人", "回家", "孩子", "妈妈", "爸爸", "工作", "上班", "朋友", "人生", "未来")},
    **{cue: 2.0 for cue in ("那方面", "夫妻生活", "难以启齿", "性生活", "精神科", "确诊", "挂号", "心理咨询",
                            "咨询师", "什么是", "是什么", "怎么判断", "心理问题", "网暴", "热搜", "疫情")},
}
#: The first user turn says what brought the person here: its votes count double.
OPENING_WEIGHT = 2.0
_KEYWORD_SPLIT = re.compile(r"[,，、;；/|\s]+")


@dataclass(frozen=True)
class TopicAssignment:
    topic: str
    source: str  # one of SOURCES
    evidence: tuple[str, ...] = ()  # the label, keywords or cue words that decided


def topic_label(label: object) -> str | None:
    """One of the 12 topics when `label` names one (see TOPIC_LABELS), else None."""
    if not isinstance(label, str):
        return None
    text = label.strip()
    return TOPIC_LABELS.get(text) or TOPIC_LABELS.get(text.lower())


def split_keywords(keywords: object) -> list[str]:
    """PsyQA's "a,b,c" string (also 、，; separated) or a list of strings, as a clean list."""
    if isinstance(keywords, str):
        parts: Iterable = _KEYWORD_SPLIT.split(keywords)
    elif isinstance(keywords, (list, tuple)):
        parts = (k for k in keywords if isinstance(k, str))
    else:
        return []
    return [p.strip() for p in parts if p and p.strip()]


@lru_cache(maxsize=1)
def _cue_pattern() -> tuple[re.Pattern, dict[str, str]]:
    owner = {cue: topic for topic, cues in TOPIC_CUES.items() for cue in cues}
    alternatives = sorted(owner, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, alternatives))), owner


def cue_votes(texts: str | list[str]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """(votes per topic, cue words found per topic) of a text, or of a dialogue's user turns
    (a list: the first one, the opening, weighs OPENING_WEIGHT)."""
    pattern, owner = _cue_pattern()
    votes: dict[str, float] = {}
    found: dict[str, list[str]] = {}
    texts = [texts] if isinstance(texts, str) else texts
    for index, text in enumerate(texts):
        weight = OPENING_WEIGHT if index == 0 and len(texts) > 1 else 1.0
        for match in pattern.finditer(text):
            topic = owner[match.group()]
            votes[topic] = votes.get(topic, 0.0) + weight * CUE_WEIGHT.get(match.group(), 1.0)
            found.setdefault(topic, []).append(match.group())
    return votes, found


def classify_text(text: str | list[str]) -> tuple[str, tuple[str, ...]] | None:
    """(topic, cue words) by the cue vote, or None when the text holds no cue.

    Ties go to the topic whose first cue comes earliest (dicts keep first-hit order)."""
    votes, found = cue_votes(text)
    if not votes:
        return None
    best = max(votes.values())
    topic = next(t for t in votes if votes[t] == best)
    return topic, tuple(dict.fromkeys(found[topic]))


def topic_from_keywords(keywords: object) -> tuple[str, tuple[str, ...]] | None:
    """(topic, deciding keywords): a keyword that is a label decides; else the keywords' cues vote."""
    words = split_keywords(keywords)
    for word in words:
        label = topic_label(word)
        if label:
            return label, (word,)
    return classify_text("，".join(words)) if words else None


def request_question(request: str) -> str:
    """The user's part of a rewrite request `用户：{question}{description}\n心理咨询师：{answer}`: what
    the person asked about (the answer and the 心理咨询师 label would add cues of their own)."""
    question = request.split("\n心理咨询师：", 1)[0]
    return question.removeprefix("用户：")


def assign_topic(
    topic: object = None, keywords: object = None, request: str | None = None, user_text: str | None = None
) -> TopicAssignment:
    """The topic of one dialogue from what its input knows, in the order of the module docstring."""
    label = topic_label(topic)
    if label:
        return TopicAssignment(label, "input", (str(topic),))
    words = split_keywords(keywords)
    if isinstance(topic, str) and topic.strip() and topic.strip() != UNKNOWN:
        words.insert(0, topic.strip())  # a label we do not know is read as one more keyword
    for source, found in (
        ("keywords", topic_from_keywords(words)),
        ("request", classify_text(request_question(request)) if request else None),
        ("dialogue", classify_text(user_text) if user_text else None),
    ):
        if found:
            return TopicAssignment(found[0], source, found[1])
    return TopicAssignment(UNKNOWN, "unknown")


SOURCE_NAMES = {
    "input": "the input's topic",
    "keywords": "its keywords",
    "request": "the rewrite request (cue words)",
    "dialogue": "the dialogue's user turns (cue words)",
    "unknown": f"nothing known ({UNKNOWN})",
}


def describe_sources(counts: dict[str, int]) -> str:
    """'topics: 58 from the input's topic, 2 from its keywords, 0 unknown (未知)' for a summary line."""
    parts = [f"{counts.get(s, 0):,} from {SOURCE_NAMES[s]}" for s in SOURCES[:-1] if counts.get(s)]
    parts.append(f"{counts.get('unknown', 0):,} with {SOURCE_NAMES['unknown']}")
    return "topics: " + ", ".join(parts)
