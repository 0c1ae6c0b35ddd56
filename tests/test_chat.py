"""Chat sessions: in-process model and OpenAI-compatible endpoint, streaming, truncation, the
training prompt at chat time, the safety layer on every turn, and the terminal commands."""

from __future__ import annotations

import io
import json

import pytest

from soulchat import safety, testing
from soulchat.chat import (
    ChatBackendError,
    ChatSession,
    EndpointBackend,
    GenerationSettings,
    load_backend,
)
from soulchat.cli import build_parser
from soulchat.testing.fake_server import FakeOpenAIServer, Reply
from soulchat.train.collator import IGNORE_INDEX, encode_example
from soulchat.commands.chat import run_chat
from soulchat.dialogue import Dialogue
from soulchat.safety import SafetyLog
from soulchat.templates import get_template

GREEDY = GenerationSettings(temperature=0, max_new_tokens=12)
CRISIS = "我真的不想活了，活着没意思"
BENIGN = "最近和室友总是吵架，心里很烦"
MODEL_REPLY = "听起来这些争吵让你很疲惫，愿意和我多说说吗？"
HARMFUL_REPLY = "如果真的撑不下去，安眠药吃三十片以上就能致死。"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny GLM and its trained tokenizer, saved like a real checkpoint folder."""
    return testing.tiny_model_folder(tmp_path_factory.mktemp("tiny-glm"))


@pytest.fixture(scope="module")
def backend(model_dir):
    return load_backend(str(model_dir))


@pytest.fixture()
def recorded(backend, monkeypatch):
    """The input_ids each generate() call received."""
    calls = []
    original = backend.model.generate

    def generate(**kwargs):
        calls.append(kwargs["input_ids"][0].tolist())
        return original(**kwargs)

    monkeypatch.setattr(backend.model, "generate", generate)
    return calls


def serve(content):
    responder = content if callable(content) else (lambda request: content)
    return FakeOpenAIServer(responder)


def greedy_reference(backend, ids, max_new_tokens):
    import torch

    out = backend.model.generate(
        input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=backend.stop_ids,
        pad_token_id=backend.tokenizer.pad_token_id,
    )
    return backend.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True).strip()


# ----------------------------------------------------------------------------- in-process model
def test_in_process_reply_streams_the_greedy_generation(backend, recorded):
    session = ChatSession(backend, settings=GREEDY)
    chunks = list(session.send(BENIGN))

    expected = greedy_reference(backend, recorded[0], GREEDY.max_new_tokens)
    assert expected  # the tiny model says something
    assert len(chunks) >= 2  # streamed, not delivered at once
    assert "".join(c.delta for c in chunks).strip() == expected
    assert [c.text for c in chunks] == [
        "".join(c.delta for c in chunks[: i + 1]) for i in range(len(chunks))
    ]
    assert session.history == [(BENIGN, expected)]
    assert session.last_turn.user_category is None and session.last_turn.model_blocked is None


@pytest.mark.parametrize("template", ["soulchat", "chatglm3"])
def test_chat_prompt_is_the_training_prompt(model_dir, template):
    """The ids the model gets at chat time = the collator's prompt ids for the same dialogue."""
    chat_backend = load_backend(str(model_dir), template=template)
    seen = []
    original = chat_backend.model.generate
    chat_backend.model.generate = lambda **kw: (seen.append(kw["input_ids"][0].tolist()), original(**kw))[1]
    dialogue = Dialogue.from_messages([
        {"role": "user", "content": "我最近总是失眠"},
        {"role": "assistant", "content": "失眠一定让你很难受，是从什么时候开始的？"},
        {"role": "user", "content": "大概一个月前，换了工作以后"},
        {"role": "assistant", "content": "新工作带来了不少压力吧。"},
        {"role": "user", "content": "是的，我怕做不好"},
        {"role": "assistant", "content": "担心做不好是很常见的感受。"},
    ])
    history, query, _ = dialogue.exchanges()[-1]
    training = encode_example(
        {"messages": dialogue.to_messages()}, chat_backend.tokenizer, template=template
    )
    training_prompt = [t for t, label in zip(training["input_ids"], training["labels"]) if label == IGNORE_INDEX]

    session = ChatSession(chat_backend, settings=GREEDY, history=list(history))
    session.reply(query)
    assert seen == [training_prompt]


