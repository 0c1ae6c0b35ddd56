"""Text normalization for crisis matching, with a way back to the user's own characters.

People write the same words many ways: traditional characters (想死 / 想死, 殺 / 杀), full-width
letters, and deliberate spacing or punctuation to slip past filters ("不 想 活 了", "不想.活了").
Matching runs on a normalized copy; spans are reported on the original text.

Normalization is a single `str.translate` (one pass in C), so corpora stay fast: characters are
mapped one-to-one or deleted, never expanded, which keeps the offset map trivial.
"""

from __future__ import annotations

# Traditional -> simplified for the characters that occur in crisis vocabulary and in the words
# around it (subjects, negations, time words). A full converter (OpenCC) is not needed: a character
# that is not in this table is kept as it is, and the patterns are written in simplified Chinese.
_TRADITIONAL = (
    "殺燒藥書遺樓輕傷絕結東劃這沒麼們還為來個過會說時後對樣開關給讓覺點準備買賣錢無義長頭腦應該"
    "離夠與從計畫經實現聽見親愛媽試嘗邊氣題學習員話語請誰難懷隨種幾萬歲車軌臥煙繩縊滅壓憂鬱悶厭"
    "擺脫連負擔錯處場塊報復兇槍殘診療醫搶險嚴纏問間別謝遠帶將寫貓託囑盡斷橋頂層陽臺願夢醒餘價棄"
    "廢撐堅顆劑讀課歷聞導電視劇虛擬遊戲網絡熱討論鄰國襲擊鬥爭戰軍機飛隊裡裏嗎幫綁眾於啟閉謀劊錶"
    "衝動憤恨罵狀態靜獨孤單癒殤訴屍體亂窗戶齊農喪葬墳墓誌縫歡樂強減肥瘦慮緒壞頓刪掉紙條寢睏餓"
    "們鬧彈詞漫畫蹤蹟輩歸毀滾窩囊廢蠢極煩躁懶麗態膽勁窮憐憫護膚僅剩兒戲淚傳陰陳舊帳紀錄則規騙著戀"
)
_SIMPLIFIED = (
    "杀烧药书遗楼轻伤绝结东划这没么们还为来个过会说时后对样开关给让觉点准备买卖钱无义长头脑应该"
    "离够与从计画经实现听见亲爱妈试尝边气题学习员话语请谁难怀随种几万岁车轨卧烟绳缢灭压忧郁闷厌"
    "摆脱连负担错处场块报复凶枪残诊疗医抢险严缠问间别谢远带将写猫托嘱尽断桥顶层阳台愿梦醒余价弃"
    "废撑坚颗剂读课历闻导电视剧虚拟游戏网络热讨论邻国袭击斗争战军机飞队里里吗帮绑众于启闭谋刽表"
    "冲动愤恨骂状态静独孤单愈殇诉尸体乱窗户齐农丧葬坟墓志缝欢乐强减肥瘦虑绪坏顿删掉纸条寝困饿"
    "们闹弹词漫画踪迹辈归毁滚窝囊废蠢极烦躁懒丽态胆劲穷怜悯护肤仅剩儿戏泪传阴陈旧帐纪录则规骗着恋"
)
assert len(_TRADITIONAL) == len(_SIMPLIFIED), "traditional/simplified tables must align"

# Characters used to break a phrase apart ("不 想 活 了", "不想.活了", "自*杀", zero-width joiners).
# They carry no meaning inside a Chinese phrase, so they are deleted before matching.
SEPARATORS = (
    " \t\r\u3000\u00a0.·•‧∙*-_~〜/\\|'\"`^+=#@&%$、…—–‒―()（）[]【】{}<>《》〈〉「」『』“”‘’"
    "\u200b\u200c\u200d\u2060\ufeff"
)
# Clause and sentence boundaries are kept (unified) so that patterns never reach across them:
# "我不想。活着真好" must not read as "不想活".
CLAUSE = "，"
SENTENCE = "。"
_CLAUSE_MARKS = ",，;；:：、"
_SENTENCE_MARKS = "。！？!?\n｡"


def _build_table() -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    # full-width ASCII block -> ASCII, then lower-case letters ("ＺＳ" -> "zs")
    for code in range(0xFF01, 0xFF5F):
        table[code] = code - 0xFEE0
    for code in range(ord("A"), ord("Z") + 1):
        table[code] = code + 32
    for code in range(0xFF21, 0xFF3B):
        table[code] = code - 0xFEE0 + 32
    for trad, simp in zip(_TRADITIONAL, _SIMPLIFIED):
        if trad != simp:
            table[ord(trad)] = ord(simp)
    for mark in _CLAUSE_MARKS:
        table[ord(mark)] = ord(CLAUSE)
    for mark in _SENTENCE_MARKS:
        table[ord(mark)] = ord(SENTENCE)
    # full-width forms of the boundary marks resolve to the unified marks too
    for mark in ",;:!?":
        full = ord(mark) + 0xFEE0
        table[full] = ord(CLAUSE) if mark in ",;:" else ord(SENTENCE)
    for sep in SEPARATORS:
        table[ord(sep)] = None
    # full-width forms of the separators are deleted as well
    for sep in ".*-_~/\\|'\"`^+=#@&%$()[]{}<>":
        table[ord(sep) + 0xFEE0] = None
    return table


TABLE = _build_table()
_DELETED = frozenset(code for code, value in TABLE.items() if value is None)


def normalize(text: str) -> str:
    """The matching form of `text`: simplified, half-width, lower-case, separators removed."""
    return text.translate(TABLE)


_hard_negatives = None


def _hard_negative_pattern():
    global _hard_negatives
    if _hard_negatives is None:
        import re

        from soulchat.safety.rules import HARD_NEGATIVES

        _hard_negatives = re.compile(HARD_NEGATIVES)
    return _hard_negatives


def without_hard_negatives(text: str) -> str:
    """The user's own text with the hard-negative phrases cut out (what the sentence encoder reads)."""
    norm = normalize(text)
    found = [m.span() for m in _hard_negative_pattern().finditer(norm) if m.end() > m.start()]
    if not found:
        return text
    index = offsets(text)
    pieces, last = [], 0
    for start, end in found:
        begin, stop, _ = original_span(text, index, start, end)
        pieces.append(text[last:begin])
        last = max(last, stop)
    pieces.append(text[last:])
    return "".join(pieces)


def model_view(text: str) -> str:
    """What the learned models read: the normalized text with the rules' hard negatives (笑死, 饿死了,
    跳楼价, 自杀式袭击, 杀毒 …: idioms, hyperbole, commerce) blanked to "□", as the rules blank them.
    Same length as `normalize(text)`, so n-gram positions map back to the user's text."""
    return _hard_negative_pattern().sub(lambda m: "□" * len(m.group()), normalize(text))


def offsets(text: str) -> list[int]:
    """For each character of `normalize(text)`, its index in `text` (only computed on a match)."""
    return [i for i, ch in enumerate(text) if ord(ch) not in _DELETED]


def original_span(text: str, index: list[int], start: int, end: int) -> tuple[int, int, str]:
    """Map a normalized [start, end) back to the original text, separators inside included."""
    begin = index[start]
    stop = index[end - 1] + 1
    return begin, stop, text[begin:stop]
