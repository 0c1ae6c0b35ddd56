"""Tokens forwarded per epoch: the paper's per-turn expansion vs one-pass training (mask="all").

    .venv/bin/python benchmarks/bench_onepass.py [--dialogues 300] [--epoch-dialogues 40]

Both modes train exactly the same psychologist-turn tokens (tests/test_onepass.py proves the
per-turn losses are equal); what differs is how many tokens are forwarded to do it. Measured with
Qwen's real vocabulary and a ChatML ("native") template, on

* the 60 bundled dialogues (4–10 rounds, mean 6.8), and
* synthetic dialogues with SoulChatCorpus's shape: 9 rounds (2,300,248 samples over ~258k
  dialogues is ~8.9 samples per dialogue), turns drawn from the bundled ones;

then one epoch of a tiny GLM on CPU in both modes (forward + backward, batch of 1, same model),
tokenized with a small BPE trained on the sample so that the 151k-row output layer of the Qwen
vocabulary does not dominate the timing.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import torch

from soulchat.train.collator import EncodingSettings, encode
from soulchat.data import SAMPLE_DIALOGUES
from soulchat.dialogue import PSYCHOLOGIST, USER
from soulchat.io import read_dialogues
from soulchat.testing import qwen_tokenizer, tiny_glm, train_tokenizer


def rows(dialogues, tokenizer, mask):
    stats = Counter()
    out = []
    for dialogue in dialogues:
        if mask == "all":
            out += [r.as_dict() for r in encode({"messages": dialogue.to_messages()}, tokenizer, EncodingSettings("native", mask="all"), stats)]
        else:
            for k in range(dialogue.rounds):
                messages = {"messages": dialogue.to_messages()[: 2 * (k + 1)]}
                out += [r.as_dict() for r in encode(messages, tokenizer, EncodingSettings("native"), stats)]
    return out, stats


def synthetic(dialogues, count, rounds, seed=0):
    from soulchat.dialogue import Dialogue, Turn

    rng = random.Random(seed)
    users = [t.content for d in dialogues for t in d.turns if t.role == USER]
    replies = [t.content for d in dialogues for t in d.turns if t.role == PSYCHOLOGIST]
    return [
        Dialogue([Turn(role, rng.choice(users if role == USER else replies))
                  for _ in range(rounds) for role in (USER, PSYCHOLOGIST)])
        for _ in range(count)
    ]


def epoch_seconds(model, dialogues, tokenizer):
    """Seconds of forward + backward per mode, interleaved dialogue by dialogue so that a change
    in the machine's load hits both modes alike."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # same work, weights unchanged
    seconds = {"final": 0.0, "all": 0.0}
    for dialogue in dialogues:
        for mask in seconds:
            batch_rows, _ = rows([dialogue], tokenizer, mask)
            start = time.perf_counter()
            for row in batch_rows:
                loss = model(input_ids=torch.tensor([row["input_ids"]]), labels=torch.tensor([row["labels"]])).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            seconds[mask] += time.perf_counter() - start
    return seconds["final"], seconds["all"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialogues", type=int, default=300, help="synthetic 9-round dialogues")
    parser.add_argument("--epoch-dialogues", type=int, default=30, help="dialogues in the timed epoch")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tokenizer = qwen_tokenizer()
    bundled = list(read_dialogues(SAMPLE_DIALOGUES))
    for name, dialogues in (("bundled (60, 4–10 rounds)", bundled),
                            (f"synthetic ({args.dialogues}, 9 rounds)", synthetic(bundled, args.dialogues, 9))):
        expanded, _ = rows(dialogues, tokenizer, "final")
        one_pass, stats = rows(dialogues, tokenizer, "all")
        tokens_expanded = sum(len(r["input_ids"]) for r in expanded)
        tokens_one_pass = sum(len(r["input_ids"]) for r in one_pass)
        trained = [sum(x != -100 for r in rs for x in r["labels"]) for rs in (expanded, one_pass)]
        print(f"{name}: samples {len(expanded)} -> rows {len(one_pass)} "
              f"({stats['separate_turns']} turns kept separate)")
        print(f"  tokens forwarded per epoch: expansion {tokens_expanded:,}  one-pass {tokens_one_pass:,}  "
              f"ratio {tokens_expanded / tokens_one_pass:.2f}x  (trained tokens {trained[0]:,} = {trained[1]:,})")

    subset = bundled[: args.epoch_dialogues]
    small = train_tokenizer()
    model = tiny_glm(small, hidden_size=64, intermediate_size=128, head_dim=16).train()
    epoch_seconds(model, subset[:2], small)  # warm-up
    slow, fast = epoch_seconds(model, subset, small)
    print(f"one epoch of a tiny GLM on CPU, {len(subset)} bundled dialogues: expansion {slow:.1f}s, "
          f"one-pass {fast:.1f}s, ratio {slow / fast:.2f}x")


if __name__ == "__main__":
    main()
