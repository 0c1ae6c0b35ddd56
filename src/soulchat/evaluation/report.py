"""Table-1-style comparison of several runs: Markdown, CSV and a grouped bar chart.

Each run is a `metrics.json` written by `soulchat eval` (or a folder holding one). The paper's own
figures can be added as reference rows; only the SoulChat row on SoulChatCorpus is included, the
one we quote exactly from the paper (Chen et al., 2023, "SoulChat", Table 1).
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from .metrics import METRICS

COLUMNS = {"bleu-1": "B-1", "bleu-2": "B-2", "bleu-3": "B-3", "bleu-4": "B-4",
           "rouge-1": "R-1", "rouge-2": "R-2", "rouge-l": "R-L"}

PAPER_ROWS = {
    "SoulChat (paper, Table 1, SoulChatCorpus)": {
        "bleu-1": 33.78, "bleu-2": 20.07, "bleu-3": 12.86, "bleu-4": 8.52,
        "rouge-1": 31.47, "rouge-2": 8.92, "rouge-l": 26.57,
    },
}


def load_runs(paths: Sequence[str | Path]) -> list[dict]:
    """[{name, metrics, count, bleu_tokens}] from metrics.json files or run folders."""
    runs = []
    for path in map(Path, paths):
        file = path / "metrics.json" if path.is_dir() else path
        if not file.is_file():
            raise ValueError(f"{path}: no metrics.json")
        from ..io import read_json

        data = read_json(file, "the metrics.json of `soulchat eval`")
        try:
            metrics = data["metrics"]
            values = {k: float(metrics[k]) for k in METRICS}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{file}: not a soulchat eval metrics.json (no {error} metric)"
                             if isinstance(error, KeyError) else f"{file}: not a soulchat eval metrics.json ({error})") from None
        runs.append({"name": str(data.get("model") or path.name), "metrics": values,
                     "count": metrics.get("count"), "bleu_tokens": data.get("bleu_tokens", "char")})
    return runs


def table_rows(runs: Sequence[dict], paper: bool = True) -> list[dict]:
    rows = [{"name": name, "metrics": values, "count": None, "bleu_tokens": "char", "reference": True}
            for name, values in (PAPER_ROWS.items() if paper else [])]
    return rows + [{**run, "reference": False} for run in runs]


def markdown(rows: Sequence[dict]) -> str:
    header = "| Model | " + " | ".join(COLUMNS.values()) + " | n |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    best = {k: max((r["metrics"][k] for r in rows if not r["reference"]), default=None) for k in METRICS}
    for row in rows:
        cells = []
        for k in METRICS:
            text = f"{row['metrics'][k]:.2f}"
            cells.append(f"**{text}**" if not row["reference"] and row["metrics"][k] == best[k] else text)
        name = f"*{row['name']}*" if row["reference"] else row["name"]
        count = "" if row["count"] is None else str(row["count"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {count} |")
    notes = ["", "BLEU-n: nltk sentence_bleu, method3 smoothing, uniform weights over 1..n, on "
             + ("characters" if all(r["bleu_tokens"] == "char" for r in rows) else "mixed tokenizations (see CSV)")
             + "; ROUGE: rouge_chinese F on jieba words; all x100, averaged over pairs."]
    if any(r["reference"] for r in rows):
        notes.append("Italic rows are the paper's published figures, not reruns.")
    return "\n".join(lines + notes) + "\n"


def write_report(runs: Sequence[dict], output: str | Path, *, paper: bool = True, chart: bool = True,
                 say=lambda message: None) -> dict:
    """Write report.md, report.csv and (with matplotlib, the `plots` extra) report.png under `output`."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    rows = table_rows(runs, paper)
    (output / "report.md").write_text(markdown(rows), encoding="utf-8")
    with (output / "report.csv").open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["model", *METRICS, "count", "bleu_tokens", "source"])
        for row in rows:
            writer.writerow([row["name"], *(f"{row['metrics'][k]:.4f}" for k in METRICS),
                             "" if row["count"] is None else row["count"], row["bleu_tokens"],
                             "paper" if row["reference"] else "run"])
    files = {"markdown": str(output / "report.md"), "csv": str(output / "report.csv")}
    if chart and importlib.util.find_spec("matplotlib") is None:
        say("warning: report.png skipped: matplotlib is not installed (pip install 'soulchat[plots]')")
    elif chart:
        bar_chart(rows, output / "report.png")
        files["chart"] = str(output / "report.png")
    return files


def bar_chart(rows: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # Model names may be Chinese: use a CJK font when one is installed (fonts-wqy-microhei).
    for family in ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "SimHei"):
        if any(f.name == family for f in font_manager.fontManager.ttflist):
            plt.rcParams["font.family"] = family
            break
    width = 0.8 / max(1, len(rows))
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(METRICS) + 0.3 * len(rows)), 4))
    for i, row in enumerate(rows):
        positions = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(METRICS))]
        axes.bar(positions, [row["metrics"][k] for k in METRICS], width, label=row["name"],
                 hatch="//" if row["reference"] else None, alpha=0.6 if row["reference"] else 1.0)
    axes.set_xticks(range(len(METRICS)), list(COLUMNS.values()))
    axes.set_ylabel("score (x100)")
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
