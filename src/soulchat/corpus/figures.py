"""The paper's figures for the corpus: topic distribution (Fig. 3) and psychologist word cloud (Fig. 4).

They need the `plots` extra (matplotlib, wordcloud) and a font with Chinese glyphs; without one,
matplotlib draws empty boxes. The font is found, never downloaded: $SOULCHAT_CJK_FONT, the
Debian/Ubuntu packages (`apt-get install fonts-wqy-microhei`, or fonts-noto-cjk; `make demo` and
`make test` install it as root), then fontconfig.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections import Counter
from pathlib import Path

from ..data import TOPICS
from ..errors import SoulChatError

KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
PLOTS_HINT = "pip install 'soulchat[plots]'"
MISSING_FONT = (
    "no font with Chinese glyphs found: install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei) "
    "or set SOULCHAT_CJK_FONT=/path/to/font.ttf"
)


class MissingFontError(SoulChatError, RuntimeError):
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


def topic_chart(samples_per_topic: dict[str, int], path: Path, font: Path | None) -> Path:
    """The paper's Fig. 3: the share of samples of each of the 12 topics (all of them, most first),
    with 未知 apart in grey when some dialogues have no known topic. Without a CJK font the labels
    are the English names, so the chart is still readable."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    prop = font_manager.FontProperties(fname=str(font)) if font else None
    topics = sorted(TOPICS, key=lambda t: (-samples_per_topic.get(t, 0), list(TOPICS).index(t)))
    rest = [t for t in samples_per_topic if t not in TOPICS]
    names = topics + rest
    counts = [samples_per_topic.get(t, 0) for t in names]
    total = sum(counts) or 1

    def label(topic: str) -> str:
        english = TOPICS.get(topic, "unknown")
        return f"{topic} {english}" if font else english

    figure, axes = plt.subplots(figsize=(7.5, 0.38 * len(names) + 1.4), dpi=120)
    colors = ["#4c78a8"] * len(topics) + ["#b0b0b0"] * len(rest)
    positions = list(range(len(names)))[::-1]  # the largest topic on top
    bars = axes.barh(positions, counts, color=colors)
    axes.set_yticks(positions, [label(t) for t in names], fontproperties=prop, fontsize=9)
    axes.set_xlabel("samples", fontsize=9)
    axes.set_title(f"SoulChatCorpus topics: share of {total:,} samples", fontsize=10)
    for bar, count in zip(bars, counts):
        axes.annotate(f"{count / total:.1%} ({count:,})", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                      xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    axes.set_xlim(0, max(counts + [1]) * 1.25)
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


def draw_figures(samples_per_topic: dict[str, int], words: Counter, folder: Path, say=None) -> list[str]:
    """Write the PNGs under `folder` and return their paths relative to its parent.

    Degrades, with one warning line each, instead of failing a build: without matplotlib (a core
    install) nothing is drawn; without a CJK font the topic chart gets English labels and the word
    cloud is skipped; without the wordcloud package only the word cloud is skipped. The warning goes
    to `say` (one line, as `soulchat build` prints it) or, without one, to `warnings`."""

    def skip(message: str) -> None:
        if say is None:
            warnings.warn(message, stacklevel=3)
        else:
            say(f"warning: {message}")

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        skip(f"figures skipped: matplotlib is not installed ({PLOTS_HINT})")
        return []
    try:
        font: Path | None = find_cjk_font()
    except MissingFontError as error:
        font = None
        skip(f"topic chart in English, word cloud skipped: {error}")
    folder.mkdir(parents=True, exist_ok=True)
    drawn = [topic_chart(samples_per_topic, folder / "topic_distribution.png", font)]
    if font is not None:
        try:
            import wordcloud  # noqa: F401
        except ImportError:
            skip(f"word cloud skipped: the wordcloud package is not installed ({PLOTS_HINT})")
        else:
            drawn.append(word_cloud(words, folder / "psychologist_wordcloud.png", font))
    return [str(p.relative_to(folder.parent)) for p in drawn if p is not None]
