"""compute_metrics equals the reference libraries (nltk, rouge_chinese, jieba) pair by pair."""

from __future__ import annotations

import math
import random

import pytest

from soulchat.evaluation import METRIC_MODULE, METRICS, compute_metrics
from soulchat.evaluation.metrics import jieba_words, rouge_words

EDGE_PAIRS = [
    ("", ""),
    ("我能理解你的感受。", ""),
    ("", "我能理解你的感受。"),
    ("   \n", "嗯。"),
    ("。。。！！？", "。！"),
    ("……", "……我在听。"),
    ("😀😀抱抱你😭", "抱抱你😀"),
    ("I feel so tired, 真的 very 累。", "I am tired 我很累 ok?"),
    ("好", "好"),
    ("嗯。\n\n好的", "嗯。\n好"),
    ("“你已经很努力了。”她说。", "她说“你已经很努力了。”"),
    ("123 abc-def_x.y%", "abc-def 123"),
    ("你好吗？我很好！", "你好吗?我很好!"),
    ("听起来你最近压力很大，睡不好也吃不下，这种状态持续多久了？", "最近压力很大，睡不着的时候你会做些什么呢？"),
]


def reference_rows(predictions, references, word=False):
    """ChatGLM-6B's evaluation loop, per pair, unrounded; empty sides score 0."""
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    rows = []
    for prediction, reference in zip(predictions, references):
        if not prediction.strip() or not reference.strip():
            rows.append([0.0] * 7)
            continue
        hypothesis, label = list(jieba.cut(prediction)), list(jieba.cut(reference))
        bleu_hyp, bleu_ref = (hypothesis, label) if word else (list(prediction), list(reference))
        bleu = [
            sentence_bleu([bleu_ref], bleu_hyp, weights=tuple([1 / n] * n),
                          smoothing_function=SmoothingFunction().method3)
            for n in range(1, 5)
        ]
        rouge = Rouge().get_scores(" ".join(hypothesis), " ".join(label))[0]
        rows.append([b * 100 for b in bleu] + [rouge[k]["f"] * 100 for k in ("rouge-1", "rouge-2", "rouge-l")])
    return rows


@pytest.fixture(scope="module")
def dialogue_pairs(sample_dialogues):
    """Real-looking pairs: psychologist replies against other replies, cut and glued."""
    replies = [turn.content for d in sample_dialogues for turn in d.turns]
    rng = random.Random(7)
    predictions, references = [], []
    for _ in range(120):
        predictions.append("".join(rng.sample(replies, 3))[: rng.randint(1, 300)])
        references.append("".join(rng.sample(replies, 3))[: rng.randint(1, 300)])
    for prediction, reference in EDGE_PAIRS:
        predictions.append(prediction)
        references.append(reference)
    # near-copies score high, exercising every n-gram order
    for i in range(20):
        predictions.append(references[i][::2] + references[i][1::2][:20])
        references.append(references[i])
    return predictions, references


@pytest.mark.parametrize("tokens", ["char", "word"])
def test_every_pair_equals_the_reference_libraries(dialogue_pairs, tokens):
    predictions, references = dialogue_pairs
    expected = reference_rows(predictions, references, word=tokens == "word")
    got = compute_metrics(predictions, references, bleu_tokens=tokens, num_proc=1, return_pairs=True)
    for i, (want, have) in enumerate(zip(expected, got["pairs"])):
        assert have == pytest.approx(want, abs=1e-9, rel=0), (i, predictions[i], references[i])
    for k, name in enumerate(METRICS):
        assert got[name] == pytest.approx(sum(r[k] for r in expected) / len(expected), abs=1e-9)
    assert got["count"] == len(predictions)
    assert max(got["bleu-1"], got["rouge-l"]) > 5  # the pairs are not all zeros


def test_exact_values_on_a_tiny_pair():
    got = compute_metrics(["我很累"], ["我很累了"], num_proc=1, return_pairs=True)
    penalty = math.exp(1 - 4 / 3)  # 3 characters against 4
    assert got["bleu-1"] == pytest.approx(100 * penalty, abs=1e-12)
    assert got["bleu-2"] == pytest.approx(100 * penalty, abs=1e-12)
    assert got["bleu-3"] == pytest.approx(100 * penalty, abs=1e-12)
    # no 4-gram in a 3-character hypothesis: method3 gives 1 / (2 * 1)
    assert got["bleu-4"] == pytest.approx(100 * penalty * 0.5**0.25, abs=1e-12)
    words = compute_metrics(["ab cd"], ["ab ef"], num_proc=1)
    half = 2.0 * (0.25 / (1.0 + 1e-8)) * 100
    assert words["rouge-1"] == pytest.approx(half, abs=1e-12)
    assert words["rouge-2"] == 0.0
    assert words["rouge-l"] == pytest.approx(half, abs=1e-12)


def test_empty_sides_score_zero_and_do_not_crash():
    got = compute_metrics(["", "好的", " "], ["好的", "", "好的"], num_proc=1)
    assert {k: got[k] for k in METRICS} == {k: 0.0 for k in METRICS}
    assert got["count"] == 3
    assert compute_metrics([], [])["count"] == 0


def test_rouge_word_list_matches_rouge_chinese_preprocessing():
    assert jieba_words("ab cd") == ["ab", " ", "cd"]
    # a whitespace-only "sentence" leaves one empty word, exactly as rouge_chinese does
    assert rouge_words(["嗯", "。", "\n", "\n", "好"]) == ["嗯", "。", "", "", "好"]


def test_processes_give_the_same_numbers(dialogue_pairs):
    predictions, references = dialogue_pairs
    one = compute_metrics(predictions, references, num_proc=1)
    two = compute_metrics(predictions, references, num_proc=2)
    assert one == two


def test_chatglm_rounding_option():
    got = compute_metrics(["我很累"], ["我很累了"], per_pair_decimals=4, num_proc=1)
    assert got["bleu-1"] == round(100 * math.exp(1 - 4 / 3), 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        compute_metrics(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="bleu_tokens"):
        compute_metrics(["a"], ["a"], bleu_tokens="bpe")
    with pytest.raises(TypeError, match="prediction 0 is NoneType"):
        compute_metrics([None], ["a"])


def test_evaluate_module_loads_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import evaluate

    metric = evaluate.load(str(METRIC_MODULE))
    predictions, references = ["我能理解你的感受。", ""], ["我理解你的感受。", "好"]
    got = metric.compute(predictions=predictions, references=references)
    assert got == compute_metrics(predictions, references)
    assert metric.compute(predictions=["ab cd"], references=["ab ef"], bleu_tokens="word")["bleu-1"] == pytest.approx(200 / 3)  # ab, " ", cd
