"""`soulchat samples`: expand dialogues into the paper's samples and show how they tokenize."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

from ._common import integer, say

ORDER = 25

DESCRIPTION = """\
Load dialogues (default: the bundled sample), validate them, expand them into the paper's training
samples (one per psychologist turn), render them with a chat template, tokenize and mask them,
collate one batch, and print a summary: counts, token lengths, truncations, trained-token
fraction. The summary is also written to OUTPUT/samples-summary.json."""


def register(commands) -> None:
    parser = commands.add_parser(
        "samples", help="expand dialogues into training samples and show their tokens", description=DESCRIPTION
    )
    parser.add_argument("--output", default="soulchat-samples", help="folder for the summary (default: %(default)s)")
    parser.add_argument(
        "--template", default="soulchat", choices=_template_names(),
        help="chat template to render samples with (default: %(default)s)"
    )
    parser.add_argument(
        "--tokenizer",
        required=True,
        metavar="FOLDER",
        help="a local model or tokenizer folder, e.g. the one `soulchat demo` de-quantizes to "
        "~/.cache/soulchat/smollm2-135m-instruct",
    )
    parser.add_argument("--batch-size", type=integer(1), default=8, help="examples in the collated batch (default: %(default)s)")
    parser.add_argument("--max-source-length", type=integer(16), default=1536, help="prompt token budget (default: %(default)s)")
    parser.add_argument("--max-target-length", type=integer(1), default=512, help="target token budget incl. stop (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=None, help="dialogues JSONL to use instead of the bundled sample")
    parser.set_defaults(handler=run_samples)


def _template_names() -> list[str]:
    from ..templates import TEMPLATES

    return sorted(TEMPLATES)


# -------------------------------------------------------------------------- samples
def load_tokenizer(name: str):
    from ..io import model_source

    if not Path(name).is_dir():
        raise ValueError(f"--tokenizer {name!r}: expected a local model or tokenizer folder")
    model_source(name, what="--tokenizer", model=False)  # a folder without tokenizer files says so
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name, local_files_only=True)


def run_samples(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..train.collator import SoulChatCollator
    from ..data import SAMPLE_DIALOGUES
    from ..io import read_dialogues
    from ..templates import add_special_tokens, get_template

    source = args.data or SAMPLE_DIALOGUES
    say(f"soulchat samples: dialogues from {source}" + (" (bundled sample)" if args.data is None else ""))
    rejects = []
    dialogues = list(read_dialogues(source, on_reject=rejects.append))
    for reject in rejects:
        say(f"  rejected {reject.path}:{reject.line}: {reject.reason}")
    if not dialogues:
        raise ValueError(f"{source}: no valid dialogue")
    samples = [sample for d in dialogues for sample in d.samples()]
    rounds = [d.rounds for d in dialogues]
    say(f"  {len(dialogues)} valid dialogues ({len(rejects)} rejected), {len(samples)} samples")

    template = get_template(args.template)
    say(f"loading tokenizer {args.tokenizer!r} …")
    tokenizer = load_tokenizer(args.tokenizer)
    added = add_special_tokens(tokenizer, template)
    if added:
        say(f"  added special tokens {added} (a model would need resize_token_embeddings)")
    collator = SoulChatCollator(
        tokenizer,
        template=template,
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length,
    )
    encoded = []
    for sample in tqdm(samples, desc="tokenize + mask", unit="sample", file=sys.stderr):
        encoded += collator.encode(sample)
    if not encoded:
        raise ValueError("no sample has a trainable token")
    batch = collator.pad(encoded[: args.batch_size])

    prompt_lengths = [r["labels"].count(-100) for r in encoded]
    target_lengths = [len(r["labels"]) - n for r, n in zip(encoded, prompt_lengths)]
    total = sum(len(r["input_ids"]) for r in encoded)
    trained_in_batch = int((batch["labels"] != -100).sum())
    summary = {
        "source": str(source),
        "template": template.name,
        "tokenizer": args.tokenizer,
        "vocab_size": len(tokenizer),
        "dialogues": len(dialogues),
        "rejected": len(rejects),
        "rounds": _describe(rounds),
        "topics": dict(Counter(d.topic for d in dialogues)),
        "samples": len(samples),
        "encoded": len(encoded),
        "dropped": collator.dropped,
        "prompt_tokens": _describe(prompt_lengths),
        "target_tokens": _describe(target_lengths),
        "trained_token_fraction": round(sum(target_lengths) / total, 4),
        "truncated_prompts": collator.stats["truncated_prompts"],
        "truncated_targets": collator.stats["truncated_targets"],
        "batch": {
            "shape": list(batch["input_ids"].shape),
            "trained_tokens": trained_in_batch,
            "trained_fraction_with_padding": round(trained_in_batch / batch["labels"].numel(), 4),
        },
    }
    first = samples[0]
    history, query = _parts(first)
    prompt_text = template.render_prompt(history, query, tokenizer)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "samples-summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")

    say("")
    say(f"first sample rendered with template {template.name!r}:")
    say("  prompt  │ " + prompt_text.replace("\n", "\n          │ "))
    say("  trained │ " + template.render_target(first["target"], tokenizer).replace("\n", "\n          │ "))
    say("")
    p, t = summary["prompt_tokens"], summary["target_tokens"]
    say(f"dialogues        {summary['dialogues']} over {len(summary['topics'])} topics, "
        f"{summary['rounds']['min']}–{summary['rounds']['max']} rounds (mean {summary['rounds']['mean']})")
    say(f"samples          {summary['samples']} (one per psychologist turn); {summary['dropped']} dropped")
    say(f"prompt tokens    mean {p['mean']}, p50 {p['p50']}, p95 {p['p95']}, max {p['max']} "
        f"(budget {args.max_source_length}; {summary['truncated_prompts']} truncated)")
    say(f"target tokens    mean {t['mean']}, p50 {t['p50']}, p95 {t['p95']}, max {t['max']} "
        f"(incl. stop; budget {args.max_target_length}; {summary['truncated_targets']} truncated)")
    say(f"trained tokens   {summary['trained_token_fraction']:.1%} of all tokens")
    say(f"collated batch   input_ids {tuple(batch['input_ids'].shape)}, {trained_in_batch} trained "
        f"tokens ({summary['batch']['trained_fraction_with_padding']:.1%} incl. padding)")
    say(f"summary written  {output / 'samples-summary.json'}")
    return 0


def _parts(sample):
    from ..dialogue import parse_input

    return parse_input(sample["input"])


def _describe(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }
