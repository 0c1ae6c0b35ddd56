"""What the user reads: the AI disclosure and the safe-messaging reply to a flagged turn.

The reply follows safe-messaging practice in a fixed order: acknowledge the feeling, ask directly
about safety (asking does not plant the idea; it opens the door), urge reaching out now, list the
locale's crisis resources, and stay in the conversation. It never names, describes or compares a
method. Texts are data per language; numbers come from resources.py (overridable per call).

When someone else threatens or abuses the user ("threat_to_user"), the reply acknowledges the fear,
says it is not their fault, asks directly whether they are safe now and whether the person is
nearby, urges calling the police in immediate danger and getting to a safe place, lists the
domestic-violence / protection lines before the general ones, and stays in the conversation.

Languages: "zh" (simplified), "zh-Hant" (traditional, written for Taiwan and Hong Kong readers:
standard written Chinese, not Cantonese) and "en". zh-TW, zh-HK, zh-MO and zh-Hant* get "zh-Hant".
"""

from __future__ import annotations

from soulchat.safety.detector import Assessment
from soulchat.safety.resources import DEFAULT_LOCALE, LocaleResources, get_resources

TEXTS = {
    "zh": {
        "attempt_acknowledge": "谢谢你愿意告诉我这段经历。曾经走到那一步，一定是非常痛苦的时刻；你能撑到现在、把它说出来，很不容易。",
        "attempt_ask": "我想直接问你：你现在还会有伤害自己、或者结束生命的想法吗？此刻的你安全吗？",
        "selfharm_acknowledge": "听到你在用伤害自己的方式扛住这些痛苦，我很心疼。这不说明你不好，而是你承受的实在太多了。",
        "selfharm_ask": "我想问问你：你现在身上有没有需要处理的伤口？如果伤口很深或者血止不住，请马上去医院或拨打急救电话。"
        "你有没有想过结束生命？",
        "inquiry_acknowledge": "你问到了关于自杀的问题。我不会提供任何关于方法的信息，但我很愿意和你聊聊这个问题背后的感受。",
        "inquiry_ask": "我也想直接问你：你问这个，是因为你自己、或者身边的人有这样的想法吗？你现在安全吗？",
        "means": "如果你身边有可能用来伤害自己的东西，能不能先把它交给你信任的人，或者放到拿不到的地方？",
        "follow_up": "我还惦记着你之前说的话。你现在安全吗？如果有危险或者撑不住了，请随时拨打",
        "acknowledge": "听到你这样说，我很心疼，也很担心你。愿意把这么沉重的感受说出来，很不容易。",
        "ask": "我想直接问你：你现在有没有伤害自己、或者结束生命的想法或打算？此刻的你安全吗？",
        "urgent": "如果你已经做了什么，或者此刻就有危险，请马上拨打急救电话，或者让身边的人立刻陪着你，"
        "并先离开让你感到危险的地方。",
        "reach_out": "请现在就联系能帮助你的人——你信任的家人、朋友，或者专业的心理援助热线，他们愿意听你说：",
        "stay": "你不需要一个人扛着这些。我是AI，不能代替专业的帮助，但我会在这里陪你说说话。"
        "现在你身边有可以陪着你的人吗？",
        "others_acknowledge": "听起来你现在非常愤怒、非常痛苦，这些情绪一定压得你很难受。",
        "others_ask": "我想直接问你：你现在有没有伤害别人的打算？你觉得自己此刻能控制住吗？",
        "others_urgent": "如果你担心自己会控制不住，请先离开现场，远离可能伤到人的东西，并立刻联系下面的援助热线；"
        "如果有人正处在危险中，请马上报警。",
        "third_acknowledge": "听到身边的人有这样的想法或经历，你一定很担心，也可能很害怕。你认真对待这件事，是对的。",
        "third_ask": "你可以温和而直接地问问他/她：是不是有伤害自己或结束生命的想法？好好听他/她说，"
        "不评判，也不要答应替他/她保密。",
        "third_urgent": "如果他/她现在就有危险，请不要让他/她独处，并马上拨打急救电话或报警。也请鼓励他/她联系专业帮助：",
        "third_stay": "照顾别人的同时，你自己也需要支持。你现在感觉怎么样？",
        "emergency": "紧急情况",
        "disclosure": "提示：这里的回复由人工智能（AI）生成，仅供参考，不能替代心理咨询师、医生等专业人员的帮助。"
        "如果你正处于危机中，或有伤害自己、伤害他人的想法，请立即联系：",
        "check_in": "如果你愿意，也可以继续和我说说发生了什么。",
        "gentle_ask": "我想轻轻地问一句：听你说这些，我有点担心你。你最近有没有伤害自己、或者结束生命的想法？"
        "如果有，可以直接告诉我，我们一起面对；需要的时候，也可以随时联系",
        "fallback_sorry": "抱歉，我刚才的回答不太合适，已经撤回了。",
        "fallback_listen": "我想更好地理解你：能再和我说说你现在的感受，或者最近发生了什么吗？我在这里听你说。",
        "fallback_resources": "如果你此刻有伤害自己的想法，或者觉得自己不安全，请随时联系：",
        "threat_acknowledge": "听到你正在经历这些，我很担心你。被人威胁、跟踪或者伤害，一定非常害怕。"
        "这不是你的错，你不应该承受这些。",
        "threat_ask": "我想直接问你：你现在安全吗？那个人现在在你身边，或者就在附近吗？",
        "threat_urgent": "如果你此刻就有危险，请马上报警，并尽快到一个安全的地方，比如人多的公共场所，"
        "或者你信任的人身边。下面这些电话可以帮你：",
        "threat_stay": "你不需要一个人面对这些。我是AI，没办法替你报警，但我会一直在这里陪着你。"
        "如果现在说话安全，可以告诉我发生了什么；如果担心对方会看到你的手机或聊天记录，请先照顾好自己的安全。",
    },
    "zh-Hant": {
        "attempt_acknowledge": "謝謝你願意告訴我這段經歷。曾經走到那一步，一定是非常痛苦的時刻；你能撐到現在、把它說出來，很不容易。",
        "attempt_ask": "我想直接問你：你現在還會有傷害自己、或是結束生命的想法嗎？此刻的你安全嗎？",
        "selfharm_acknowledge": "聽到你用傷害自己的方式撐住這些痛苦，我很心疼。這不代表你不好，而是你承受的實在太多了。",
        "selfharm_ask": "我想問問你：你現在身上有沒有需要處理的傷口？如果傷口很深或血止不住，請馬上去醫院或撥打急救電話。"
        "你有沒有想過結束生命？",
        "inquiry_acknowledge": "你問到了關於自殺的問題。我不會提供任何關於方法的資訊，但我很願意和你聊聊這個問題背後的感受。",
        "inquiry_ask": "我也想直接問你：你問這個，是因為你自己、或身邊的人有這樣的想法嗎？你現在安全嗎？",
        "means": "如果你身邊有可能用來傷害自己的東西，能不能先把它交給你信任的人，或放到拿不到的地方？",
        "follow_up": "我還惦記著你之前說的話。你現在安全嗎？如果有危險或撐不下去了，請隨時撥打",
        "acknowledge": "聽到你這樣說，我很心疼，也很擔心你。願意把這麼沉重的感受說出來，真的很不容易。",
        "ask": "我想直接問你：你現在有沒有傷害自己、或是結束生命的想法或打算？此刻的你安全嗎？",
        "urgent": "如果你已經做了什麼，或者此刻就有危險，請馬上撥打急救電話，或請身邊的人立刻陪著你，"
        "並先離開讓你感到危險的地方。",
        "reach_out": "請現在就聯絡能幫助你的人——你信任的家人、朋友，或專業的心理支持專線，他們願意聽你說：",
        "stay": "你不需要一個人扛著這些。我是AI，不能取代專業的協助，但我會在這裡陪你聊聊。"
        "現在你身邊有可以陪著你的人嗎？",
        "others_acknowledge": "聽起來你現在非常憤怒、非常痛苦，這些情緒一定壓得你很難受。",
        "others_ask": "我想直接問你：你現在有沒有傷害別人的打算？你覺得自己此刻控制得住嗎？",
        "others_urgent": "如果你擔心自己會控制不住，請先離開現場，遠離可能傷到人的東西，並立刻聯絡下面的專線；"
        "如果有人正處在危險中，請馬上報警。",
        "third_acknowledge": "聽到身邊的人有這樣的想法或經歷，你一定很擔心，也可能很害怕。你認真看待這件事，是對的。",
        "third_ask": "你可以溫和而直接地問問他/她：是不是有傷害自己或結束生命的想法？好好聽他/她說，"
        "不批評，也不要答應替他/她保密。",
        "third_urgent": "如果他/她現在就有危險，請不要讓他/她獨處，並馬上撥打急救電話或報警。也請鼓勵他/她尋求專業協助：",
        "third_stay": "照顧別人的同時，你自己也需要支持。你現在感覺怎麼樣？",
        "emergency": "緊急情況",
        "disclosure": "提醒：這裡的回覆由人工智慧（AI）生成，僅供參考，不能取代輔導人員、醫生等專業人員的協助。"
        "如果你正處於危機中，或有傷害自己、傷害他人的想法，請立即聯絡：",
        "check_in": "如果你願意，也可以繼續跟我說說發生了什麼事。",
        "gentle_ask": "我想輕輕地問一句：聽你說這些，我有點擔心你。你最近有沒有傷害自己、或是結束生命的想法？"
        "如果有，可以直接告訴我，我們一起面對；需要的時候，也可以隨時聯絡",
        "fallback_sorry": "抱歉，我剛才的回覆不太恰當，已經撤回了。",
        "fallback_listen": "我想更了解你：可以再跟我說說你現在的感受，或者最近發生了什麼事嗎？我在這裡聽你說。",
        "fallback_resources": "如果你此刻有傷害自己的想法，或覺得自己不安全，請隨時聯絡：",
        "threat_acknowledge": "聽到你正在經歷這些，我很擔心你。被人威脅、跟蹤或傷害，一定非常害怕。"
        "這不是你的錯，你不應該承受這些。",
        "threat_ask": "我想直接問你：你現在安全嗎？那個人現在在你身邊，或者就在附近嗎？",
        "threat_urgent": "如果你此刻就有危險，請馬上報警，並盡快到安全的地方，例如人多的公共場所，"
        "或你信任的人身邊。下面這些專線可以幫你：",
        "threat_stay": "你不需要一個人面對這些。我是AI，沒辦法替你報警，但我會一直在這裡陪著你。"
        "如果現在說話安全，可以告訴我發生了什麼事；如果擔心對方會看到你的手機或聊天紀錄，請先顧好自己的安全。",
    },
    "en": {
        "attempt_acknowledge": "Thank you for telling me about this. Reaching that point must have been an extremely painful "
        "time, and it takes courage to talk about it.",
        "attempt_ask": "I want to ask you directly: do you still have thoughts of hurting yourself or ending your life? "
        "Are you safe right now?",
        "selfharm_acknowledge": "I'm sorry you're carrying so much pain that hurting yourself feels like a way to cope. "
        "It doesn't make you a bad person; it tells me how much you're dealing with.",
        "selfharm_ask": "Can I ask: do you have any injuries that need care right now? If a wound is deep or won't stop "
        "bleeding, please go to a hospital or call emergency services. Have you had thoughts of ending your life?",
        "inquiry_acknowledge": "You asked about suicide. I won't give any information about methods, but I'd like to talk "
        "about what is behind the question.",
        "inquiry_ask": "Can I ask you directly: are you asking because you, or someone close to you, have been having "
        "these thoughts? Are you safe right now?",
        "means": "If there is anything near you that you could use to hurt yourself, could you give it to someone you "
        "trust, or put it out of reach for now?",
        "follow_up": "I'm still thinking about what you told me earlier. Are you safe right now? If you're in danger or "
        "it gets too much, you can call",
        "acknowledge": "I'm really sorry you're feeling this way, and I'm worried about you. Thank you for telling me.",
        "ask": "I want to ask you directly: are you thinking about hurting yourself or ending your life? Are you safe right now?",
        "urgent": "If you have already done something, or you are in danger right now, please call emergency services "
        "or ask someone near you to stay with you, and move away from anything you could hurt yourself with.",
        "reach_out": "Please reach out now to someone who can help: a person you trust, or a crisis line:",
        "stay": "You don't have to carry this alone. I'm an AI and can't replace professional help, but I'm here to "
        "keep talking. Is there someone who can be with you right now?",
        "others_acknowledge": "It sounds like you're carrying a lot of anger and pain right now.",
        "others_ask": "I want to ask directly: are you thinking about hurting someone? Do you feel you can stay in control?",
        "others_urgent": "If you're afraid you might lose control, please leave the situation, move away from anything "
        "that could hurt someone, and contact a crisis line now; if someone is in danger, call the police.",
        "third_acknowledge": "It sounds like someone close to you is struggling, and you must be worried. Taking it "
        "seriously is the right thing to do.",
        "third_ask": "You can ask them gently and directly whether they are thinking about suicide. Listen without "
        "judging, and don't promise to keep it secret.",
        "third_urgent": "If they are in danger now, don't leave them alone and call emergency services. Encourage "
        "them to contact professional help:",
        "third_stay": "Supporting someone is hard; you deserve support too. How are you feeling?",
        "emergency": "Emergency",
        "disclosure": "Note: replies here are generated by an AI, are for reference only, and are not a substitute "
        "for professional care. If you are in crisis or thinking of harming yourself or others, contact now:",
        "check_in": "If you like, you can keep telling me what happened.",
        "gentle_ask": "Can I gently ask: what you've shared makes me a little worried about you. Have you had any "
        "thoughts of hurting yourself or of not wanting to live? If so, you can tell me and we'll face it together; "
        "you can also reach out any time to",
        "fallback_sorry": "Sorry, my last answer wasn't appropriate, so I've taken it back.",
        "fallback_listen": "I'd like to understand you better: could you tell me more about how you're feeling, "
        "or what has been happening? I'm here to listen.",
        "fallback_resources": "If you're having thoughts of hurting yourself, or you don't feel safe, you can "
        "reach out any time:",
        "threat_acknowledge": "I'm so sorry this is happening to you. Being threatened, followed or hurt by someone "
        "is frightening. It is not your fault, and you don't deserve this.",
        "threat_ask": "I want to ask you directly: are you safe right now? Is the person who threatened or hurt you "
        "with you or nearby?",
        "threat_urgent": "If you are in danger right now, call the police and get to a safe place: somewhere with "
        "other people around, or to someone you trust. These services can help:",
        "threat_stay": "You don't have to face this alone. I'm an AI and can't call for help for you, but I'm here to "
        "keep talking. If it's safe to talk, you can tell me what's happening; if you're worried the person may "
        "see your phone or messages, put your own safety first.",
    },
}


