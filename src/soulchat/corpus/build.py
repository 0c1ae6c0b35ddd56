"""Build SoulChatCorpus: a folder that `datasets.load_dataset(folder, name)` reads.

Two streaming passes, so memory does not grow with the corpus:

1. clean: every candidate goes through the `Cleaner`; kept dialogues are appended to a work file,
   rejects (with reasons) to `cleaning/rejects.jsonl`; per dialogue only (split hash, samples) is
   kept in memory, 12 bytes, to size the splits exactly.
2. write: the kept dialogues are re-read and written as JSONL shards of three configs —
   `dialogues` {id, topic, messages, tags}, `samples` {id, dialogue_id, turn, topic, input, target},
   `messages` {id, dialogue_id, turn, topic, messages} — each split train/validation/test.

Splits are decided by a salted hash of the dialogue id (no dialogue in two splits): the dialogues with
the smallest hashes form the test split until it holds `test_size` samples, the next ones validation.
A finished clean pass is recorded with the fingerprint of inputs and settings, so a rerun after a
crash starts at pass 2, and a rerun of a finished build does nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..clean import CleanConfig, Cleaner, CleanReport, iter_candidates
from ..clean.sources import input_fingerprint
from ..dialogue import USER, Dialogue, history_messages, render_input
from ..topics import TopicAssignment, assign_topic, describe_sources
from .stats import CorpusStats

CONFIGS = ("dialogues", "samples", "messages")
SPLITS = ("train", "validation", "test")
WORK = ".build"
DONE = "build-done.json"


@dataclass
class BuildConfig:
    test_size: float = field(
        default=10_000, metadata={"help": "test split size in samples (paper: 10,000), or a fraction if < 1"}
    )
    validation_size: float = field(
        default=1_000, metadata={"help": "validation split size in samples, or a fraction if < 1"}
    )
    max_split_fraction: float = field(
        default=0.1, metadata={"help": "cap for test and validation each, as a fraction of all samples"}
    )
    split_salt: str = field(default="soulchat", metadata={"help": "salt of the dialogue-id hash that decides splits"})
    shard_rows: int = field(default=50_000, metadata={"help": "rows per JSONL shard"})
    wordcloud_dialogues: int = field(
        default=5_000, metadata={"help": "psychologist utterances of this many dialogues feed the word cloud"}
    )
    plots: bool = field(default=True, metadata={"help": "draw the topic bar chart and the word cloud (needs a CJK font)"})
    license: str = field(default="apache-2.0", metadata={"help": "license field of the dataset card"})
    pretty_name: str = field(default="SoulChatCorpus", metadata={"help": "dataset name in the card"})


def is_corpus_folder(path: str | Path) -> bool:
    """Whether `path` is a SoulChatCorpus folder: a README.md whose YAML front matter lists the
    `configs:` that `datasets.load_dataset(path, config)` reads (what `soulchat build` writes)."""
    readme = Path(path) / "README.md"
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8", errors="replace")
    front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    return any(line.startswith("configs:") for line in front.splitlines())


def is_finished_build(path: str | Path) -> bool:
    """A corpus folder whose build ran to its end (a half-built one would publish a broken dataset)."""
    return is_corpus_folder(path) and (Path(path) / DONE).is_file()


def split_hash(dialogue_id: str, salt: str) -> int:
    digest = hashlib.blake2b(f"{salt}\0{dialogue_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # fits int64 and numpy sorting


def split_thresholds(hashes: np.ndarray, samples: np.ndarray, config: BuildConfig) -> tuple[dict[str, int], list[str]]:
    """(largest hash of test, largest hash of validation) and warnings about capped sizes."""
    total = int(samples.sum())
    order = np.argsort(hashes, kind="stable")
    cumulative = np.cumsum(samples[order])
    warnings: list[str] = []

    def wanted(size: float, name: str) -> int:
        count = int(round(size * total)) if 0 < size < 1 else int(size)
        cap = int(total * config.max_split_fraction)
        if count > cap:
            warnings.append(f"{name} size {count} samples capped at {cap} ({config.max_split_fraction:.0%} of {total})")
            count = cap
        return count

    test, validation = wanted(config.test_size, "test"), wanted(config.validation_size, "validation")
    # dialogues are never split, so each split takes whole dialogues until it holds enough samples
    n_test = min(int(np.searchsorted(cumulative, test, side="left")) + 1, len(order)) if test > 0 else 0
    taken = int(cumulative[n_test - 1]) if n_test else 0
    n_both = min(int(np.searchsorted(cumulative, taken + validation, side="left")) + 1, len(order)) if validation > 0 else n_test
    sorted_hashes = hashes[order]
    bounds = {
        "test": int(sorted_hashes[n_test - 1]) if n_test else -1,
        "validation": int(sorted_hashes[n_both - 1]) if n_both else -1,
    }
    return bounds, warnings


def split_of(hash_value: int, bounds: dict[str, int]) -> str:
    if hash_value <= bounds["test"]:
        return "test"
    if hash_value <= bounds["validation"]:
        return "validation"
    return "train"


def corpus_rows(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rows of each config for one kept dialogue record {id, topic, messages, tags}."""
    dialogue = Dialogue.from_record(record)
    ident, topic = record["id"], record["topic"]
    samples, messages = [], []
    for turn, (history, query, target) in enumerate(dialogue.exchanges(), start=1):
        sample_id = f"{ident}-{turn}"
        samples.append(
            {"id": sample_id, "dialogue_id": ident, "turn": turn, "topic": topic,
             "input": render_input(history, query), "target": target}
        )
        messages.append({"id": sample_id, "dialogue_id": ident, "turn": turn, "topic": topic,
                         "messages": history_messages(history, query, target)})
    return {"dialogues": [record], "samples": samples, "messages": messages}


