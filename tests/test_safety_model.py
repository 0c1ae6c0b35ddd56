"""The learned layer of the crisis detector: training, persistence, explanations, how it joins the rules,
the shipped model being the one its recorded data produce, and its figures on the blind sets."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from soulchat import safety
from soulchat.commands.safety import TRAIN_SETS
from soulchat.safety.classifier import (
    NgramClassifier,
    TrainConfig,
    default_classifier,
    fit,
    lowest_threshold_within,
    ngrams,
    out_of_fold,
    pick_threshold,
    shipped_model_path,
)
from soulchat.safety.detector import Detector
from soulchat.safety.evaluation import read_labelled, score

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

TOY = [
    ("我不想活了", "suicidal_ideation"), ("真的不想活了", "suicidal_ideation"), ("活着没意思，不想活", "suicidal_ideation"),
    ("我想割自己", "self_harm"), ("又割了自己", "self_harm"), ("忍不住割自己的手", "self_harm"),
    ("今天天气很好", None), ("我想吃火锅", None), ("天气不错去吃火锅", None), ("我想去公园", None),
]


def toy_model(**kwargs) -> NgramClassifier:
    return fit([t for t, _ in TOY], [label for _, label in TOY], TrainConfig(steps=200, min_count=1), **kwargs)


def test_ngrams_cover_every_order_with_positions():
    grams = list(ngrams("想死", (1, 2)))
    assert ("^", -1) in grams and ("想", 0) in grams and ("死", 1) in grams and ("$", 2) in grams
    assert ("想死", 0) in grams and ("^想", -1) in grams


def test_fit_learns_the_toy_classes_and_is_deterministic():
    model = toy_model()
    assert model.risk("我真的不想活")[1] == "suicidal_ideation"
    assert model.risk("我又割了自己")[1] == "self_harm"
    assert model.risk("我不想活了")[0] > 0.5 > model.risk("今天吃火锅")[0]
    again = toy_model()
    assert np.array_equal(model.weights, again.weights)


def test_fit_rejects_bad_labels():
    with pytest.raises(ValueError, match="unknown labels"):
        fit(["a", "b"], ["suicidal", None])
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        fit(["a", "b"], [None])


def test_save_load_round_trip(tmp_path):
    model = toy_model(threshold=0.3, meta={"note": "toy"})
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = NgramClassifier.load(path)
    assert loaded.threshold == 0.3 and loaded.meta["note"] == "toy" and loaded.classes == model.classes
    for text in ("我不想活了", "我想去公园", ""):
        np.testing.assert_allclose(loaded.proba(text), model.proba(text), atol=1e-3)  # stored as float16


def test_explain_points_into_the_original_text():
    model = toy_model()
    text = "唉，我真的 不 想 活 了"
    spans = model.explain(text, "suicidal_ideation")
    assert spans, "the model flagged this text, it must say why"
    for start, end, matched in spans:
        assert text[start:end] == matched and len(matched.replace(" ", "")) >= 2


def test_the_model_only_adds_flags_to_the_rules():
    model = toy_model(threshold=0.5)
    detector = Detector(classifier=model)
    rules_only = Detector(classifier=None)
    # a rule flag keeps the rule's category, spans and source
    assert detector.assess("我不想活了") == rules_only.assess("我不想活了")
    # a text the rules pass but the model flags
    text = "还是忍不住又割"
    assert not rules_only.assess(text).flagged
    verdict = detector.assess(text)
    assert verdict.flagged and verdict.source == "model" and verdict.rules == ("model",)
    assert verdict.category == "self_harm" and verdict.score >= 0.5 and verdict.severity == 2
    assert not detector.assess("今天天气很好").flagged


def test_a_declined_rule_match_needs_the_higher_threshold():
    model = toy_model(threshold=0.01)
    model.veto_threshold = 0.999
    detector = Detector(classifier=model)
    # the rules match 想死 inside the hard negative 想死你了 and decline it: the model may not overrule
    # them at its low threshold
    assert model.risk("想死你了")[0] >= 0.01
    verdict = detector.assess("想死你了")
    assert not verdict.flagged and not verdict.check_in  # nor a check-in: the rules know this phrase


def test_between_the_two_thresholds_a_turn_gets_a_check_in_not_a_flag():
    model = toy_model(threshold=0.999, check_threshold=0.5)
    detector = Detector(classifier=model)
    verdict = detector.assess("还是忍不住又割")
    assert not verdict.flagged and verdict.check_in and verdict.category is None
    assert verdict.categories == ("self_harm",) and 0.5 <= verdict.score < 0.999
    assert not detector.assess("今天天气很好").check_in
    with pytest.raises(ValueError, match="check_threshold"):
        toy_model(threshold=0.3, check_threshold=0.6)


class _Backend:
    def __init__(self, reply="我在听，你慢慢说。"):
        self.reply = reply

    def stream(self, history, query, settings):
        yield from self.reply


def test_session_adds_the_check_in_once_every_few_turns(monkeypatch):
    from soulchat.chat import session as session_module
    from soulchat.chat.session import ChatSession
    from soulchat.safety import detector as detector_module

    model = toy_model(threshold=0.999, check_threshold=0.5)
    monkeypatch.setattr(detector_module, "_default", Detector(classifier=model))
    chat = ChatSession(_Backend())
    worrying = "还是忍不住又割"
    first = chat.reply(worrying)
    assert first.startswith("我在听，你慢慢说。") and first.endswith(safety.check_in_note("zh-CN"))
    assert chat.last_turn.check_in and chat.last_turn.user_category is None
    assert "12356" in first and not safety.check_output(first).flagged
    for _ in range(session_module.CHECK_IN_GAP - 1):  # not again within the gap
        assert chat.reply(worrying) == "我在听，你慢慢说。" and not chat.last_turn.check_in
    assert chat.reply(worrying).endswith(safety.check_in_note("zh-CN"))
    assert chat.reply("今天天气很好") == "我在听，你慢慢说。"
    # a crisis reply counts as the safety question: no check-in right after it
    chat.reset()
    assert "12356" in chat.reply("我不想活了") and chat.last_turn.user_category == "suicidal_ideation"
    assert not chat.reply(worrying).endswith(safety.check_in_note("zh-CN"))


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "zh-HK", "en-US"])
def test_check_in_note_asks_directly_and_passes_the_output_check(locale):
    note = safety.check_in_note(locale)
    assert not safety.check_output(note).flagged
    number = safety.get_resources(locale).hotlines[0].number
    assert number in note and ("?" in note or "？" in note)


def test_lowest_threshold_within_bounds_the_alarm_rate():
    background = [0.05, 0.1, 0.2, 0.3, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert lowest_threshold_within(background, 0.2) == 0.71  # 0.8 and 0.9 reach it
    assert lowest_threshold_within(background, 0.5) == 0.36
    with pytest.raises(ValueError):
        lowest_threshold_within([], 0.1)


def test_pick_threshold_is_the_highest_reaching_the_recall():
    gold = [True, True, True, True, False, False]
    scores = [0.9, 0.8, 0.6, 0.2, 0.7, 0.1]
    assert pick_threshold(gold, scores, 0.75) == 0.6
    assert pick_threshold(gold, scores, 1.0) == 0.2
    with pytest.raises(ValueError):
        pick_threshold([False], [0.3])


def test_out_of_fold_never_scores_a_set_with_a_model_that_saw_it():
    sets = {"a": [{"text": "我不想活了", "label": "suicidal_ideation"}, {"text": "今天天气很好", "label": None}],
            "b": [{"text": "真的不想活了", "label": "suicidal_ideation"}, {"text": "想吃火锅", "label": None}]}
    oof = out_of_fold(sets, TrainConfig(steps=50, min_count=1))
    assert [len(v) for v in oof.values()] == [2, 2]
    # "今天天气很好" is only in set a: scored by the model trained on b, where none of its n-grams exist
    lone = fit(["真的不想活了", "想吃火锅"], ["suicidal_ideation", None], TrainConfig(steps=50, min_count=1))
    assert oof["a"][1] == pytest.approx(lone.risk("今天天气很好")[0])


# -- the shipped model ------------------------------------------------------------------------
def test_shipped_model_loads_and_is_the_default_layer():
    model = default_classifier()
    assert model is not None, f"{shipped_model_path()} is missing: run `soulchat safety train --out` (see docs/safety.md)"
    assert safety.assess("我想死").source == "rules"
    assert 0.0 < model.check_threshold <= model.threshold < model.veto_threshold <= 1.0


def test_shipped_model_was_trained_on_the_recorded_sets_as_they_are_now():
    meta = default_classifier().meta
    files = meta["train_files"]
    assert sorted(files) == sorted(TRAIN_SETS)
    for name, digest in files.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, (
            f"{name} changed after the shipped model was trained: retrain it "
            "(.venv/bin/soulchat safety train --out src/soulchat/safety/data/crisis_ngram.npz)")
    assert not any("blind" in name for name in files), "the blind sets must never be trained on"


def test_retraining_reproduces_the_shipped_model():
    shipped = default_classifier()
    sets = [read_labelled(ROOT / name) for name in TRAIN_SETS]
    rows = [r for rs in sets for r in rs]
    config = TrainConfig(**{k: v for k, v in shipped.meta.items() if k in TrainConfig.__dataclass_fields__})
    config.orders = tuple(config.orders)
    model = fit([r["text"] for r in rows], [r["label"] for r in rows], config)
    np.testing.assert_allclose(model.weights, shipped.weights, atol=2e-3)  # shipped as float16


def test_every_labelled_set_is_well_formed_and_disjoint_from_the_blind_sets():
    blind = {r["text"] for path in DATA.glob("safety_blind*.jsonl") for r in read_labelled(path)}
    assert len(blind) >= 400
    for name in TRAIN_SETS:
        rows = read_labelled(ROOT / name)
        assert rows, name
        assert not blind & {r["text"] for r in rows}, f"{name} shares texts with a blind set"


@pytest.mark.parametrize("name", ["safety_blind5a.jsonl", "safety_blind5b.jsonl"])
def test_blind_sets_hold_their_first_look_figures(name):
    """Floors at the first-look figures of docs/safety.md (a regression guard, not a target)."""
    floors = json.loads((DATA / "safety_blind_floors.json").read_text(encoding="utf-8"))[name]
    scores = score(read_labelled(DATA / name))
    assert scores["any_risk"].recall >= floors["recall"] - 1e-9
    assert scores["any_risk"].precision >= floors["precision"] - 1e-9
    assert scores["safety_response"].recall >= floors["safety_response_recall"] - 1e-9


def test_safety_command_checks_and_evaluates(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "soulchat.cli", "safety", *a],
                                    capture_output=True, text=True, cwd=ROOT, check=True)
    out = run("check", "我不想活了", "今天吃了火锅").stdout.splitlines()
    first, second = (json.loads(line) for line in out)
    assert first["flagged"] and first["category"] == "suicidal_ideation" and not second["flagged"]
    report = tmp_path / "r.json"
    run("eval", "tests/data/safety_holdout4.jsonl", "--json", str(report))
    figures = json.loads(report.read_text(encoding="utf-8"))["tests/data/safety_holdout4.jsonl"]
    assert figures["any_risk"]["support"] == 35


def test_safety_train_command_writes_a_loadable_model(tmp_path):
    out = tmp_path / "m.npz"
    subprocess.run([sys.executable, "-m", "soulchat.cli", "safety", "train", "--data",
                    "tests/data/safety_holdout.jsonl", "tests/data/safety_holdout2.jsonl", "--out", str(out)],
                   capture_output=True, text=True, cwd=ROOT, check=True)
    model = NgramClassifier.load(out)
    assert 0 < model.check_threshold <= model.threshold < 1 and set(model.meta["cross_validation"]) == {
        "tests/data/safety_holdout.jsonl", "tests/data/safety_holdout2.jsonl"}
    failed = subprocess.run([sys.executable, "-m", "soulchat.cli", "safety", "train", "--data", "nope.jsonl",
                             "--out", str(out)], check=False, capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode != 0 and "nope.jsonl: no such labelled set" in failed.stderr
