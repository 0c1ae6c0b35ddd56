"""Safe-messaging replies: traditional-Chinese texts, the threat_to_user reply, violence resources."""

import json

import pytest

from soulchat import safety
from soulchat.safety.messages import TEXTS, _texts
from soulchat.safety.resources import (
    RESOURCES,
    LocaleResources,
    Resource,
    get_resources,
)

# Characters that exist only in simplified Chinese (their traditional forms differ). 陪 is not here:
# it is written the same way in both scripts ("陪著你").
SIMPLIFIED_ONLY = set("话说会们这样时电线请刚为个边么马难过关对帮让还没现应专与着联络护热问听觉记处")

THREAT = safety.Assessment(flagged=True, category="threat_to_user", categories=("threat_to_user",), severity=3)
CATEGORIES = [
    None,
    safety.Assessment(flagged=True, category="suicidal_ideation", categories=("suicidal_ideation",), severity=2),
    safety.Assessment(flagged=True, category="suicide_plan", categories=("suicide_plan",), severity=3),
    safety.Assessment(flagged=True, category="suicide_preparation", categories=("suicide_preparation",), severity=4),
    safety.Assessment(flagged=True, category="harm_to_others", categories=("harm_to_others",), severity=3),
    safety.Assessment(flagged=True, category="third_party_risk", categories=("third_party_risk",), severity=1),
    THREAT,
]
LOCALES = ["zh-CN", "zh-TW", "zh-HK", "zh-MO", "zh-Hant", "zh-Hant-TW", "en-US", "en", "xx"]


def _simplified(text: str) -> set[str]:
    return {char for char in text if char in SIMPLIFIED_ONLY}


# -- traditional Chinese ------------------------------------------------------------------------
def test_text_tables_have_the_same_keys():
    assert TEXTS["zh"].keys() == TEXTS["zh-Hant"].keys() == TEXTS["en"].keys()


@pytest.mark.parametrize("locale", ["zh-TW", "zh-HK", "zh-MO", "zh-Hant", "zh-Hant-TW", "zh-Hant-HK", "zh_TW"])
def test_traditional_locales_get_the_traditional_table(locale):
    assert _texts(locale) is TEXTS["zh-Hant"]


@pytest.mark.parametrize("locale", ["zh-CN", "zh", "zh-SG", "zh-Hans", "zh-Hans-HK", "xx"])
def test_other_chinese_locales_get_the_simplified_table(locale):
    assert _texts(locale) is TEXTS["zh"]


def test_traditional_table_has_no_simplified_characters():
    for key, text in TEXTS["zh-Hant"].items():
        assert not _simplified(text), (key, _simplified(text))
    # and the list is a real test: the simplified table trips it
    assert _simplified("".join(TEXTS["zh"].values()))


@pytest.mark.parametrize("locale", ["zh-TW", "zh-HK"])
@pytest.mark.parametrize("assessment", CATEGORIES, ids=lambda a: a.category if a else "none")
def test_taiwan_and_hong_kong_replies_are_traditional(locale, assessment):
    for text in (
        safety.safe_reply(assessment, locale=locale),
        safety.fallback_reply(safety.check_output("想死就去死吧。"), locale=locale),
        safety.disclosure(locale),
    ):
        assert not _simplified(text), _simplified(text)
    assert "陪著你" in safety.safe_reply(None, locale=locale)


def test_traditional_reply_keeps_the_safe_messaging_order():
    reply = safety.safe_reply(
        safety.Assessment(flagged=True, category="suicide_plan", categories=("suicide_plan",), severity=3), locale="zh-TW"
    )
    order = ["擔心你", "有沒有傷害自己", "此刻就有危險", "現在就聯絡", "1925", "1995", "1980", "110", "119", "現在你身邊有可以陪著你的人嗎"]
    positions = [reply.index(needle) for needle in order]
    assert positions == sorted(positions)