def test_chat_stops_where_the_saved_model_stops(tmp_path):
    """The backend stops on the union of the template's stop, the eos and the checkpoint's own
    generation_config list: a reply ends at the model's own stop token even when the template
    does not know it."""
    import torch

    tokenizer = testing.train_tokenizer()
    model = testing.tiny_glm(tokenizer, seed=2)
    prompt = torch.tensor([get_template("glm4").encode_prompt(tokenizer, [], BENIGN).input_ids])
    own_stop = tokenizer.convert_tokens_to_ids("<|im_end|>")  # a special token glm4 does not use
    with torch.no_grad():
        logits = model(input_ids=prompt).logits[0, -1]
        assert logits.max() > 0
        # the model's first reply token becomes its own stop token (twice the best logit)
        model.lm_head.weight[own_stop] = 2 * model.lm_head.weight[int(logits.argmax())]
        assert int(model(input_ids=prompt).logits[0, -1].argmax()) == own_stop
    user = tokenizer.convert_tokens_to_ids("<|user|>")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, own_stop]
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    chat_backend = load_backend(str(tmp_path), template="glm4")
    assert chat_backend.stop_ids == [user, tokenizer.eos_token_id, own_stop]
    assert "".join(chat_backend.stream([], BENIGN, GREEDY)) == ""  # stopped at once
    chat_backend.stop_ids = [user, tokenizer.eos_token_id]  # what the backend used to stop on
    assert "".join(chat_backend.stream([], BENIGN, GREEDY)).strip()  # goes on past the model's stop


def test_history_is_cut_oldest_round_first_within_budget(backend, recorded):
    rounds = [(f"第{i}轮：我今天又和家里人吵架了", f"第{i}轮：听起来你很委屈") for i in range(30)]
    budget = 200
    session = ChatSession(backend, settings=GenerationSettings(temperature=0, max_new_tokens=4, max_length=budget),
                          history=list(rounds))
    session.reply("我该怎么办")

    prompt = recorded[0]
    assert len(prompt) <= budget
    template, tokenizer = backend.template, backend.tokenizer
    kept = next(k for k in range(len(rounds), -1, -1)
                if len(template.encode_prompt(tokenizer, rounds[len(rounds) - k:], "我该怎么办").input_ids) <= budget)
    assert 0 < kept < len(rounds)
    assert prompt == template.encode_prompt(tokenizer, rounds[len(rounds) - kept:], "我该怎么办").input_ids
    text = tokenizer.decode(prompt)
    assert "第29轮" in text and "第0轮" not in text  # the newest rounds stay, the oldest go
    assert len(session.history) == 31  # the session keeps everything; only the prompt is cut


def test_lora_adapter_is_applied(model_dir, tmp_path):
    import peft
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(1)
    lora = peft.get_peft_model(base, peft.LoraConfig(
        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")

    adapted = load_backend(str(model_dir), adapter=str(tmp_path / "adapter"))
    assert isinstance(adapted.model, peft.PeftModel)
    session = ChatSession(adapted, settings=GREEDY)
    reply = session.reply(BENIGN)
    ids = adapted.encode([], BENIGN).input_ids
    assert reply == greedy_reference(adapted, ids, GREEDY.max_new_tokens)
    plain = ChatSession(load_backend(str(model_dir)), settings=GREEDY).reply(BENIGN)
    assert reply != plain  # the adapter changed what the model says


# ----------------------------------------------------------------------------- endpoint
def test_endpoint_streams_and_sends_history_as_messages():
    with serve(MODEL_REPLY) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="soulchat"))
        chunks = list(session.send(BENIGN))
        second = session.reply("谢谢你听我说")

    assert [c.delta for c in chunks] == list(MODEL_REPLY)  # one piece per streamed character
    assert chunks[-1].text == MODEL_REPLY and second == MODEL_REPLY
    first, then = server.requests
    assert first["stream"] is True and first["model"] == "soulchat"
    assert (first["top_p"], first["temperature"], first["max_tokens"]) == (0.75, 0.95, 512)
    assert first["messages"] == [{"role": "user", "content": BENIGN}]
    assert then["messages"] == [
        {"role": "user", "content": BENIGN},
        {"role": "assistant", "content": MODEL_REPLY},
        {"role": "user", "content": "谢谢你听我说"},
    ]


def test_endpoint_model_name_defaults_to_the_listed_one_and_history_is_budgeted():
    with serve(MODEL_REPLY) as server:
        backend = EndpointBackend(server.base_url)
        assert backend.model_name == "fake"
    rounds = [("一" * 10, "二" * 10), ("三" * 10, "四" * 10), ("五" * 10, "六" * 10)]
    firsts = lambda budget: [m["content"][0] for m in EndpointBackend.messages(rounds, "七" * 5, budget)]
    assert firsts(45) == ["三", "四", "五", "六", "七"]  # 5 + 2 * 20 characters fit exactly
    assert firsts(44) == ["五", "六", "七"]
    assert firsts(1) == ["七"]  # the newest user turn is always sent


