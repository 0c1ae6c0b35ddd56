"""Speed and equality of `soulchat.evaluation.metrics.compute_metrics` against the reference loop.

    .venv/bin/python benchmarks/bench_metrics.py [--pairs 10000] [--seed 0] [--num-proc N]

The reference loop is ChatGLM-6B's p-tuning evaluation (the toolchain the SoulChat authors point
to): per pair, jieba segmentation, ``rouge_chinese.Rouge().get_scores`` on the space-joined words
and ``nltk`` ``sentence_bleu`` on characters with ``SmoothingFunction().method3`` (BLEU-1..4 in one
call, uniform cumulative weights). Both run on the same pairs in the same process; the script
prints the time ratio (goal: >= 10x) and the largest absolute difference of every metric
(goal: <= 1e-9).

Pairs (100-300 characters each) are made from the bundled dialogues: a reference is a run of
consecutive utterances; its prediction is either a perturbed copy (clauses dropped, swapped or
taken from another dialogue, characters edited) or unrelated text, so that scores spread widely.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time

from soulchat.bundled import SAMPLE_DIALOGUES


def utterances() -> list[list[str]]:
    with SAMPLE_DIALOGUES.open(encoding="utf-8") as stream:
        return [[m["content"] for m in json.loads(line)["messages"]] for line in stream if line.strip()]


def long_text(rng: random.Random, dialogues: list[list[str]]) -> str:
    size = rng.randint(100, 300)
    text = ""
    while len(text) < size:
        turns = rng.choice(dialogues)
        start = rng.randrange(len(turns))
        text += "".join(turns[start:])
    return text[:size]


def perturb(rng: random.Random, text: str, dialogues: list[list[str]]) -> str:
    clauses = [c for c in re.split(r"(?<=[，。！？；…])", text) if c]
    out = []
    for clause in clauses:
        roll = rng.random()
        if roll < 0.15:
            continue  # dropped
        if roll < 0.3:
            clause = rng.choice(rng.choice(dialogues))[: len(clause) + 5]  # replaced
        chars = list(clause)
        for _ in range(rng.randint(0, 3)):  # character edits
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice("我你他的了是不很在有也就都")
        out.append("".join(chars))
    if len(out) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return "".join(out)[:300] or text[:100]


def make_pairs(count: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    dialogues = utterances()
    predictions, references = [], []
    for _ in range(count):
        reference = long_text(rng, dialogues)
        prediction = perturb(rng, reference, dialogues) if rng.random() < 0.7 else long_text(rng, dialogues)
        if len(prediction) < 100:
            prediction += long_text(rng, dialogues)[: 100 - len(prediction)]
        predictions.append(prediction)
        references.append(reference)
    return predictions, references


def reference_loop(predictions: list[str], references: list[str]) -> dict:
    import jieba
    import numpy as np
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    smoothing = SmoothingFunction().method3
    weights = [tuple([1 / n] * n) for n in range(1, 5)]
    scores: dict[str, list[float]] = {k: [] for k in ("rouge-1", "rouge-2", "rouge-l", "bleu-1", "bleu-2", "bleu-3", "bleu-4")}
    for prediction, reference in zip(predictions, references):
        hypothesis, label = list(jieba.cut(prediction)), list(jieba.cut(reference))
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(label))[0]
        for key, value in result.items():
            scores[key].append(value["f"] * 100)
        bleu = sentence_bleu([list(reference)], list(prediction), weights=weights, smoothing_function=smoothing)
        for n, value in enumerate(bleu, start=1):
            scores[f"bleu-{n}"].append(value * 100)
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=None, help="processes for compute_metrics (default: all cores)")
    args = parser.parse_args()

    import jieba

    from soulchat.evaluation.metrics import METRICS, compute_metrics

    jieba.setLogLevel(60)
    jieba.initialize()  # dictionary loading is excluded from both timings
    predictions, references = make_pairs(args.pairs, args.seed)
    lengths = [len(t) for t in predictions + references]
    print(f"{args.pairs} pairs, {min(lengths)}-{max(lengths)} characters (mean {sum(lengths) / len(lengths):.0f})")

    start = time.perf_counter()
    expected = reference_loop(predictions, references)
    reference_seconds = time.perf_counter() - start

    start = time.perf_counter()
    got = compute_metrics(predictions, references, num_proc=args.num_proc)
    fast_seconds = time.perf_counter() - start

    # Cold single process: no memoised segmentation, one core; the floor of the speed-up.
    from soulchat.evaluation import metrics

    metrics._cut_block.cache_clear()
    start = time.perf_counter()
    compute_metrics(predictions, references, num_proc=1)
    cold_seconds = time.perf_counter() - start

    print(f"reference loop (jieba + rouge_chinese + nltk): {reference_seconds:8.2f} s")
    print(f"compute_metrics:                               {fast_seconds:8.2f} s   ratio {reference_seconds / fast_seconds:6.1f}x")
    print(f"compute_metrics, cold cache, 1 process:        {cold_seconds:8.2f} s   ratio {reference_seconds / cold_seconds:6.1f}x")
    print("metric     reference      compute_metrics  abs difference")
    worst = 0.0
    for name in METRICS:
        difference = abs(expected[name] - got[name])
        worst = max(worst, difference)
        print(f"{name:8} {expected[name]:14.10f} {got[name]:14.10f}   {difference:.2e}")
    print(f"max abs difference: {worst:.2e} (goal <= 1e-9)")


if __name__ == "__main__":
    main()