# -- threat_to_user -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "locale, acknowledge, ask, numbers",
    [
        ("zh-CN", "这不是你的错", "你现在安全吗？那个人现在在你身边", ["12338", "110"]),
        ("zh-TW", "這不是你的錯", "你現在安全嗎？那個人現在在你身邊", ["113", "110"]),
        ("zh-HK", "這不是你的錯", "你現在安全嗎？那個人現在在你身邊", ["2343 2255", "2522 0434", "999"]),
        ("en-US", "It is not your fault", "are you safe right now? Is the person", ["1-800-799-7233", "88788", "911"]),
    ],
)
def test_threat_reply(locale, acknowledge, ask, numbers):
    reply = safety.safe_reply(THREAT, locale=locale)
    for needle in (acknowledge, ask, *numbers):
        assert needle in reply
    texts = _texts(locale)
    lines = reply.split("\n")
    # acknowledge, ask, urge police and a safe place, resources, then stay in the conversation
    assert lines[:3] == [texts["threat_acknowledge"], texts["threat_ask"], texts["threat_urgent"]]
    assert lines[-1] == texts["threat_stay"]
    assert all(line.startswith("- ") for line in lines[3:-1])
    # the violence lines come before the general hotlines
    resources = get_resources(locale)
    first_violence = reply.index(resources.violence[0].number)
    assert all(first_violence < reply.index(r.number) for r in resources.hotlines)
    # the fear and the not-your-fault message come before the question
    assert reply.index(acknowledge) < reply.index(ask)


def test_threat_reply_does_not_repeat_an_emergency_number():
    reply = safety.safe_reply(THREAT, locale="zh-CN")
    assert reply.count("110") == 1 and "急救 120" in reply


def test_other_categories_do_not_show_violence_lines():
    for assessment in CATEGORIES:
        if assessment is THREAT:
            continue
        for locale in ("zh-CN", "zh-TW", "zh-HK", "en-US"):
            reply = safety.safe_reply(assessment, locale=locale)
            for resource in get_resources(locale).violence:
                assert resource.line() not in reply


def test_threat_reply_without_violence_resources_falls_back_to_the_general_ones():
    custom = {"hotlines": [{"name": "校心理中心", "number": "6666-1234"}], "emergency": [{"name": "报警", "number": "110"}]}
    reply = safety.safe_reply(THREAT, resources=custom)
    assert "校心理中心：6666-1234" in reply and "报警 110" in reply and "12338" not in reply


# -- every reply passes the output check ---------------------------------------------------------
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("assessment", CATEGORIES, ids=lambda a: a.category if a else "none")
def test_every_reply_passes_the_output_check(locale, assessment):
    for text in (
        safety.safe_reply(assessment, locale=locale),
        safety.fallback_reply(assessment, locale=locale),
        safety.fallback_reply(safety.check_output("想死就去死吧。"), locale=locale),
        safety.disclosure(locale),
    ):
        verdict = safety.check_output(text)
        assert not verdict.flagged, (text, verdict)


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_every_text_passes_the_output_check_on_its_own(language):
    for key, text in TEXTS[language].items():
        assert not safety.check_output(text).flagged, key


# -- resources ----------------------------------------------------------------------------------
def test_every_locale_has_violence_lines():
    for locale in RESOURCES:
        assert get_resources(locale).violence, locale


def test_table_without_violence_still_loads(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"zh-CN": {"hotlines": [{"name": "A", "number": "1"}]}}), encoding="utf-8")
    table = safety.load_resources(path)
    found = get_resources("zh-CN", table)
    assert found.violence == () and found.hotlines == (Resource("A", "1"),)
    assert "A：1" in safety.safe_reply(THREAT, resources=table)
    assert LocaleResources(hotlines=(), emergency=(Resource("急救", "120"),)).violence == ()


def test_table_with_violence_loads_and_is_used(tmp_path):
    path = tmp_path / "r.json"
    entry = {"hotlines": [{"name": "A", "number": "1"}], "violence": [{"name": "V", "number": "9", "note": "24h"}]}
    path.write_text(json.dumps({"zh-TW": entry}), encoding="utf-8")
    table = safety.load_resources(path)
    reply = safety.safe_reply(THREAT, locale="zh-TW", resources=table)
    assert reply.index("V：9（24h）") < reply.index("A：1")
    assert "V：9" not in safety.safe_reply(None, locale="zh-TW", resources=table)


