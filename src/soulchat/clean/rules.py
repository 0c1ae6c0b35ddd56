"""Content rules of the cleaning step: the psychologist speaking of itself, privacy scrubbing.

The paper (Chen et al., 2023, §2.1) removed dialogues containing sensitive strings such as `我是`.
Read literally that drops every user who says "我是高三学生" (about a fifth of real SMILE
dialogues); what it guards against is the *psychologist* revealing itself as a model or claiming a
human identity. So these patterns only ever look at psychologist turns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ------------------------------------------------------------------ self-reference
_MODEL_WORDS = (
    r"(?:AI|ai|A\.I\.|人工智能|智能助手|AI助手|AI 助手|语言模型|大语言模型|大模型|聊天机器人|机器人|"
    r"虚拟助手|程序|ChatGPT|GPT|OpenAI|计算机程序)"
)
_MEASURE = r"(?:一个|一名|一位|一款|一种|个|名|位)?"

#: The psychologist says it is a model ("我是一个AI", "作为一个语言模型", "我只是一个程序").
AI_SELF_REFERENCE = re.compile(
    r"(?:我(?:是|只是|仅仅是|不过是|作为)|作为)\s*" + _MEASURE + r"\s*" + _MODEL_WORDS
    + r"|我(?:没有|并没有)(?:真实的|真正的)?(?:身体|肉体|人类的情感|个人情感|个人经历)"
    + r"|由OpenAI(?:开发|训练)"
)
#: The psychologist claims a human identity ("我是一名心理咨询师", "我是王老师"): the rewrite
#: must not put invented credentials or names into a model's mouth.
PERSONA_CLAIM = re.compile(
    r"我(?:是|作为)\s*" + _MEASURE + r"\s*(?:[\u4e00-\u9fff]{0,6})?"
    r"(?:心理咨询师|咨询师|心理医生|心理治疗师|精神科医生|医生|[王李张刘陈杨黄赵吴周][\u4e00-\u9fff]?老师)"
)


def self_reference(text: str) -> tuple[str, str] | None:
    """(rule, matched text) when a psychologist utterance speaks of itself as a model or a person."""
    for rule, pattern in (("ai_self_reference", AI_SELF_REFERENCE), ("persona_claim", PERSONA_CLAIM)):
        match = pattern.search(text)
        if match:
            return rule, match.group()
    return None


# ------------------------------------------------------------------------ privacy
_CJK = r"[\u4e00-\u9fff]"
# A street name must not run across an administrative unit: in 北京市朝阳区建国路88号 only
# 建国路88号… is scrubbed; a city and district alone do not identify anyone.
_STREET_NAME = r"(?:(?![省市区县镇乡村在住是的到])" + _CJK + r"){1,5}"
_UNIT = r"(?:[\d一二三四五六七八九十]+(?:栋|幢|号楼|单元|层|楼|室|号|座))"


@dataclass(frozen=True)
class PrivacyRule:
    kind: str
    placeholder: str
    pattern: re.Pattern
    #: regex group holding the private part (the rest, e.g. a "QQ：" label, is kept)
    group: int = 0


#: Order matters: an 18-character ID number would otherwise be read as a bank card or a phone.
PRIVACY_RULES = (
    PrivacyRule("email", "[邮箱]", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    PrivacyRule(
        "id_card",
        "[身份证号]",
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
            r"\d{3}[\dXx](?![0-9A-Za-z])"
        ),
    ),
    PrivacyRule(
        "bank_card",
        "[银行卡号]",
        re.compile(r"(?<!\d)(?:\d{4}[ -]?){3}\d{4}(?:[ -]?\d{1,3})?(?!\d)|(?<!\d)\d{16,19}(?!\d)"),
    ),
    PrivacyRule(
        "mobile",
        "[手机号]",
        re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ .-]?\d{4}){2}(?!\d)"),
    ),
    PrivacyRule(
        "qq",
        "[QQ号]",
        # QQ and the spellings people use to get past filters: 扣扣, 企鹅(号), Q号, a bare Q
        re.compile(r"(?<![A-Za-z])(?:[Qq] ?[Qq]|扣 ?扣|抠抠|企鹅号?|[Qq]号|Q)\s*(?:号码|号)?\s*(?:是|为|[：:])?\s*"
                   r"([1-9]\d{4,10})(?!\d)"),
        group=1,
    ),
    PrivacyRule(
        "wechat",
        "[微信号]",
        # WeChat and its evasive spellings: v信/V信, 薇信, 威信, 维信, 徽信, 微x, vx, wx, 加v
        re.compile(
            r"(?<![A-Za-z])(?:微 ?信|薇 ?信|威 ?信|维信|徽信|wei ?信|微[xX]|[vV] ?信|wei ?xin|WeChat|wechat|[vV] ?[xX]|[wW] ?[xX]|加[vV])"
            r"\s*(?:号码|号|ID|id)?\s*(?:是|为|[：:])?\s*"
            r"([A-Za-z][-_A-Za-z0-9]{5,19}|1[3-9]\d{9})(?![-_A-Za-z0-9])"
        ),
        group=1,
    ),
    PrivacyRule(
        "address",
        "[地址]",
        re.compile(
            _STREET_NAME + r"(?:路|街|大道|大街|巷|弄|胡同)[\d一二三四五六七八九十]+号" + _UNIT + r"*"
            r"|" + r"(?:(?![省市区县镇乡村在住是的到])" + _CJK + r"){2,6}"
            r"(?:小区|花园|公寓|大厦|家园|新村|苑)" + _UNIT + r"+"
        ),
    ),
)


#: Full-width ASCII (１３８, ＱＱ, ＠, ：) and the ideographic space, one character for one, so that
#: a match found in the normalized text has the same offsets in the original.
_HALF_WIDTH = str.maketrans({chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)} | {"\u3000": " "})


def scrub_privacy(text: str, counts: dict[str, int] | None = None) -> str:
    """`text` with personal identifiers replaced by placeholders; `counts[kind]` grows per hit.

    Matching runs on a width-normalized copy (full-width digits and letters as ASCII), and each
    match is cut out of the original at the same offsets: what is not an identifier, full-width
    punctuation included, stays as written."""
    normal = text.translate(_HALF_WIDTH)
    for rule in PRIVACY_RULES:
        pieces, normal_pieces, last = [], [], 0
        for match in rule.pattern.finditer(normal):
            start, end = match.span(rule.group)
            pieces += [text[last:start], rule.placeholder]
            normal_pieces += [normal[last:start], rule.placeholder]
            last = end
            if counts is not None:
                counts[rule.kind] = counts.get(rule.kind, 0) + 1
        if pieces:
            text = "".join(pieces) + text[last:]
            normal = "".join(normal_pieces) + normal[last:]
    return text
