"""Clean + build throughput (dialogues/s) and peak memory at two corpus sizes.

    .venv/bin/python benchmarks/bench_build.py                 # 5,000 and 20,000 dialogues
    .venv/bin/python benchmarks/bench_build.py --sizes 2000 40000

Synthetic rewrite logs are made by varying the 60 bundled dialogues (random characters inserted in
every turn, so they are not near duplicates of each other). Each size runs in a fresh child process
so that its peak RSS is its own. The baseline, measured in the same child, is reading the log and
parsing each rewrite with Dialogue.from_text: the ratio says what cleaning and writing the three
configs cost on top of that. Plots are off (drawn once, independent of size); crisis detection uses a
keyword detector (soulchat.safety's cost is its own). Extrapolated to the paper's scale:
~260k dialogues / ~2.3M samples.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

PAPER_DIALOGUES = 260_000
PAPER_SAMPLES = 2_300_248
CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def synth_log(folder: Path, count: int) -> int:
    from soulchat.bundled import sample_dialogues

    base = sample_dialogues()
    rng = random.Random(count)
    folder.mkdir(parents=True, exist_ok=True)
    samples = 0
    with open(folder / "results.jsonl", "w", encoding="utf-8") as log:
        for i in range(count):
            dialogue = base[i % len(base)]
            lines = []
            for turn in dialogue.turns:
                text = turn.content
                for _ in range(2):
                    at = rng.randrange(len(text) + 1)
                    text = text[:at] + "".join(rng.choices(CHARS, k=6)) + text[at:]
                lines.append(("用户：" if turn.role == "user" else "心理咨询师：") + text)
            samples += dialogue.rounds
            record = {
                "key": f"bench-{i:07d}", "status": "ok",
                "row": {"source": "synthetic", "line": i + 1, "question_id": i, "answer_index": 0,
                        "topic": dialogue.topic, "single_turn": ""},
                "prompt": "soulchat", "prompt_version": "bench", "requested_model": "m", "model": "m",
                "text": "分析：……\n改写后的对话：\n" + "\n".join(lines), "finish_reason": "stop",
                "usage": None, "latency_s": 0.0, "error": None, "time": "",
            }
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
    return samples


def keyword_detector(text: str):
    flagged = "自杀" in text or "不想活" in text
    return SimpleNamespace(flagged=flagged, category="suicide" if flagged else None, spans=[])


def child(size: int) -> None:
    from soulchat.clean import CleanConfig
    from soulchat.corpus import BuildConfig, build_corpus
    from soulchat.dialogue import Dialogue

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "rewrite"
        samples = synth_log(log, size)
        rss_after_synth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        start = time.perf_counter()
        with open(log / "results.jsonl", encoding="utf-8") as stream:
            for line in stream:
                Dialogue.from_text(json.loads(line)["text"])
        parse_s = time.perf_counter() - start

        start = time.perf_counter()
        summary = build_corpus(
            [log], Path(tmp) / "corpus", crisis_detector=keyword_detector,
            clean_config=CleanConfig(min_rounds=4),
            build_config=BuildConfig(plots=False, wordcloud_dialogues=0),
        )
        build_s = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "size": size, "samples": samples, "kept": summary["report"]["kept"],
        "rejected": summary["report"]["rejected"], "parse_s": parse_s, "build_s": build_s,
        "rss_before_build_mb": rss_after_synth / 1024, "peak_rss_mb": peak / 1024,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[5_000, 20_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    rows = []
    for size in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--child", str(size)], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'dialogues':>10} {'kept':>8} {'parse only/s':>13} {'clean+build/s':>14} {'ratio':>6} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['size']:>10,} {r['kept']:>8,} {r['size'] / r['parse_s']:>13,.0f} {r['size'] / r['build_s']:>14,.0f} "
              f"{r['parse_s'] / r['build_s']:>6.2f} {r['peak_rss_mb']:>12.0f}")
        if r["kept"] != r["size"]:
            print(f"{'':>10} rejected: {r['rejected']}")
    big = rows[-1]
    rate = big["size"] / big["build_s"]
    print(f"\nextrapolated to the paper's scale ({PAPER_DIALOGUES:,} dialogues, {PAPER_SAMPLES:,} samples): "
          f"{PAPER_DIALOGUES / rate / 60:.1f} min of clean + build on this machine")
    grow = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
    print(f"peak RSS {rows[0]['peak_rss_mb']:.0f} MB at {rows[0]['size']:,} vs {rows[-1]['peak_rss_mb']:.0f} MB at "
          f"{rows[-1]['size']:,} dialogues ({grow:+.0f} MB for {rows[-1]['size'] / rows[0]['size']:.0f}× the corpus)")


if __name__ == "__main__":
    main()
