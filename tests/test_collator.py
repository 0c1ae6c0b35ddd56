import logging

import pytest
import torch

from soulchat import IGNORE_INDEX, DialogueFormatError, SoulChatCollator, get_template, tokenize_function
from soulchat.templates import TemplateError
from soulchat.testing import tiny_glm, train_tokenizer

LONG_HISTORY = [(f"第{i}轮：我最近总是睡不着，心里很烦，" * 3, f"谢谢你愿意说出来，第{i}轮我在听。" * 2) for i in range(8)]
NEWEST = "其实我最想说的是，我真的很累了。"


def prompt_and_target(row, tokenizer):
    n = row["labels"].count(IGNORE_INDEX)
    return tokenizer.decode(row["input_ids"][:n]), tokenizer.decode(row["input_ids"][n:])


# ----------------------------------------------------------------------- truncation
@pytest.mark.parametrize("name", ["soulchat", "chatglm", "chatglm2", "glm4", "native"])
def test_truncation_cuts_oldest_rounds_at_turn_boundaries_and_keeps_the_newest_user_turn(name, qwen):
    template = get_template(name)
    full = template.encode_prompt(qwen, LONG_HISTORY, NEWEST).input_ids
    budget = len(full) // 2
    collator = SoulChatCollator(qwen, template=name, max_source_length=budget)
    (row,) = collator.encode({"messages": _messages(LONG_HISTORY, NEWEST, "嗯，我在。")})
    prompt, target = prompt_and_target(row, qwen)
    assert row["labels"].count(IGNORE_INDEX) <= budget
    assert NEWEST in prompt and target == "嗯，我在。" + template.stop_token(qwen)
    kept = template.encode_prompt(qwen, LONG_HISTORY, NEWEST, max_length=budget)
    assert 0 < kept.dropped_rounds < len(LONG_HISTORY) and not kept.query_truncated
    # exactly the rendering of the newest rounds: cut at a round boundary, renumbered as in chat
    assert prompt == template.render_prompt(LONG_HISTORY[kept.dropped_rounds :], NEWEST, qwen)
    # and the most history that fits: one more round would not fit
    longer = template.encode_prompt(qwen, LONG_HISTORY[kept.dropped_rounds - 1 :], NEWEST).input_ids
    assert len(longer) > budget
    assert collator.stats["truncated_prompts"] == 1


def test_a_user_turn_too_long_alone_loses_its_start_not_its_end(qwen):
    query = "开头的话。" * 200 + "最后这句最重要。"
    collator = SoulChatCollator(qwen, max_source_length=64)
    (row,) = collator.encode({"messages": _messages(LONG_HISTORY, query, "我在听。")})
    prompt, _ = prompt_and_target(row, qwen)
    assert row["labels"].count(IGNORE_INDEX) <= 64
    assert prompt.startswith("用户：") and prompt.endswith("最后这句最重要。\n心理咨询师：")
    assert collator.stats["truncated_user_turns"] == 1
    with pytest.raises(TemplateError, match="max_source_length=3"):
        SoulChatCollator(qwen, max_source_length=3).encode({"input": "用户：a\n心理咨询师：", "target": "b"})


def test_target_is_cut_to_its_own_budget_and_keeps_its_stop_token(qwen):
    collator = SoulChatCollator(qwen, max_target_length=10)
    (row,) = collator.encode({"input": "用户：你好\n心理咨询师：", "target": "我一直都在这里陪着你，慢慢说，不着急。" * 5})
    trained = [label for label in row["labels"] if label != IGNORE_INDEX]
    assert len(trained) == 10 and trained[-1] == qwen.eos_token_id
    assert collator.stats["truncated_targets"] == 1


# -------------------------------------------------------------------------- padding
def test_pad_equal_to_eos_does_not_mask_the_real_eos(qwen):
    assert qwen.pad_token_id == qwen.eos_token_id
    collator = SoulChatCollator(qwen)
    batch = collator([
        {"input": "用户：你好\n心理咨询师：", "target": "你好，想聊点什么？"},
        {"input": "用户：我最近很累，晚上睡不着，白天也没有精神。\n心理咨询师：", "target": "听起来你撑了很久。"},
    ])
    eos = qwen.eos_token_id
    for ids, mask, labels in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
        real = int(mask.sum())
        assert labels[real - 1] == eos and ids[real - 1] == eos  # the real eos is trained
        assert (labels[real:] == IGNORE_INDEX).all() and (ids[real:] == eos).all()  # padding is not
    assert (batch["attention_mask"][0] == 0).any()


def test_left_padding_and_multiple_of(qwen):
    collator = SoulChatCollator(qwen, padding_side="left", pad_to_multiple_of=8)
    batch = collator([{"input": "用户：嗯\n心理咨询师：", "target": "我在"},
                      {"input": "用户：我有点说不出口\n心理咨询师：", "target": "没关系，慢慢来"}])
    assert batch["input_ids"].shape[1] % 8 == 0
    assert (batch["attention_mask"][:, -1] == 1).all() and batch["labels"][0, -1] == qwen.eos_token_id
    assert batch["attention_mask"][0, 0] == 0 and batch["labels"][0, 0] == IGNORE_INDEX


