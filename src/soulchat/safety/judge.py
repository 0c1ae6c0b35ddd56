"""Optional second opinion from an LLM through any OpenAI-compatible endpoint.

The offline layers stay the first line (rules, then the n-gram model: fast, explainable). A judge
can only *add* a flag they missed, or confirm one; it never clears a rule flag, because a missed crisis costs more than
an extra safe reply. If the endpoint fails or answers nonsense, the rule verdict stands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from soulchat.safety.detector import Assessment, assess
from soulchat.safety.rules import CATEGORIES, SEVERITY

PROMPT = """你是心理危机评估助手。判断下面这句用户发言是否显示风险，只输出一个 JSON 对象：
{{"risk": true 或 false, "category": 以下之一或 null, "reason": "一句话理由"}}
类别：suicidal_ideation（自杀意念，含被动的"不想活了"）、suicide_plan（方法/时间/地点的计划或打听方法）、
suicide_preparation（写遗书、囤药、告别、已在现场或已服药）、past_attempt（过去的自杀尝试）、
self_harm（自伤）、harm_to_others（伤害他人的意图）、third_party_risk（用户身边的人有上述风险）。
夸张说法（"笑死""累死了"）、新闻、历史、小说、否定（"我从没想过自杀"）都不算风险。
用户发言：{text}"""


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1; None = OpenAI
    model: str = "gpt-4o-mini"
    api_key: str | None = None  # default: $OPENAI_API_KEY
    timeout: float = 10.0
    max_retries: int = 1


class LLMJudge:
    def __init__(self, config: JudgeConfig | None = None, client=None):
        self.config = config or JudgeConfig()
        if client is None:
            import openai

            from soulchat.commands._common import api_key

            client = openai.OpenAI(
                base_url=self.config.base_url,
                api_key=self.config.api_key or api_key(),
                timeout=self.config.timeout,
                max_retries=self.config.max_retries,
            )
        self.client = client

    def opinion(self, text: str) -> Assessment | None:
        """The judge's own verdict, or None when it could not give one."""
        try:
            response = self.client.chat.completions.create(
                model=self.config.model,
                messages=[{"role": "user", "content": PROMPT.format(text=text)}],
                temperature=0,
            )
            content = response.choices[0].message.content or ""
        except Exception:  # any transport or API error: the rules decide alone
            return None
        found = re.search(r"\{.*\}", content, re.DOTALL)
        if not found:
            return None
        try:
            data = json.loads(found.group())
        except json.JSONDecodeError:
            return None
        category = data.get("category")
        if not data.get("risk"):
            return Assessment(flagged=False, source="judge", reason=data.get("reason"))
        if category not in CATEGORIES:
            category = "suicidal_ideation"  # a risk the judge could not name is treated as ideation
        return Assessment(
            flagged=True, category=category, categories=(category,), severity=SEVERITY[category],
            source="judge", reason=data.get("reason"),
        )

    def assess(self, text: str) -> Assessment:
        """Offline layers first; the judge may add a flag (source "judge") or confirm one ("rules+judge",
        "model+judge")."""
        rules = assess(text)
        opinion = self.opinion(text)
        if opinion is None:
            return rules
        if rules.flagged:
            return replace(rules, source=f"{rules.source}+judge", reason=opinion.reason) if opinion.flagged else rules
        return opinion if opinion.flagged else rules