# Regions whose written Chinese uses traditional characters.
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})


def _texts(locale: str) -> dict[str, str]:
    """zh-TW / zh-HK / zh-MO / zh-Hant* -> "zh-Hant"; other zh -> "zh"; else by language, zh by default."""
    parts = [part.lower() for part in locale.replace("_", "-").split("-")]
    if parts[0] == "zh":
        subtags = set(parts[1:])
        if "hant" in subtags or (subtags & _TRADITIONAL_REGIONS and "hans" not in subtags):
            return TEXTS["zh-Hant"]
    return TEXTS.get(parts[0], TEXTS["zh"])


def resource_lines(
    locale: str = DEFAULT_LOCALE,
    resources: dict | LocaleResources | None = None,
    category: str | None = None,
) -> list[str]:
    """One "- name：number" line per resource. For category "threat_to_user" the locale's violence lines
    come first, and an emergency number already listed among them is not repeated."""
    found = get_resources(locale, resources)
    texts = _texts(locale)
    violence = found.violence if category == "threat_to_user" else ()
    lines = [f"- {r.line()}" for r in (*violence, *found.hotlines)]
    shown = {r.number for r in violence}
    emergency = [r for r in found.emergency if r.number not in shown]
    if emergency:
        chinese = locale.startswith("zh")
        numbers = ("、" if chinese else ", ").join(f"{r.name} {r.number}" for r in emergency)
        lines.append(f"- {texts['emergency']}：{numbers}" if chinese else f"- {texts['emergency']}: {numbers}")
    return lines