def test_pretokenized_rows_are_only_padded(char_tokenizer):
    collator = SoulChatCollator(char_tokenizer)
    batch = collator([{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4], "labels": [4]}])
    pad = char_tokenizer.pad_token_id
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, pad, pad]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="differ in length"):
        collator([{"input_ids": [1, 2], "labels": [1]}])


# ------------------------------------------------------------------- dropped rows
def test_rows_without_trainable_tokens_are_dropped_loudly_and_counted(char_tokenizer, caplog):
    collator = SoulChatCollator(char_tokenizer)
    good = {"input": "用户：累\n心理咨询师：", "target": "抱抱"}
    with caplog.at_level(logging.WARNING, logger="soulchat.train.collator"):
        batch = collator([good, {"input": "用户：累\n心理咨询师：", "target": "  "},
                          {"input_ids": [1, 2], "labels": [-100, -100]}])
    assert batch["input_ids"].shape[0] == 1
    assert collator.dropped == 2 and "dropped 2 of 3" in caplog.text
    with pytest.raises(ValueError, match="none of the 1 examples"):
        collator([{"input": "用户：累\n心理咨询师：", "target": ""}])
    assert collator.dropped == 3


@pytest.mark.parametrize(
    "example, reason",
    [
        ({"prompt": "x"}, "expected keys 'input' and 'target'"),
        ({"input": "用户：累", "target": "b"}, "must alternate"),
        ({"messages": [{"role": "user", "content": "a"}]}, "must alternate"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                       {"role": "assistant", "content": "c"}]}, "must alternate"),
    ],
)
def test_malformed_examples_raise_with_their_position(example, reason, char_tokenizer):
    collator = SoulChatCollator(char_tokenizer)
    with pytest.raises(DialogueFormatError, match=f"example 1 of the batch: .*{reason}"):
        collator([{"input": "用户：累\n心理咨询师：", "target": "抱"}, example])


def test_bad_settings_are_refused(char_tokenizer):
    with pytest.raises(ValueError, match="mask='every' is not supported"):
        SoulChatCollator(char_tokenizer, mask="every")
    with pytest.raises(ValueError, match="padding_side"):
        SoulChatCollator(char_tokenizer, padding_side="middle")
    no_eos = train_tokenizer(vocab_size=300, texts=["用户：你好"] * 5)
    no_eos.eos_token = None
    with pytest.raises(TemplateError, match="has none: set tokenizer.eos_token"):
        SoulChatCollator(no_eos)


# ------------------------------------------------------------------ datasets.map
def test_tokenize_function_in_datasets_map_matches_the_collator(sample_dialogues, trained_tokenizer):
    from datasets import Dataset

    samples = [s for d in sample_dialogues[:5] for s in d.samples()]
    samples.append({"input": "用户：累\n心理咨询师：", "target": ""})  # dropped, not trained as all -100
    dataset = Dataset.from_list(samples)
    mapped = dataset.map(
        tokenize_function(trained_tokenizer, "chatglm3"), batched=True, batch_size=7,
        remove_columns=dataset.column_names,
    )
    assert len(mapped) == len(samples) - 1
    collator = SoulChatCollator(trained_tokenizer, template="chatglm3")
    for row, sample in zip(mapped, samples):
        assert [row] == collator.encode(sample)
    batch = collator([mapped[0], mapped[1]])
    assert batch["input_ids"].shape[0] == 2


# ------------------------------------------------------------------ with a model
def test_model_loss_covers_exactly_the_trained_span(trained_tokenizer, sample_dialogues):
    model = tiny_glm(trained_tokenizer)
    collator = SoulChatCollator(trained_tokenizer, template="glm4")
    batch = collator(sample_dialogues[0].samples()[:3])
    output = model(**batch)
    logits = output.logits[:, :-1].reshape(-1, output.logits.shape[-1])
    labels = batch["labels"][:, 1:].reshape(-1)
    manual = torch.nn.functional.cross_entropy(logits[labels != -100], labels[labels != -100])
    assert torch.isfinite(output.loss) and torch.allclose(output.loss, manual, atol=1e-6)


def test_one_training_step_changes_every_trainable_parameter(trained_tokenizer, sample_dialogues):
    model = tiny_glm(trained_tokenizer).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = SoulChatCollator(trained_tokenizer)(sample_dialogues[1].samples()[:4])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(**batch).loss.backward()
    optimizer.step()
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == [], unchanged


def _messages(history, query, reply):
    messages = []
    for user, psychologist in history:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": psychologist}]
    return messages + [{"role": "user", "content": query}, {"role": "assistant", "content": reply}]
