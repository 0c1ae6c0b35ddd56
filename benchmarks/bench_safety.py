"""Safety layer speed and quality: per-turn latency, corpus throughput, labelled-set figures.

    .venv/bin/python benchmarks/bench_safety.py [--texts 100000]

Baseline measured in the same run: a bare `str.translate` + one regex search over the same texts
(the least any normalizing matcher must do), so the ratio says what the context logic costs.
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

    latencies = []
    for text in texts[:5000]:
        start = time.perf_counter()
        safety.assess(text)
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    print(f"per-turn latency over 5000 turns: median {statistics.median(latencies) * 1e6:.1f} µs, "
          f"p99 {latencies[int(0.99 * len(latencies))] * 1e6:.1f} µs, max {latencies[-1] * 1e6:.1f} µs (goal: median < 1000 µs)")

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
    start = time.perf_counter()
    flagged = sum(v.flagged for v in safety.assess(texts))
    rules_s = time.perf_counter() - start
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"throughput on {len(texts)} texts (mean {mean_chars:.0f} chars): {len(texts) / rules_s:,.0f} texts/s "
          f"({rules_s:.2f} s, {flagged} flagged); baseline translate+one regex {len(texts) / base_s:,.0f} texts/s; "
          f"ratio {rules_s / base_s:.1f}x baseline time")

    for name in SETS:
        rows = read_labelled(DATA / name)
        print(f"\n{name} ({len(rows)} utterances)\n{table(score(rows))}")


if __name__ == "__main__":
    main()
