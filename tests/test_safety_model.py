"""The learned layer of the crisis detector: the n-gram model, the crisis model that weighs it with
the sentence encoder and the rules, training and cross-validation on real labelled rows, judging a
turn within its conversation, persistence, the shipped model and the `soulchat safety` command."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from soulchat import safety
from soulchat.commands.safety import TRAIN_SETS
from soulchat.io import InputError
from soulchat.safety import training
from soulchat.safety.classifier import TrainConfig, fit, ngrams
from soulchat.safety.detector import Detector
from soulchat.safety.evaluation import PSYSUICIDE_LABELS, read_labelled, score
from soulchat.safety.model import ENCODER_CHARS, CrisisModel, default_model, shipped_model_path, windows

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# The real labelled data (PsySUICIDE's validation split) lives outside the repository; tests that
# need it say so and skip where it is absent (CI has it not).
REAL = Path(os.environ.get("SOULCHAT_PSYSUICIDE", ROOT.parent / "shared" / "data" / "psysuicide" / "valid.jsonl"))

TOY = [
    ("我不想活了", "suicidal_ideation"), ("真的不想活了", "suicidal_ideation"), ("活着没意思，不想活", "suicidal_ideation"),
    ("我想割自己", "self_harm"), ("又割了自己", "self_harm"), ("忍不住割自己的手", "self_harm"),
    ("今天天气很好", None), ("我想吃火锅", None), ("天气不错去吃火锅", None), ("我想去公园", None),
]
# P(risk) = sigmoid(n-gram log-odds + 4 * rules flagged - 4 * rules declined): no encoder head
STACK = np.array([1.0, 0.0, 4.0, -4.0, 0.0])


def toy_ngram(**kwargs):
    return fit([t for t, _ in TOY], [label for _, label in TOY], TrainConfig(steps=200, min_count=1), **kwargs)


def toy_model(threshold=0.5, check_threshold=0.5, head=None) -> CrisisModel:
    return CrisisModel(toy_ngram(), head, STACK, threshold, check_threshold, {"note": "toy"})


# -- the n-gram model -------------------------------------------------------------------------
def test_ngrams_cover_every_order_with_positions():
    grams = list(ngrams("想死", (1, 2)))
    assert ("^", -1) in grams and ("想", 0) in grams and ("死", 1) in grams and ("$", 2) in grams
    assert ("想死", 0) in grams and ("^想", -1) in grams


def test_fit_learns_the_toy_classes_and_is_deterministic():
    model = toy_ngram()
    assert model.risk("我真的不想活")[1] == "suicidal_ideation"
    assert model.risk("我又割了自己")[1] == "self_harm"
    assert model.risk("我不想活了")[0] > 0.5 > model.risk("今天吃火锅")[0]
    assert np.array_equal(model.weights, toy_ngram().weights)


def test_fit_rejects_bad_labels():
    with pytest.raises(ValueError, match="unknown labels"):
        fit(["a", "b"], ["suicidal", None])
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        fit(["a", "b"], [None])


def test_explain_points_into_the_original_text():
    model = toy_ngram()
    text = "唉，我真的 不 想 活 了"
    spans = model.explain(text, "suicidal_ideation")
    assert spans, "the model flagged this text, it must say why"
    for start, end, matched in spans:
        assert text[start:end] == matched and len(matched.replace(" ", "")) >= 2


# -- the crisis model -------------------------------------------------------------------------
def test_save_load_round_trip_with_and_without_an_encoder_head(tmp_path):
    head = np.random.default_rng(0).normal(size=(513, len(toy_ngram().classes))).astype(np.float32)
    for with_head in (None, head):
        model = toy_model(0.6, 0.3, with_head)
        path = tmp_path / "m.npz"
        model.save(path)
        loaded = CrisisModel.load(path)
        assert (loaded.threshold, loaded.check_threshold, loaded.meta["note"]) == (0.6, 0.3, "toy")
        assert (loaded.head is None) == (with_head is None)
        if with_head is not None:
            np.testing.assert_array_equal(loaded.head, head)
        for text in ("我不想活了", "我想去公园", ""):
            np.testing.assert_allclose(loaded.ngram.proba(text), model.ngram.proba(text), atol=1e-3)  # float16


def test_a_bad_model_file_names_itself(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such crisis model file"):
        CrisisModel.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a soulchat crisis model") as caught:
        CrisisModel.load(tmp_path / "junk.npz")
    assert "allow_pickle" not in str(caught.value)
    with pytest.raises(ValueError, match="is a folder"):
        CrisisModel.load(tmp_path)
    with pytest.raises(ValueError, match="check_threshold"):
        toy_model(threshold=0.3, check_threshold=0.6)


def test_windows_cover_a_long_text_at_clause_marks():
    text = "今天很累，" * 50 + "我不想活了。" + "明天再说" * 40
    pieces = windows(text, ENCODER_CHARS)
    assert all(len(p) <= ENCODER_CHARS for p in pieces)
    assert any("我不想活了" in p for p in pieces), "words on a cut are read whole at least once"
    assert len("".join(pieces)) >= len(text) and pieces[0] == text[:len(pieces[0])]
    assert windows("", ENCODER_CHARS) == [] and windows("短", ENCODER_CHARS) == ["短"]


def test_the_rules_flag_always_stands_and_the_model_adds_flags():
    detector = Detector(model=toy_model(0.5, 0.5))
    rules_only = Detector(model=None)
    verdict = detector.assess("我不想活了")
    assert verdict.flagged and verdict.rules == rules_only.assess("我不想活了").rules and verdict.spans
    # a rule flag stands even where the model disagrees
    pessimist = Detector(model=CrisisModel(toy_ngram(), None, np.array([0.0, 0.0, 0.0, 0.0, -20.0]), 0.9, 0.9))
    assert pessimist.assess("我不想活了").flagged
    # a text the rules pass but the model flags, with the n-grams behind it
    text = "还是忍不住又割"
    assert not rules_only.assess(text).flagged
    flagged = detector.assess(text)
    assert flagged.flagged and flagged.source == "model" and flagged.rules == ("model",)
    assert flagged.category == "self_harm" and flagged.score >= 0.5 and flagged.spans
    assert not detector.assess("今天天气很好").flagged


def test_between_the_two_thresholds_a_turn_gets_a_check_in_not_a_flag():
    detector = Detector(model=toy_model(threshold=0.999, check_threshold=0.5))
    verdict = detector.assess("还是忍不住又割")
    assert not verdict.flagged and verdict.check_in and verdict.category is None
    assert verdict.categories == ("self_harm",) and 0.5 <= verdict.score < 0.999
    assert not detector.assess("今天天气很好").check_in


def test_a_rule_pattern_its_context_declined_lowers_the_score():
    model = toy_model(0.5, 0.5)
    detector = Detector(model=model)
    # the rules match 想死 inside the hard negative 想死你了 and decline it
    verdict, declined = detector.rule_verdict("想死你了")
    assert not verdict.flagged and declined
    assert model.score("想死你了", False, True).risk < model.score("想死你了", False, False).risk


@pytest.mark.parametrize("text", ["", "   \n\t", "😭😭😭", "死" * 10_000, "I want to die 我不想活了 😢", None, 42, b"\xff"])
def test_any_input_gets_a_verdict(text):
    verdict = safety.assess(text)
    assert isinstance(verdict.flagged, bool)
    assert isinstance(safety.assess("好的", context=[text, "嗯"]).flagged, bool)


def test_long_text_is_still_caught():
    text = "今天又是平常的一天，上班下班吃饭。" * 600 + "其实我已经把药攒够了，打算这周末就结束。" + "天气还不错。" * 600
    verdict = safety.assess(text)
    assert verdict.flagged and verdict.category in ("suicide_preparation", "suicide_plan")


# -- a turn in its conversation ---------------------------------------------------------------
def test_after_a_crisis_a_weak_sign_is_flagged_and_plain_talk_is_a_follow_up():
    detector = Detector(model=toy_model(threshold=0.999, check_threshold=0.5))
    alone = detector.assess("还是忍不住又割")
    assert alone.check_in and not alone.flagged
    after = detector.assess("还是忍不住又割", context=["我不想活了"])
    assert after.flagged and after.context and after.follow_up and after.source == "context"
    plain = detector.assess("今天天气很好", context=["我不想活了"])
    assert not plain.flagged and plain.follow_up and not plain.check_in
    # only the last few user turns count
    far = detector.assess("今天天气很好", context=["我不想活了", *["今天天气很好"] * 3])
    assert not far.follow_up


def test_shipped_detector_reads_the_conversation():
    earlier = ["最近真的不想活了"]
    verdict = safety.assess("药我已经攒够了", context=earlier)
    assert verdict.flagged and verdict.follow_up and verdict.severity >= 3
    assert safety.assess("嗯", context=earlier).follow_up
    assert not safety.assess("嗯").follow_up and not safety.assess("嗯").flagged
    # ordinary talk stays ordinary in an ordinary conversation
    calm = safety.assess("周末去爬山了，风景很好", context=["最近工作有点忙", "和同事相处还行"])
    assert not calm.flagged and not calm.check_in and not calm.follow_up


class _Backend:
    def __init__(self, reply="我在听，你慢慢说。"):
        self.reply = reply

    def stream(self, history, query, settings):
        yield from self.reply


def test_session_keeps_the_safety_follow_up_after_a_crisis_turn():
    from soulchat.chat.session import ChatSession

    chat = ChatSession(_Backend())
    assert "12356" in chat.reply("我真的不想活了")
    answer = chat.reply("嗯")
    assert chat.last_turn.follow_up and answer.endswith(safety.follow_up_note("zh-CN"))
    assert not safety.check_output(answer).flagged
    chat.reset()
    assert chat.reply("嗯") == "我在听，你慢慢说。" and not chat.last_turn.follow_up


def test_session_adds_the_check_in_once_every_few_turns(monkeypatch):
    from soulchat.chat import session as session_module
    from soulchat.chat.session import ChatSession
    from soulchat.safety import detector as detector_module

    monkeypatch.setattr(detector_module, "_default", Detector(model=toy_model(threshold=0.999, check_threshold=0.5)))
    chat = ChatSession(_Backend())
    worrying = "还是忍不住又割"
    first = chat.reply(worrying)
    assert first.startswith("我在听，你慢慢说。") and first.endswith(safety.check_in_note("zh-CN"))
    assert chat.last_turn.check_in and chat.last_turn.user_category is None
    assert "12356" in first and not safety.check_output(first).flagged
    for _ in range(session_module.CHECK_IN_GAP - 1):  # not again within the gap
        assert not chat.reply(worrying).endswith(safety.check_in_note("zh-CN")) and not chat.last_turn.check_in
    chat.reset()
    assert chat.reply("今天天气很好") == "我在听，你慢慢说。"


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "zh-HK", "en-US"])
def test_check_in_note_asks_directly_and_passes_the_output_check(locale):
    note = safety.check_in_note(locale)
    assert not safety.check_output(note).flagged
    number = safety.get_resources(locale).hotlines[0].number
    assert number in note and ("?" in note or "？" in note)


# -- training and cross-validation ------------------------------------------------------------
def test_pick_threshold_is_the_highest_reaching_the_recall():
    gold = [True, True, True, True, False, False]
    scores = [0.9, 0.8, 0.6, 0.2, 0.7, 0.1]
    assert training.pick_threshold(gold, scores, 0.75) == 0.6
    assert training.pick_threshold(gold, scores, 1.0) == 0.2
    with pytest.raises(ValueError):
        training.pick_threshold([False], [0.3], 0.9)


def test_folds_are_stratified_keep_equal_texts_together_and_ignore_file_order():
    rows = [{"text": f"句子{i}", "label": "suicidal_ideation" if i % 4 == 0 else None} for i in range(40)]
    rows += [{"text": "句子 0", "label": "suicidal_ideation"}]  # the same text after normalization
    folds = training.stratified_folds(rows, 5)
    assert folds[0] == folds[-1]
    risky = [f for f, r in zip(folds, rows) if r["label"]]
    assert max(risky.count(k) for k in range(5)) - min(risky.count(k) for k in range(5)) <= 2
    shuffled = list(reversed(rows))
    again = training.stratified_folds(shuffled, 5)
    by_text = {r["text"]: f for r, f in zip(shuffled, again)}
    assert [by_text[r["text"]] for r in rows] == folds


def _toy_rows():
    real = [{"text": t, "label": label} for t, label in TOY] * 1
    real += [{"text": f"我真的不想活了{i}次", "label": "suicidal_ideation"} for i in range(6)]
    real += [{"text": f"今天吃了{i}碗饭", "label": None} for i in range(10)]
    return real


def test_fit_model_chooses_thresholds_on_out_of_fold_scores_of_the_real_rows():
    settings = training.TrainSettings(ngram=TrainConfig(steps=60, min_count=1), encoder=False, folds=3)
    model = training.fit_model(_toy_rows(), [{"text": "还是割了", "label": "self_harm"}], settings, {"note": "x"})
    assert 0.0 < model.check_threshold <= model.threshold < 1.0
    assert model.head is None and model.meta["calibration_rows"] == len(_toy_rows()) and model.meta["note"] == "x"
    again = training.fit_model(_toy_rows(), [{"text": "还是割了", "label": "self_harm"}], settings, {"note": "x"})
    assert (again.threshold, again.check_threshold) == (model.threshold, model.check_threshold)
    np.testing.assert_array_equal(again.stack, model.stack)
    with pytest.raises(ValueError, match="no risk example"):
        training.fit_model([{"text": "你好", "label": None}], (), settings)


def test_cross_validation_never_scores_a_row_with_a_model_that_saw_it(monkeypatch):
    seen = []
    real_fit = training.fit_model

    def spy(calibration, extra=(), settings=None, meta=None, progress=None, embedding_memo=None):
        seen.append({r["text"] for r in calibration})
        return real_fit(calibration, extra, settings, meta, progress, embedding_memo)

    monkeypatch.setattr(training, "fit_model", spy)
    rows = _toy_rows()
    settings = training.TrainSettings(ngram=TrainConfig(steps=30, min_count=1), encoder=False, folds=3)
    predictions = training.cross_validate(rows, (), settings)
    assert len(seen) == 3 and len(predictions) == len(rows)
    for row, prediction in zip(rows, predictions):
        assert row["text"] not in seen[prediction["fold"]]
        assert set(prediction) >= {"flagged", "check_in", "score", "threshold"}


# -- labelled sets ----------------------------------------------------------------------------
def test_labelled_sets_in_every_shape(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"text": "我不想活了", "label": "suicidal_ideation"},
        {"text": "a", "labels": ["被动自杀意图", "自杀计划"], "data_source": "social_media"},
        {"text": "b", "labels": ["与自杀/自伤/攻击行为无关"], "data_source": "synthetic"},
        {"text": "c", "risk": True}, {"text": "d", "risk": False},
    ]) + "\n\n", encoding="utf-8")
    rows = read_labelled(path)
    assert [r["label"] for r in rows] == ["suicidal_ideation", "suicide_plan", None, "risk", None]
    assert rows[1]["source"] == "social_media" and rows[3]["line"] == 4
    assert set(PSYSUICIDE_LABELS) >= {"主动自杀意图", "他人攻击行为", "与自杀/自伤/攻击行为无关"} and len(PSYSUICIDE_LABELS) == 11
    scores = score(rows)
    assert scores["flagged"].negatives == 2 and scores["flagged"].support == 3


@pytest.mark.parametrize("content, fragment", [
    ("", "holds no labelled row"),
    ('{"text": "a", "label": "sad"}\n', "bad.jsonl:1: unknown label 'sad'"),
    ('{"text": "a"}\n{"text": 5, "label": null}\n', "bad.jsonl:1: expected \"label\""),
    ('{"text": "a", "label": null}\n{oops\n', "bad.jsonl:2"),
    ('{"text": "a", "labels": ["开心"]}\n', "unknown label '开心'"),
    ('{"text": "a", "risk": "yes"}\n', "\"risk\" must be true or false"),
    ('[1, 2]\n', "expected a JSON object"),
])
def test_bad_labelled_sets_name_file_and_line(tmp_path, content, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl") as caught:
        read_labelled(path)
    assert fragment in str(caught.value)


# -- the shipped model ------------------------------------------------------------------------
def test_shipped_model_loads_ships_its_licence_and_names_its_data():
    model = default_model()
    assert model is not None, f"{shipped_model_path()} is missing: see docs/safety.md, 'Retraining'"
    assert model.head is not None and 0.0 < model.check_threshold <= model.threshold < 1.0
    licence = shipped_model_path().parent / "PSYSUICIDE_LICENSE"
    assert "MIT License" in licence.read_text(encoding="utf-8")
    assert "PsySUICIDE" in model.meta["real_data"] and "EMNLP 2024" in model.meta["real_data"]
    assert [Path(p).name for p in model.meta["real_files"]] == ["valid.jsonl"]
    assert not any("test" in Path(p).name for p in model.meta["real_files"]), "PsySUICIDE's other splits are held out"


def test_shipped_model_was_trained_on_the_recorded_sets_as_they_are_now():
    files = default_model().meta["extra_files"]
    assert sorted(files) == sorted(TRAIN_SETS)
    for name, digest in files.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, (
            f"{name} changed after the shipped model was trained: retrain it (docs/safety.md, 'Retraining')")
    assert not any("blind" in name for name in files), "the blind sets must never be trained on"
    if REAL.is_file():
        (digest,) = default_model().meta["real_files"].values()
        assert hashlib.sha256(REAL.read_bytes()).hexdigest() == digest


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_file(), reason=f"the real data is not here ({REAL}; set SOULCHAT_PSYSUICIDE)")
def test_retraining_reproduces_the_shipped_model(tmp_path):
    out = tmp_path / "m.npz"
    subprocess.run([sys.executable, "-m", "soulchat.cli", "safety", "train", "--real", str(REAL), "--out", str(out)],
                   capture_output=True, text=True, cwd=ROOT, check=True)
    retrained, shipped = CrisisModel.load(out), default_model()
    assert (retrained.threshold, retrained.check_threshold) == (shipped.threshold, shipped.check_threshold)
    np.testing.assert_allclose(retrained.stack, shipped.stack, atol=1e-6)
    np.testing.assert_allclose(retrained.head, shipped.head, atol=1e-5)
    np.testing.assert_allclose(retrained.ngram.weights, shipped.ngram.weights, atol=2e-3)  # float16


def test_every_labelled_set_is_well_formed_and_disjoint_from_the_blind_sets():
    blind = {r["text"] for path in DATA.glob("safety_blind*.jsonl") for r in read_labelled(path)}
    assert len(blind) >= 400
    for name in TRAIN_SETS:
        rows = read_labelled(ROOT / name)
        assert not blind & {r["text"] for r in rows}, f"{name} shares texts with a blind set"


@pytest.mark.parametrize("name", ["safety_blind5a.jsonl", "safety_blind5b.jsonl"])
def test_blind_sets_hold_their_measured_figures(name):
    """Floors at the figures of docs/safety.md for the shipped model (a regression guard on sets
    written for the project; the real-data figures come from `soulchat safety cv`)."""
    floors = json.loads((DATA / "safety_blind_floors.json").read_text(encoding="utf-8"))[name]
    scores = score(read_labelled(DATA / name))
    assert scores["flagged"].recall >= floors["recall"] - 1e-9
    assert scores["flagged"].precision >= floors["precision"] - 1e-9
    assert scores["flagged_or_check_in"].recall >= floors["safety_response_recall"] - 1e-9


# -- the command ------------------------------------------------------------------------------
def _cli(*args, check=True, stdin=None):
    return subprocess.run([sys.executable, "-m", "soulchat.cli", "safety", *args], capture_output=True, text=True,
                          cwd=ROOT, check=check, input=stdin)


def test_safety_command_checks_a_conversation_and_evaluates(tmp_path):
    first, second = (json.loads(line) for line in _cli("check", "我不想活了", "今天吃了火锅").stdout.splitlines())
    assert first["flagged"] and first["category"] == "suicidal_ideation" and not second["flagged"]
    turns = [json.loads(line) for line in _cli("check", "--conversation", "我不想活了", "嗯").stdout.splitlines()]
    assert turns[1]["follow_up"] and not turns[1]["flagged"]
    sample = tmp_path / "real.jsonl"
    sample.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"text": "我不想活了", "labels": ["主动自杀意图"], "data_source": "client_machine"},
        {"text": "今天吃了火锅", "labels": ["与自杀/自伤/攻击行为无关"], "data_source": "client_machine"},
        {"text": "他打我", "labels": ["他人攻击行为"], "data_source": "social_media"},
    ]) + "\n", encoding="utf-8")
    report = tmp_path / "r.json"
    out = _cli("eval", str(sample), "--json", str(report)).stdout
    assert "touched" in out and "| source social_media |" in out
    figures = json.loads(report.read_text(encoding="utf-8"))[str(sample)]
    assert figures["overall"]["flagged"]["risk"] == 2 and figures["overall"]["flagged"]["no_risk"] == 1
    assert set(figures["source"]) == {"client_machine", "social_media"}


def test_safety_command_rejects_bad_input_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": null}\n{"text": "b", "label": "sad"}\n', encoding="utf-8")
    failed = _cli("eval", str(bad), check=False)
    assert failed.returncode == 1 and "bad.jsonl" in failed.stderr and "bad.jsonl:2" in failed.stderr
    assert "Traceback" not in failed.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert "holds no labelled row" in _cli("eval", str(empty), check=False).stderr
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    failed = _cli("check", "--model", str(junk), "你好", check=False)
    assert failed.returncode == 1 and "junk.npz: not a soulchat crisis model" in failed.stderr
    assert _cli("check", "--rules-only", "--model", str(junk), "你好", check=False).returncode == 2


def test_safety_train_and_cv_commands_on_a_small_set(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}, ensure_ascii=False) + "\n"
                            for r in _toy_rows()), encoding="utf-8")
    out = tmp_path / "m.npz"
    done = _cli("train", "--real", str(real), "--extra", "--no-encoder", "--folds", "3", "--out", str(out))
    assert "wrote" in done.stderr
    model = CrisisModel.load(out)
    assert model.head is None and model.meta["real_files"] == {str(real): hashlib.sha256(real.read_bytes()).hexdigest()}
    assert 0 < model.check_threshold <= model.threshold < 1
    report = tmp_path / "cv.json"
    cv = _cli("cv", "--real", str(real), "--extra", "--no-encoder", "--folds", "3", "--json", str(report))
    assert "flagged_or_check_in" in cv.stdout and "rules alone" in cv.stdout
    figures = json.loads(report.read_text(encoding="utf-8"))
    assert len(figures["rows"]) == len(_toy_rows()) and {r["fold"] for r in figures["rows"]} == {0, 1, 2}
    failed = _cli("train", "--real", "nope.jsonl", "--extra", "--out", str(out), check=False)
    assert failed.returncode == 1 and "nope.jsonl" in failed.stderr
    assert _cli("train", "--real", str(real), "--flag-recall", "0.99", "--check-recall", "0.9", "--out", str(out),
                check=False).returncode == 2
