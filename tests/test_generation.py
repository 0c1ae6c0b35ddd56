"""Generation harness: test-set reading, a tiny in-process model, a fake endpoint, resuming."""

from __future__ import annotations

import json

import pytest

from soulchat.dialogue import render_input
from soulchat.evaluation.generation import (
    Decoding,
    EndpointGenerator,
    LocalGenerator,
    load_test_set,
    run_generation,
)
from soulchat.testing.fake_server import FakeOpenAIServer


@pytest.fixture(scope="module")
def test_jsonl(tmp_path_factory, sample_dialogues):
    path = tmp_path_factory.mktemp("data") / "test.jsonl"
    records = []
    for dialogue in sample_dialogues[:3]:
        records += dialogue.samples()[:2]
    records.append({"id": "m1", "messages": [
        {"role": "user", "content": "最近总是失眠"}, {"role": "assistant", "content": "失眠多久了？"},
        {"role": "user", "content": "快一个月了"}, {"role": "assistant", "content": "一个月真的很辛苦。"}]})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_load_jsonl_input_target_and_messages(test_jsonl):
    examples = load_test_set(test_jsonl)
    assert [e.id for e in examples] == list(range(7))
    last = examples[-1]
    assert last.history == [("最近总是失眠", "失眠多久了？")] and last.query == "快一个月了"
    assert last.target == "一个月真的很辛苦。" and last.source_id == "m1"
    assert last.input == "用户：最近总是失眠\n心理咨询师：失眠多久了？\n用户：快一个月了\n心理咨询师："
    assert len(load_test_set(test_jsonl, limit=2)) == 2


def test_load_corpus_folder_samples_config(tmp_path, test_jsonl):
    folder = tmp_path / "corpus"
    (folder / "samples").mkdir(parents=True)
    rows = [json.loads(line) for line in test_jsonl.read_text().splitlines()][:3]
    (folder / "samples" / "test.jsonl").write_text(
        "".join(json.dumps({"id": i, **r}, ensure_ascii=False) + "\n" for i, r in enumerate(rows)), encoding="utf-8")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: samples\n  data_files:\n  - split: test\n    path: samples/test.jsonl\n---\n")
    examples = load_test_set(folder)
    assert [e.input for e in examples] == [r["input"] for r in rows]
    with pytest.raises(ValueError, match="no split 'validation'"):
        load_test_set(folder, split="validation")


