#!/usr/bin/env bash
# Build SoulChatCorpus at full scale: rewrite → clean → build, then publish when REPO is set.
#
#   OPENAI_API_KEY=... dataset_scripts/build_soulchatcorpus.sh PSYQA.jsonl [WORK_DIR]
#   OPENAI_API_KEY=... REPO=me/SoulChatCorpus dataset_scripts/build_soulchatcorpus.sh PSYQA.jsonl
#
# Environment (all optional):
#   BASE_URL     OpenAI-compatible endpoint (default: OpenAI); vLLM: http://127.0.0.1:8000/v1
#   MODEL        model, or a mix like the paper's: gpt-3.5-turbo=0.99,gpt-4=0.01 (default)
#   CONCURRENCY  requests in flight (default 64)
#   MAX_COST     stop the rewrite when this many USD are spent (default: no limit)
#   BATCH=1      use the OpenAI Batch API (half price, hours of latency)
#   CRISIS       crisis policy of the clean step: tag | drop | off (default: soulchat build's, tag;
#                docs/corpus.md says why)
#   REPO         publish the built corpus to this Hugging Face dataset repo (`soulchat push corpus`;
#                token from `hf auth login` or HF_TOKEN); unset: build only
#   PRIVATE=1    create the repo private
#
# Every step is resumable: rerun the same command after a crash or a kill and it continues (the
# rewrite never repeats a finished request; the build redoes only what is missing). Cleaning
# re-reads the rewrite log, so changing a filter and rerunning the build costs no API call.
# Scale: PsyQA has ~22k questions / ~56k answers; the paper sent 215,813 questions with 619,725
# answers and kept 2,300,248 samples. The build step runs at ~310-375 dialogues/s on 2 CPU cores
# (benchmarks/bench_build.py), 12-14 minutes for the paper's ~260k dialogues, in constant memory.
set -euo pipefail

INPUT=${1:?usage: $0 PSYQA.jsonl [WORK_DIR]}
WORK=${2:-soulchatcorpus-work}
MODEL=${MODEL:-gpt-3.5-turbo=0.99,gpt-4=0.01}
SOULCHAT=${SOULCHAT:-soulchat}

rewrite_args=("$INPUT" --output "$WORK/rewrite" --model "$MODEL" --concurrency "${CONCURRENCY:-64}"
              --prompt soulchat --skip-invalid)
[[ -n "${BASE_URL:-}" ]] && rewrite_args+=(--base-url "$BASE_URL")
[[ -n "${MAX_COST:-}" ]] && rewrite_args+=(--max-cost "$MAX_COST")
[[ "${BATCH:-0}" == 1 ]] && rewrite_args+=(--batch)

build_args=("$WORK/rewrite" --output "$WORK/SoulChatCorpus" --test-size 10000 --validation-size 10000)
[[ -n "${CRISIS:-}" ]] && build_args+=(--crisis-policy "$CRISIS")
push_args=(push corpus "$WORK/SoulChatCorpus" --repo-id "${REPO:-}")
[[ "${PRIVATE:-0}" == 1 ]] && push_args+=(--private)
steps=3
[[ -n "${REPO:-}" ]] && steps=4

echo "== 1/$steps estimate the cost (no request is sent)" >&2
"$SOULCHAT" rewrite "${rewrite_args[@]}" --dry-run

echo "== 2/$steps rewrite single-turn Q&A into multi-turn empathy dialogues" >&2
"$SOULCHAT" rewrite "${rewrite_args[@]}"

echo "== 3/$steps clean and build the corpus (paper: 10,000 test samples)" >&2
"$SOULCHAT" build "${build_args[@]}"
echo "built: $WORK/SoulChatCorpus (README.md is the dataset card; cleaning/report.json the filter counts)" >&2

if [[ -z "${REPO:-}" ]]; then
    echo "not published (set REPO=your-name/SoulChatCorpus to push it to the Hugging Face Hub)" >&2
    exit 0
fi
echo "== 4/4 publish to the Hugging Face Hub: $REPO (cleaning/rejects.jsonl stays local)" >&2
"$SOULCHAT" "${push_args[@]}" | tee "$WORK/published.json"
echo "published: $WORK/SoulChatCorpus -> https://huggingface.co/datasets/$REPO (files: $WORK/published.json)" >&2
