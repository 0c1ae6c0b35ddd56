"""`soulchat eval`, `soulchat report`, `soulchat judge`, `soulchat cehs export|import`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._common import (
    UsageError,
    add_generation_arguments,
    add_llm_arguments,
    add_output_argument,
    generation_settings,
    integer,
    number,
    say,
)

ORDER = 60


def register(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="generate replies for a test set and score BLEU/ROUGE",
        description="Generate a reply for every test example with a local transformers model (batched, "
        "left-padded, prompts from the training chat template) or an OpenAI-compatible endpoint "
        "(--base-url), then score BLEU-1..4 / ROUGE-1/2/L. Writes OUTPUT/predictions.jsonl (a rerun "
        "continues where it stopped) and OUTPUT/metrics.json.",
    )
    evaluate.add_argument("--test", required=True, type=Path,
                          help="SoulChatCorpus folder (its 'samples' config) or JSONL of {input, target} / {messages}")
    evaluate.add_argument("--split", default="test", help="split of a corpus folder (default: %(default)s)")
    evaluate.add_argument("--limit", type=integer(1), help="first N examples only")
    add_output_argument(evaluate, what="predictions.jsonl and metrics.json")
    add_llm_arguments(evaluate, model_help="local model folder, or the model name an endpoint serves (with "
                      "--base-url)", base_url_help="OpenAI-compatible endpoint; when set (or $OPENAI_BASE_URL is), "
                      "--model is a served model name. The key is read from $OPENAI_API_KEY.",
                      concurrency_help="requests in flight (endpoint; default: %(default)s)")
    evaluate.add_argument("--adapter", metavar="PATH", help="LoRA adapter folder on top of --model (local models)")
    evaluate.add_argument("--name", help="row name in reports (default: --model)")
    evaluate.add_argument("--template", default="soulchat", choices=_template_names(),
                          help="chat template used in training (local model; default: %(default)s)")
    evaluate.add_argument("--batch-size", type=integer(1), default=8, help="examples per generate call (default: %(default)s)")
    add_generation_arguments(evaluate)
    evaluate.add_argument("--seed", type=integer(0), default=42, help="sampling seed (default: %(default)s)")
    evaluate.add_argument("--bleu-tokens", choices=["char", "word"], default="char",
                          help="BLEU on characters (ChatGLM-6B script, default) or jieba words")
    evaluate.set_defaults(handler=run_eval)

    report = commands.add_parser(
        "report", help="Table-1-style comparison of eval runs (Markdown, CSV, bar chart)",
        description="Render one row per run (metrics.json files or run folders) and one column per "
        "metric, with the paper's published SoulChat row as a reference unless --no-paper.",
    )
    report.add_argument("runs", nargs="+", type=Path, help="metrics.json files or `soulchat eval` output folders")
    add_output_argument(report, what="report.md, report.csv and report.png")
    report.add_argument("--no-paper", action="store_true", help="leave out the paper's reference row")
    report.add_argument("--no-chart", action="store_true", help="skip the PNG bar chart")
    report.set_defaults(handler=run_report)

    judge = commands.add_parser(
        "judge", help="CEHS scores from LLM judges (content, empathy, helpfulness, safety)",
        description="Ask one or more judge models, through an OpenAI-compatible endpoint, to score each "
        "prediction on the CEHS rubric as strict JSON; malformed answers are retried; scores are "
        "averaged over samples and judges. Writes OUTPUT/judgments.jsonl (resumable) and OUTPUT/cehs.json.",
    )
    judge.add_argument("predictions", nargs="+", type=Path, help="predictions.jsonl files from `soulchat eval`")
    add_output_argument(judge, what="judgments.jsonl and cehs.json")
    add_llm_arguments(judge, model_action="append", model_help="judge model; repeat for several judges")
    judge.add_argument("--samples", type=integer(1), default=1, help="answers per judge and item (default: %(default)s)")
    judge.add_argument("--temperature", type=number(0.0), default=0.0)
    for action in judge._actions:
        if action.dest == "max_attempts":
            action.help = ("tries per request (timeouts, errors, empty answers), and per judgment when the "
                           "answer is malformed (default: %(default)s)")
    judge.add_argument("--limit", type=integer(1), help="first N predictions of each file")
    judge.add_argument("--price-input", type=number(0.0), default=None,
                       help="USD per 1M prompt tokens (default: the judge model's entry in the price table)")
    judge.add_argument("--price-output", type=number(0.0), default=None, help="USD per 1M completion tokens")
    judge.add_argument("--prices", default=None, help="price table YAML (default: soulchat/rewrite/prices.yaml)")
    judge.set_defaults(handler=run_judge)

    cehs = commands.add_parser("cehs", help="CEHS human annotation kit: export blind sheets, import ratings",
                               description="Blind CEHS annotation by people: `export` then `import`.")
    actions = cehs.add_subparsers(dest="action", required=True)
    export = actions.add_parser(
        "export", help="write blind annotator sheets (CSV + XLSX) and a separate key",
        description="Sample N items answered by every model, hide model names, shuffle with --seed, and "
        "write annotator_K.csv/.xlsx plus rubric.txt under --output; the key goes to --key "
        "(default: OUTPUT.key.json, outside the folder you send out).",
    )
    export.add_argument("predictions", nargs="+", type=Path, help="one predictions.jsonl per model")
    add_output_argument(export, what="the sheets to send to annotators")
    export.add_argument("--items", type=integer(1), default=100, help="items to sample (paper: 100)")
    export.add_argument("--annotators", type=integer(2), default=3,
                        help="sheets to write; Fleiss' kappa needs at least 2 (paper: 3)")
    export.add_argument("--seed", type=integer(0), default=0)
    export.add_argument("--key", type=Path, help="where the unblinding key goes")
    export.set_defaults(handler=run_cehs_export)
    load = actions.add_parser(
        "import", help="validate filled sheets; per-model means and Fleiss' kappa",
        description="Read the annotators' filled sheets (.csv or .xlsx, one per annotator), report every "
        "missing or out-of-range cell with its sheet and row, then write per-model mean scores and "
        "Fleiss' kappa per dimension to OUTPUT/cehs_human.json.",
    )
    load.add_argument("sheets", nargs="+", type=Path, help="filled annotator sheets")
    load.add_argument("--key", required=True, type=Path, help="the key written by `cehs export`")
    add_output_argument(load, what="cehs_human.json")
    load.set_defaults(handler=run_cehs_import)


def _template_names() -> list[str]:
    from ..templates import TEMPLATES

    return sorted(TEMPLATES)


def _progress(total: int, what: str):
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="ex", dynamic_ncols=True, file=sys.stderr)


def run_eval(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..evaluation.generation import (
        Decoding,
        EndpointGenerator,
        LocalGenerator,
        load_test_set,
        run_generation,
    )

    examples = load_test_set(args.test, split=args.split, limit=args.limit)
    decoding = generation_settings(args, Decoding, seed=args.seed)
    settings = {"decoding": asdict(decoding), "test": str(args.test)}
    if args.base_url:
        from .. import endpoint

        if args.adapter:
            raise UsageError("--adapter applies to a local model; an endpoint serves its own weights")
        client = endpoint.client(args.base_url, timeout=args.timeout)
        generator = EndpointGenerator(client, args.model, decoding, concurrency=args.concurrency,
                                      attempts=args.max_attempts)
        settings["endpoint"] = args.base_url
    else:
        from ..backends import TransformersBackend

        backend = TransformersBackend.from_pretrained(args.model, adapter=args.adapter, template=args.template)
        generator = LocalGenerator(backend, decoding=decoding)
        settings["template"] = args.template
    with _progress(len(examples), "generating") as bar:
        result = run_generation(examples, generator, args.output, model_name=args.name or args.model,
                                batch_size=args.batch_size, bleu_tokens=args.bleu_tokens, settings=settings,
                                progress=bar)
    m = result["metrics"]
    say(" ".join(f"{k}={m[k]:.2f}" for k in ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l"))
        + f" on {m['count']} examples -> {Path(args.output) / 'metrics.json'}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..evaluation.report import load_runs, write_report

    files = write_report(load_runs(args.runs), args.output, paper=not args.no_paper, chart=not args.no_chart, say=say)
    say(Path(files["markdown"]).read_text(encoding="utf-8"))
    say("wrote " + ", ".join(files.values()))
    return 0


def _read_predictions(paths, limit=None) -> list[dict]:
    """Prediction records of `soulchat eval` files; a bad line, an empty file or a missing one is an
    InputError naming it (nothing is dropped silently)."""
    from ..io import InputError, iter_jsonl, require_file

    records = []
    for path in paths:
        require_file(path)
        count = 0
        for index, (line, record) in enumerate(iter_jsonl(path)):
            if limit is not None and index >= limit:
                break
            if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("prediction"), str):
                raise InputError(path, line, "expected a `soulchat eval` prediction: an object with 'id' and a "
                                 "string 'prediction'")
            if not isinstance(record["id"], (str, int)) or isinstance(record["id"], bool):
                raise InputError(path, line, f"'id' must be a string or an integer, got {type(record['id']).__name__}")
            record.setdefault("model", path.parent.name or path.stem)
            records.append(record)
            count += 1
        if not count:
            raise InputError(path, None, "no predictions (the file is empty); expected the predictions.jsonl "
                             "of `soulchat eval`")
    return records


def run_judge(args: argparse.Namespace) -> int:
    from .. import endpoint
    from ..evaluation.cehs.judge import JudgeConfig
    from ..evaluation.cehs.judge import run_judge as judge_all

    records = _read_predictions(args.predictions, args.limit)
    config = JudgeConfig(judges=args.model, samples=args.samples, max_attempts=args.max_attempts,
                         temperature=args.temperature, concurrency=args.concurrency,
                         price_input=args.price_input, price_output=args.price_output,
                         prices=args.prices)
    if args.prices:
        from ..rewrite.costs import PriceTable

        PriceTable.load(args.prices)  # a bad table fails here, before any request
    client = endpoint.client(args.base_url, timeout=args.timeout)
    with _progress(len(records) * len(args.model) * args.samples, "judging") as bar:
        summary = judge_all(records, args.output, client, config, progress=bar)
    for model, scores in summary["systems"].items():
        say(f"{model}: " + " ".join(f"{k}={scores[k]:.3f}" for k in ("content", "empathy", "helpfulness", "safety"))
            + f" over {scores['items']} items")
    say(f"tokens {summary['usage']}, cost ${summary.get('cost_usd', 0):.4f}; {summary['failed']} failed answers")
    if summary.get("stopped"):
        say(f"stopped: {summary['stopped']}")
    elif summary.get("failure_causes"):
        say(f"failed requests: {summary['failure_causes']}")
    if summary["failed"]:
        say("rerun the same command to ask again for the failed ones")
    return 1 if summary["failed"] else 0


def run_cehs_export(args: argparse.Namespace) -> int:
    from ..evaluation.cehs import export_kit
    from ..evaluation.cehs.human import default_key_path

    runs: dict[str, list[dict]] = {}
    for record in _read_predictions(args.predictions):
        runs.setdefault(str(record["model"]), []).append(record)
    key = export_kit(runs, args.output, items=args.items, annotators=args.annotators, seed=args.seed, key_path=args.key)
    say(f"{len(key['items'])} responses from {len(runs)} model(s) for {args.annotators} annotators in {args.output}; "
        f"key: {args.key or default_key_path(Path(args.output))} (do not send it)")
    return 0


def run_cehs_import(args: argparse.Namespace) -> int:
    from ..evaluation.cehs import KitError, import_sheets, summarize
    from ..evaluation.cehs.human import read_key

    key = read_key(args.key)
    try:
        ratings = import_sheets(args.sheets, key)
    except KitError as error:
        for problem in error.problems:
            print(problem)
        say(f"{len(error.problems)} problem(s); fix the sheets and import again")
        return 1
    summary = summarize(ratings, key)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cehs_human.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for model, scores in summary["models"].items():
        say(f"{model}: " + " ".join(f"{k}={scores[k]:.3f}" for k in ("content", "empathy", "helpfulness", "safety")))
    say("Fleiss' kappa: " + " ".join(f"{k}={v:.3f}" for k, v in summary["kappa"].items()))
    return 0
