"""Safety layer speed and quality: per-turn latency, corpus throughput, labelled-set figures.

    .venv/bin/python benchmarks/bench_safety.py [--texts 100000]

Latency and throughput are given for the rule layer alone and for rules + the n-gram model (the
default `safety.assess`). Baseline measured in the same run: a bare `str.translate` + one regex
search over the same texts (the least any normalizing matcher must do).

Labelled figures: the blind sets (never trained or tuned on; see docs/safety.md) come first; the
training sets follow for reference only, since the shipped model has seen them.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from pathlib import Path

from soulchat import safety
from soulchat.data import SAMPLE_DIALOGUES
from soulchat.io import read_dialogues
from soulchat.safety.evaluation import read_labelled, score, table
from soulchat.safety.normalize import TABLE

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
# holdout4 is the only set no rule was tuned on (see docs/safety.md); the others are tuning data.
BLIND = ("safety_blind5a.jsonl", "safety_blind5b.jsonl")
SETS = ("safety_dev.jsonl", "safety_holdout.jsonl", "safety_holdout2.jsonl", "safety_holdout3.jsonl", "safety_holdout4.jsonl")


def corpus(n: int) -> list[str]:
    """User turns from the bundled dialogues plus the labelled sets, repeated up to n texts."""
    texts = [t.content for d in read_dialogues(SAMPLE_DIALOGUES) for t in d.turns]
    for name in SETS:
        texts += [r["text"] for r in read_labelled(DATA / name)]
    random.Random(0).shuffle(texts)
    return (texts * (n // len(texts) + 1))[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=100_000)
    args = parser.parse_args()
    texts = corpus(args.texts)
    safety.assess("预热")  # compile once

    for label, model in (("rules only", False), ("rules + model", True)):
        latencies = []
        for text in texts[:5000]:
            start = time.perf_counter()
            safety.assess(text, model=model)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        print(f"per-turn latency, {label}, over 5000 turns: median {statistics.median(latencies) * 1e6:.1f} µs, "
              f"p99 {latencies[int(0.99 * len(latencies))] * 1e6:.1f} µs, max {latencies[-1] * 1e6:.1f} µs "
              "(goal: median < 1000 µs)")

    replies = [safety.safe_reply(safety.assess(t)) for t in texts[:200]] + texts[:4800]
    latencies = []
    for reply in replies:
        start = time.perf_counter()
        safety.check_output(reply)
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    print(f"output check latency over {len(replies)} replies: median {statistics.median(latencies) * 1e6:.1f} µs, "
          f"p99 {latencies[int(0.99 * len(latencies))] * 1e6:.1f} µs")

    baseline = re.compile("想死|不想活|自杀")
    start = time.perf_counter()
    for text in texts:
        baseline.search(text.translate(TABLE))
    base_s = time.perf_counter() - start
    mean_chars = sum(map(len, texts)) / len(texts)
    for label, model in (("rules only", False), ("rules + model", True)):
        start = time.perf_counter()
        flagged = sum(v.flagged for v in safety.assess(texts, model=model))
        took = time.perf_counter() - start
        print(f"throughput, {label}, on {len(texts)} texts (mean {mean_chars:.0f} chars): {len(texts) / took:,.0f} texts/s "
              f"({took:.2f} s, {flagged} flagged); baseline translate+one regex {len(texts) / base_s:,.0f} texts/s; "
              f"ratio {took / base_s:.1f}x baseline time")

    for heading, names in (("BLIND sets (never trained or tuned on)", BLIND), ("training sets (seen by the model)", SETS)):
        print(f"\n===== {heading}")
        for name in names:
            if not (DATA / name).exists():
                continue
            rows = read_labelled(DATA / name)
            rules = score(rows, lambda t: safety.assess(t, model=False))["any_risk"]
            print(f"\n{name} ({len(rows)} utterances); rules alone any-risk P {rules.precision:.3f} R {rules.recall:.3f}; "
                  f"rules + model:\n{table(score(rows))}")


if __name__ == "__main__":
    main()