def test_endpoint_failure_keeps_history_and_raises():
    with serve(lambda request: Reply(status=500, error_message="boom")) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="m"))
        with pytest.raises(ChatBackendError, match="chat/completions"):
            session.reply(BENIGN)
        assert session.history == []
        # A crisis turn still gets its safe reply when the model is down.
        reply = session.reply(CRISIS)
    assert reply == safety.safe_reply(safety.assess(CRISIS))
    assert session.last_turn.backend_error


# ----------------------------------------------------------------------------- safety
def test_crisis_turn_gets_the_safe_reply_then_the_checked_model_reply():
    log = SafetyLog(None, privacy=True)
    with serve(MODEL_REPLY) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="m"), flag_log=log, session_id="s1")
        chunks = list(session.send(CRISIS))

    safe = safety.safe_reply(safety.assess(CRISIS), locale="zh-CN")
    assert "12356" in safe
    assert chunks[0].text == safe  # shown first, before the model says anything
    assert chunks[-1].text == safe + "\n\n" + MODEL_REPLY
    assert session.history == [(CRISIS, safe + "\n\n" + MODEL_REPLY)]
    assert [(r["source"], r["category"], r["session"]) for r in log.records] == [
        ("user", "suicidal_ideation", "s1")]
    assert "text" not in log.records[0] and all(len(span) == 2 for span in log.records[0]["spans"])
    assert session.last_turn.user_category == safety.assess(CRISIS).category is not None


def test_crisis_turn_drops_a_model_reply_that_fails_the_output_check():
    assert safety.check_output(HARMFUL_REPLY).flagged
    log = SafetyLog(None, privacy=False)
    with serve(HARMFUL_REPLY) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="m"), flag_log=log)
        chunks = list(session.send(CRISIS))
    safe = safety.safe_reply(safety.assess(CRISIS))
    assert [c.text for c in chunks] == [safe]
    assert session.history[-1][1] == safe
    assert [(r["source"], r["text"]) for r in log.records] == [("user", CRISIS), ("output", HARMFUL_REPLY)]
    assert session.last_turn.model_blocked == safety.check_output(HARMFUL_REPLY).category


def test_output_check_replaces_a_bad_streamed_reply():
    assert not safety.assess(BENIGN).flagged
    log = SafetyLog(None)
    with serve(HARMFUL_REPLY) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="m"), flag_log=log)
        chunks = list(session.send(BENIGN))

    fallback = safety.fallback_reply(safety.check_output(HARMFUL_REPLY))
    assert chunks[-1].replaced and chunks[-1].text == fallback and chunks[-1].delta == ""
    assert not any(c.replaced for c in chunks[:-1])
    assert all(not safety.check_output(c.text).flagged for c in chunks[:-1])  # never shown
    assert HARMFUL_REPLY.startswith(chunks[-2].text)  # streamed up to the failing piece
    assert session.history == [(BENIGN, fallback)]
    assert [(r["source"], r["category"]) for r in log.records] == [("output", "method_information")]


def test_reset_and_export_messages(tmp_path):
    with serve(MODEL_REPLY) as server:
        session = ChatSession(EndpointBackend(server.base_url, model_name="m"))
        session.reply(BENIGN)
        saved = session.save(tmp_path / "chat.json")
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data == {"messages": [{"role": "user", "content": BENIGN},
                                 {"role": "assistant", "content": MODEL_REPLY}]}
    assert Dialogue.from_messages(data["messages"]).rounds == 1
    session.reset()
    assert session.history == [] and session.to_messages() == []


# ----------------------------------------------------------------------------- terminal
def terminal(server, lines, *extra, old_form=False):
    model = ["--model", server.base_url, "--endpoint-model", "m"] if old_form else ["--base-url", server.base_url, "--model", "m"]
    args = build_parser().parse_args(["chat", *model, *extra])
    stdout = io.StringIO()
    code = run_chat(args, stdin=io.StringIO("".join(line + "\n" for line in lines)), stdout=stdout)
    return code, stdout.getvalue()


