"""`soulchat build`: clean rewrites (or existing multi-turn files) into a SoulChatCorpus folder."""

from __future__ import annotations

import argparse
import sys

from ._common import integer, number, say, size_or_fraction

ORDER = 30

DESCRIPTION = """\
Parse, validate and clean dialogues, then write SoulChatCorpus: a folder that
datasets.load_dataset(FOLDER, "dialogues" | "samples" | "messages") reads, with train/validation/test
splits by dialogue id, a dataset card (README.md), statistics.json and figures/*.png.

Inputs: rewrite folders (OUTPUT/results.jsonl of `soulchat rewrite`), released SoulChatCorpus
JSON/JSONL ({id, topic, messages}), SMILE-style files (lists of client/counselor messages) or folders
of such files. Cleaning re-reads the log, so changing a filter costs no API call. Rejected dialogues
are written with their reasons to OUTPUT/cleaning/rejects.jsonl, per-rule counts to
OUTPUT/cleaning/report.json. Rerunning the same command does nothing once the build is finished and
resumes after the cleaning pass if it was interrupted."""


def register(commands) -> None:
    from ..clean.pipeline import CRISIS_POLICIES, DEDUP_MODES, CleanConfig

    build = commands.add_parser(
        "build", help="clean dialogues and build the SoulChatCorpus folder", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE", help="rewrite folders or multi-turn files")
    build.add_argument("--output", required=True, help="corpus folder to write (rerun continues there)")
    rules = build.add_argument_group("cleaning")
    rules.add_argument("--min-rounds", type=integer(1), default=8, help="fewest rounds of a rewrite (default: %(default)s)")
    rules.add_argument("--max-rounds", type=integer(1), default=20, help="most rounds of a rewrite (default: %(default)s)")
    rules.add_argument("--rounds-for-files", action="store_true",
                       help="apply the round limits to existing multi-turn files too")
    rules.add_argument("--allow-unfinished", action="store_true",
                       help="keep rewrites whose finish_reason is not 'stop'")
    rules.add_argument("--keep-self-reference", action="store_true",
                       help="do not reject a psychologist that calls itself an AI or claims a human identity")
    rules.add_argument("--crisis-policy", choices=CRISIS_POLICIES, default=CleanConfig.crisis_policy,
                       help="dialogues flagged by soulchat.safety.assess (its rules, unless --crisis-model): keep and "
                       "tag them (tags: crisis:CATEGORY), drop them, or off (default: %(default)s; see docs/corpus.md)")
    rules.add_argument("--crisis-model", action="store_true",
                       help="also use the safety layer's n-gram model: a wider net with more false alarms "
                       "(2-8%% of ordinary counseling turns)")
    rules.add_argument("--no-privacy-scrub", action="store_true", help="keep phone numbers, ids, emails, addresses")
    rules.add_argument("--dedup", choices=DEDUP_MODES, default="near", help="duplicate removal (default: %(default)s)")
    rules.add_argument("--near-threshold", type=number(above=0, maximum=1), default=0.8,
                       help="Jaccard similarity of a near duplicate (default: %(default)s)")
    corpus = build.add_argument_group("corpus")
    corpus.add_argument("--test-size", type=size_or_fraction, default=10_000,
                        help="test samples (paper: 10,000), or a fraction if < 1 (default: %(default)s)")
    corpus.add_argument("--validation-size", type=size_or_fraction, default=1_000,
                        help="validation samples, or a fraction if < 1 (default: %(default)s)")
    corpus.add_argument("--max-split-fraction", type=number(0.0, 1.0), default=0.1,
                        help="cap of test and validation each, as a fraction of all samples (default: %(default)s)")
    corpus.add_argument("--split-salt", default="soulchat", help="salt of the split hash (default: %(default)s)")
    corpus.add_argument("--shard-rows", type=integer(1), default=50_000, help="rows per JSONL shard (default: %(default)s)")
    corpus.add_argument("--no-plots", action="store_true", help="skip the topic chart and the word cloud")
    corpus.add_argument("--license", default="apache-2.0", help="license field of the card (default: %(default)s)")
    build.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..clean import CleanConfig
    from ..corpus import BuildConfig, build_corpus
    from ..io import InputError

    clean = CleanConfig(
        min_rounds=args.min_rounds, max_rounds=args.max_rounds, rounds_for_files=args.rounds_for_files,
        require_stop=not args.allow_unfinished, self_reference=not args.keep_self_reference,
        crisis_policy=args.crisis_policy, crisis_model=args.crisis_model, scrub_privacy=not args.no_privacy_scrub, dedup=args.dedup,
        near_threshold=args.near_threshold,
    )
    build = BuildConfig(
        test_size=args.test_size, validation_size=args.validation_size,
        max_split_fraction=args.max_split_fraction, split_salt=args.split_salt, shard_rows=args.shard_rows,
        plots=not args.no_plots, license=args.license,
    )
    progress = lambda items: tqdm(items, desc="clean", unit=" dialogues", file=sys.stderr)  # noqa: E731
    try:
        summary = build_corpus(args.inputs, args.output, clean_config=clean, build_config=build,
                               progress=progress, say=say)
    except (InputError, RuntimeError) as error:
        say(f"error: {error}")
        return 1
    for config, splits in summary["splits"].items():
        say(f"{config:10} " + ", ".join(f"{split} {rows:,}" for split, rows in splits.items()))
    say(f"corpus written to {args.output} (card: {args.output}/README.md, "
        f"rejects: {args.output}/cleaning/rejects.jsonl)")
    return 0
