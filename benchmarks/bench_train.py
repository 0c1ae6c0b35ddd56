"""Training-side benchmarks: padding with length grouping, and label-building throughput.

    .venv/bin/python benchmarks/bench_train.py [--repeat 10] [--epochs 5]

1. Pad fraction of training batches (padding tokens ÷ token slots) on the bundled dialogues'
   samples (the paper's expansion, Qwen's real vocabulary, soulchat template), for several
   per-device batch sizes: soulchat's LengthGroupedSampler vs random batching vs transformers'
   LengthGroupedSampler, averaged over epochs. Goal: ≤ 5 % with soulchat's grouping.
2. Preprocessing throughput (samples/s) of soulchat's tokenize-and-mask map (`tokenize_function`
   in `datasets.map`, the way soulchat.train.data runs it) vs TRL SFTTrainer's preparation of the
   same samples as prompt/completion data (prompt = the rendered template prompt, completion = the
   target), one process each, same run, same tokenizer. Goal: ratio ≥ 1 (not slower).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import types

import torch

from soulchat.train.collator import tokenize_function
from soulchat.data import SAMPLE_DIALOGUES
from soulchat.dialogue import parse_input
from soulchat.io import read_dialogues
from soulchat.templates import get_template
from soulchat.testing import qwen_tokenizer
from soulchat.train.batching import LengthGroupedSampler, pad_fraction


def samples():
    return [s for d in read_dialogues(SAMPLE_DIALOGUES) for s in d.samples()]


def padding(lengths, batch_sizes, epochs):
    from transformers.trainer_pt_utils import LengthGroupedSampler as HfSampler

    print(f"1. pad fraction, {len(lengths)} samples of the bundled dialogues "
          f"(tokens: mean {statistics.fmean(lengths):.0f}, min {min(lengths)}, max {max(lengths)}), "
          f"mean over {epochs} epochs")
    print(f"   {'batch':>5}  {'random':>8}  {'transformers':>12}  {'soulchat':>8}  random÷soulchat")
    worst = 0.0
    for batch in batch_sizes:
        rnd, hf, ours = [], [], []
        for epoch in range(epochs):
            order = random.Random(epoch).sample(range(len(lengths)), len(lengths))
            rnd.append(pad_fraction(lengths, order, batch))
            hf_sampler = HfSampler(batch, lengths=lengths, generator=torch.Generator().manual_seed(epoch))
            hf.append(pad_fraction(lengths, list(hf_sampler), batch))
            sampler = LengthGroupedSampler(lengths, batch, seed=0)
            sampler.set_epoch(epoch)
            ours.append(pad_fraction(lengths, list(sampler), batch))
        r, h, o = (statistics.fmean(x) for x in (rnd, hf, ours))
        worst = max(worst, o)
        print(f"   {batch:>5}  {r:>8.1%}  {h:>12.1%}  {o:>8.1%}  {r / o:>6.1f}×")
    print(f"   worst soulchat pad fraction {worst:.1%} (goal ≤ 5 %): {'met' if worst <= 0.05 else 'NOT met'}")


def throughput(rows, tokenizer, repeat):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    template = get_template("soulchat")
    ours_data = Dataset.from_list(rows * repeat)
    prompt_completion = []
    for row in rows:
        history, query = parse_input(row["input"])
        prompt_completion.append(
            {"prompt": template.render_prompt(history, query, tokenizer), "completion": row["target"]}
        )
    trl_data = Dataset.from_list(prompt_completion * repeat)
    n = len(ours_data)

    def run_ours():
        fn = tokenize_function(tokenizer, template, 1536, 512)
        return ours_data.map(fn, batched=True, remove_columns=ours_data.column_names, load_from_cache_file=False)

    def run_trl():
        config = SFTConfig(output_dir="/tmp/bench-trl", max_length=2048, report_to="none", use_cpu=True)
        stub = types.SimpleNamespace(_tokenizer=tokenizer, chat_template=None, completion_only_loss=True)
        return SFTTrainer._prepare_dataset(stub, trl_data, tokenizer, config, False, None, "train")

    timings = {}
    for name, fn in (("soulchat", run_ours), ("trl", run_trl), ("soulchat ", run_ours), ("trl ", run_trl)):
        start = time.perf_counter()
        out = fn()
        timings.setdefault(name.strip(), []).append(time.perf_counter() - start)
        assert len(out) == n, (name, len(out))
    ours, trl = min(timings["soulchat"]), min(timings["trl"])
    print(f"2. preprocessing throughput, {n} samples ({len(rows)} × {repeat}), one process, best of 2")
    print(f"   soulchat tokenize_function map  {n / ours:>8.0f} samples/s")
    print(f"   TRL SFTTrainer._prepare_dataset {n / trl:>8.0f} samples/s (prompt/completion)")
    print(f"   ratio soulchat ÷ TRL            {trl / ours:>8.2f}× (goal ≥ 1: {'met' if trl >= ours else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="copies of the samples timed (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs averaged for padding (default: %(default)s)")
    args = parser.parse_args()
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    tokenizer = qwen_tokenizer()
    rows = samples()
    fn = tokenize_function(tokenizer, "soulchat", 1536, 512)
    encoded = fn({"input": [r["input"] for r in rows], "target": [r["target"] for r in rows]})
    padding([len(ids) for ids in encoded["input_ids"]], [4, 8, 10, 16], args.epochs)
    throughput(rows, tokenizer, args.repeat)


if __name__ == "__main__":
    main()
