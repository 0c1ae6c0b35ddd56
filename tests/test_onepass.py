"""One-pass multi-turn training (mask="all"): every psychologist turn of a dialogue in one row."""

from collections import Counter

import pytest
import torch

from soulchat import IGNORE_INDEX, DialogueFormatError, SoulChatCollator, TemplateError, tokenize_function
from soulchat.train.collator import EncodingSettings, encode, encode_example
from soulchat.testing import tiny_glm

TWO_ROUNDS = {"messages": [{"role": "user", "content": "嗯"}, {"role": "assistant", "content": "好"},
                           {"role": "user", "content": "累"}, {"role": "assistant", "content": "抱抱"}]}


def test_exact_labels_of_a_one_pass_row(char_tokenizer, char_ids):
    (row,) = SoulChatCollator(char_tokenizer, template="native", mask="all").encode(TWO_ROUNDS)
    special = char_tokenizer.get_added_vocab()
    start, end = special["<|im_start|>"], special["<|im_end|>"]
    user, assistant = [start] + char_ids("user\n"), [start] + char_ids("assistant\n")
    first_prompt = user + char_ids("嗯") + [end] + char_ids("\n") + assistant
    second_prompt = char_ids("\n") + user + char_ids("累") + [end] + char_ids("\n") + assistant
    assert row["input_ids"] == first_prompt + char_ids("好") + [end] + second_prompt + char_ids("抱抱") + [end]
    masked = [IGNORE_INDEX]
    assert row["labels"] == (masked * len(first_prompt) + char_ids("好") + [end]
                             + masked * len(second_prompt) + char_ids("抱抱") + [end])


def test_exact_labels_of_a_glm4_one_pass_row(char_tokenizer, char_ids):
    """GLM-4 as its official fine-tuning trains it: every reply ends with a trained <|user|>,
    which is also the start of the next user turn."""
    (row,) = SoulChatCollator(char_tokenizer, template="glm4", mask="all").encode(TWO_ROUNDS)
    special = char_tokenizer.get_added_vocab()
    user, assistant = special["<|user|>"], special["<|assistant|>"]
    first_prompt = [special["[gMASK]"], special["<sop>"], user] + char_ids("\n嗯") + [assistant] + char_ids("\n")
    second_prompt = char_ids("\n累") + [assistant] + char_ids("\n")
    assert row["input_ids"] == first_prompt + char_ids("好") + [user] + second_prompt + char_ids("抱抱") + [user]
    masked = [IGNORE_INDEX]
    assert row["labels"] == (masked * len(first_prompt) + char_ids("好") + [user]
                             + masked * len(second_prompt) + char_ids("抱抱") + [user])


@pytest.mark.parametrize("template", ["native", "glm4"])
def test_each_turns_loss_equals_its_loss_as_a_separate_sample(template, trained_tokenizer, sample_dialogues):
    """On a tiny GLM in fp32, one pass over the dialogue gives every turn the loss it has in the
    paper's expansion, for far fewer tokens."""
    model = tiny_glm(trained_tokenizer, seed=3).float()
    stats = Counter()
    checked = 0
    for dialogue in sample_dialogues[:3]:
        example = {"messages": dialogue.to_messages()}
        (row,) = encode(example, trained_tokenizer, EncodingSettings(template, mask="all"), stats)
        samples = [
            encode_example({"messages": dialogue.to_messages()[: 2 * (k + 1)]}, trained_tokenizer, template)
            for k in range(dialogue.rounds)
        ]
        assert len(row.turn_spans) == len(samples) == dialogue.rounds
        one_pass = _token_losses(model, row.as_dict())
        for (start, end), sample in zip(row.turn_spans, samples):
            separate = _token_losses(model, sample)
            trained = separate[separate != 0]
            assert trained.numel() == end - start
            torch.testing.assert_close(one_pass[start - 1 : end - 1].mean(), trained.mean(), atol=1e-5, rtol=0)
            checked += 1
        assert len(row.input_ids) * 2 < sum(len(s["input_ids"]) for s in samples)
    assert checked == stats["one_pass_turns"] and stats["separate_turns"] == 0


def _token_losses(model, row):
    """Per-position cross-entropy of predicting token t+1 (0 where the label is masked)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([row["input_ids"]])).logits[0, :-1]
    labels = torch.tensor(row["labels"][1:])
    losses = torch.nn.functional.cross_entropy(logits, labels.clamp(min=0), reduction="none")
    return torch.where(labels == IGNORE_INDEX, torch.zeros_like(losses), losses)


def test_turns_that_do_not_fit_fall_back_to_their_own_rows(qwen, sample_dialogues):
    dialogue = max(sample_dialogues, key=lambda d: d.rounds)
    messages = {"messages": dialogue.to_messages()}
    stats = Counter()
    rows = encode(messages, qwen, EncodingSettings("native", max_source_length=200, mask="all"), stats)
    spans = [span for row in rows for span in row.turn_spans]
    assert len(spans) == dialogue.rounds  # every turn trained exactly once
    assert 0 < stats["one_pass_turns"] < dialogue.rounds and stats["separate_turns"] > 0
    chained = len(rows[0].turn_spans)
    for k, row in enumerate(rows[1:], start=chained):  # separate rows are the paper's samples
        sample = encode_example({"messages": dialogue.to_messages()[: 2 * (k + 1)]}, qwen, "native",
                                max_source_length=200)
        assert row.as_dict() == sample
        assert row.labels.count(IGNORE_INDEX) <= 200


def test_one_pass_in_datasets_map(trained_tokenizer, sample_dialogues):
    from datasets import Dataset

    dataset = Dataset.from_list([{"messages": d.to_messages(), "topic": d.topic} for d in sample_dialogues[:6]])
    mapped = dataset.map(tokenize_function(trained_tokenizer, "native", mask="all"), batched=True,
                         remove_columns=dataset.column_names)
    assert len(mapped) == 6
    trained = sum(sum(1 for label in row["labels"] if label != IGNORE_INDEX) for row in mapped)
    expected = sum(
        len(trained_tokenizer(p, add_special_tokens=False, split_special_tokens=True)["input_ids"]) + 1
        for d in sample_dialogues[:6] for _, _, p in d.exchanges()
    )
    assert trained == expected  # every reply token and its stop token, once


def test_one_pass_is_refused_where_it_cannot_be_exact(char_tokenizer):
    # chatglm3 trains eos after the last reply, but its history closes replies with <|user|>
    with pytest.raises(TemplateError, match="needs a prefix-consistent template, and 'chatglm3' is not"):
        SoulChatCollator(char_tokenizer, template="chatglm3", mask="all")
    with pytest.raises(TemplateError, match="'glm4-eos' is not"):
        SoulChatCollator(char_tokenizer, template="glm4-eos", mask="all")
    with pytest.raises(TemplateError, match="prefix-consistent"):
        tokenize_function(char_tokenizer, "soulchat", mask="all")
    collator = SoulChatCollator(char_tokenizer, template="native", mask="all")
    with pytest.raises(DialogueFormatError, match="mask='all' trains whole dialogues"):
        collator([{"input": "用户：累\n心理咨询师：", "target": "抱抱"}])
