"""`soulchat push corpus|model`: publish to the Hugging Face Hub with cards."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import say

ORDER = 70

PUSH_DESCRIPTION = """\
Publish a SoulChatCorpus folder (`push corpus`) or a trained model / LoRA adapter (`push model`) to
the Hugging Face Hub, with its card. The token comes from `hf auth login` or $HF_TOKEN (never a
flag) and is written to no file. Only files that differ from the repo are sent: a re-push of an
unchanged folder makes no commit. A failed push names the files that were not uploaded and leaves
the local folder as it was; rerun the same command to retry. The result (uploaded, unchanged,
deleted files, commit URL) is printed as JSON on stdout."""

CORPUS_DESCRIPTION = """\
Upload a folder written by `soulchat build` as a dataset repo: README.md (the dataset card with the
`configs:` that load_dataset reads), data/ shards, figures/, statistics.json and the cleaning report.
cleaning/rejects.jsonl (raw, unscrubbed text of removed dialogues) stays local unless
--include-rejects. Remote shards under data/ that the build no longer has are deleted, so the split
globs never load stale rows."""

MODEL_DESCRIPTION = """\
Upload the folder `soulchat train` saved (a full model, a LoRA adapter, or OUTPUT/merged) as a model
repo: weights, config, tokenizer, chat template, generation_config.json with the paper's decoding
(top-p 0.75, temperature 0.95) and a model card built from the run's own files (recipe,
training_args.bin, adapter_config.json, trainer_state.json) plus evaluation results as model-index
metadata. checkpoint-*/ folders and training_args.bin are never uploaded."""


def register(commands) -> None:
    push = commands.add_parser("push", help="publish a corpus or a model to the Hugging Face Hub, with its card",
                               description=PUSH_DESCRIPTION)
    kinds = push.add_subparsers(dest="kind", metavar="KIND", required=True)

    corpus = kinds.add_parser("corpus", help="upload a SoulChatCorpus folder as a dataset repo", description=CORPUS_DESCRIPTION)
    corpus.add_argument("folder", help="corpus folder written by `soulchat build --output`")
    _common_arguments(corpus, "SoulChatCorpus")
    corpus.add_argument("--include-rejects", action="store_true",
                        help="also upload cleaning/rejects.jsonl (raw text of removed dialogues, crisis ones included)")
    corpus.set_defaults(handler=run_push_corpus)

    model = kinds.add_parser("model", help="upload a trained model or LoRA adapter as a model repo", description=MODEL_DESCRIPTION)
    model.add_argument("output_dir", metavar="OUTPUT_DIR", help="folder `soulchat train` saved to (or OUTPUT/merged)")
    _common_arguments(model, "SoulChat model")
    model.add_argument("--corpus-repo", help="dataset repo id of the training corpus, linked from the card")
    model.add_argument("--metrics", help="metrics.json from `soulchat eval` (or its folder): BLEU/ROUGE in the card")
    model.add_argument("--cehs", help="cehs.json from `soulchat judge` or cehs_human.json from `soulchat cehs import`")
    model.add_argument("--cehs-system", help="which system of the CEHS summary is this model (when it holds several)")
    model.add_argument("--recipe", help="the YAML recipe the run was trained from (default: OUTPUT_DIR/recipe.yaml if any)")
    model.add_argument("--base-model", help="base model id, when the run does not record it")
    model.add_argument("--template", help="soulchat template the run trained with, when the recipe is not at hand")
    model.add_argument("--license", help="license for the card metadata (it must allow what the base model's allows)")
    model.set_defaults(handler=run_push_model)


def _common_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--repo-id", required=True, help="target repo, e.g. your-name/" + what.replace(" ", "-"))
    parser.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)")
    parser.add_argument("--revision", help="branch to commit to (created from main if missing); with --create-pr, the PR's base")
    parser.add_argument("--commit-message", help=f"commit message (default: 'Upload {what}')")
    parser.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing directly")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded; contact nothing")


def hub_api():
    """The HfApi to push with; fails early, before any work, when no token is configured."""
    from huggingface_hub import HfApi, get_token

    if get_token() is None:
        raise ValueError("no Hugging Face token: run `hf auth login` or set HF_TOKEN")
    return HfApi()


def _run(args: argparse.Namespace, plan, push) -> int:
    from ..hub import PushError

    if args.dry_run:
        uploads = plan()
        for upload in uploads:
            size = len(upload.source) if isinstance(upload.source, bytes) else upload.source.stat().st_size
            say(f"  {upload.path_in_repo}  ({size:,} bytes{', generated' if isinstance(upload.source, bytes) else ''})")
        say(f"dry run: {len(uploads)} files would go to {args.repo_id}")
        print(json.dumps({"repo_id": args.repo_id, "files": [u.path_in_repo for u in uploads]}, ensure_ascii=False))
        return 0
    try:
        result = push(hub_api())
    except PushError as error:
        say(f"soulchat push {args.kind}: error: {error}")
        return 1
    where = result.pr_url or result.commit_url
    say(f"{args.repo_id}: {len(result.uploaded)} uploaded, {len(result.unchanged)} unchanged, "
        f"{len(result.deleted)} deleted" + (f" -> {where}" if where else " (no commit: nothing changed)"))
    json.dump(result.to_json(), sys.stdout, ensure_ascii=False)
    print()
    return 0


def _options(args: argparse.Namespace) -> dict:
    return {"private": args.private, "revision": args.revision, "commit_message": args.commit_message,
                "create_pr": args.create_pr, "say": say}


def run_push_corpus(args: argparse.Namespace) -> int:
    from ..hub import corpus_uploads, push_corpus

    plan = lambda: corpus_uploads(args.folder, args.repo_id, args.include_rejects)
    return _run(args, plan, lambda api: push_corpus(args.folder, args.repo_id, api=api,
                                                       include_rejects=args.include_rejects, **_options(args)))


def run_push_model(args: argparse.Namespace) -> int:
    from ..hub import CardSources, model_uploads, push_model

    card = CardSources(recipe=args.recipe, base_model=args.base_model, template=args.template, corpus_repo=args.corpus_repo,
                     metrics=args.metrics, cehs=args.cehs, cehs_system=args.cehs_system, license=args.license)
    plan = lambda: model_uploads(args.output_dir, args.repo_id, card)
    return _run(args, plan, lambda api: push_model(args.output_dir, args.repo_id, card, api=api, **_options(args)))
