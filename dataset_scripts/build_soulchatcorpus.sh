#!/usr/bin/env bash
# Build SoulChatCorpus at full scale: rewrite → clean → build.
#
#   OPENAI_API_KEY=... dataset_scripts/build_soulchatcorpus.sh PSYQA.jsonl [WORK_DIR]
#
# Environment (all optional):
#   BASE_URL     OpenAI-compatible endpoint (default: OpenAI); vLLM: http://127.0.0.1:8000/v1
#   MODEL        model, or a mix like the paper's: gpt-3.5-turbo=0.99,gpt-4=0.01 (default)
#   CONCURRENCY  requests in flight (default 64)
#   MAX_COST     stop the rewrite when this many USD are spent (default: no limit)
#   BATCH=1      use the OpenAI Batch API (half price, hours of latency)
#   CRISIS       crisis policy of the clean step: drop | tag | off (default drop)
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

echo "== 1/3 estimate the cost (no request is sent)" >&2
"$SOULCHAT" rewrite "${rewrite_args[@]}" --dry-run

echo "== 2/3 rewrite single-turn Q&A into multi-turn empathy dialogues" >&2
"$SOULCHAT" rewrite "${rewrite_args[@]}"

echo "== 3/3 clean and build the corpus (paper: 10,000 test samples)" >&2
"$SOULCHAT" build "$WORK/rewrite" --output "$WORK/SoulChatCorpus" \
    --crisis-policy "${CRISIS:-drop}" --test-size 10000 --validation-size 10000

echo "done: $WORK/SoulChatCorpus (README.md is the dataset card; cleaning/report.json the filter counts)" >&2
