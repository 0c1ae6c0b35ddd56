"""`soulchat rewrite`: single-turn counseling Q&A -> multi-turn empathy dialogues (raw LLM outputs)."""

from __future__ import annotations

import argparse

from ._common import UsageError, add_llm_arguments, add_output_argument, api_key, integer, number, say

ORDER = 20

DESCRIPTION = """\
Send each (question, answer) pair of PsyQA-shaped or flat single-turn records to an
OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server) with the SoulChat empathy
constraint prompt, and append every answer to OUTPUT/results.jsonl. Rerunning the same command
resumes: finished requests are never asked again. `soulchat build OUTPUT` turns the log into
the corpus.

Input records, one JSON object per line: PsyQA {question, description, answers:[{answer_text}],
questionID} or flat {question, answer, topic}. The API key is read from $OPENAI_API_KEY.

Writes OUTPUT/results.jsonl (one line per request), OUTPUT/rewrite-summary.json,
OUTPUT/rejects.jsonl (--skip-invalid), OUTPUT/rewrite-estimate.json (--dry-run) and OUTPUT/batch/
(--batch). Exit status: 0 every row finished, 1 stopped or rows left to retry (rerun to resume),
2 bad usage."""

EPILOG = """\
examples:
  soulchat rewrite psyqa.jsonl --output out --model gpt-3.5-turbo=0.99,gpt-4=0.01 --dry-run
  soulchat rewrite psyqa.jsonl --output out --model gpt-3.5-turbo=0.99,gpt-4=0.01 --max-cost 50
  soulchat rewrite psyqa.jsonl --output out --base-url http://127.0.0.1:8000/v1 --model Qwen2.5-7B-Instruct --concurrency 64
  soulchat rewrite psyqa.jsonl --output out --model gpt-4o-mini --batch"""


def register(commands) -> None:
    parser = commands.add_parser(
        "rewrite",
        help="rewrite single-turn Q&A into multi-turn empathy dialogues with an LLM (resumable)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="single-turn JSONL/JSON files")
    add_output_argument(parser, what="the result log and summaries")
    add_llm_arguments(parser, model_help="model name, or a mix chosen per row from its content hash, e.g. "
                      "gpt-3.5-turbo=0.99,gpt-4=0.01 (the paper's)")
    parser.add_argument("--prompt", default="soulchat",
                        help="soulchat (the empathy constraint prompt) | smile | a prompt text file (default: %(default)s)")
    parser.add_argument("--language", default="zh", choices=["zh", "en"], help="prompt language (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0.0, 2.0), default=None, help="sampling temperature (default: server's)")
    parser.add_argument("--max-tokens", type=integer(1), default=None, help="completion token cap (default: server's)")
    parser.add_argument("--requests-per-minute", "--rpm", type=number(above=0), default=None, help="request rate cap")
    parser.add_argument("--tokens-per-minute", "--tpm", type=number(above=0), default=None,
                        help="token rate cap (estimated before each request, corrected by the reported usage)")
    parser.add_argument("--max-cost", type=number(0.0), default=None, metavar="USD",
                        help="stop starting requests once the log's total cost reaches USD (in-flight ones finish)")
    parser.add_argument("--prices", default=None, metavar="FILE.yaml",
                        help="price table (default: the bundled soulchat/rewrite/prices.yaml)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the input and estimate tokens and cost; send nothing")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="write bad records with their reason to OUTPUT/rejects.jsonl and go on")
    parser.add_argument("--batch", action="store_true", help="use the OpenAI Batch API (half price, up to 24 h)")
    parser.add_argument("--batch-max-lines", type=integer(1, 50_000), default=50_000,
                        help="requests per batch file (default and API maximum: %(default)s)")
    parser.add_argument("--batch-max-mb", type=number(above=0, maximum=200.0), default=190.0,
                        help="size cap of a batch file in MB (API maximum 200; default: %(default)s)")
    parser.add_argument("--poll-interval", type=number(above=0), default=30.0, help="seconds between batch status polls (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_rewrite)


def run_rewrite(args: argparse.Namespace) -> int:
    from ..rewrite import PriceTable, RewriteJob, RewriteSettings

    if not args.model:
        raise UsageError("--model is required")
    try:  # a bad --model mix or --prompt name is bad usage
        settings = RewriteSettings(
            model=args.model, prompt=args.prompt, language=args.language, temperature=args.temperature,
            max_tokens=args.max_tokens, concurrency=args.concurrency, requests_per_minute=args.requests_per_minute,
            tokens_per_minute=args.tokens_per_minute, timeout=args.timeout, max_attempts=args.max_attempts,
            max_cost=args.max_cost,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    job = RewriteJob(args.inputs, args.output, settings, skip_invalid=args.skip_invalid,
                     prices=PriceTable.load(args.prices), base_url=args.base_url, api_key=api_key(),
                     progress=not args.no_progress, batch=args.batch)
    estimate = job.scan()
    say(f"soulchat rewrite: {estimate.rows} (question, answer) pairs, {estimate.rejected} rejected"
        + (f" (see {job.output / 'rejects.jsonl'})" if estimate.rejected else "")
        + f", {estimate.done} already done, {estimate.pending} to request"
        + (f", {estimate.duplicates} duplicates" if estimate.duplicates else ""))
    say(f"  prompt {settings.prompt_version}; models {dict(estimate.models) or str(settings.mix)}")
    say(f"  estimate: ~{estimate.prompt_tokens:,} prompt + ~{estimate.completion_tokens:,} completion tokens, "
        f"~${estimate.cost:,.2f}" + (" (batch price)" if args.batch else "")
        + (f"; already spent ${estimate.spent:,.4f}" if estimate.spent else "")
        + (f"; no price for {', '.join(estimate.unpriced)}" if estimate.unpriced else ""))
    if args.dry_run:
        path = job.write_estimate(estimate)
        say(f"  dry run: nothing sent; estimate written to {path}")
        return 0
    if args.batch:
        from ..rewrite.batch import BatchRunner

        runner = BatchRunner(settings, args.output, base_url=args.base_url, api_key=api_key(),
                             prices=job.prices, progress=not args.no_progress,
                             max_lines=args.batch_max_lines, max_bytes=int(args.batch_max_mb * 2**20),
                             poll_interval=args.poll_interval)
        job.check_budget()
        report = runner.run(job.rows())
    else:
        report = job.run(estimate)
    summary = job.write_summary(estimate, report)
    run = summary["run"]
    say(f"done: {run['ok']} ok, {run['final_errors']} failed for good (HTTP 400-like), "
        f"{run['transient_errors']} to retry, {run['not_started']} not started; "
        f"{run['tokens']['total']:,} tokens, ${run['cost_usd']['this_run']:.4f} this run "
        f"(${run['cost_usd']['total']:.4f} in the log) in {run['elapsed_s']:.1f}s")
    say(f"  finish reasons {run['finish_reasons']}; results in {job.output / 'results.jsonl'}")
    if report.causes:
        from ..endpoint import first_causes

        say("  failed requests: " + first_causes(list(report.causes.elements())))
    if report.stopped:
        say(f"stopped: {report.stopped}")
    elif not report.complete:
        say("some rows are left: rerun the same command to retry them")
    return 0 if report.complete else 1
