"""Modules that moved in 0.1 still import under their old names for one release, with a warning."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

MOVED = {
    "soulchat.web": "soulchat.chat.web",
    "soulchat.fake_server": "soulchat.testing.fake_server",
    "soulchat.data": "soulchat.bundled",
}

CHECK = """
import importlib, sys, warnings
old, new = sys.argv[1], sys.argv[2]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    alias = importlib.import_module(old)
real = importlib.import_module(new)
assert alias is real and sys.modules[old] is real, (alias, real)
assert real.__spec__.name == new and real.__name__ == new
assert [w.category for w in caught] == [DeprecationWarning], caught
assert f"{old} moved to {new}" in str(caught[0].message)
"""


@pytest.mark.parametrize("old, new", MOVED.items())
def test_an_old_name_is_the_new_module_and_warns(old, new):
    result = subprocess.run([sys.executable, "-c", CHECK, old, new], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_old_import_forms_still_work():
    with warnings.catch_warnings():  # warned once per process: checked in a fresh one above
        warnings.simplefilter("ignore", DeprecationWarning)
        from soulchat import data
        from soulchat.fake_server import FakeOpenAIServer, Reply
    from soulchat.bundled import SAMPLE_DIALOGUES
    from soulchat.testing import FakeOpenAIServer as Exported
    from soulchat.testing.fake_server import FakeOpenAIServer as Moved
    from soulchat.topics import TOPICS

    assert FakeOpenAIServer is Exported is Moved and Reply
    assert data.SAMPLE_DIALOGUES == SAMPLE_DIALOGUES and SAMPLE_DIALOGUES.is_file()
    assert data.TOPICS is TOPICS


def test_monkeypatching_through_an_old_name_patches_the_real_module(monkeypatch):
    import soulchat.chat.web as web

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        monkeypatch.setattr("soulchat.web.TITLE", "patched")
    assert web.TITLE == "patched"
