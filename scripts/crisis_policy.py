"""Measure what the crisis policies of corpus building do: `drop` vs `tag`, rules vs rules + model.

    python scripts/crisis_policy.py                      # the bundled dialogues (= the demo's corpus) and PsyQA sample
    python scripts/crisis_policy.py rewrite/ more.jsonl  # any `soulchat build` inputs

For each detector (soulchat.safety.assess: its rules, the corpus default; rules + crisis model,
`--crisis-model`), it builds the corpus with `soulchat.corpus.build_corpus` under both policies,
with `soulchat build`'s default split settings (what `soulchat demo` trains and evaluates on), and
prints: dialogues and samples kept per split, which dialogues are flagged, by whose turn (user,
psychologist) and category, with the first flagged turn. For the bundled single-turn records (the
rewrite step's input) it counts the questions the same detector flags. Rerun it when the detector
changes (docs/corpus.md quotes its output).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from soulchat.bundled import SAMPLE_DIALOGUES, SAMPLE_SINGLE_TURN
from soulchat.clean import CleanConfig
from soulchat.clean.pipeline import default_crisis_detector
from soulchat.corpus import BuildConfig, build_corpus
from soulchat.io import read_dialogues
from soulchat.rewrite.inputs import read_single_turn


def flagged_dialogues(paths, detector) -> list[dict]:
    found = []
    for path in paths:
        if not Path(path).is_file():
            continue  # rewrite folders: their dialogues are counted by the builds below
        for dialogue in read_dialogues(path, validate=False):
            hits = []
            for number, turn in enumerate(dialogue.turns, start=1):
                verdict = detector(turn.content)
                if verdict.flagged:
                    hits.append((number, turn.role, verdict.category, turn.content))
            if hits:
                found.append({"id": dialogue.id, "topic": dialogue.topic, "rounds": dialogue.rounds, "hits": hits})
    return found


def measure(paths: list, model: bool, work: Path) -> dict:
    results = {}
    for policy in ("drop", "tag"):
        folder = work / f"{policy}-{model}"
        summary = build_corpus(paths, folder, clean_config=CleanConfig(crisis_policy=policy, crisis_model=model),
                               build_config=BuildConfig(plots=False))
        rows = [json.loads(line) for shard in (folder / "data" / "dialogues").glob("*.jsonl")
                for line in shard.read_text(encoding="utf-8").splitlines()]
        summary["tagged_dialogues"] = sum(1 for row in rows if any(t.startswith("crisis:") for t in row["tags"]))
        results[policy] = summary
    return results


def table(results: dict) -> list[str]:
    lines = ["| policy | dialogues kept | removed as crisis | kept with a crisis tag | samples train / validation / test |", "|---|---|---|---|---|"]
    for policy, summary in results.items():
        report, splits = summary["report"], summary["splits"]["samples"]
        lines.append(f"| {policy} | {report['kept']} of {report['read']} | {report['rejected'].get('crisis', 0)} | "
                     f"{summary['tagged_dialogues']} | " + " / ".join(str(splits.get(s, 0)) for s in ("train", "validation", "test")) + " |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="`soulchat build` inputs (default: the bundled dialogues)")
    args = parser.parse_args(argv)
    paths = args.inputs or [str(SAMPLE_DIALOGUES)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, name in ((False, "rules (corpus default)"), (True, "rules + crisis model (--crisis-model)")):
            detector = default_crisis_detector(model)
            results = measure(paths, model, Path(tmp))
            flagged = flagged_dialogues(paths, detector)
            roles = Counter("+".join(sorted({h[1] for h in d["hits"]})) for d in flagged)
            categories = Counter(h[2] for d in flagged for h in d["hits"])
            total = sum(results["tag"]["splits"]["samples"].values())
            lost = total - sum(results["drop"]["splits"]["samples"].values())
            out += [f"## Detector: {name}", "", *table(results), "",
                    f"`drop` loses {lost} of {total} samples ({lost / (total or 1):.1%}); flagged dialogues by whose "
                    f"turns were flagged: {dict(roles)}; flagged turns by category: {dict(categories)}.", ""]
            for d in flagged:
                number, role, category, text = d["hits"][0]
                out.append(f"- dialogue {d['id']} ({d['topic']}, {d['rounds']} rounds): {len(d['hits'])} flagged turn(s); "
                           f"first: turn {number} ({role}, {category}) {text[:48]!r}")
            out.append("")
        rows = list(read_single_turn(SAMPLE_SINGLE_TURN))
        for model in (False, True):
            detector = default_crisis_detector(model)
            questions = {r.question_id for r in rows if detector(r.single_turn.split("\n心理咨询师：")[0]).flagged}
            answers = {r.question_id for r in rows if detector(r.single_turn.split("\n心理咨询师：", 1)[1]).flagged}
            out.append(f"Bundled single-turn records ({len(rows)} question/answer pairs), "
                       f"{'rules + model' if model else 'rules'}: questions flagged {sorted(questions)}, "
                       f"answers flagged {sorted(answers)}.")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