def safe_reply(
    assessment: Assessment | None = None,
    locale: str = DEFAULT_LOCALE,
    resources: dict | LocaleResources | None = None,
) -> str:
    """The reply shown instead of (or before) the model's when a user turn is flagged."""
    texts = _texts(locale)
    category = assessment.category if assessment is not None else None
    severity = assessment.severity if assessment is not None else 2
    lines = resource_lines(locale, resources, category)
    if category == "threat_to_user":
        parts = [texts["threat_acknowledge"], texts["threat_ask"], texts["threat_urgent"], *lines, texts["threat_stay"]]
    elif category == "harm_to_others":
        parts = [texts["others_acknowledge"], texts["others_ask"], texts["others_urgent"], *lines, texts["check_in"]]
    elif category == "third_party_risk":
        parts = [texts["third_acknowledge"], texts["third_ask"], texts["third_urgent"], *lines, texts["third_stay"]]
    elif category in _OWN_SCRIPTS:
        opening, question = _OWN_SCRIPTS[category]
        parts = [texts[opening], texts[question], texts["reach_out"], *lines, texts["stay"]]
    else:  # ideation, plan, preparation (or no category)
        parts = [texts["acknowledge"], texts["ask"]]
        if severity >= 3:  # a method, a time or means at hand: act now, and put the means out of reach
            parts += [texts["urgent"], texts["means"]]
        parts += [texts["reach_out"], *lines, texts["stay"]]
    return "\n".join(parts)


