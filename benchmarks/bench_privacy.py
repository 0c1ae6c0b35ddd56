"""Privacy scrubbing: recall on identifiers planted in real turns, false positives on clean turns.

    .venv/bin/python benchmarks/bench_privacy.py            # 2,000 planted turns, every clean turn
    .venv/bin/python benchmarks/bench_privacy.py --planted 5000 --seed 1

Planted: a user turn of the bundled dialogues gets one identifier, written the way Chinese users
write them to a counselor or a forum (ASCII and full-width digits, spaces and dashes, QQ as 扣扣 /
企鹅号 / Q号, WeChat as 微信 / vx / v信 / 薇信 / 威信 / wx, @ in full width...), placed at the end
or in the middle of the turn. A plant counts as caught when its value (the digits or the id) is
gone from the scrubbed turn. Clean: every turn of the bundled dialogues and single-turn records plus
the texts of the safety sets (ordinary and crisis messages, which are full of ages, dates, times and
money); a clean turn counts as a false positive when scrubbing changes it. Hotlines (12356,
010-82951332, 800-810-1117, 400-161-9995, 110/120) in counselor replies must stay as written.

Baseline in the same run: none (a scrubber has no "bare" version); the figures before and after a
change come from running this script on both versions.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from soulchat.clean.rules import scrub_privacy  # noqa: E402

HOTLINE_REPLY = ("如果你现在有伤害自己的想法，请拨打全国心理援助热线 12356，或北京心理危机研究与干预中心 010-82951332、"
                 "希望24热线 400-161-9995、生命热线 800-810-1117；情况紧急请拨打 110 或 120。")
WIDE = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})


def wide(text: str) -> str:
    return text.translate(WIDE)


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10)}{rng.randrange(10**8):08d}"


def _qq(rng: random.Random) -> str:
    return str(rng.randrange(10**4, 10**10))


def _wechat(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    head = rng.choice(letters) + "".join(rng.choice(letters + "0123456789_") for _ in range(rng.randint(5, 11)))
    return rng.choice([head, "wxid_" + head])


def _id_card(rng: random.Random) -> str:
    return (f"{rng.randint(110000, 659000)}{rng.randint(1960, 2008)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}{rng.randrange(1000):03d}{rng.choice('0123456789X')}")


def plant(rng: random.Random, family: int = 1) -> tuple[str, str, str]:
    """(kind/spelling, phrase, value) of one identifier. Family 1: the spellings the rules were
    written for. Family 2: written after that as a held-out set, then used to tune the rules (spaced
    labels, dotted numbers), so no longer held out. Family 3: written after that tuning and never
    used to change a rule: the honest figure for spellings nobody planned for."""
    m, q, w = _mobile(rng), _qq(rng), _wechat(rng)
    spaced = f"{m[:3]} {m[3:7]} {m[7:]}"
    forms = [
        ("mobile/ascii", f"我的手机号是{m}", m),
        ("mobile/spaced", f"电话 {spaced}", m[3:7]),
        ("mobile/dashed", f"打我电话{m[:3]}-{m[3:7]}-{m[7:]}", m[3:7]),
        ("mobile/+86", f"手机 +86 {m}", m),
        ("mobile/full-width", f"我手机{wide(m)}", wide(m)),
        ("mobile/full-width spaced", f"电话：{wide(spaced)}", wide(m[3:7])),
        ("qq/QQ", f"我QQ {q}", q),
        ("qq/qq号", f"qq号：{q}", q),
        ("qq/扣扣", f"扣扣{q}", q),
        ("qq/企鹅号", f"企鹅号{q}", q),
        ("qq/企鹅", f"加我企鹅：{q}", q),
        ("qq/Q号", f"Q号 {q}", q),
        ("qq/加Q", f"加Q {q}", q),
        ("qq/full-width", f"ＱＱ：{wide(q)}", wide(q)),
        ("wechat/微信", f"我微信是{w}", w),
        ("wechat/微信号", f"微信号：{w}", w),
        ("wechat/vx", f"vx：{w}", w),
        ("wechat/v信", f"v信 {w}", w),
        ("wechat/V信", f"加我V信{w}", w),
        ("wechat/薇信", f"薇信：{w}", w),
        ("wechat/威信", f"威信 {w}", w),
        ("wechat/wx", f"wx {w}", w),
        ("wechat/full-width", f"ｖｘ：{wide(w)}", wide(w)),
        ("wechat/phone", f"微信同手机号{m}", m),
        ("email/ascii", f"邮箱 {w}@163.com", w),
        ("email/full-width @", f"发我邮箱{q}＠qq.com", q),
        ("id_card/ascii", f"身份证号{_id_card(rng)}", None),
        ("id_card/full-width", f"身份证{wide(_id_card(rng))}", None),
    ]
    kind, phrase, value = rng.choice({1: forms, 2: SECOND(rng, m, q, w), 3: THIRD(rng, m, q, w)}[family])
    if value is None:  # the id number itself
        value = phrase[phrase.index("证") + 1 + (1 if phrase[phrase.index("证") + 1] == "号" else 0):]
    return kind, phrase, value


def SECOND(rng: random.Random, m: str, q: str, w: str) -> list[tuple[str, str, str]]:  # noqa: N802
    digits = "零一二三四五六七八九"
    return [
        ("mobile/dots", f"手机{m[:3]}.{m[3:7]}.{m[7:]}", m[3:7]),
        ("mobile/+86-", f"电话+86-{m}", m),
        ("mobile/Chinese numerals", f"我电话{''.join(digits[int(d)] for d in m)}", "".join(digits[int(d)] for d in m)),
        ("mobile/tel", f"tel:{m}", m),
        ("qq/q q", f"q q：{q}", q),
        ("qq/QQ号码是", f"我的QQ号码是{q}", q),
        ("qq/扣扣号", f"扣扣号 {q}", q),
        ("qq/QQ邮箱", f"QQ邮箱{q}@qq.com", q),
        ("wechat/微 信", f"微 信：{w}", w),
        ("wechat/VX号", f"VX号{w}", w),
        ("wechat/weixin", f"weixin: {w}", w),
        ("wechat/卫星号", f"卫星号 {w}", w),
        ("wechat/绿泡泡", f"绿泡泡 {w}", w),
        ("email/at dot", f"邮箱 {w} at 163 dot com", w),
    ]


def THIRD(rng: random.Random, m: str, q: str, w: str) -> list[tuple[str, str, str]]:  # noqa: N802
    return [
        ("mobile/手机号码：", f"手机号码：{m}", m),
        ("mobile/(+86)", f"电话(+86){m}", m),
        ("mobile/en dash", f"手机 {m[:3]}–{m[3:7]}–{m[7:]}", m[3:7]),
        ("mobile/grouped 4-4", f"号码{m[:3]} {m[3:]}", m[3:]),
        ("qq/grouped digits", f"QQ {q[:4]} {q[4:]}", q[4:]),
        ("qq/扣扣号码", f"扣扣号码：{q}", q),
        ("wechat/Weixin", f"Weixin：{w}", w),
        ("wechat/微信 ID", f"微信 ID：{w}", w),
        ("wechat/wechat id", f"wechat id: {w}", w),
        ("wechat/full-width V信", f"Ｖ信：{w}", w),
        ("wechat/(同号)", f"微信：{m}（同号）", m),
        ("email/full-width", f"我的邮箱是{wide(w + '@gmail.com')}", wide(w)),
        ("douyin/抖音号", f"抖音号 {w}", w),
        ("xiaohongshu/小红书号", f"小红书号：{w}", w),
    ]


def turns() -> tuple[list[str], list[str]]:
    """(user turns, every clean turn)."""
    from soulchat.bundled import SAMPLE_SINGLE_TURN, sample_dialogues

    users, clean = [], []
    for dialogue in sample_dialogues():
        for turn in dialogue.turns:
            clean.append(turn.content)
            if turn.role == "user":
                users.append(turn.content)
    for line in Path(SAMPLE_SINGLE_TURN).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        clean += [record["question"], record.get("description", "")] + [a["answer_text"] for a in record["answers"]]
    for path in sorted((ROOT / "tests" / "data").glob("safety_*.jsonl")):
        clean += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return users, [text for text in clean if text]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    users, clean = turns()
    for family in (1, 2, 3):
        report(rng, users, args.planted if family == 1 else args.planted // 2, family)
    changed = [text for text in clean if scrub_privacy(text) != text]
    hotlines_kept = scrub_privacy(HOTLINE_REPLY) == HOTLINE_REPLY
    print(f"clean turns: {len(clean)}, changed by scrubbing: {len(changed)} (false-positive rate {len(changed) / len(clean):.4f})")
    for text in changed[:5]:
        print(f"  e.g. {text[:80]} -> {scrub_privacy(text)[:80]}")
    print(f"hotline reply kept as written: {hotlines_kept}")


def report(rng: random.Random, users: list[str], count: int, family: int) -> None:
    caught, total, missed = Counter(), Counter(), Counter()
    examples: dict[str, str] = {}
    for _ in range(count):
        turn = rng.choice(users)
        kind, phrase, value = plant(rng, family)
        cut = rng.choice([len(turn), turn.find("，") + 1 if "，" in turn else len(turn)])
        text = turn[:cut] + phrase + "。" + turn[cut:]
        total[kind] += 1
        if value not in scrub_privacy(text):
            caught[kind] += 1
        else:
            missed[kind] += 1
            examples.setdefault(kind, phrase)
    recall = sum(caught.values()) / sum(total.values())
    which = {1: "spellings the rules were written for", 2: "second set (tuned on)", 3: "held-out set"}[family]
    print(f"{which}: {sum(total.values())} planted, {sum(caught.values())} caught: recall {recall:.3f}")
    for kind in sorted(total):
        print(f"  {kind:28} {caught[kind]:4}/{total[kind]:<4}" + (f"  missed e.g. {examples[kind]}" if kind in examples else ""))


if __name__ == "__main__":
    main()
