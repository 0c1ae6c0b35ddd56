"""Safety layer speed and quality: per-turn latency, long text, corpus throughput, labelled-set figures.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_safety.py [--texts 100000]

Latency is given for the rule layer alone, for rules + the crisis model (n-grams, sentence encoder,
stacker: the default `safety.assess`) on a turn by itself, and for a turn judged in the context of
its conversation's earlier user turns (what `soulchat chat` and `ChatSession` do), each on one
thread (goal: p99 <= 10 ms a turn). Long text: time per character from 100 to 100,000 characters
(goal: flat). Baseline measured in the same run: a bare `str.translate` + one regex search over the
same texts (the least any normalizing matcher must do); the cleaner's throughput is the rules'.

Labelled figures: the blind sets (written for the project, never trained or tuned on; see
docs/safety.md) come first; the training sets follow for reference only, since the shipped model
has seen them. The real-data figures come from `soulchat safety cv` (docs/safety.md), not from here.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from pathlib import Path

from soulchat import safety
from soulchat.bundled import SAMPLE_DIALOGUES
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
    parser.add_argument("--turns", type=int, default=3000, help="turns timed one by one (default: %(default)s)")
    args = parser.parse_args()
    texts = corpus(args.texts)
    safety.assess("预热")  # compile once

    def percentiles(latencies: list[float]) -> str:
        latencies = sorted(latencies)
        return (f"median {statistics.median(latencies) * 1e3:.2f} ms, p99 {latencies[int(0.99 * len(latencies))] * 1e3:.2f} ms, "
                f"max {latencies[-1] * 1e3:.2f} ms")

    # Wall time, and the process's CPU time (one thread: on an idle machine they agree; on a busy one
    # the CPU time is what the turn itself cost, the wall time adds the waiting)
    def timed(call, items):
        wall, cpu = [], []
        for item in items:
            start, start_cpu = time.perf_counter(), time.process_time()
            call(item)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        return f"wall {percentiles(wall)}; CPU {percentiles(cpu)}"

    turns = texts[:args.turns]
    for label, model in (("rules only", False), ("rules + model, turn alone", True)):
        fresh = [f"{text}（{label[:5]}）" for text in turns]  # no memo hits
        print(f"per-turn latency, {label}, over {len(turns)} new turns: {timed(lambda t: safety.assess(t, model=model), fresh)}")
    # conversations: each turn judged with the three user turns before it (fresh texts, so no memo hits
    # for the new turn; the earlier turns' verdicts and embeddings are cached, as in a real chat)
    conversation = [f"{text}（{i}）" for i, text in enumerate(turns)]
    result = timed(lambda i: safety.assess(conversation[i], context=conversation[max(0, i - 3):i]), range(len(conversation)))
    print(f"per-turn latency, rules + model in conversation context, over {len(turns)} turns: {result} "
          "(goal: p99 <= 10 ms on one thread)")

    sentence = "我最近工作压力很大，每天加班到很晚，回家以后也睡不好。"
    risky = "其实我已经把药攒够了。"
    for length in (100, 1_000, 10_000, 100_000):
        text = (sentence * (length // len(sentence) + 1))[: length - len(risky)] + risky
        start = time.perf_counter()
        verdict = safety.assess(text)
        took = time.perf_counter() - start
        print(f"long text, {length:>7,} characters (the risk at the end): {took * 1e3:8.1f} ms, "
              f"{took / length * 1e6:.2f} µs/char, flagged {verdict.flagged} ({verdict.category})")

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
    # the cleaner's default is the rules alone (CleanConfig.crisis_model); the model is timed on fewer texts
    for label, model, sample in (("rules only (the cleaner)", False, texts), ("rules + model", True, texts[:5000])):
        start = time.perf_counter()
        flagged = sum(v.flagged for v in safety.assess([f"{t} " for t in sample], model=model))  # fresh: no memo hits
        took = time.perf_counter() - start
        per_text = took / len(sample)
        print(f"throughput, {label}, on {len(sample)} texts (mean {mean_chars:.0f} chars): {1 / per_text:,.0f} texts/s "
              f"({took:.2f} s, {flagged} flagged); baseline translate+one regex {len(texts) / base_s:,.0f} texts/s; "
              f"ratio {per_text / (base_s / len(texts)):.1f}x baseline time per text")

    for heading, names in (("BLIND sets (never trained or tuned on)", BLIND), ("training sets (seen by the model)", SETS)):
        print(f"\n===== {heading}")
        for name in names:
            if not (DATA / name).exists():
                continue
            rows = read_labelled(DATA / name)
            rules = score(rows, lambda t: safety.assess(t, model=False))["flagged"]
            print(f"\n{name} ({len(rows)} utterances); rules alone flagged P {rules.precision:.3f} R {rules.recall:.3f}; "
                  f"rules + model:\n{table(score(rows))}")


if __name__ == "__main__":
    main()
