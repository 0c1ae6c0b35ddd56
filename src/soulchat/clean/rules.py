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
        re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"),
    ),
    PrivacyRule(
        "qq",
        "[QQ号]",
        re.compile(r"(?:QQ|qq|Qq|扣扣)\s*(?:号码|号)?\s*(?:是|为|[：:])?\s*([1-9]\d{4,10})(?!\d)"),
        group=1,
    ),
    PrivacyRule(
        "wechat",
        "[微信号]",
        re.compile(
            r"(?:微信|weixin|WeChat|wechat|VX|vx|Vx|WX|wx)\s*(?:号码|号|ID|id)?\s*(?:是|为|[：:])?\s*"
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


def scrub_privacy(text: str, counts: dict[str, int] | None = None) -> str:
    """`text` with personal identifiers replaced by placeholders; `counts[kind]` grows per hit."""
    for rule in PRIVACY_RULES:
        def replace(match: re.Match, rule: PrivacyRule = rule) -> str:
            if counts is not None:
                counts[rule.kind] = counts.get(rule.kind, 0) + 1
            if rule.group == 0:
                return rule.placeholder
            start, end = match.span(rule.group)
            whole = match.group()
            offset = match.start()
            return whole[: start - offset] + rule.placeholder + whole[end - offset :]

        text = rule.pattern.sub(replace, text)
    return text