def test_violence_alone_is_not_enough(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"zh-CN": {"violence": [{"name": "V", "number": "9"}]}}), encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: locale zh-CN"):
        safety.load_resources(path)
    bad_item = tmp_path / "bad_item.json"
    bad_item.write_text(json.dumps({"zh-CN": {"hotlines": [{"name": "A", "number": "1"}], "violence": [{"nom": "V"}]}}))
    with pytest.raises(ValueError, match="bad_item.json: locale zh-CN"):
        safety.load_resources(bad_item)


def test_overriding_resources():
    one_locale = {"violence": [{"name": "妇女热线", "number": "8888"}], "emergency": [{"name": "报警", "number": "110"}]}
    reply = safety.safe_reply(THREAT, resources=one_locale)
    assert "妇女热线：8888" in reply and "12338" not in reply and "12356" not in reply
    by_locale = {"zh-HK": {"hotlines": [{"name": "X", "number": "1234 5678"}]}}
    reply = safety.safe_reply(THREAT, locale="zh-HK", resources=by_locale)
    assert "X：1234 5678" in reply and "2343 2255" not in reply
    # a table without the asked locale falls back to the built-in resources
    assert "2343 2255" in safety.safe_reply(THREAT, locale="zh-HK", resources={"zh-CN": {"hotlines": [{"name": "A", "number": "1"}]}})
    ready = LocaleResources(hotlines=(Resource("H", "1"),), emergency=(), violence=(Resource("V", "2"),))
    reply = safety.safe_reply(THREAT, locale="en-US", resources=ready)
    assert reply.index("V：2") < reply.index("H：1") and "911" not in reply


def test_script_subtag_finds_the_region():
    assert get_resources("zh-Hant-TW") == get_resources("zh-TW")
    assert get_resources("zh-Hant-HK") == get_resources("zh-HK")
    assert get_resources("zh_HK") == get_resources("zh-HK")
    assert "1925" in safety.safe_reply(None, locale="zh-Hant-TW")


# -- replies that fit the category (PsySUICIDE's labels mapped onto soulchat's, docs/safety.md) -----
def _flag(category):
    from soulchat.safety.rules import SEVERITY

    return safety.Assessment(flagged=True, category=category, categories=(category,), severity=SEVERITY[category])


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "en-US"])
@pytest.mark.parametrize("category", list(safety.CATEGORIES))
def test_every_category_reply_passes_the_output_check_and_gives_resources(category, locale):
    reply = safety.safe_reply(_flag(category), locale=locale)
    assert not safety.check_output(reply).flagged, reply
    first = safety.get_resources(locale).hotlines[0]
    assert first.number in reply


def test_replies_differ_by_category_as_documented():
    attempt = safety.safe_reply(_flag("past_attempt"))
    assert "这段经历" in attempt and "你现在还会有" in attempt and "此刻就有危险" not in attempt
    harm = safety.safe_reply(_flag("self_harm"))
    assert "伤口" in harm and "去医院" in harm
    inquiry = safety.safe_reply(_flag("suicide_inquiry"))
    assert "不会提供任何关于方法的信息" in inquiry and "你自己、或者身边的人" in inquiry
    for category in ("suicide_plan", "suicide_preparation"):  # act now, and put the means out of reach
        reply = safety.safe_reply(_flag(category))
        assert "此刻就有危险" in reply and "拿不到的地方" in reply
    ideation = safety.safe_reply(_flag("suicidal_ideation"))
    assert "拿不到的地方" not in ideation
    assert len({attempt, harm, inquiry, ideation}) == 4


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "en-US"])
def test_follow_up_note_asks_about_safety_with_one_line(locale):
    note = safety.follow_up_note(locale)
    assert safety.get_resources(locale).hotlines[0].number in note
    assert not safety.check_output(note).flagged
    if locale == "zh-TW":
        assert not _simplified(note)
