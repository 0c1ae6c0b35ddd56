"""The paper's figures for the corpus: topic distribution (Fig. 3) and psychologist word cloud (Fig. 4).

Both need a font with Chinese glyphs; without one matplotlib draws empty boxes. The font is found,
never downloaded: $SOULCHAT_CJK_FONT, the Debian/Ubuntu packages (`apt-get install
fonts-wqy-microhei`, or fonts-noto-cjk), then fontconfig.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections import Counter
from pathlib import Path

from ..data import TOPICS

KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
MISSING_FONT = (
    "no font with Chinese glyphs found: install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei) "
    "or set SOULCHAT_CJK_FONT=/path/to/font.ttf"
)


class MissingFontError(RuntimeError):
    pass


def find_cjk_font() -> Path:
    """Path of a CJK-capable font file, or MissingFontError saying how to get one."""
    configured = os.environ.get("SOULCHAT_CJK_FONT")
    if configured:
        if not Path(configured).is_file():
            raise MissingFontError(f"SOULCHAT_CJK_FONT={configured}: no such file")
        return Path(configured)
    for known in KNOWN_FONTS:
        if Path(known).is_file():
            return Path(known)
    if shutil.which("fc-list"):
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False).stdout
        files = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip())
        if files:
            return Path(files[0])
    raise MissingFontError(MISSING_FONT)


def topic_chart(samples_per_topic: dict[str, int], path: Path, font: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    prop = font_manager.FontProperties(fname=str(font))
    items = sorted(samples_per_topic.items(), key=lambda item: -item[1])
    labels = [f"{t}\n{TOPICS[t]}" if t in TOPICS else t for t, _ in items]
    counts = [n for _, n in items]
    figure, axes = plt.subplots(figsize=(max(6, 0.9 * len(items) + 2), 4.5), dpi=120)
    bars = axes.bar(range(len(items)), counts, color="#5b8fd6")
    axes.set_xticks(range(len(items)), labels, fontproperties=prop, fontsize=8)
    axes.set_ylabel("样本数 samples", fontproperties=prop)
    axes.set_title("SoulChatCorpus 话题分布 (topic distribution)", fontproperties=prop)
    total = sum(counts) or 1
    for bar, count in zip(bars, counts):
        axes.annotate(f"{count / total:.1%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=7)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def word_cloud(words: Counter | dict[str, int], path: Path, font: Path) -> Path | None:
    if not words:
        warnings.warn("no psychologist words counted; word cloud skipped", stacklevel=2)
        return None
    from wordcloud import WordCloud

    cloud = WordCloud(font_path=str(font), width=1000, height=600, background_color="white",
                      max_words=200, random_state=0, collocations=False)
    cloud.generate_from_frequencies(dict(words)).to_file(str(path))
    return path


def draw_figures(samples_per_topic: dict[str, int], words: Counter, folder: Path, say=lambda m: None) -> list[str]:
    """Write both PNGs under `folder`; without a CJK font, warn and draw nothing."""
    try:
        font = find_cjk_font()
    except MissingFontError as error:
        warnings.warn(f"figures skipped: {error}", stacklevel=2)
        say(f"warning: figures skipped: {error}")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    drawn = [topic_chart(samples_per_topic, folder / "topic_distribution.png", font),
             word_cloud(words, folder / "psychologist_wordcloud.png", font)]
    return [str(p.relative_to(folder.parent)) for p in drawn if p is not None]
