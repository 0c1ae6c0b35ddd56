"""dataset_scripts/build_soulchatcorpus.sh: the steps it runs, and that it publishes when asked (REPO)
and says what it published. `soulchat` is replaced by a recorder (SOULCHAT=...): the steps
themselves are tested with the commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "dataset_scripts" / "build_soulchatcorpus.sh"
RECORDER = """#!{python}
import json, os, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if "--output" in sys.argv:  # like the real writers
    os.makedirs(sys.argv[sys.argv.index("--output") + 1], exist_ok=True)
if sys.argv[1] == "push":
    print("me/SoulChatCorpus: 12 uploaded, 0 unchanged, 0 deleted -> https://huggingface.co/datasets/me/c/commit/1", file=sys.stderr)
    print(json.dumps({{"repo_id": "me/SoulChatCorpus", "uploaded": ["README.md"], "commit_url": "https://huggingface.co/datasets/me/c/commit/1"}}))
"""


def run_script(tmp_path, **env):
    log = tmp_path / "calls.jsonl"
    recorder = tmp_path / "soulchat"
    recorder.write_text(RECORDER.format(python=sys.executable, log=str(log)))
    recorder.chmod(0o755)
    environment = {**os.environ, "SOULCHAT": str(recorder), **env}
    done = subprocess.run(["bash", str(SCRIPT), "psyqa.jsonl", str(tmp_path / "work")], capture_output=True,
                          text=True, env=environment, cwd=tmp_path, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return done, calls


def test_without_repo_it_builds_and_says_it_did_not_publish(tmp_path):
    done, calls = run_script(tmp_path)
    assert done.returncode == 0, done.stderr
    assert [c[0] for c in calls] == ["rewrite", "rewrite", "build"]
    assert calls[2] == ["build", str(tmp_path / "work/rewrite"), "--output", str(tmp_path / "work/SoulChatCorpus"),
                        "--test-size", "10000", "--validation-size", "10000"]  # crisis policy: soulchat build's default
    assert "== 3/3 clean and build" in done.stderr
    assert done.stderr.rstrip().endswith("not published (set REPO=your-name/SoulChatCorpus to push it to the Hugging Face Hub)")


def test_with_repo_it_publishes_and_says_what(tmp_path):
    done, calls = run_script(tmp_path, REPO="me/SoulChatCorpus", PRIVATE="1", CRISIS="drop")
    assert done.returncode == 0, done.stderr
    assert calls[2][-2:] == ["--crisis-policy", "drop"]
    assert calls[3] == ["push", "corpus", str(tmp_path / "work/SoulChatCorpus"), "--repo-id", "me/SoulChatCorpus", "--private"]
    assert "== 4/4 publish to the Hugging Face Hub: me/SoulChatCorpus" in done.stderr
    assert "me/SoulChatCorpus: 12 uploaded, 0 unchanged, 0 deleted -> https://" in done.stderr
    assert json.loads(done.stdout)["uploaded"] == ["README.md"]
    assert json.loads((tmp_path / "work/published.json").read_text())["repo_id"] == "me/SoulChatCorpus"
    assert done.stderr.rstrip().endswith(f"published: {tmp_path / 'work/SoulChatCorpus'} -> "
                                         f"https://huggingface.co/datasets/me/SoulChatCorpus (files: {tmp_path / 'work/published.json'})")
