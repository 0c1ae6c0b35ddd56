"""Crisis resources per locale, as data. Deployers override or extend them; code never hard-codes a number.

How far the numbers were checked (2026-11-25): each number in RESOURCES was searched for in a
stored index of public web pages (a search tool, not a live visit to the operators' sites and not
a test call). The comment above each entry says what was found: the page address that lists the
number for that service, or that no page confirming it was found. Most confirmations come from
government, hospital or news pages rather than the operator's own current page, and some pages
are years old; the Beijing crisis-line numbers in particular may have been folded into 12356.
Nothing here proves a line is staffed today: verify every number again before deploying, hotlines
change. Override with `resources=` on `safe_reply` / `disclosure`, or load a JSON file of the same
shape with `load_resources(path)`.

Each locale has "hotlines" (crisis / emotional-support lines) and "emergency" numbers, and may
have "violence": domestic-violence and protection lines, shown first when the user is threatened
or abused by someone (category "threat_to_user"). A table without "violence" still loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Resource:
    name: str
    number: str
    note: str = ""  # hours, who it is for

    def line(self) -> str:
        return f"{self.name}：{self.number}" + (f"（{self.note}）" if self.note else "")


@dataclass(frozen=True)
class LocaleResources:
    hotlines: tuple[Resource, ...]
    emergency: tuple[Resource, ...]
    violence: tuple[Resource, ...] = ()  # domestic-violence / protection lines (threat_to_user)


RESOURCES: dict[str, dict] = {
    "zh-CN": {
        "hotlines": [
            # 12356 confirmed: national unified mental-health helpline, nationwide from 2025-05-01
            # (https://c.m.163.com/news/a/JKBD9CKU0514CC6P.html, Xinhua / People's Daily;
            # https://en.humanrights.cn/2025/03/27/31c7ee8317024050ab42d76140505fb0.html).
            {"name": "全国心理援助热线", "number": "12356"},
            # 010-82951332 and 800-810-1117 confirmed only on older pages: a news page on the site of
            # Beijing Huilongguan Hospital, which runs the line (https://bhlgh.com/xwdt/yydt/14048.shtml, 2014:
            # "8008101117(座机拨打) 01082951332(手机拨打)"), and a 2024 news report naming 010-82951332 as
            # the 24-hour Beijing line (https://qztdyj.com/mingrenmingju/5884643_T1yER0pw7OBdB5fUJ8C5.jspx,
            # a copy of a The Paper article). No 2025+ page found, and a 2025 People's Daily report (copied at
            # http://blog.zzhuanghui.com/p?id=1650036) says Beijing's helplines were moved to 12356 that year,
            # so whether these two numbers still answer was NOT confirmed.
            {"name": "北京心理危机干预热线", "number": "010-82951332", "note": "24小时，手机可拨"},
            {"name": "北京心理危机干预热线（座机免费）", "number": "800-810-1117", "note": "24小时"},
        ],
        "emergency": [
            # 110 / 120: the national police and ambulance numbers (named together on
            # http://sz12333.net.cn/shebao/13011.html); not otherwise checked.
            {"name": "报警", "number": "110"},
            {"name": "急救", "number": "120"},
        ],
        "violence": [
            # 12338 confirmed as the All-China Women's Federation women's-rights line
            # (https://kunming.baogaosu.com/xinwen/%E5%A6%87%E5%A5%B3%E7%BB%B4%E6%9D%83%E5%85%AC%E7%9B%8A%E6%9C%8D%E5%8A%A1%E7%83%AD%E7%BA%BF%E5%AE%9E%E7%8E%B0%E7%94%B5%E4%BF%A1/25177976,
            # Yunnan Women's Federation; http://www.gdwomen.org.cn/yw/content/post_295443.html, Guangdong
            # Women's Federation). Hours are set per province; the Yunnan page gives weekday office hours
            # only, so it is NOT marked 24-hour here.
            {"name": "全国妇联妇女维权公益服务热线", "number": "12338", "note": "各地接听时间不同，多为工作日"},
            {"name": "报警", "number": "110", "note": "正在遭受暴力或人身安全受到威胁时"},
        ],
    },
    "zh-TW": {
        "hotlines": [
            # 1925, 1995, 1980 confirmed together on https://kch.org.tw/Xfile/1120619-1.html (a Kaohsiung
            # hospital's health-education page: "安心專線1925…24小時免費…生命線1995及張老師1980");
            # 1925 also on https://udn.com/news/story/7266/9329707 (2026-02, MOHW: 24-hour service).
            {"name": "衛福部安心專線", "number": "1925", "note": "24小時"},
            {"name": "生命線協談專線", "number": "1995"},
            {"name": "張老師專線", "number": "1980"},
        ],
        "emergency": [
            # 110 named for violence emergencies by MOHW (https://www.nownews.com/news/6786135);
            # 119 ambulance confirmed on https://www.hcfd.gov.tw/board/board2.asp (Hsinchu City Fire Dept).
            {"name": "報警", "number": "110"},
            {"name": "救護車", "number": "119"},
        ],
        "violence": [
            # 113 confirmed: MOHW protection line, 24-hour, free, for domestic violence, child and elder
            # protection, sexual violence (https://www.nownews.com/news/6786135, 2026-02;
            # https://udn.com/news/story/7266/9329707; https://legis-pedia.com/article/family-relationship/474).
            {"name": "113保護專線", "number": "113", "note": "24小時，免付費，家庭暴力、性侵害、兒少保護"},
        ],
    },
    "zh-HK": {
        "hotlines": [
            # 2389 2222 and 2896 0000 confirmed on https://csrp.hku.hk/getting-help/ (HKU Centre for
            # Suicide Research and Prevention: both 24 hours; 2896 0000 in English / Cantonese / Mandarin /
            # other languages); 2896 0000 also on the operator's page http://samaritans.org.hk/.
            {"name": "撒瑪利亞防止自殺會", "number": "2389 2222", "note": "24小時"},
            {"name": "撒瑪利亞會", "number": "2896 0000", "note": "24小時，多種語言"},
        ],
        # 999 confirmed as the emergency number on https://csrp.hku.hk/getting-help/.
        "emergency": [{"name": "緊急求助", "number": "999"}],
        "violence": [
            # 2343 2255 confirmed: SWD 24-hour hotline (https://www.info.gov.hk/gia/general/202306/05/P2023060500553.htm,
            # government press release 2023-06; https://www.news.gov.hk/chi/2023/06/20230605/20230605_145819_409.html).
            {"name": "社會福利署熱線", "number": "2343 2255", "note": "24小時"},
            # 2522 0434 confirmed on the operator's page https://www.harmonyhousehk.org/eng/shelter-for-women-and-children
            # ("24-hour Women Hotline (Tel: 2522 0434)").
            {"name": "和諧之家婦女熱線", "number": "2522 0434", "note": "24小時"},
        ],
    },
    "en-US": {
        # 988 confirmed: call or text, 24/7 (https://health.wyo.gov/publichealth/prevention/wivpp/suicide-prevention/988-suicide-crisis-lifeline,
        # Wyoming Department of Health; https://www.cdcr.ca.gov/ccjbh/2022/07/19/dial-988-to-access-24-hour-emotional-support-and-resources/).
        "hotlines": [{"name": "988 Suicide & Crisis Lifeline", "number": "988", "note": "call or text, 24/7"}],
        # 911 named for immediate danger on the Wyoming page above.
        "emergency": [{"name": "Emergency", "number": "911"}],
        "violence": [
            # 1-800-799-7233 and text START to 88788 confirmed on https://ovc.ojp.gov/news/grantee-news/national-domestic-violence-hotline-answers-6-million-contacts
            # (US Department of Justice, Office for Victims of Crime, 2022: 24/7/365).
            {"name": "National Domestic Violence Hotline", "number": "1-800-799-7233",
             "note": "24/7; or text START to 88788"},
        ],
    },
}
DEFAULT_LOCALE = "zh-CN"


def _parse(entry: dict) -> LocaleResources:
    def items(key: str) -> tuple[Resource, ...]:
        return tuple(Resource(**item) for item in entry.get(key) or [])

    hotlines, emergency, violence = items("hotlines"), items("emergency"), items("violence")
    if not hotlines and not emergency:
        raise ValueError("crisis resources need at least one hotline or emergency number")
    return LocaleResources(hotlines, emergency, violence)


_SECTIONS = ("hotlines", "emergency", "violence")


def _candidates(locale: str) -> list[str]:
    """Keys to try for `locale`, most specific first: "zh-Hant-TW" -> ["zh-Hant-TW", "zh-TW"]."""
    parts = locale.replace("_", "-").split("-")
    keys = [locale]
    # drop a script subtag (4 letters: Hant, Hans, Latn) so "zh-Hant-HK" finds "zh-HK"
    without_script = [parts[0], *(p for p in parts[1:] if len(p) != 4)]
    if len(without_script) > 1:
        keys.append(f"{without_script[0].lower()}-{without_script[-1].upper()}")
    return list(dict.fromkeys(keys))


def get_resources(locale: str = DEFAULT_LOCALE, resources: dict | LocaleResources | None = None) -> LocaleResources:
    """Resources for `locale`. `resources` overrides: a LocaleResources, one locale's dict
    ({"hotlines": [...], "emergency": [...], "violence": [...]}), or a table keyed by locale like RESOURCES."""
    if isinstance(resources, LocaleResources):
        return resources
    if resources:
        if any(section in resources for section in _SECTIONS):
            return _parse(resources)
        for key in _candidates(locale):
            if key in resources:
                return _parse(resources[key])
    for key in _candidates(locale):
        if key in RESOURCES:
            return _parse(RESOURCES[key])
    language = locale.split("-")[0]
    for key, entry in RESOURCES.items():
        if key.split("-")[0] == language:
            return _parse(entry)
    return _parse(RESOURCES[DEFAULT_LOCALE])


def load_resources(path: str | Path) -> dict:
    """Read a JSON table shaped like RESOURCES (locale -> hotlines/emergency, optional violence) and validate it."""
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    for locale, entry in table.items():
        try:
            _parse(entry)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: locale {locale}: {error}") from error
    return table