def test_bad_test_set_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "用户：你好\\n心理咨询师：", "target": "好"}\n{"question": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected \{input, target\} or \{messages\}"):
        load_test_set(path)


@pytest.fixture(scope="module")
def tiny(trained_tokenizer):
    from soulchat import testing

    return testing.tiny_glm(trained_tokenizer), trained_tokenizer


def test_left_padded_batches_equal_one_by_one(tiny, test_jsonl):
    model, tokenizer = tiny
    examples = load_test_set(test_jsonl)
    greedy = LocalGenerator(model, tokenizer, "glm4", Decoding(temperature=0, max_new_tokens=6))
    batched = greedy.generate(examples)
    single = [greedy.generate([e])[0] for e in examples]
    assert batched == single and any(batched)
    # the prompt is the training template's, token for token
    from soulchat.templates import get_template

    e = examples[-1]
    assert get_template("glm4").render_prompt(e.history, e.query, tokenizer).startswith("[gMASK]<sop><|user|>")


def test_sampling_is_seeded_and_runs_resume(tiny, test_jsonl, tmp_path):
    model, tokenizer = tiny
    examples = load_test_set(test_jsonl)
    sampler = LocalGenerator(model, tokenizer, "soulchat", Decoding(max_new_tokens=5, seed=3))
    whole = run_generation(examples, sampler, tmp_path / "a", model_name="tiny", batch_size=2)
    # interrupted after two batches (a run writes whole batches, so it stops at a batch boundary)
    run_generation(examples[:4], sampler, tmp_path / "b", model_name="tiny", batch_size=2)
    resumed = run_generation(examples, sampler, tmp_path / "b", model_name="tiny", batch_size=2)
    lines = lambda d: (tmp_path / d / "predictions.jsonl").read_text().splitlines()
    assert len(lines("b")) == 7  # nothing generated twice
    by_id = lambda d: {json.loads(x)["id"]: json.loads(x)["prediction"] for x in lines(d)}
    assert by_id("a") == by_id("b")
    assert resumed["metrics"] == whole["metrics"] and whole["metrics"]["count"] == 7
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["model"] == "tiny" and set(saved["metrics"]) >= {"bleu-4", "rouge-l", "count"}
    record = json.loads(lines("a")[0])
    assert record["input"] == examples[0].input and record["target"] == examples[0].target


def test_endpoint_generator_against_fake_server(test_jsonl, tmp_path):
    import openai

    examples = load_test_set(test_jsonl)
    references = {e.query: e.target for e in examples}
    # the fake model answers with the reference itself: metrics must be perfect
    with FakeOpenAIServer(lambda r: references[r["messages"][-1]["content"]]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        generator = EndpointGenerator(client, "gpt-x", Decoding(), concurrency=3)
        result = run_generation(examples, generator, tmp_path, model_name="gpt-x", batch_size=4)
        asked = len(server.requests)
        run_generation(examples, generator, tmp_path, model_name="gpt-x", batch_size=4)
        assert len(server.requests) == asked == 7
    request = next(r for r in server.requests if r["messages"][-1]["content"] == "快一个月了")
    assert request["messages"] == [
        {"role": "user", "content": "最近总是失眠"}, {"role": "assistant", "content": "失眠多久了？"},
        {"role": "user", "content": "快一个月了"}]
    assert (request["top_p"], request["temperature"], request["seed"]) == (0.75, 0.95, 42 + 6)
    metrics = result["metrics"]
    assert metrics["bleu-4"] == pytest.approx(100.0) and metrics["rouge-l"] == pytest.approx(100.0, abs=1e-5)
    assert generator.usage["completion_tokens"] > 0
    assert render_input(examples[-1].history, examples[-1].query) == examples[-1].input


# ------------------------------------------------------------------------- where a reply stops
def test_stop_ids_are_the_template_stop_the_eos_and_the_models_own(trained_tokenizer):
    from soulchat.templates import stop_token_ids
    from soulchat.testing import tiny_glm

    tokenizer = trained_tokenizer
    user, eos = tokenizer.convert_tokens_to_ids("<|user|>"), tokenizer.eos_token_id
    assert stop_token_ids("glm4", tokenizer) == [user, eos]
    assert stop_token_ids("soulchat", tokenizer) == [eos]  # the template's stop is the eos: once
    model = tiny_glm(tokenizer)
    model.generation_config.eos_token_id = [eos, user, 7]  # GLM-4's shape: <|endoftext|>, <|user|>, <|observation|>
    assert stop_token_ids("glm4", tokenizer, model) == [user, eos, 7]
    assert stop_token_ids("soulchat", tokenizer, model) == [eos, user, 7]
    model.generation_config.eos_token_id = 11  # a single id
    assert stop_token_ids("chatglm", tokenizer, model) == [tokenizer.convert_tokens_to_ids("<eop>"), eos, 11]


def test_local_generation_stops_where_the_model_stops(trained_tokenizer, test_jsonl):
    """A model whose own generation_config ends replies with a token the template does not know
    (an untuned GLM-4 ending with <|user|> under another template) stops there, not later."""
    import torch

    from soulchat.templates import get_template
    from soulchat.testing import tiny_glm

    model = tiny_glm(trained_tokenizer, seed=1)
    example = load_test_set(test_jsonl)[0]
    decoding = Decoding(temperature=0, max_new_tokens=6)
    prompt = get_template("soulchat").encode_prompt(trained_tokenizer, example.history, example.query).input_ids
    with torch.no_grad():
        first = int(model(input_ids=torch.tensor([prompt])).logits[0, -1].argmax())
    unaware = LocalGenerator(model, trained_tokenizer, "soulchat", decoding)
    assert first not in unaware.stop_ids and unaware.generate([example])[0]  # it goes on past `first`
    model.generation_config.eos_token_id = [trained_tokenizer.eos_token_id, first]
    stopping = LocalGenerator(model, trained_tokenizer, "soulchat", decoding)
    assert first in stopping.stop_ids
    assert stopping.generate([example]) == [""]  # the model's first token is its own stop
