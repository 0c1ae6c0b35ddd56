"""Hostile input for every subcommand (issue #17).

The contract: exit 0 done, 1 failed with a message naming the file and line, the field or the
request, 2 bad usage; no traceback ever reaches a user. Each row of BATTERY is
(command line, expected exit code, fragment of the message). `test_every_subcommand_is_covered`
fails for a subcommand without rows, so a new command inherits the contract with its first rows.

Placeholders: {url} a loopback fake OpenAI server whose model name picks its behaviour (see
`respond`), {closed} an endpoint where nothing listens, {out} a fresh output folder, {toy} the
smoke-test recipe's tiny model (`--model_factory`); other paths are
files written by `hostile` into the working directory of the test.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys

import pytest

from soulchat.cli import build_parser, main
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

GOOD_DIALOGUE = {"messages": [{"role": "user", "content": "我好累"}, {"role": "assistant", "content": "辛苦了"}]}
PSYQA = {"question": "我该怎么办？", "description": "最近总是失眠。", "answers": [{"answer_text": "先照顾好自己。"}]}
PREDICTION = {"id": 1, "input": "用户：我好累\n心理咨询师：", "target": "辛苦了", "prediction": "我在听"}
JUDGMENT = '{"content": 2, "empathy": 2, "helpfulness": 2, "safety": 1}'
MALFORMED = {
    "empty-choices": {"id": "x", "object": "chat.completion", "choices": []},
    "null-content": {"id": "x", "choices": [{"index": 0, "finish_reason": "content_filter",
                                              "message": {"role": "assistant", "content": None}}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10}},
    "no-choices": {"id": "x", "object": "chat.completion"},
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "json-list": [1, 2, 3],
}


def respond(request: dict) -> Reply:
    model = request.get("model")
    if model in MALFORMED:
        return Reply(body=MALFORMED[model])
    if model == "hang":
        return Reply(hang=True)
    if model == "unauthorized":
        return Reply(status=401, error_message="invalid api key")
    if "督导" in json.dumps(request, ensure_ascii=False):
        return Reply(JUDGMENT)
    return Reply("用户：我最近睡不着。\n心理咨询师：睡不着一定很难熬。")


def _write(path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def _line(record) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A folder of bad inputs, the fake server, a closed port and a busy one."""
    root = tmp_path_factory.mktemp("hostile")
    files = {
        "empty.jsonl": "",
        "blank.jsonl": "  \n\n\t\n",
        "broken.jsonl": _line(GOOD_DIALOGUE) + "{oops\n",
        "gbk.jsonl": _line(GOOD_DIALOGUE).encode("gbk"),
        "deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
        "deep.json": '{"metrics": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "badrows.jsonl": '{"messages": 5}\n',
        "null-target.jsonl": '{"input": "用户：你好\\n心理咨询师：", "target": null}\n',
        "empty-target.jsonl": '{"input": "用户：你好\\n心理咨询师：", "target": "  "}\n',
        "samples.jsonl": _line({"input": "用户：你好\n心理咨询师：", "target": "你好呀"}),
        "mixed.jsonl": _line({"input": "用户：你好\n心理咨询师：", "target": "你好呀"}) + _line(GOOD_DIALOGUE),
        "psyqa.jsonl": _line(PSYQA) * 3,
        "psyqa-bad.jsonl": '{"question": 1}\n',
        "pred.jsonl": _line(PREDICTION),
        "pred-bad.jsonl": _line({"id": 1, "prediction": None}),
        "pred-gbk.jsonl": _line(PREDICTION).encode("gbk"),
        "bad.yaml": "a: [1, 2\nb: : :\n",
        "list.yaml": "- 1\n- 2\n",
        "unknown-key.yaml": "warmup_ratio: 0.1\n",
        "prices-word.yaml": "models:\n  gpt: {input: abc, output: 1}\n",
        "prices-negative.yaml": "models:\n  gpt: {input: -1, output: 1}\n",
        "prices-list.yaml": "- a\n",
        "prices-discount.yaml": "batch_discount: 3\nmodels: {}\n",
        "prompt-gbk.txt": "改写下面的对话：{single_turn}".encode("gbk"),
        "key-broken.json": "{oops",
        "key-wrong.json": '{"items": []}',
        "corrupt.xlsx": b"PK\x03\x04 this is not a workbook",
        "sheet.txt": "code,content\n",
        "metrics-wrong.json": '{"model": "m"}',
        "a-file": "not a folder",
        "labelled.jsonl": '{"text": "你好", "label": null}\n',
        "labelled-broken.jsonl": '{"text": "你好", "label": null}\n{oops\n',
    }
    for name, text in files.items():
        _write(root / name, text)
    (root / "folder").mkdir()
    from soulchat import testing

    testing.train_tokenizer().save_pretrained(root / "trained")  # `--tokenizer trained`
    (root / "adapter-only").mkdir()
    _write(root / "adapter-only" / "adapter_config.json", "{}")
    (root / "config-only").mkdir()
    _write(root / "config-only" / "config.json", "{}")
    _write(root / "no-tokenizer" / "config.json", "{}")
    _write(root / "no-tokenizer" / "model.safetensors", b"")
    # a GBK annotator sheet (what Excel writes on a Chinese Windows) next to a good one
    header = "code,context,response,content,empathy,helpfulness,safety,note\n"
    _write(root / "sheets" / "a1.csv", (header + "R0001,用户：你好,你好呀,2,2,2,1,好\n").encode("gbk"))
    _write(root / "sheets" / "a2.csv", header + "R0001,用户：你好,你好呀,2,1,2,1,\n")
    _write(root / "key.json", json.dumps({"seed": 0, "annotators": 2, "items": {"R0001": {"model": "m", "id": "1"}}}))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    with FakeOpenAIServer(respond) as server:
        yield {"root": root, "url": server.base_url, "closed": f"http://127.0.0.1:{closed_port}/v1",
               "busy": busy.getsockname()[1], "server": server}
    busy.close()


