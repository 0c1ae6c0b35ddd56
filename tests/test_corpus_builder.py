"""SoulChatCorpus, the datasets builder: the same rows as `soulchat build`, settings in the cache key,
info, clear errors, and its build folder loads and pushes like any corpus folder."""

from __future__ import annotations

import json
import os

import pytest

from soulchat.bundled import SAMPLE_DIALOGUES
from soulchat.cli import main
from soulchat.corpus.builder import SETTINGS, SoulChatCorpus
from soulchat.io import InputError

from test_clean import result, rewrite_text, write_log
from test_corpus import quiet

CONFIG_NAMES = ("dialogues", "samples", "messages")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A rewrite log with a broken line and a rejected rewrite, the bundled dialogues, a SMILE list."""
    root = tmp_path_factory.mktemp("inputs")
    write_log(root / "rewrite", [
        result("good", rewrite_text()),
        result("ai", rewrite_text(psychologist_say={1: "作为一个AI语言模型，我无法体会你的感受。"})),
    ], torn_tail="")
    with open(root / "rewrite" / "results.jsonl", "a", encoding="utf-8") as stream:
        stream.write("{broken json\n")
    smile = [{"role": "client", "content": "我被裁员了，不知道怎么跟家里说。"},
             {"role": "counselor", "content": "这件事一定压在你心里很久了。"}]
    (root / "smile.jsonl").write_text(json.dumps(smile, ensure_ascii=False) + "\n", encoding="utf-8")
    return [root / "rewrite", SAMPLE_DIALOGUES, root / "smile.jsonl"]


def rows_of(dataset_dict):
    return {split: list(dataset_dict[split]) for split in dataset_dict}


def built(tmp_path, inputs, name="samples", **settings):
    builder = SoulChatCorpus(config_name=name, data_files=[str(p) for p in inputs], cache_dir=str(tmp_path / "cache"),
                             **settings)
    builder.download_and_prepare()
    return builder, builder.as_dataset()


def test_builder_and_soulchat_build_give_the_same_splits_and_rows(tmp_path, inputs):
    import datasets

    out = tmp_path / "cli"
    assert main(["build", *map(str, inputs), "--output", str(out), "--crisis-policy", "off", "--no-plots",
                 "--test-size", "40", "--validation-size", "30"]) == 0
    for name in CONFIG_NAMES:
        builder, dataset = built(tmp_path, inputs, name, crisis_policy="off", test_size=40, validation_size=30)
        loaded = datasets.load_dataset(str(out), name, cache_dir=str(tmp_path / "load-cache"))
        assert rows_of(dataset) == rows_of(loaded), name
        assert list(dataset) == ["train", "validation", "test"]
    assert {s: dataset[s].num_rows for s in dataset} == {"train": 344, "validation": 33, "test": 40}
    ids = {r["dialogue_id"] for s in dataset for r in dataset[s]}
    assert {"good", "smile-1"} <= ids and "ai" not in ids
    # the same cleaning report, broken line and rejected rewrite included
    assert (builder.corpus_dir / "cleaning" / "report.json").read_text() == (out / "cleaning" / "report.json").read_text()
    rejects = [json.loads(line) for line in (builder.corpus_dir / "cleaning" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rejects] == [("ai", "ai_self_reference"), ("results.jsonl:3", "unreadable_record")]
    assert rejects[1]["origin"]["line"] == 3 and rejects[1]["details"][0].startswith("broken JSON")


def test_settings_and_inputs_are_part_of_the_cache_key(tmp_path):
    copy = tmp_path / "dialogues.jsonl"
    copy.write_bytes(SAMPLE_DIALOGUES.read_bytes())
    drop, tagged = (SoulChatCorpus(config_name="dialogues", data_files=[str(copy)], cache_dir=str(tmp_path / "c"),
                                   crisis_detector=quiet, crisis_policy=policy) for policy in ("drop", "tag"))
    same = SoulChatCorpus(config_name="dialogues", data_files=[str(copy)], cache_dir=str(tmp_path / "c"),
                          crisis_detector=quiet, crisis_policy="drop")
    assert drop.config_id != tagged.config_id and drop.config_id == same.config_id
    assert drop.config_id.startswith("dialogues-") and drop.corpus_dir == same.corpus_dir != tagged.corpus_dir
    samples = SoulChatCorpus(config_name="samples", data_files=[str(copy)], cache_dir=str(tmp_path / "c"),
                             crisis_detector=quiet, crisis_policy="drop")
    assert samples.corpus_dir == drop.corpus_dir  # the three configs share one build
    for builder in (drop, tagged, same):
        builder.download_and_prepare()
    assert drop.as_dataset("train")._fingerprint != tagged.as_dataset("train")._fingerprint
    assert drop.as_dataset("train")._fingerprint == same.as_dataset("train")._fingerprint
    os.utime(copy, ns=(1, 1))  # an edited input is another dataset
    touched = SoulChatCorpus(config_name="dialogues", data_files=[str(copy)], cache_dir=str(tmp_path / "c"),
                             crisis_detector=quiet, crisis_policy="drop")
    assert touched.config_id != drop.config_id


def test_info_carries_description_citation_license_and_features(tmp_path):
    builder = SoulChatCorpus(config_name="messages", data_files=str(SAMPLE_DIALOGUES), cache_dir=str(tmp_path),
                             license="cc-by-nc-4.0")
    info = builder.info
    assert info.description.startswith("SoulChatCorpus messages: one row per psychologist turn")
    assert "chen-etal-2023-soulchat" in info.citation and info.license == "cc-by-nc-4.0"
    assert list(info.features) == ["id", "dialogue_id", "turn", "topic", "messages"]
    assert builder.config.crisis_policy == "tag" and builder.config.plots is False
    assert {"crisis_policy", "min_rounds", "test_size", "split_salt", "dedup"} <= set(SETTINGS)
    assert SoulChatCorpus.settings()["crisis_policy"].startswith("crisis content")
    assert SoulChatCorpus(data_files=str(SAMPLE_DIALOGUES), cache_dir=str(tmp_path)).config.name == "dialogues"


def test_bad_input_gives_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"^SoulChatCorpus: no input files: pass data_files=\[\.\.\.\]"):
        SoulChatCorpus(config_name="samples", cache_dir=str(tmp_path))
    with pytest.raises(InputError, match=f"^{tmp_path / 'missing.jsonl'}: no such file or folder$"):
        SoulChatCorpus(config_name="samples", data_files=[str(SAMPLE_DIALOGUES), str(tmp_path / "missing.jsonl")])
    with pytest.raises(ValueError, match="^SoulChatCorpus has no config 'sample': choose one of dialogues, samples, messages$"):
        SoulChatCorpus(config_name="sample", data_files=str(SAMPLE_DIALOGUES), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="^SoulChatCorpus: unknown setting 'crisis'; the settings are min_rounds, "):
        SoulChatCorpus(config_name="samples", data_files=str(SAMPLE_DIALOGUES), cache_dir=str(tmp_path), crisis="tag")
    with pytest.raises(ValueError, match=r"^crisis_policy 'maybe': expected one of \('drop', 'tag', 'off'\)$"):
        SoulChatCorpus(config_name="samples", data_files=str(SAMPLE_DIALOGUES), cache_dir=str(tmp_path),
                       crisis_policy="maybe")
    with pytest.raises(ValueError, match="makes its own train/validation/test splits"):
        SoulChatCorpus(data_files={"train": str(SAMPLE_DIALOGUES), "test": str(SAMPLE_DIALOGUES)})


def test_its_build_folder_loads_and_pushes_like_any_corpus(tmp_path):
    import datasets

    from soulchat.hub import push_corpus
    from test_hub import FakeHub

    builder, dataset = built(tmp_path, [SAMPLE_DIALOGUES], "samples", crisis_detector=quiet, plots=True,
                             test_size=0.1, validation_size=0.1)
    loaded = datasets.load_dataset(str(builder.corpus_dir), "samples", cache_dir=str(tmp_path / "load"))
    assert rows_of(loaded) == rows_of(dataset)
    assert (builder.corpus_dir / "figures" / "topic_distribution.png").is_file()
    hub = FakeHub()
    pushed = push_corpus(builder.corpus_dir, "me/SoulChatCorpus", api=hub)
    files = hub.repos["dataset", "me/SoulChatCorpus"]["main"]
    assert "data/samples/train-00000.jsonl" in files and b"configs:" in files["README.md"]
    assert pushed.uploaded and "cleaning/rejects.jsonl" not in files


@pytest.mark.parametrize("empty", [None, [], (), "", [""]])
def test_every_spelling_of_no_input_is_the_same_error(tmp_path, empty):
    with pytest.raises(ValueError, match="^SoulChatCorpus: no input files"):
        SoulChatCorpus(config_name="samples", data_files=empty, cache_dir=str(tmp_path))