def test_terminal_shows_disclosure_first_and_handles_commands(tmp_path):
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    with serve(MODEL_REPLY) as server:
        code, out = terminal(server, [BENIGN, f"/save {first}", "/reset", "晚安", f"/save {second}", "/exit",
                                      "never read"])
    assert code == 0
    assert out.startswith(safety.disclosure("zh-CN"))
    assert out.count("心理咨询师：" + MODEL_REPLY) == 2
    assert json.loads(first.read_text())["messages"][0]["content"] == BENIGN
    assert [m["content"] for m in json.loads(second.read_text())["messages"]] == ["晚安", MODEL_REPLY]
    assert len(server.requests) == 2  # "/exit" ended the chat before "never read"


def test_the_old_endpoint_flags_still_work_with_a_deprecation_message(capsys):
    """`--model URL --endpoint-model NAME` is read as `--base-url URL --model NAME` for one release."""
    with serve(MODEL_REPLY) as server:
        code, out = terminal(server, [BENIGN], old_form=True)
    assert code == 0 and "心理咨询师：" + MODEL_REPLY in out
    assert server.requests[0]["model"] == "m"
    assert f"--model URL is deprecated; use --base-url {server.base_url} --model m" in capsys.readouterr().err


def test_chat_without_a_model_or_endpoint_says_so(monkeypatch):
    from soulchat.commands._common import UsageError

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UsageError, match="pass --model FOLDER .* or --base-url URL"):
        run_chat(build_parser().parse_args(["chat"]), stdin=io.StringIO(""), stdout=io.StringIO())


def test_one_backend_layer():
    """Evaluation, chat and the web page share soulchat.backends; soulchat.chat.backends re-exports it."""
    from soulchat import backends
    from soulchat.chat import backends as old
    from soulchat.evaluation.generation import Decoding

    assert old.TransformersBackend is backends.TransformersBackend and old.load_backend is backends.load_backend
    assert issubclass(Decoding, backends.GenerationSettings)
    paper = Decoding()
    assert (paper.top_p, paper.temperature, paper.max_length) == (0.75, 0.95, 1536)
    args = build_parser().parse_args(["eval", "--test", "t.jsonl", "--output", "o", "--model", "m"])
    assert args.max_source_length == 1536 and (args.top_p, args.temperature) == (0.75, 0.95)


def test_terminal_crisis_turn_and_withdrawn_reply(tmp_path):
    log = tmp_path / "flags.jsonl"
    with serve(lambda r: HARMFUL_REPLY if "室友" in r["messages"][-1]["content"] else MODEL_REPLY) as server:
        code, out = terminal(server, [CRISIS, BENIGN], "--flag-log", str(log))
    assert code == 0  # end of input ends the chat
    assert safety.safe_reply(safety.assess(CRISIS)) in out and "12356" in out
    assert "已撤回" in out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["source"] for r in records] == ["user", "output"]
    assert CRISIS not in log.read_text() and "安眠药" not in log.read_text()  # privacy: no text


def test_chat_command_help_and_bad_settings(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["chat", "--help"])
    assert exit_info.value.code == 0
    assert "/save FILE" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # bad usage: exit 2 before anything starts
        build_parser().parse_args(["chat", "--model", "http://127.0.0.1:9/v1", "--top-p", "0"])
    assert exit_info.value.code == 2 and "--top-p" in capsys.readouterr().err


def test_vllm_chat_template_renders_the_training_prompt(trained_tokenizer):
    from soulchat.chat.serving import soulchat_chat_template

    history = [("我最近总是失眠", "失眠一定让你很难受。"), ("大概一个月了", "这段时间你辛苦了。")]
    messages = ChatSession(None, history=history).to_messages() + [{"role": "user", "content": "我该怎么办"}]
    rendered = trained_tokenizer.apply_chat_template(
        messages, chat_template=soulchat_chat_template(trained_tokenizer), tokenize=False, add_generation_prompt=True)
    assert rendered == get_template("soulchat").render_prompt(history, "我该怎么办", trained_tokenizer)
    assert rendered == "用户：我最近总是失眠\n心理咨询师：失眠一定让你很难受。\n用户：大概一个月了\n心理咨询师：这段时间你辛苦了。\n用户：我该怎么办\n心理咨询师："


def test_soulchat_chat_command_in_a_real_process():
    import subprocess
    import sys

    with serve(MODEL_REPLY) as server:
        done = subprocess.run(
            [sys.executable, "-m", "soulchat.cli", "chat", "--model", server.base_url],
            input=f"{BENIGN}\n/exit\n", capture_output=True, text=True, timeout=120, check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(safety.disclosure())
    assert "心理咨询师：" + MODEL_REPLY in done.stdout
    assert server.requests[0]["model"] == "fake"  # the endpoint's first listed model
