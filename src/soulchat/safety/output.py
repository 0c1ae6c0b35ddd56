"""Output check on a model reply: no method information, no encouragement of harm.

A reply that fails is not shown (chat shows the safe reply instead). The check is deliberately
stricter than the user-turn detector: a counselling reply never needs a dosage, a height or a
description of a method, so any of those in the same sentence as a death word is blocked.
The user-turn rules run too, with the model as the speaker ("我也不想活了" from a model is blocked
as suicidal_ideation); supportive replies that mention risk ("你提到不想活了，我很担心") talk about
"you" and so do not trip them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from soulchat.safety import rules as R
from soulchat.safety.detector import Assessment, default_detector
from soulchat.safety.normalize import (
    CLAUSE,
    SENTENCE,
    normalize,
    offsets,
    original_span,
)

DEATH = r"自杀|轻生|死|致命|致死|结束生命|跳楼|上吊|割腕|烧炭|安眠药|过量|不再醒来"
# A whole container or handful of pills is a method even without a number ("一次吞下一整瓶安眠药").
_AMOUNT = r"(?:一整瓶|整瓶|一瓶|一整盒|整盒|一盒|一大把|一把|一堆|所有的?|全部的?|(?:很多|好多|大量|几十|上百)(?:片|粒|颗))"
_SWALLOW = r"(?:吞|吃|服|喝)(?:下|掉|了|光)?"
# Where a reply tells someone to get care for what was already taken, the amount is triage, not a method.
EMERGENCY = r"120|110|急救|急诊|医院|洗胃|报警|就医|叫救护车|催吐"


@dataclass(frozen=True)
class OutputRule:
    id: str
    category: str
    pattern: str
    needs: str | None = None  # must also occur in the same sentence
    unless: str | None = None  # cancels the match when it occurs in the same sentence


OUTPUT_RULES: tuple[OutputRule, ...] = (
    OutputRule("method.lethal_dose", "method_information",
               r"致死(?:剂)?量|致命(?:剂)?量|ld50|半数致死|(?:吃|吞|服用?)(?:超过)?[0-9一二三四五六七八九十几百多少]+(?:片|粒|颗|克|毫克|mg|g)"),
    OutputRule("method.dose_number", "method_information",
               r"[0-9一二三四五六七八九十几百]+(?:片|粒|颗|克|毫克|mg|g|毫升|ml)", needs=DEATH),
    OutputRule("method.height", "method_information",
               r"[0-9一二三四五六七八九十几]+(?:楼|层|米)(?:以上|往上|高)?[^。]{0,10}(?:致死|会死|必死|摔死|存活|生还)|"
               r"从[^。]{0,6}(?:楼|层|米)[^。]{0,6}跳下[^。]{0,8}(?:死|致命)"),
    OutputRule("method.howto", "method_information",
               r"(?:割|切)(?:腕|动脉|手腕)[^。]{0,10}(?:方法|位置|深度|方向|竖着|横着|才能)|竖着割|横着割|"
               r"绳[^。]{0,6}(?:打结|系法|怎么系|结的打法)|上吊的?(?:方法|步骤|姿势)|烧炭的?(?:方法|步骤|需要|时)|"
               r"(?:自杀|死)的?(?:方法|方式|步骤|办法)(?:有|是|包括|如下|可以)|(?:最|比较)(?:快|有效|不痛苦|无痛|轻松)的(?:自杀|死法|方法)|"
               r"无痛(?:自杀|死法|的死)|死法(?:有|包括|是)|(?:哪种|什么)(?:药|方法)(?:最)?(?:容易|能|可以)(?:致死|死)|"
               r"(?:颈动脉|股动脉|桡动脉)(?:的)?(?:位置|在)"),
    OutputRule("method.quantity", "method_information",
               rf"(?:一次(?:性)?|一口气|一下子|直接)?{_SWALLOW}[^，。]{{0,4}}{_AMOUNT}[^，。]{{0,4}}(?:药|%DRUG%|%POISON%)|"
               rf"把{_AMOUNT}[^，。]{{0,4}}(?:药|%DRUG%|%POISON%)[^，。]{{0,3}}(?:全|都|一起|一次)?{_SWALLOW}",
               unless=EMERGENCY),
    OutputRule("method.place", "method_information",
               r"(?:从|在|去|到|爬上)[^，。]{0,8}(?:楼顶|天台|顶楼|高楼|楼上|阳台|窗户|窗台|桥上|大桥|悬崖|高处|[0-9一二三四五六七八九十几]+(?:楼|层))"
               r"[^，。]{0,4}(?:跳下|往下跳|跳(?!绳|舞|槽)|一跃)|(?:找|选)[^，。]{0,4}(?:够高|高一点|高的)的?(?:楼|地方|桥)"),
    OutputRule("method.tool", "method_information",
               r"(?:用|拿|找|准备|买)[^，。]{0,5}(?:绳子|麻绳|皮带|围巾|刀片|小刀|刀|木炭|炭|煤气|塑料袋|%POISON%)[^，。]{0,8}"
               r"(?:上吊|吊|勒|割|划|烧|闷|结束|自杀|了结|解脱|不会痛)|(?:关|封)(?:好|紧|上|死)?[^，。]{0,3}门窗[^。]{0,10}(?:烧炭|炭|煤气)|"
               r"(?:烧炭|开煤气)[^。]{0,6}(?:关|封)(?:好|紧|上|死)?[^，。]{0,3}门窗"),
    OutputRule("encourage.painless", "encourages_harm",
               r"(?:这样|那样|这么做|那么做)(?:的话)?(?:就|你就)?(?:再也)?(?:不会|不再|没有)(?:再)?(?:痛|疼|痛苦|难受|累)了?|"
               r"(?:安静|平静|轻松|没有痛苦|不痛苦|安详)地?(?:离开|走|睡去|睡过去|结束)",
               needs=DEATH + r"|药|吞|跳|结束|撑不下去|离开|解脱"),
    OutputRule("encourage.permission", "encourages_harm",
               r"(?:撑不下去|受不了|活不下去|太痛苦)[^。]{0,4}(?:就|可以|不如|那就|干脆)[^。，]{0,6}"
               r"(?:吞|吃药|喝|跳|割|结束|离开|解脱|了结|一了百了|死)"),
    OutputRule("encourage.go_die", "encourages_harm",
               r"去死吧|你可以去死|想死就去死|那就去死|你(?:应该|就该|该)(?:去)?死|不如(?:就)?(?:去)?死|"
               r"死了(?:也好|就解脱|一了百了|就好了)|早(?:点|日)解脱|我(?:会|可以)?帮你(?:结束|自杀|去死)"),
    OutputRule("encourage.endorse", "encourages_harm",
               r"(?:自杀|死亡|结束生命|离开这个世界)(?:是|也是|才是|就是)(?:一种)?(?:解脱|选择|勇敢|你的权利|出路|好的|对的)|"
               r"支持你(?:的决定|去死|自杀|结束|离开)|祝你(?:自杀)?成功|"
               r"没人(?:会)?在乎你|你(?:确实|的确|本来就)是(?:个)?(?:累赘|负担|拖累)|(?:你的)?(?:家人|朋友|大家|他们)没有你(?:会)?更好|"
               r"活着(?:确实|的确|本来就)没(?:什么)?(?:意义|意思)"),
)


class OutputChecker:
    def __init__(self, output_rules: tuple[OutputRule, ...] = OUTPUT_RULES):
        self.compiled = [
            (
                rule,
                re.compile(R.expand(rule.pattern)),
                re.compile(rule.needs) if rule.needs else None,
                re.compile(rule.unless) if rule.unless else None,
            )
            for rule in output_rules
        ]
        self.success_needs = re.compile(DEATH)
        self.negation = re.compile(R.NEGATION)
        self.not_negations = re.compile(R.NOT_NEGATIONS)

    def check(self, reply: str) -> Assessment:
        norm = normalize(reply)
        hits: list[tuple[str, str, int, int]] = []
        for rule, regex, needs, unless in self.compiled:
            for m in regex.finditer(norm):
                start, end = m.start(), m.end()
                sentence_start = norm.rfind(SENTENCE, 0, start) + 1
                sentence_end = norm.find(SENTENCE, end)
                sentence = norm[sentence_start : sentence_end if sentence_end >= 0 else len(norm)]
                if needs is not None and not needs.search(sentence):
                    continue
                if unless is not None and unless.search(sentence):
                    continue
                # "祝你成功" alone is ordinary encouragement; next to a death word it is endorsement
                if m.group().startswith("祝你") and not self.success_needs.search(sentence):
                    continue
                clause_start = max(norm.rfind(CLAUSE, 0, start), sentence_start - 1) + 1
                prefix = self.not_negations.sub("□", norm[clause_start:start][-12:])
                if self.negation.search(prefix):
                    continue
                hits.append((rule.category, rule.id, start, end))
        speaker = default_detector().assess_rules(reply)  # the model learned user turns, not replies
        if not hits and not (speaker.flagged and speaker.category != "third_party_risk"):
            return Assessment(flagged=False)
        index = offsets(reply)
        spans = [original_span(reply, index, s, e) for _, _, s, e in hits]
        categories = [c for c, _, _, _ in hits]
        rule_ids = [r for _, r, _, _ in hits]
        if speaker.flagged and speaker.category != "third_party_risk":
            spans += list(speaker.spans)
            categories += [c for c in speaker.categories if c != "third_party_risk"]
            rule_ids += list(speaker.rules)
        order = {name: i for i, name in enumerate(R.OUTPUT_CATEGORIES + R.CATEGORIES)}
        unique = tuple(sorted(set(categories), key=order.__getitem__))
        return Assessment(
            flagged=True,
            category=unique[0],
            spans=tuple(sorted(set(spans))),
            categories=unique,
            rules=tuple(dict.fromkeys(rule_ids)),
            severity=max(R.SEVERITY[c] for c in unique),
        )


_checker: OutputChecker | None = None


def check_output(reply: str) -> Assessment:
    """Check a model reply before it is shown. Flagged: method_information, encourages_harm, or the
    model itself voicing a risk category."""
    global _checker
    if _checker is None:
        _checker = OutputChecker()
    return _checker.check(reply)
