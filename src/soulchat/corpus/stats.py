"""Corpus statistics gathered while streaming: bounded counters, never the utterances themselves."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..dialogue import PSYCHOLOGIST, USER, Dialogue
from ..topics import SOURCES, UNKNOWN

# Function words that would otherwise fill the word cloud; content words such as 感受/理解/情绪 stay.
STOPWORDS = frozenset(
    "我们 你们 他们 她们 自己 这个 那个 这些 那些 一个 一些 一下 什么 怎么 怎样 为什么 没有 就是 因为 所以 但是 "
    "如果 这样 那样 那么 还是 其实 时候 现在 已经 可以 可能 觉得 也许 或者 而且 然后 不是 不会 这种 那种 有些 "
    "有点 还有 这么 那么 很多 非常 真的 一样 之后 之前 的话 起来 出来 一直 一定 需要 应该 知道 比如 以及 并且 "
    "因此 如何 虽然 不过 对于 关于 只是 甚至 是否 以后 所有 每个 不要 可是 一起 已经 这里 那里 我会 你会 是不是".split()
)


def _describe(counts: Counter) -> dict[str, Any]:
    if not counts:
        return {}
    total = sum(counts.values())
    values = sorted(counts)
    mean = sum(v * n for v, n in counts.items()) / total

    def quantile(q: float) -> int:
        seen = 0
        for value in values:
            seen += counts[value]
            if seen >= q * total:
                return value
        return values[-1]

    return {"count": total, "min": values[0], "mean": round(mean, 1), "p50": quantile(0.5),
            "p95": quantile(0.95), "max": values[-1]}


class CorpusStats:
    def __init__(self, wordcloud_dialogues: int = 5_000) -> None:
        self.wordcloud_dialogues = wordcloud_dialogues
        self.dialogues = 0
        self.rounds: Counter = Counter()
        self.chars = {USER: Counter(), PSYCHOLOGIST: Counter()}
        self.topic_dialogues: Counter = Counter()
        self.topic_samples: Counter = Counter()
        self.topic_sources: Counter = Counter()  # how each dialogue got its topic (soulchat.topics.SOURCES)
        self.words: Counter = Counter()
        self.words_from = 0
        self.prompt_versions: Counter = Counter()
        self.models: Counter = Counter()

    def add(self, dialogue: Dialogue, origin: dict[str, Any] | None = None, topic_source: str | None = None) -> None:
        self.dialogues += 1
        if topic_source:
            self.topic_sources[topic_source] += 1
        if origin and origin.get("prompt_version"):
            self.prompt_versions[f"{origin.get('prompt')}:{origin['prompt_version']}"] += 1
        if origin and origin.get("model"):
            self.models[origin["model"]] += 1
        rounds = dialogue.rounds
        self.rounds[rounds] += 1
        topic = dialogue.topic or UNKNOWN
        self.topic_dialogues[topic] += 1
        self.topic_samples[topic] += rounds
        for turn in dialogue.turns:
            self.chars[turn.role][len(turn.content)] += 1
        if self.words_from < self.wordcloud_dialogues:
            import jieba

            self.words_from += 1
            for turn in dialogue.turns:
                if turn.role == PSYCHOLOGIST:
                    self.words.update(
                        w for w in jieba.lcut(turn.content) if len(w) > 1 and w not in STOPWORDS and not w.isascii()
                    )

    def summary(self) -> dict[str, Any]:
        return {
            "dialogues": self.dialogues,
            "samples": sum(self.topic_samples.values()),
            "rounds_per_dialogue": _describe(self.rounds),
            "rounds_histogram": {str(k): v for k, v in sorted(self.rounds.items())},
            "characters_per_utterance": {
                "user": _describe(self.chars[USER]),
                "psychologist": _describe(self.chars[PSYCHOLOGIST]),
            },
            "dialogues_per_topic": dict(self.topic_dialogues.most_common()),
            "samples_per_topic": dict(self.topic_samples.most_common()),
            "topic_sources": {s: self.topic_sources[s] for s in SOURCES if self.topic_sources[s]},
            "wordcloud_dialogues": self.words_from,
            "prompt_versions": dict(self.prompt_versions.most_common()),
            "models": dict(self.models.most_common()),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "wordcloud_dialogues": self.wordcloud_dialogues,
            "dialogues": self.dialogues,
            "rounds": dict(self.rounds),
            "chars": {role: dict(c) for role, c in self.chars.items()},
            "topic_dialogues": dict(self.topic_dialogues),
            "topic_samples": dict(self.topic_samples),
            "topic_sources": dict(self.topic_sources),
            "words": dict(self.words.most_common(2000)),
            "words_from": self.words_from,
            "prompt_versions": dict(self.prompt_versions),
            "models": dict(self.models),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusStats:
        stats = cls(data["wordcloud_dialogues"])
        stats.dialogues = data["dialogues"]
        stats.rounds = Counter({int(k): v for k, v in data["rounds"].items()})
        stats.chars = {role: Counter({int(k): v for k, v in c.items()}) for role, c in data["chars"].items()}
        stats.topic_dialogues = Counter(data["topic_dialogues"])
        stats.topic_samples = Counter(data["topic_samples"])
        stats.topic_sources = Counter(data.get("topic_sources", {}))
        stats.words = Counter(data["words"])
        stats.words_from = data["words_from"]
        stats.prompt_versions = Counter(data["prompt_versions"])
        stats.models = Counter(data["models"])
        return stats