SAMPLE = "psyqa.jsonl"  # three good single-turn rows
REWRITE = f"rewrite {SAMPLE} --output {{out}} --no-progress --max-attempts 1 --timeout 2"

BATTERY = [
    # -- no command, unknown command
    ("", 2, "usage: soulchat"),
    ("nonsense", 2, "invalid choice"),
    # -- validate
    ("validate empty.jsonl", 1, "empty.jsonl: no dialogues"),
    ("validate blank.jsonl", 1, "blank.jsonl: no dialogues"),
    ("validate broken.jsonl", 1, "broken.jsonl:2: broken JSON"),
    ("validate gbk.jsonl", 1, "gbk.jsonl:1: not valid UTF-8"),
    ("validate deep.jsonl", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("validate badrows.jsonl", 1, "badrows.jsonl:1: 'messages' must be a list"),
    ("validate folder", 1, "folder: is a folder; expected a file"),
    ("validate missing.jsonl", 1, "missing.jsonl: no such file"),
    ("validate broken.jsonl --min-rounds 0", 2, "--min-rounds: must be at least 1"),
    # -- templates
    ("templates --bogus", 2, "unrecognized arguments"),
    # -- samples
    ("samples --data empty.jsonl --tokenizer trained --output {out}", 1, "empty.jsonl: no valid dialogue"),
    ("samples --data deep.jsonl --tokenizer trained --output {out}", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("samples --data folder --tokenizer trained --output {out}", 1, "folder: is a folder"),
    ("samples --batch-size 0", 2, "--batch-size: must be at least 1"),
    ("samples --template nope", 2, "--template: invalid choice"),
    ("samples --tokenizer folder --output {out}", 1, "folder: --tokenizer: holds no tokenizer"),
    ("samples --tokenizer nowhere --output {out}", 1, "expected a local model or tokenizer folder"),
    ("samples --output a-file --tokenizer trained", 2, "--output a-file: is a file; expected a folder"),
    # -- rewrite: inputs, settings, price tables
    ("rewrite empty.jsonl --output {out} --model m --dry-run", 1, "empty.jsonl: no records"),
    ("rewrite psyqa-bad.jsonl --output {out} --model m --dry-run", 1, "psyqa-bad.jsonl:1: 'question' must be a string"),
    ("rewrite deep.jsonl --output {out} --model m --dry-run", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("rewrite gbk.jsonl --output {out} --model m --dry-run", 1, "it reads as GBK/GB18030: save it as UTF-8"),
    ("rewrite folder --output {out} --model m --dry-run", 1, "folder: is a folder; expected a file"),
    ("rewrite psyqa.jsonl --output a-file --model m --dry-run", 2, "is a file; expected a folder"),
    ("rewrite psyqa.jsonl --output {out} --model m=-1 --dry-run", 2, "shares >= 0"),
    ("rewrite psyqa.jsonl --output {out} --model m --prompt nope --dry-run", 2, "unknown prompt 'nope'"),
    ("rewrite psyqa.jsonl --output {out} --model m --prompt prompt-gbk.txt --dry-run", 2, "prompt-gbk.txt:1: not valid UTF-8"),
    ("rewrite psyqa.jsonl --output {out} --model m --concurrency 0", 2, "--concurrency: must be at least 1"),
    ("rewrite psyqa.jsonl --output {out} --model m --max-attempts 0", 2, "--max-attempts: must be at least 1"),
    ("rewrite psyqa.jsonl --output {out} --model m --timeout -1", 2, "--timeout: must be more than 0"),
    ("rewrite psyqa.jsonl --output {out} --model m --timeout nan", 2, "--timeout: expected a finite number"),
    ("rewrite psyqa.jsonl --output {out} --model m --max-cost -1", 2, "--max-cost: must be at least 0"),
    ("rewrite psyqa.jsonl --output {out} --model m --batch --batch-max-lines 0", 2, "--batch-max-lines: must be at least 1"),
    ("rewrite psyqa.jsonl --output {out} --model m --batch --batch-max-mb 500", 2, "--batch-max-mb: must be at most 200"),
    ("rewrite psyqa.jsonl --output {out} --model m --dry-run --prices bad.yaml", 1, "bad.yaml:2: not valid YAML"),
    ("rewrite psyqa.jsonl --output {out} --model m --dry-run --prices prices-word.yaml", 1, "models.gpt.input must be a number"),
    ("rewrite psyqa.jsonl --output {out} --model m --dry-run --prices prices-negative.yaml", 1, "models.gpt.input must be at least 0"),
    ("rewrite psyqa.jsonl --output {out} --model m --dry-run --prices prices-list.yaml", 1, "a price table is a mapping"),
    ("rewrite psyqa.jsonl --output {out} --model m --dry-run --prices prices-discount.yaml", 1, "batch_discount is a price factor"),
    ("rewrite psyqa.jsonl --output {out} --model m --dry-run --prices folder", 1, "folder: is a folder"),
    # -- rewrite against endpoints: a 200 without text is a failed request, never "ok"
    (REWRITE + " --model empty-choices --base-url {url}", 1, "answer without text: the answer has an empty 'choices' list"),
    (REWRITE + " --model null-content --base-url {url}", 1, "choices[0].message.content is null"),
    (REWRITE + " --model no-choices --base-url {url}", 1, "the answer has no 'choices'"),
    (REWRITE + " --model html --base-url {url}", 1, "the answer is not JSON"),
    (REWRITE + " --model m --base-url {closed}", 1, "cannot connect"),
    (REWRITE + " --model hang --base-url {url} --timeout 0.5", 1, "no answer within the timeout"),
    (REWRITE + " --model unauthorized --base-url {url}", 1, "HTTP 401: invalid api key"),
    (REWRITE + " --model m --base-url {closed} --batch --poll-interval 0.1", 1, "/files failed: cannot connect"),
    # -- build
    ("build empty.jsonl --output {out} --no-plots", 1, "the inputs hold no records"),
    ("build gbk.jsonl --output {out} --no-plots", 1, "gbk.jsonl:1: unreadable_record (not valid UTF-8"),
    ("build deep.jsonl --output {out} --no-plots", 1, "deep.jsonl:1: unreadable_record (JSON nested too deeply"),
    ("build folder --output {out} --no-plots", 1, "folder: no results.jsonl and no .json/.jsonl file"),
    ("build missing.jsonl --output {out} --no-plots", 1, "missing.jsonl: no such file or folder"),
    ("build broken.jsonl --output {out} --test-size -5", 2, "--test-size: must be at least 0"),
    ("build broken.jsonl --output {out} --test-size 1.5", 2, "--test-size: expected a fraction below 1 or a whole count"),
    ("build broken.jsonl --output {out} --shard-rows 0", 2, "--shard-rows: must be at least 1"),
    ("build broken.jsonl --output {out} --near-threshold 5", 2, "--near-threshold: must be at most 1"),
    ("build broken.jsonl --output {out} --min-rounds -1", 2, "--min-rounds: must be at least 1"),
    ("build broken.jsonl --output {out} --crisis-policy maybe", 2, "--crisis-policy: invalid choice"),
    # -- train: the reader of build and validate, the same errors
    ("train --config bad.yaml", 1, "bad.yaml:2: not valid YAML"),
    ("train --config list.yaml", 2, "list.yaml: a recipe is a YAML mapping"),
    ("train --config unknown-key.yaml", 2, "'warmup_ratio' was removed in transformers 5"),
    ("train --config folder", 1, "folder: is a folder; expected a file"),
    ("train --config missing.yaml", 1, "missing.yaml: no such file"),
    ("train", 2, "pass --config FILE.yaml"),
    ("train --output {out} {toy} --dataset sample --max-steps -1", 2, "--max-steps: must be at least 1"),
    ("train --output {out} {toy} --dataset sample --max-steps 0", 2, "--max-steps: must be at least 1"),
    ("train --output {out} {toy} --dataset sample --eval_size -5", 2, "eval_size must be a fraction below 1"),
    ("train --output {out} {toy} --dataset sample --max_source_length 2", 2, "max_source_length must be >= 16"),
    ("train --output {out} {toy} --dataset sample --mask some", 2, "invalid choice"),
    ("train --output {out} {toy} --dataset empty.jsonl --max-steps 1", 1, "empty.jsonl: no training rows: no records"),
    ("train --output {out} {toy} --dataset blank.jsonl --max-steps 1", 1, "blank.jsonl: no training rows: no records"),
    ("train --output {out} {toy} --dataset broken.jsonl --max-steps 1", 1, "broken.jsonl:2: broken JSON"),
    ("train --output {out} {toy} --dataset gbk.jsonl --max-steps 1", 1, "gbk.jsonl:1: not valid UTF-8"),
    ("train --output {out} {toy} --dataset deep.jsonl --max-steps 1", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("train --output {out} {toy} --dataset badrows.jsonl --max-steps 1", 1, "badrows.jsonl:1: 'messages' must be a list"),
    ("train --output {out} {toy} --dataset null-target.jsonl --max-steps 1", 1, "null-target.jsonl:1: 'target' must be a non-empty string"),
    ("train --output {out} {toy} --dataset mixed.jsonl --max-steps 1", 1, "mixed.jsonl:2: a record with keys ['id', 'messages']"),
    ("train --output {out} {toy} --dataset badrows.jsonl --max-steps 1 --skip-invalid", 1, "no training rows: all 1 records are bad"),
    ("train --output {out} {toy} --dataset missing.jsonl --max-steps 1", 1, "missing.jsonl: not a file or folder"),
    ("train --output {out} --dataset sample --max-steps 1", 2, "no model to train: set model_name_or_path"),
    ("train --output {out} {toy} --max-steps 1", 2, "no training data: set dataset"),
    ("train --output {out} --dataset sample --model_name_or_path nowhere/at/all --max-steps 1", 1, "model_name_or_path: no such folder"),
    ("train --output {out} --dataset sample --model_name_or_path ./nowhere --max-steps 1", 1, "model_name_or_path: no such folder"),
    ("train --output {out} --dataset sample --model_name_or_path nobody/nothing --max-steps 1", 1, "not in the Hugging Face cache, and the hub cannot be reached"),
    ("train --output {out} --dataset sample --model_name_or_path adapter-only --max-steps 1", 1, "holds a LoRA adapter, not a model"),
    ("train --output {out} --dataset sample --model_name_or_path config-only --max-steps 1", 1, "holds no weights"),
    ("train --output {out} --dataset sample --model_name_or_path no-tokenizer --max-steps 1", 1, "holds no tokenizer"),
    # -- eval
    ("eval --test empty.jsonl --model m --base-url {url} --output {out}", 1, "empty.jsonl: no test examples"),
    ("eval --test null-target.jsonl --model m --base-url {url} --output {out}", 1, "null-target.jsonl:1: 'target' must be a non-empty string, got NoneType"),
    ("eval --test empty-target.jsonl --model m --base-url {url} --output {out}", 1, "'target' must be a non-empty string, got empty"),
    ("eval --test deep.jsonl --model m --base-url {url} --output {out}", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("eval --test folder --model m --base-url {url} --output {out}", 1, "folder: a folder, but not a SoulChatCorpus"),
    ("eval --test missing.jsonl --model m --base-url {url} --output {out}", 1, "missing.jsonl: no such file or folder"),
    ("eval --test samples.jsonl --model nowhere --output {out}", 1, "nowhere: --model: no such folder"),
    ("eval --test samples.jsonl --model ./nowhere --output {out}", 1, "--model: no such folder"),
    ("eval --test samples.jsonl --model config-only --output {out}", 1, "config-only: --model: holds no weights"),
    ("eval --test samples.jsonl --model a-file --output {out}", 1, "a-file: --model: is a file"),
    ("eval --test samples.jsonl --model m --output {out} --limit 0", 2, "--limit: must be at least 1"),
    ("eval --test samples.jsonl --model m --output {out} --batch-size 0", 2, "--batch-size: must be at least 1"),
    ("eval --test samples.jsonl --model m --output {out} --top-p 2", 2, "--top-p: must be at most 1"),
    ("eval --test samples.jsonl --model m --output {out} --template nope", 2, "--template: invalid choice"),
    ("eval --test samples.jsonl --model m --base-url {closed} --output {out} --max-attempts 1", 1, "cannot connect"),
    ("eval --test samples.jsonl --model html --base-url {url} --output {out} --max-attempts 1", 1, "the answer is not JSON"),
    ("eval --test samples.jsonl --model empty-choices --base-url {url} --output {out} --max-attempts 1", 1, "empty 'choices' list"),
    ("eval --test samples.jsonl --model json-list --base-url {url} --output {out} --max-attempts 1", 1, "the answer is a JSON list"),
    ("eval --test samples.jsonl --model hang --base-url {url} --output {out} --max-attempts 1 --timeout 0.5", 1, "no answer within the timeout"),
    ("eval --test samples.jsonl --model unauthorized --base-url {url} --output {out}", 1, "HTTP 401: invalid api key"),
    # -- report
    ("report empty.jsonl --output {out}", 1, "empty.jsonl:1: broken JSON"),
    ("report deep.json --output {out}", 1, "deep.json: JSON nested too deeply"),
    ("report metrics-wrong.json --output {out}", 1, "metrics-wrong.json: not a soulchat eval metrics.json"),
    ("report folder --output {out}", 1, "folder: no metrics.json"),
    # -- judge
    ("judge empty.jsonl --model j --base-url {url} --output {out}", 1, "empty.jsonl: no predictions"),
    ("judge pred-bad.jsonl --model j --base-url {url} --output {out}", 1, "pred-bad.jsonl:1: expected a `soulchat eval` prediction"),
    ("judge pred-gbk.jsonl --model j --base-url {url} --output {out}", 1, "pred-gbk.jsonl:1: not valid UTF-8"),
    ("judge deep.jsonl --model j --base-url {url} --output {out}", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("judge folder --model j --base-url {url} --output {out}", 1, "folder: is a folder"),
    ("judge pred.jsonl --model j --base-url {url} --output {out} --samples 0", 2, "--samples: must be at least 1"),
    ("judge pred.jsonl --model j --base-url {url} --output {out} --price-input -1", 2, "--price-input: must be at least 0"),
    ("judge pred.jsonl --model j --base-url {url} --output {out} --prices prices-word.yaml", 1, "models.gpt.input must be a number"),
    ("judge pred.jsonl --model j --base-url {closed} --output {out} --max-attempts 1", 1, "failed requests: cannot connect"),
    ("judge pred.jsonl --model empty-choices --base-url {url} --output {out} --max-attempts 1", 1, "failed requests: answer without text"),
    ("judge pred.jsonl --model hang --base-url {url} --output {out} --max-attempts 1 --timeout 0.5", 1, "no answer within the timeout"),
    ("judge pred.jsonl --model unauthorized --base-url {url} --output {out}", 1, "stopped: "),
    # -- cehs
    ("cehs", 2, "the following arguments are required"),
    ("cehs export empty.jsonl --output {out}", 1, "empty.jsonl: no predictions"),
    ("cehs export pred.jsonl --output {out} --items 0", 2, "--items: must be at least 1"),
    ("cehs export pred.jsonl --output {out} --annotators 1", 2, "--annotators: must be at least 2"),
    ("cehs import sheets/a1.csv sheets/a2.csv --key key-broken.json --output {out}", 1, "key-broken.json:1: broken JSON"),
    ("cehs import sheets/a1.csv sheets/a2.csv --key key-wrong.json --output {out}", 1, "key-wrong.json: not a key written by"),
    ("cehs import sheets/a1.csv sheets/a2.csv --key missing.json --output {out}", 1, "missing.json: no such file"),
    ("cehs import corrupt.xlsx sheets/a2.csv --key key.json --output {out}", 1, "corrupt.xlsx: not a readable .xlsx workbook"),
    ("cehs import sheet.txt sheets/a2.csv --key key.json --output {out}", 1, "sheet.txt: not a .csv or .xlsx sheet"),
    ("cehs import folder sheets/a2.csv --key key.json --output {out}", 1, "folder: is a folder"),
    ("cehs import sheets/a1.csv sheets/a2.csv --key key.json --output {out}", 0, "Fleiss' kappa"),  # GBK sheet read
    # -- chat and web: everything is checked before the conversation or the server starts
    ("chat --model ./nowhere", 1, "--model: no such folder"),
    ("chat --model adapter-only", 1, "holds a LoRA adapter, not a model"),
    ("chat --model {url} --flag-log folder", 2, "--flag-log folder: is a folder; expected a file"),
    ("chat --model {url} --flag-log /proc/soulchat/flags.jsonl", 1, "--flag-log /proc/soulchat/flags.jsonl: cannot write there"),
    ("chat --model {url} --adapter folder", 2, "--adapter applies to a local model"),
    ("chat --model {url} --top-p 0", 2, "--top-p: must be more than 0"),
    ("chat --model {url} --max-new-tokens 0", 2, "--max-new-tokens: must be at least 1"),
    ("chat --model {url} --timeout 0", 2, "--timeout: must be more than 0"),
    ("web --model {url} --port -1", 2, "--port: must be at least 0"),
    ("web --model {url} --port 70000", 2, "--port: must be at most 65535"),
    ("web --model {url} --port {busy}", 1, "cannot serve on 127.0.0.1:{busy}"),
    ("web --model {url} --flag-log folder", 2, "--flag-log folder: is a folder"),
    ("web --model {url} --concurrency 0", 2, "--concurrency: must be at least 1"),
    ("web --model ./nowhere", 1, "--model: no such folder"),
    # -- serve: checked before a model is loaded or a port is bound
    ("serve", 2, "the following arguments are required: --model"),
    ("serve --model ./nowhere", 1, "--model: no such folder"),
    ("serve --model adapter-only", 1, "holds a LoRA adapter, not a model"),
    ("serve --model {url}", 2, "an endpoint is named with --base-url URL --model NAME"),
    ("serve --model m --base-url {url} --host 0.0.0.0", 2, "serving beyond loopback needs an API key"),
    ("serve --model m --base-url {url} --port {busy}", 1, "cannot serve on 127.0.0.1:{busy}"),
    ("serve --model m --base-url {url} --port 70000", 2, "--port: must be at most 65535"),
    ("serve --model m --base-url ftp://example --port 0", 2, "--base-url ftp://example: expected an http://"),
    ("serve --model m --base-url {url} --adapter folder", 2, "--adapter applies to a local model"),
    ("serve --model m --base-url {url} --flag-log folder", 2, "--flag-log folder: is a folder"),
    ("serve --model m --base-url {url} --cors-origin evil", 2, "--cors-origin evil: expected an origin"),
    ("serve --model m --base-url {url} --concurrency 0", 2, "--concurrency: must be at least 1"),
    ("serve --model m --base-url {url} --max-body-bytes 10", 2, "--max-body-bytes: must be at least 1024"),
    ("serve --model m --base-url {url} --api-key 'a b'", 2, "an API key must be printable and without spaces"),
    # -- push
    ("push", 2, "the following arguments are required"),
    ("push model folder --repo-id a/b --dry-run", 1, "folder: no model here"),
    ("push model missing --repo-id a/b --dry-run", 1, "missing: no such folder"),
    ("push corpus folder --repo-id a/b --dry-run", 1, "folder: not a finished SoulChatCorpus build"),
    ("push corpus missing --repo-id a/b --dry-run", 1, "missing: no such folder"),
    # -- demo
    ("demo --max-steps 0", 2, "--max-steps: must be at least 1"),
    ("demo --eval-limit -1", 2, "--eval-limit: must be at least 1"),
    ("demo --config folder --output {out}", 1, "folder: is a folder, not a training recipe"),
    # -- recipes
    ("recipes", 2, "the following arguments are required"),
    ("recipes copy nosuch {out}", 1, "no recipe 'nosuch'; known recipes:"),
    ("recipes copy soulchat-glm4-9b", 2, "the following arguments are required: DIR"),
    ("recipes copy soulchat-glm4-9b a-file", 1, "a-file: is a file, not a folder"),
    # -- safety (the detector's own rows are added with its rewrite)
    ("safety", 2, "the following arguments are required"),
    ("safety eval empty.jsonl", 1, "empty.jsonl: holds no labelled row"),
    ("safety eval blank.jsonl", 1, "blank.jsonl: holds no labelled row"),
    ("safety eval broken.jsonl", 1, "broken.jsonl:1: \"text\" must be a string"),
    ("safety eval labelled-broken.jsonl", 1, "labelled-broken.jsonl:2: broken JSON"),
    ("safety eval gbk.jsonl", 1, "gbk.jsonl:1"),
    ("safety eval deep.jsonl", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("safety eval missing.jsonl", 1, "missing.jsonl"),
    ("safety eval folder", 1, "folder"),
    ("safety eval labelled.jsonl --model corrupt.xlsx", 1, "corrupt.xlsx: not a soulchat crisis model"),
    ("safety eval labelled.jsonl --model folder", 1, "folder: is a folder, not a crisis model file"),
    ("safety eval labelled.jsonl --rules-only --model a-file", 2, "--rules-only and --model exclude each other"),
    ("safety check --model missing.npz hi", 1, "missing.npz: no such crisis model file"),
    ("safety train --real empty.jsonl --extra --out {out}/m.npz", 1, "empty.jsonl: holds no labelled row"),
    ("safety train --real broken.jsonl --extra --out {out}/m.npz", 1, "broken.jsonl:1"),
    ("safety train --real samples.jsonl --extra --out folder", 2, "--out folder: is a folder"),
    ("safety train --real good.jsonl --extra --flag-recall 1.5 --out {out}/m.npz", 2, "--flag-recall"),
    ("safety cv --real good.jsonl --extra --folds 1", 2, "--folds"),
]


def run_row(command: str, hostile, tmp_path, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.chdir(hostile["root"])
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    for name in ("OPENAI_BASE_URL", "SOULCHAT_API_KEY"):  # the rows say where requests go and which keys hold
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # never the network, even where it is up
    line = command.format(url=hostile["url"], closed=hostile["closed"], busy=hostile["busy"], out=tmp_path / "out",
                          toy="--model_factory soulchat.testing:tiny_training_model")
    try:
        code = main(shlex.split(line))
    except SystemExit as exited:  # argparse: bad usage
        code = exited.code
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize("command, code, fragment", BATTERY, ids=[row[0][:60] or "(none)" for row in BATTERY])
def test_hostile_input(command, code, fragment, hostile, tmp_path, monkeypatch, capsys):
    got, output = run_row(command, hostile, tmp_path, monkeypatch, capsys)
    fragment = fragment.format(busy=hostile["busy"])
    assert "Traceback" not in output and "internal error" not in output, output[-2000:]
    assert (got, fragment in output) == (code, True), output[-2000:]


def _api(name: str):
    """`package.module.Class.method` -> the object: the longest importable prefix, then attributes."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(name)


#: The Python API: (function, argument, exception, fragment); the same readers as the commands.
API = [
    ("soulchat.io.read_dialogues", "deep.jsonl", "soulchat.io.InputError", "deep.jsonl:1: JSON nested too deeply"),
    ("soulchat.io.read_dialogues", "gbk.jsonl", "soulchat.io.InputError", "it reads as GBK/GB18030"),
    ("soulchat.io.read_dialogues", "folder", "soulchat.io.InputError", "folder: is a folder"),
    ("soulchat.io.read_json", "key-broken.json", "soulchat.io.InputError", "key-broken.json:1: broken JSON"),
    ("soulchat.io.read_yaml", "bad.yaml", "soulchat.io.InputError", "bad.yaml:2: not valid YAML"),
    ("soulchat.io.model_source", "./nowhere", "soulchat.io.InputError", "--model: no such folder"),
    ("soulchat.rewrite.read_single_turn", "empty.jsonl", "soulchat.io.InputError", "empty.jsonl: no records"),
    ("soulchat.rewrite.PriceTable.load", "prices-negative.yaml", "soulchat.io.InputError", "must be at least 0"),
    ("soulchat.evaluation.generation.load_test_set", "null-target.jsonl", "ValueError", "'target' must be a non-empty"),
    ("soulchat.evaluation.generation.load_test_set", "empty.jsonl", "soulchat.io.InputError", "no test examples"),
    ("soulchat.evaluation.cehs.human.read_key", "key-wrong.json", "soulchat.io.InputError", "not a key written by"),
    ("soulchat.train.read_recipe", "bad.yaml", "soulchat.io.InputError", "bad.yaml:2: not valid YAML"),
]


@pytest.mark.parametrize("function, argument, error, fragment", API, ids=[f"{r[0]}({r[1]})" for r in API])
def test_hostile_input_through_the_python_api(function, argument, error, fragment, hostile, monkeypatch):
    import builtins

    monkeypatch.chdir(hostile["root"])
    expected = getattr(builtins, error) if "." not in error else _api(error)
    with pytest.raises(expected) as caught:
        result = _api(function)(argument)
        if hasattr(result, "__next__"):
            list(result)
    assert fragment in str(caught.value)


def test_every_subcommand_is_covered():
    """A new subcommand fails here until BATTERY has rows for it."""
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    covered = {row[0].split()[0] for row in BATTERY if row[0]}
    assert set(subparsers.choices) <= covered, sorted(set(subparsers.choices) - covered)


def test_the_last_net_reports_an_unexpected_error_in_one_line(monkeypatch, capsys):
    """An error no command expected is one line with its type, not a traceback; SOULCHAT_DEBUG
    shows the traceback to a developer."""
    from soulchat.commands import dialogues

    def broken(args):
        raise KeyError("surprise")

    monkeypatch.setattr(dialogues, "run_templates", broken)
    monkeypatch.delenv("SOULCHAT_DEBUG", raising=False)
    assert main(["templates"]) == 1
    err = capsys.readouterr().err
    assert "internal error (KeyError: 'surprise')" in err and "Traceback" not in err
    monkeypatch.setenv("SOULCHAT_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["templates"])


def test_a_console_run_shows_no_traceback(hostile):
    """The installed command in a real process: the message, exit code 1, no traceback."""
    from pathlib import Path

    script = Path(sys.executable).parent / "soulchat"
    done = subprocess.run([str(script), "validate", "deep.jsonl"], capture_output=True, text=True,
                          cwd=hostile["root"])
    assert done.returncode == 1 and "deep.jsonl:1: JSON nested too deeply" in done.stdout
    assert "Traceback" not in done.stderr + done.stdout
