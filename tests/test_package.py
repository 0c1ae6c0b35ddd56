"""The library as users reach it: one front door, a light `import soulchat`, recipes in the package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import soulchat

FRONT_DOOR = ("SoulChatCorpus", "SoulChatCollator", "SoulChatTrainer", "LoraTrainer", "push_corpus", "push_model",
              "compute_metrics", "ChatSession")
HEAVY = ("torch", "transformers", "datasets", "peft", "accelerate", "matplotlib")


def test_import_soulchat_loads_no_heavy_library_and_dir_lists_the_front_door():
    code = ("import json, sys, soulchat; "
            f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], [n for n in {FRONT_DOOR!r} if n in dir(soulchat)]]))")
    loaded, listed = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True).stdout)
    assert loaded == [] and listed == list(FRONT_DOOR)


def test_every_front_door_name_is_the_object_of_its_module():
    from soulchat.chat import ChatSession
    from soulchat.collator import SoulChatCollator
    from soulchat.corpus.builder import SoulChatCorpus
    from soulchat.evaluation.metrics import compute_metrics
    from soulchat.hub import push_corpus, push_model
    from soulchat.train.trainers import LoraTrainer, SoulChatTrainer

    expected = {"SoulChatCorpus": SoulChatCorpus, "SoulChatCollator": SoulChatCollator,
                "SoulChatTrainer": SoulChatTrainer, "LoraTrainer": LoraTrainer, "push_corpus": push_corpus,
                "push_model": push_model, "compute_metrics": compute_metrics, "ChatSession": ChatSession}
    namespace: dict = {}
    exec(f"from soulchat import {', '.join(FRONT_DOOR)}", namespace)
    assert {name: namespace[name] for name in FRONT_DOOR} == expected
    assert set(FRONT_DOOR) <= set(soulchat.__all__)
    with pytest.raises(AttributeError, match="module 'soulchat' has no attribute 'Nope'"):
        soulchat.Nope  # noqa: B018


def test_subpackages_list_their_lazy_names():
    import soulchat.corpus
    import soulchat.train

    assert {"SoulChatTrainer", "LoraTrainer", "train", "build_trainer"} <= set(dir(soulchat.train))
    assert "SoulChatCorpus" in dir(soulchat.corpus)
