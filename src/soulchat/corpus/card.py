"""The corpus folder's README.md: YAML `configs:` that `load_dataset` reads, and the dataset card.

The card is rendered from `soulchat/model_cards/dataset_card.md` (Jinja) with huggingface_hub's
`DatasetCard`, so the same file is what `push` uploads to the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..topics import SOURCE_NAMES, SOURCES, TOPICS, UNKNOWN
from .figures import draw_figures

TEMPLATE = Path(__file__).resolve().parents[1] / "model_cards" / "dataset_card.md"
CITATION = """@inproceedings{chen-etal-2023-soulchat,
    title = "{S}oul{C}hat: Improving {LLM}s' Empathy, Listening, and Comfort Abilities through Fine-tuning with Multi-turn Empathy Conversations",
    author = "Chen, Yirong and Xing, Xiaofen and Lin, Jingkai and Zheng, Huimin and Wang, Zhenyu and Liu, Qi and Xu, Xiangmin",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2023",
    year = "2023",
    address = "Singapore",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2023.findings-emnlp.83",
    pages = "1170--1183",
}"""


def features() -> dict[str, Any]:
    import datasets

    text, topic = datasets.Value("string"), datasets.Value("string")
    chat = datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")})
    return {
        "dialogues": datasets.Features({"id": text, "topic": topic, "messages": chat, "tags": datasets.List(text)}),
        "samples": datasets.Features({"id": text, "dialogue_id": text, "turn": datasets.Value("int32"),
                                      "topic": topic, "input": text, "target": text}),
        "messages": datasets.Features({"id": text, "dialogue_id": text, "turn": datasets.Value("int32"),
                                       "topic": topic, "messages": chat}),
    }


def card_metadata(present: dict[str, list[str]], samples: int, license: str, pretty_name: str) -> dict[str, Any]:
    schema = features()
    configs, infos = [], []
    for name, splits in present.items():
        if not splits:
            continue
        config = {"config_name": name,
                  "data_files": [{"split": s, "path": f"data/{name}/{s}-*.jsonl"} for s in splits]}
        if name == "dialogues":
            config["default"] = True
        configs.append(config)
        infos.append({"config_name": name, "features": schema[name]._to_yaml_list()})
    size = next(label for bound, label in ((1e3, "n<1K"), (1e4, "1K<n<10K"), (1e5, "10K<n<100K"),
                                           (1e6, "100K<n<1M"), (1e7, "1M<n<10M"), (float("inf"), "n>10M"))
                if samples < bound)
    return {
        "language": ["zh"],
        "license": license,
        "pretty_name": pretty_name,
        "task_categories": ["text-generation"],
        "size_categories": [size],
        "tags": ["mental-health", "empathy", "counseling", "multi-turn", "dialogue"],
        "configs": configs,
        "dataset_info": infos,
    }


def topic_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """All 12 topics (most samples first, empty ones too, as the paper lists them), then 未知 if any."""
    samples = stats["samples_per_topic"]
    ordered = sorted(TOPICS, key=lambda topic: -samples.get(topic, 0))
    ordered += [t for t in samples if t not in TOPICS]
    return [
        {"name": topic, "english": TOPICS.get(topic, "unknown" if topic == UNKNOWN else ""),
         "dialogues": stats["dialogues_per_topic"].get(topic, 0), "samples": samples.get(topic, 0),
         "share": samples.get(topic, 0) / (stats["samples"] or 1)}
        for topic in ordered
    ]


def render_card(summary: dict[str, Any], present: dict[str, list[str]], build, figures: list[str]) -> str:
    from huggingface_hub import DatasetCard, DatasetCardData

    stats = summary["statistics"]
    data = DatasetCardData(**card_metadata(present, stats["samples"], build.license, build.pretty_name))
    topics = topic_rows(stats)
    card = DatasetCard.from_template(
        data,
        template_path=str(TEMPLATE),
        pretty_name=build.pretty_name,
        report=summary["report"],
        clean=summary["clean_config"],
        splits=summary["splits"],
        stats=stats,
        topics=topics,
        topic_sources=[{"name": SOURCE_NAMES[s], "dialogues": stats.get("topic_sources", {}).get(s, 0)} for s in SOURCES],
        figures=figures,
        prompt_versions=stats.get("prompt_versions", {}),
        models=stats.get("models", {}),
        citation=CITATION,
    )
    return str(card)


def write_card(output: Path, summary: dict[str, Any], stats, present, build, say: Callable[[str], None]) -> list[str]:
    figures: list[str] = []
    if build.plots:
        figures = draw_figures(stats.summary()["samples_per_topic"], stats.words, output / "figures", say=say)
    (output / "README.md").write_text(render_card(summary, present, build, figures), encoding="utf-8")
    return figures