class ShardWriter:
    def __init__(self, root: Path, config: str, split: str, rows_per_shard: int) -> None:
        self.folder, self.split, self.limit = root / config, split, rows_per_shard
        self.rows = self.shards = 0
        self._stream = None

    def write(self, row: dict[str, Any]) -> None:
        if self._stream is None or self.rows % self.limit == 0:
            self.close()
            self.folder.mkdir(parents=True, exist_ok=True)
            self._stream = open(self.folder / f"{self.split}-{self.shards:05d}.jsonl", "w", encoding="utf-8")
            self.shards += 1
        self._stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.rows += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def build_fingerprint(paths: list, clean: CleanConfig, build: BuildConfig) -> str:
    """What decides a build's output: every input file (path, size, mtime) and every setting."""
    inputs = input_fingerprint(paths)
    payload = json.dumps({"inputs": inputs, "clean": clean.to_json(), "build": dataclasses.asdict(build)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _clean_pass(
    paths: list, output: Path, clean_config: CleanConfig, build: BuildConfig, detector, progress
) -> tuple[CleanReport, CorpusStats]:
    work = output / WORK
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (output / "cleaning").mkdir(parents=True, exist_ok=True)
    cleaner = Cleaner(clean_config, work_dir=work, crisis_detector=detector)
    stats = CorpusStats(wordcloud_dialogues=build.wordcloud_dialogues if build.plots else 0)
    hashes, samples = [], []
    try:
        with open(work / "kept.jsonl", "w", encoding="utf-8") as kept, open(
            output / "cleaning" / "rejects.jsonl", "w", encoding="utf-8"
        ) as rejects:
            for candidate in progress(iter_candidates(paths)):
                outcome = cleaner.clean(candidate)
                if not outcome.kept:
                    rejects.write(json.dumps(outcome.reject_record(), ensure_ascii=False) + "\n")
                    continue
                topic = topic_of(candidate, outcome.dialogue)
                outcome.dialogue.topic = topic.topic
                record = outcome.dialogue.to_record()
                record["id"] = str(record["id"])
                record["tags"] = outcome.tags
                kept.write(json.dumps(record, ensure_ascii=False) + "\n")
                stats.add(outcome.dialogue, candidate.origin, topic_source=topic.source)
                hashes.append(split_hash(record["id"], build.split_salt))
                samples.append(outcome.dialogue.rounds)
    finally:
        cleaner.close()
    np.save(work / "split-hashes.npy", np.array(hashes, dtype=np.int64))
    np.save(work / "split-samples.npy", np.array(samples, dtype=np.int32))
    (work / "signatures.bin").unlink(missing_ok=True)
    (work / "dedup-ids.txt").unlink(missing_ok=True)
    return cleaner.report, stats


def topic_of(candidate, dialogue: Dialogue) -> TopicAssignment:
    """One of the 12 topics from what the input knows (soulchat.topics: topic, keywords, request, text)."""
    meta = candidate.meta
    users = [turn.content for turn in dialogue.turns if turn.role == USER]
    return assign_topic(candidate.topic, meta.get("keywords"), meta.get("request"), users)


def build_corpus(
    paths: Iterable[str | Path],
    output: str | Path,
    *,
    clean_config: CleanConfig | None = None,
    build_config: BuildConfig | None = None,
    crisis_detector: Callable[[str], Any] | None = None,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
    say: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Clean the inputs and write the corpus folder; returns (and writes) the build summary."""
    from .card import write_card

    paths = list(paths)
    clean_config, build = clean_config or CleanConfig(), build_config or BuildConfig()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    fingerprint = build_fingerprint(paths, clean_config, build)
    done = output / DONE
    if done.is_file() and json.loads(done.read_text())["fingerprint"] == fingerprint:
        say(f"{output}: already built from these inputs and settings; nothing to do")
        return json.loads((output / "cleaning" / "summary.json").read_text())

    work = output / WORK
    clean_done = work / "clean-done.json"
    if clean_done.is_file() and json.loads(clean_done.read_text())["fingerprint"] == fingerprint:
        say("cleaning already done for these inputs and settings; writing the corpus")
        state = json.loads(clean_done.read_text())
        report, stats = CleanReport.from_json(state["report"]), CorpusStats.from_json(state["stats"])
    else:
        done.unlink(missing_ok=True)
        report, stats = _clean_pass(paths, output, clean_config, build, crisis_detector, progress)
        (output / "cleaning" / "report.json").write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
        clean_done.write_text(json.dumps({"fingerprint": fingerprint, "report": report.to_json(), "stats": stats.to_json()}, ensure_ascii=False))
    say(report.summary())
    say(describe_sources(stats.topic_sources))

    hashes, samples = np.load(work / "split-hashes.npy"), np.load(work / "split-samples.npy")
    if len(hashes) == 0:
        raise ValueError(_nothing_kept(report, output))
    bounds, warnings = split_thresholds(hashes, samples, build)
    for warning in warnings:
        say(f"warning: {warning}")

    staging = output / "data.partial"
    if staging.exists():
        shutil.rmtree(staging)
    writers = {(c, s): ShardWriter(staging, c, s, build.shard_rows) for c in CONFIGS for s in SPLITS}
    with open(work / "kept.jsonl", encoding="utf-8") as kept:
        for line in kept:
            record = json.loads(line)
            split = split_of(split_hash(record["id"], build.split_salt), bounds)
            for config, rows in corpus_rows(record).items():
                for row in rows:
                    writers[config, split].write(row)
    for writer in writers.values():
        writer.close()
    if (output / "data").exists():
        shutil.rmtree(output / "data")
    staging.rename(output / "data")

    present = {c: [s for s in SPLITS if writers[c, s].rows] for c in CONFIGS}
    summary = {
        "report": report.to_json(),
        "splits": {c: {s: writers[c, s].rows for s in present[c]} for c in CONFIGS},
        "split_warnings": warnings,
        "clean_config": clean_config.to_json(),
        "build_config": dataclasses.asdict(build),
        "statistics": stats.summary(),
    }
    figures = write_card(output, summary, stats, present, build, say=say)
    summary["figures"] = figures
    (output / "cleaning" / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    (output / "statistics.json").write_text(json.dumps(stats.summary(), ensure_ascii=False, indent=2) + "\n")
    shutil.rmtree(work)
    done.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    return summary


def _nothing_kept(report: CleanReport, output: Path) -> str:
    """Why the corpus would be empty, with the first reject's file, line and reason."""
    if not report.read:
        return "the inputs hold no records (empty files, or blank lines only)"
    first = ""
    with open(output / "cleaning" / "rejects.jsonl", encoding="utf-8") as rejects:
        line = rejects.readline()
    if line.strip():
        record = json.loads(line)
        origin = record.get("origin") or {}
        where = f"{origin.get('path')}:{origin.get('line')}: " if origin.get("path") else ""
        details = record.get("details")
        detail = "; ".join(map(str, details)) if isinstance(details, list) else str(details or "")
        first = f"; the first: {where}{record.get('reason')}" + (f" ({detail})" if detail else "")
    counts = ", ".join(f"{n} {reason}" for reason, n in report.rejected.most_common(3))
    return (f"no dialogue survived cleaning ({report.read} read, rejected: {counts}){first}; "
            f"see {output}/cleaning/rejects.jsonl and cleaning/report.json")
