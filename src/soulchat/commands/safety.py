"""`soulchat safety`: check a text, score the detector on labelled sets, retrain the n-gram model."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from ._common import say

ORDER = 75

DESCRIPTION = """\
The crisis detector of soulchat.safety: the rules, then a linear model over character n-grams for
what they miss (see docs/safety.md).

  soulchat safety check "最近真的不想活了"        the verdict as JSON (category, spans, rules, score)
  soulchat safety eval tests/data/safety_*.jsonl   precision and recall per labelled set
  soulchat safety train --out model.npz            retrain the model, pick its threshold by
                                                   leave-one-set-out cross-validation

A labelled set is JSON Lines: {"text": "...", "label": "<category>" or null}."""

# The labelled sets the shipped model is trained on (paths relative to the repository root).
# safety_blind*.jsonl are deliberately absent: they measure the finished detector, once.
TRAIN_SETS = (
    "tests/data/safety_dev.jsonl",
    "tests/data/safety_holdout.jsonl",
    "tests/data/safety_holdout2.jsonl",
    "tests/data/safety_holdout3.jsonl",
    "tests/data/safety_holdout4.jsonl",
    "tests/data/safety_train_t1.jsonl",
    "tests/data/safety_train_t2.jsonl",
    "tests/data/safety_train_t3.jsonl",
    "tests/data/safety_train_t4.jsonl",
    "tests/data/safety_train_t5.jsonl",
    "tests/data/safety_train_t6.jsonl",
    "tests/data/safety_train_t7.jsonl",
    "tests/data/safety_train_t8.jsonl",
    "tests/data/safety_train_t9.jsonl",
    "tests/data/safety_train_t10.jsonl",
    "tests/data/safety_train_t11.jsonl",
    "tests/data/safety_background.jsonl",
)

# Ordinary counseling traffic: the false-alarm rate of the crisis reply is bounded on these.
BACKGROUND_SETS = ("tests/data/safety_train_t6.jsonl", "tests/data/safety_background.jsonl")


def register(commands) -> None:
    parser = commands.add_parser("safety", help="crisis detector: check a text, evaluate, retrain the model",
                                 description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="safety_command", metavar="{check,eval,train}", required=True)

    check = sub.add_parser("check", help="assess texts (arguments, or one per line on stdin) and print JSON")
    check.add_argument("texts", nargs="*", help="texts to assess (default: read lines from stdin)")
    check.add_argument("--rules-only", action="store_true", help="the rule layer alone, without the n-gram model")
    check.set_defaults(handler=run_check)

    evaluate = sub.add_parser("eval", help="precision/recall of the detector on labelled JSONL sets")
    evaluate.add_argument("files", nargs="+", type=Path, help='labelled sets: {"text", "label": category|null} per line')
    evaluate.add_argument("--rules-only", action="store_true", help="score the rule layer alone")
    evaluate.add_argument("--model", type=Path, default=None, help="an n-gram model file instead of the shipped one")
    evaluate.add_argument("--errors", action="store_true", help="also print every misclassified text")
    evaluate.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    evaluate.set_defaults(handler=run_eval)

    train = sub.add_parser("train", help="train the n-gram model and choose its threshold by cross-validation")
    train.add_argument("--data", type=Path, nargs="+", default=None,
                       help="labelled sets to train on (default: the TRAIN_SETS list, from the repository root)")
    train.add_argument("--out", type=Path, required=True, help="where to write the model (.npz)")
    train.add_argument("--target-recall", type=float, default=0.95,
                       help="the check-in threshold is the highest whose leave-one-set-out recall of the model alone "
                       "reaches this (default: %(default)s)")
    train.add_argument("--max-background-alarms", type=float, default=0.05,
                       help="the flag threshold is the lowest at which at most this share of the ordinary messages "
                       "in --background sets (held out) get the crisis reply (default: %(default)s)")
    train.add_argument("--background", nargs="+", default=list(BACKGROUND_SETS),
                       help="sets of ordinary messages with (almost) no risk, for --max-background-alarms "
                       "(default: %(default)s)")
    train.add_argument("--threshold", type=float, default=None,
                       help="use this flag threshold (and check-in threshold) instead of choosing them")
    train.set_defaults(handler=run_train)


def _read(paths) -> dict[str, list[dict]]:
    from ..safety.evaluation import read_labelled

    sets = {}
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such labelled set (run from the repository root, or pass --data)")
        sets[str(path)] = read_labelled(path)
    return sets


def run_check(args: argparse.Namespace) -> int:
    from .. import safety

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for text in texts:
        verdict = safety.assess(text, model=not args.rules_only)
        print(json.dumps({"text": text, **verdict.to_dict()}, ensure_ascii=False))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..safety.classifier import NgramClassifier
    from ..safety.detector import Detector, default_detector
    from ..safety.evaluation import errors, score, table

    if args.model is not None:
        detector = Detector(classifier=None if args.rules_only else NgramClassifier.load(args.model))
    else:
        detector = default_detector()
    check = detector.assess_rules if args.rules_only else detector.assess
    detect = lambda texts: [check(t) for t in texts]
    report = {}
    for name, rows in _read(args.files).items():
        scores = score(rows, detect)
        report[name] = {k: {"precision": s.precision, "recall": s.recall, "support": s.support} for k, s in scores.items()}
        print(f"== {name} ({len(rows)} texts, {'rules only' if args.rules_only else 'rules + model'})")
        print(table(scores))
        if args.errors:
            for text, label, verdict in errors(rows, detect):
                print(f"  gold={label} got={verdict.category} [{','.join(verdict.rules)}] {text}")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from ..safety.classifier import (
        TrainConfig,
        fit,
        lowest_threshold_within,
        out_of_fold,
        pick_threshold,
    )
    from ..safety.detector import Detector

    paths = args.data or [Path(p) for p in TRAIN_SETS]
    sets = _read(paths)
    rows = [r for rs in sets.values() for r in rs]
    say(f"soulchat safety train: {len(rows)} labelled texts from {len(sets)} sets")
    config = TrainConfig()
    threshold = check_threshold = args.threshold
    cv = {}
    if threshold is None:
        if len(sets) < 2:
            raise ValueError("choosing thresholds needs at least two labelled sets (leave-one-set-out); pass --threshold")
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sets), desc="leave-one-set-out", unit="fold", file=sys.stderr)
        oof = out_of_fold(sets, config, progress=lambda name: bar.update())
        bar.close()
        gold = [r["label"] is not None for rs in sets.values() for r in rs]
        pooled = [s for name in sets for s in oof[name]]
        check_threshold = pick_threshold(gold, pooled, args.target_recall)
        background = [s for name in sets if name in set(map(str, args.background))
                      for s, r in zip(oof[name], sets[name]) if r["label"] is None]
        if background:
            threshold = max(check_threshold, lowest_threshold_within(background, args.max_background_alarms))
        else:
            say("  no --background set among the data: the flag threshold is the check-in threshold")
            threshold = check_threshold
        rules = Detector(classifier=None)
        for name, rs in sets.items():
            g = [r["label"] is not None for r in rs]
            ruled = [rules.assess_rules(r["text"]).flagged for r in rs]
            flags = [s >= threshold or f for s, f in zip(oof[name], ruled)]
            responses = [s >= check_threshold or f for s, f in zip(oof[name], ruled)]
            cv[name] = {"flagged": _pr(g, flags), "safety_response": _pr(g, responses),
                        "negatives": len(g) - sum(g), "negatives_flagged": sum(f and not x for f, x in zip(flags, g))}
            say(f"  {name}: flagged P {cv[name]['flagged'][0]:.3f} R {cv[name]['flagged'][1]:.3f}; "
                f"flagged or check-in P {cv[name]['safety_response'][0]:.3f} R {cv[name]['safety_response'][1]:.3f}")
        say(f"check-in threshold {check_threshold:.2f} (highest with out-of-fold recall >= {args.target_recall}, model alone); "
            f"flag threshold {threshold:.2f} (lowest with <= {args.max_background_alarms:.0%} of held-out ordinary "
            "messages flagged)")
    files = {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
    model = fit([r["text"] for r in rows], [r["label"] for r in rows], config, threshold=threshold,
                check_threshold=check_threshold, meta={"train_files": files, "cross_validation": cv})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    say(f"wrote {args.out} ({len(model.vocab)} features, flag threshold {threshold:.2f}, "
        f"check-in threshold {check_threshold:.2f})")
    return 0


def _pr(gold: list[bool], pred: list[bool]) -> tuple[float, float]:
    """(precision, recall) of binary predictions, with the evaluation module's conventions."""
    from ..safety.evaluation import Score

    found = Score(tp=sum(g and p for g, p in zip(gold, pred)), fp=sum(p and not g for g, p in zip(gold, pred)),
                  fn=sum(g and not p for g, p in zip(gold, pred)))
    return found.precision, found.recall