# Categories whose reply opens and asks in its own words, then gives the same resources:
# a past attempt is acknowledged as something lived through, and the question is about now;
# self-harm asks about wounds first; a question about suicide gets no method, and is asked back.
_OWN_SCRIPTS = {
    "past_attempt": ("attempt_acknowledge", "attempt_ask"),
    "self_harm": ("selfharm_acknowledge", "selfharm_ask"),
    "suicide_inquiry": ("inquiry_acknowledge", "inquiry_ask"),
}


# Output-check failures that touch on suicide or self-harm: the withdrawn reply talked about it, so the
# person may be closer to it than their turn showed, and the hotlines are offered (not pressed).
RISK_OUTPUT_CATEGORIES = frozenset(
    {"method_information", "encourages_harm", "suicide_preparation", "suicide_plan", "suicidal_ideation",
     "past_attempt", "self_harm", "suicide_inquiry"}
)


def fallback_reply(
    assessment: Assessment | None = None,
    locale: str = DEFAULT_LOCALE,
    resources: dict | LocaleResources | None = None,
) -> str:
    """The reply shown when the model's reply failed `check_output` on a turn that was NOT a crisis.

    The person said nothing alarming, so the crisis script (asking about suicide) would be jarring:
    apologise, withdraw the reply and invite them to go on talking. Crisis resources are added only
    when the failed reply was risk-related (`assessment.category` in RISK_OUTPUT_CATEGORIES).
    """
    texts = _texts(locale)
    parts = [texts["fallback_sorry"], texts["fallback_listen"]]
    category = assessment.category if assessment is not None and assessment.flagged else None
    if category in RISK_OUTPUT_CATEGORIES:
        parts += [texts["fallback_resources"], *resource_lines(locale, resources)]
    return "\n".join(parts)


