"""Crisis resources per locale, as data. Deployers override or extend them; code never hard-codes a number.

Numbers were checked against the operators' public pages when this table was written (2026-11);
verify them again before deploying, hotlines change. Override with `resources=` on `safe_reply`
/ `disclosure`, or load a JSON file of the same shape with `load_resources(path)`.
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


RESOURCES: dict[str, dict] = {
    "zh-CN": {
        "hotlines": [
            {"name": "全国心理援助热线", "number": "12356"},
            {"name": "北京心理危机干预热线", "number": "010-82951332", "note": "24小时，手机可拨"},
            {"name": "北京心理危机干预热线（座机免费）", "number": "800-810-1117", "note": "24小时"},
        ],
        "emergency": [
            {"name": "报警", "number": "110"},
            {"name": "急救", "number": "120"},
        ],
    },
    "zh-TW": {
        "hotlines": [
            {"name": "衛福部安心專線", "number": "1925", "note": "24小時"},
            {"name": "生命線協談專線", "number": "1995"},
            {"name": "張老師專線", "number": "1980"},
        ],
        "emergency": [{"name": "報警", "number": "110"}, {"name": "救護車", "number": "119"}],
    },
    "zh-HK": {
        "hotlines": [
            {"name": "撒瑪利亞防止自殺會", "number": "2389 2222", "note": "24小時"},
            {"name": "撒瑪利亞會", "number": "2896 0000", "note": "24小時，多種語言"},
        ],
        "emergency": [{"name": "緊急求助", "number": "999"}],
    },
    "en-US": {
        "hotlines": [{"name": "988 Suicide & Crisis Lifeline", "number": "988", "note": "call or text, 24/7"}],
        "emergency": [{"name": "Emergency", "number": "911"}],
    },
}
DEFAULT_LOCALE = "zh-CN"


def _parse(entry: dict) -> LocaleResources:
    def items(key: str) -> tuple[Resource, ...]:
        return tuple(Resource(**item) for item in entry.get(key, []))

    hotlines, emergency = items("hotlines"), items("emergency")
    if not hotlines and not emergency:
        raise ValueError("crisis resources need at least one hotline or emergency number")
    return LocaleResources(hotlines, emergency)


def get_resources(locale: str = DEFAULT_LOCALE, resources: dict | LocaleResources | None = None) -> LocaleResources:
    """Resources for `locale`. `resources` overrides: a LocaleResources, one locale's dict
    ({"hotlines": [...], "emergency": [...]}), or a table keyed by locale like RESOURCES."""
    if isinstance(resources, LocaleResources):
        return resources
    if resources:
        if "hotlines" in resources or "emergency" in resources:
            return _parse(resources)
        if locale in resources:
            return _parse(resources[locale])
    if locale in RESOURCES:
        return _parse(RESOURCES[locale])
    language = locale.split("-")[0]
    for key in RESOURCES:
        if key.split("-")[0] == language:
            return _parse(RESOURCES[key])
    return _parse(RESOURCES[DEFAULT_LOCALE])


def load_resources(path: str | Path) -> dict:
    """Read a JSON table shaped like RESOURCES (locale -> hotlines/emergency) and validate it."""
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    for locale, entry in table.items():
        try:
            _parse(entry)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: locale {locale}: {error}") from error
    return table
