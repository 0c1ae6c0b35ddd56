"""`soulchat safety`: check texts, score the detector on labelled sets, retrain and cross-validate its model."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from ._common import UsageError, integer, number, say, writable_file

ORDER = 75

DESCRIPTION = """\
The crisis detector of soulchat.safety: rules, then a model over character n-grams and a
pretrained sentence encoder, calibrated on real labelled counseling text (see docs/safety.md).

  soulchat safety check "最近真的不想活了"           the verdict as JSON
  soulchat safety check --conversation "不想活了" "药我已经攒够了"
                                                      each turn judged with the earlier ones
  soulchat safety eval SET.jsonl [SET.jsonl ...]      recall, precision and "touched" (share of
                                                      utterances without risk that got an alarm),
                                                      per data source and label
  soulchat safety train --real PSYSUICIDE/valid.jsonl --out model.npz
                                                      retrain the shipped model (deterministic)
  soulchat safety cv --real PSYSUICIDE/valid.jsonl    5-fold cross-validation of that training

A labelled set is JSON Lines: {"text", "label": category|null}, PsySUICIDE's
{"text", "labels": [...], "data_source"}, or {"text", "risk": true|false}."""

# The sets written for this project that train the shipped model beside the real data (relative
# to the repository root). safety_blind*.jsonl are deliberately absent: they measure the finished
# detector, once.
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

# The real labelled data the shipped model is calibrated on, and what must travel with it.
REAL_DATA = "PsySUICIDE validation split (Qiu, Ma, Lan: PsyGUARD, EMNLP 2024; github.com/qiuhuachuan/PsyGUARD), MIT licence"


def register(commands) -> None:
    parser = commands.add_parser("safety", help="crisis detector: check texts, evaluate, retrain, cross-validate",
                                 description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="safety_command", metavar="{check,eval,train,cv}", required=True)

    check = sub.add_parser("check", help="assess texts (arguments, or one per line on stdin) and print JSON")
    check.add_argument("texts", nargs="*", help="texts to assess (default: read lines from stdin)")
    check.add_argument("--conversation", action="store_true",
                       help="the texts are one person's turns of one conversation, in order: each is judged in the "
                       "context of the earlier ones, as soulchat chat does")
    _add_model_arguments(check)
    check.set_defaults(handler=run_check)

    evaluate = sub.add_parser("eval", help="recall, precision and false alarms of the detector on labelled sets")
    evaluate.add_argument("files", nargs="+", type=Path, help="labelled JSONL sets (see soulchat safety --help)")
    _add_model_arguments(evaluate)
    evaluate.add_argument("--errors", action="store_true", help="also print every text the detector got wrong")
    evaluate.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    evaluate.set_defaults(handler=run_eval)

    train = sub.add_parser("train", help="train the crisis model on real labelled data (+ the project's own sets)")
    _add_training_arguments(train)
    train.add_argument("--out", type=Path, required=True, help="where to write the model (.npz)")
    train.set_defaults(handler=run_train)

    cv = sub.add_parser("cv", help="k-fold cross-validation of `safety train` on the real data, per source and label")
    _add_training_arguments(cv)
    cv.add_argument("--json", type=Path, default=None, help="write the figures and every out-of-fold verdict here")
    cv.set_defaults(handler=run_cv)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules-only", action="store_true", help="the rule layer alone, without the learned model")
    parser.add_argument("--model", type=Path, default=None, help="a model file from `safety train` instead of the shipped one")


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", type=Path, nargs="+", required=True,
                        help="real labelled sets: the stacker and both thresholds are chosen on these alone "
                        "(e.g. PsySUICIDE's valid.jsonl; never its test split)")
    parser.add_argument("--extra", type=Path, nargs="*", default=None,
                        help="sets written for the project, added at a small weight (default: the TRAIN_SETS list, "
                        "relative to the repository root; give --extra with nothing to use none)")
    parser.add_argument("--no-encoder", action="store_true", help="n-grams and rules only, without the sentence encoder")
    flag = parser.add_mutually_exclusive_group()
    flag.add_argument("--flag-precision", type=number(0.0, 1.0, above=0.0), default=0.80,
                      help="the crisis-reply threshold: the lowest from which on out-of-fold precision on the real "
                      "rows stays at least this (default: %(default)s); the check-in carries the recall")
    flag.add_argument("--flag-recall", type=number(0.0, 1.0, above=0.0), default=None,
                      help="instead: the highest crisis-reply threshold whose out-of-fold recall reaches this")
    parser.add_argument("--check-recall", type=number(0.0, 1.0, above=0.0), default=0.98,
                        help="the check-in threshold, the same for crisis reply or check-in (default: %(default)s)")
    parser.add_argument("--folds", type=integer(2), default=5, help="cross-validation folds (default: %(default)s)")


def _detector(args: argparse.Namespace):
    from ..safety.detector import Detector, default_detector
    from ..safety.model import CrisisModel

    if args.rules_only:
        if args.model is not None:
            raise UsageError("--rules-only and --model exclude each other")
        return Detector(model=None)
    if args.model is not None:
        return Detector(model=CrisisModel.load(args.model))
    return default_detector()


def run_check(args: argparse.Namespace) -> int:
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UsageError("no text to check: give texts as arguments or one per line on stdin")
    detector = _detector(args)
    for i, text in enumerate(texts):
        context = texts[:i] if args.conversation else ()
        verdict = detector.assess(text, context=context)
        print(json.dumps({"text": text, **verdict.to_dict(with_text=False)}, ensure_ascii=False))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..safety.evaluation import breakdown, breakdown_table, errors, figures, read_labelled, score, table

    if args.json is not None:
        writable_file(args.json, "--json")
    sets = {str(path): read_labelled(path) for path in args.files}  # every file checked before any work
    detector = _detector(args)
    detect = lambda texts: [detector.assess_rules(t) if args.rules_only else detector.assess(t) for t in texts]
    report = {}
    for name, rows in sets.items():
        predictions = detect([r["text"] for r in rows])
        scores = score(rows, lambda texts: predictions)
        parts = breakdown(rows, predictions)
        report[name] = {"rows": len(rows), "overall": figures(scores), **parts,
                        "categories": {k: {"precision": s.precision, "recall": s.recall, "support": s.support}
                                       for k, s in scores.items() if k not in ("flagged", "flagged_or_check_in", "user_risk")}}
        print(f"== {name} ({len(rows)} texts, {'rules only' if args.rules_only else 'rules + model'})")
        print(table(scores))
        if len(parts["source"]) > 1 or len(parts["label"]) > 2:
            print(breakdown_table(parts))
        if args.errors:
            for text, label, verdict in errors(rows, lambda texts: predictions):
                print(f"  gold={label} got={verdict.category if verdict.flagged else None} "
                      f"check_in={verdict.check_in} score={verdict.score} {text}")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


def _training_inputs(args: argparse.Namespace):
    """(real rows, extra rows, settings, meta) for train and cv, every file read and checked first."""
    from ..safety.evaluation import RISK, read_labelled
    from ..safety.training import TrainSettings

    if args.flag_recall is not None and args.check_recall < args.flag_recall:
        raise UsageError(f"--check-recall ({args.check_recall}) must be at least --flag-recall ({args.flag_recall})")
    extra_paths = [Path(p) for p in TRAIN_SETS] if args.extra is None else args.extra
    if args.extra is None:
        missing = [p for p in extra_paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: the project's own labelled sets are read from the repository root; "
                                    "run from there, or pass --extra FILES (or --extra with nothing)")
    real = [r for path in args.real for r in read_labelled(path)]
    extra = [r for path in extra_paths for r in read_labelled(path)]
    for row in real + extra:
        if row["label"] == RISK:
            raise ValueError(f"line {row['line']}: a binary row (\"risk\": true) has no category; training needs "
                             "\"label\" or \"labels\"")
    if not any(r["label"] is not None for r in real):
        raise ValueError(f"{args.real[0]}: the real data holds no risk example to calibrate on")
    if not any(r["label"] is None for r in real):
        raise ValueError(f"{args.real[0]}: the real data holds no example without risk to calibrate on")
    settings = TrainSettings(encoder=not args.no_encoder, flag_recall=args.flag_recall, check_recall=args.check_recall,
                             flag_precision=None if args.flag_recall is not None else args.flag_precision, folds=args.folds)
    meta = {
        "real_files": {str(p): _sha256(p) for p in args.real},
        "extra_files": {str(p): _sha256(p) for p in extra_paths},
        "real_data": REAL_DATA,
        "licence_note": "a model trained on PsySUICIDE carries its MIT licence and attribution: "
                        "see soulchat/safety/data/PSYSUICIDE_LICENSE",
    }
    return real, extra, settings, meta


def _flag_rule(settings) -> str:
    if settings.flag_recall is not None:
        return f"crisis reply recall {settings.flag_recall}"
    return f"crisis reply precision {settings.flag_precision}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _bar(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr)


def run_train(args: argparse.Namespace) -> int:
    from ..safety.training import fit_model

    if args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a folder; expected a model file (.npz)")
    real, extra, settings, meta = _training_inputs(args)
    say(f"soulchat safety train: {len(real)} real rows ({sum(r['label'] is not None for r in real)} with risk), "
        f"{len(extra)} written rows; encoder {'on' if settings.encoder else 'off'}")
    bar = _bar(settings.folds + 1, "training (inner folds, final model)")
    model = fit_model(real, extra, settings, meta, progress=lambda message: bar.update() if "fold" in message or "final" in message else None)
    bar.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    say(f"wrote {args.out}: crisis reply at P(risk) >= {model.threshold:.3f}, check-in at >= {model.check_threshold:.3f} "
        f"(chosen on out-of-fold scores of the real rows: {_flag_rule(settings)}; check-in recall {settings.check_recall})")
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from ..safety.detector import Assessment
    from ..safety.evaluation import breakdown, breakdown_table, decisions, figures
    from ..safety.training import cross_validate

    if args.json is not None:
        writable_file(args.json, "--json")
    real, extra, settings, _ = _training_inputs(args)
    say(f"soulchat safety cv: {settings.folds}-fold over {len(real)} real rows (stratified by label, one text never in "
        f"two folds; thresholds chosen inside each training fold); {len(extra)} written rows in every training fold")
    bar = _bar(settings.folds, "outer folds")
    predictions = cross_validate(real, extra, settings, progress=lambda message: bar.update())
    bar.close()
    verdicts = [Assessment(flagged=p["flagged"], category=p["category"], check_in=p["check_in"]) for p in predictions]
    overall = figures(decisions(real, verdicts))
    parts = breakdown(real, verdicts)
    rules = _rules_baseline(real)
    print(f"{settings.folds}-fold cross-validation, encoder {'on' if settings.encoder else 'off'}; "
          f"files: {', '.join(map(str, args.real))}")
    for name in ("flagged", "flagged_or_check_in"):
        f = overall[name]
        print(f"{name:<20} recall {f['recall']:.3f}  precision {f['precision']:.3f}  touched {f['touched']:.3f}")
    print(f"{'rules alone':<20} recall {rules['recall']:.3f}  precision {rules['precision']:.3f}  touched {rules['touched']:.3f}")
    print(breakdown_table(parts))
    if args.json:
        report = {"settings": {"encoder": settings.encoder, "folds": settings.folds, "flag_recall": settings.flag_recall,
                               "flag_precision": settings.flag_precision, "check_recall": settings.check_recall},
                  "real_files": [str(p) for p in args.real], "overall": overall, "rules_alone": rules, **parts,
                  "rows": [{"line": r["line"], "label": r["label"], "source": r["source"], **p}  # p carries its fold
                           for r, p in zip(real, predictions)]}
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        say(f"wrote {args.json}")
    return 0


def _rules_baseline(rows: list[dict]) -> dict:
    from ..safety.detector import Detector
    from ..safety.evaluation import decisions

    rules = Detector(model=None)
    flagged = decisions(rows, [rules.assess_rules(r["text"]) for r in rows])["flagged"]
    return {"recall": flagged.recall, "precision": flagged.precision, "touched": flagged.touched}