def check_in_note(locale: str = DEFAULT_LOCALE, resources: dict | LocaleResources | None = None) -> str:
    """Appended to the model's reply when a turn was not flagged but showed some sign of risk
    (`Assessment.check_in`): one direct, gentle question about safety and one hotline. Asking does
    not plant the idea; a person who is not at risk just says no."""
    texts = _texts(locale)
    found = get_resources(locale, resources)
    first = (found.hotlines or found.emergency)[0]
    chinese = locale.startswith("zh")
    return f"{texts['gentle_ask']}{'：' if chinese else ': '}{first.name} {first.number}{'。' if chinese else '.'}"


def follow_up_note(locale: str = DEFAULT_LOCALE, resources: dict | LocaleResources | None = None) -> str:
    """Appended to the model's reply on the turns after a crisis reply (`Assessment.follow_up`):
    the conversation does not go back to ordinary chat as if nothing had been said."""
    texts = _texts(locale)
    found = get_resources(locale, resources)
    first = (found.hotlines or found.emergency)[0]
    chinese = locale.startswith("zh")
    return f"{texts['follow_up']}{'：' if chinese else ' '}{first.name} {first.number}{'。' if chinese else '.'}"


def disclosure(locale: str = DEFAULT_LOCALE, resources: dict | LocaleResources | None = None) -> str:
    """Shown before the first message: AI-generated, for reference only, not professional care, where to get help."""
    return "\n".join([_texts(locale)["disclosure"], *resource_lines(locale, resources)])
