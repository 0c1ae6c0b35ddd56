"""The rewrite prompts: versioned text files that say what the paper's empathy constraint says."""

from pathlib import Path

import pytest

from soulchat.prompts import PROMPT_DIR, available, load_prompt, parse_prompt

SINGLE = "用户：我最近总是睡不着。\n心理咨询师：能感受到你的疲惫。"


def test_bundled_prompts_and_versions():
    assert available() == [("soulchat", "en"), ("soulchat", "zh"), ("smile", "zh")]
    versions = {(n, lang): load_prompt(n, lang).version for n, lang in available()}
    assert versions == {
        ("soulchat", "en"): "soulchat_empathy.en.v1",
        ("soulchat", "zh"): "soulchat_empathy.zh.v1",
        ("smile", "zh"): "smile.zh.v1",
    }


def test_chinese_empathy_prompt_states_every_requirement():
    text = load_prompt("soulchat", "zh").text
    for requirement in ["以“用户：”开头", "“心理咨询师：”说的一句话结束", "8 到 20 轮", "不要太长", "一步一步地分析",
                        "倾听", "安慰", "理解", "信任", "认可", "真诚", "情感支持", "结合用户描述", "改写后的对话："]:
        assert requirement in text, requirement
    assert not text.startswith("#")  # header lines are not sent


def test_english_prompt_mirrors_the_requirements():
    text = load_prompt("soulchat", "en").text
    for requirement in ["starts with \"用户：\"", "\"心理咨询师：\"", "between 8 and 20", "step by step",
                        "listening, comfort, understanding, trust, recognition, sincerity and emotional support"]:
        assert requirement in text, requirement


def test_smile_prompt_has_no_empathy_constraint():
    text = load_prompt("smile", "zh").text
    assert "多轮对话" in text and "共情" not in text and "一步一步" not in text


def test_render_substitutes_once_and_keeps_braces_literal():
    prompt = load_prompt("soulchat", "zh")
    rendered = prompt.render(SINGLE + "{x}")
    assert rendered.endswith("单轮问答：\n" + SINGLE + "{x}")
    assert "{single_turn}" not in rendered


def test_prompt_file_checks(tmp_path: Path):
    with pytest.raises(ValueError, match="missing '# version: <id>'"):
        parse_prompt("# no version\n\n{single_turn}", path=tmp_path / "p.txt", name="x", language="zh")
    with pytest.raises(ValueError, match="exactly one {single_turn} placeholder, found 0"):
        parse_prompt("# version: v9\n\nnothing", path=tmp_path / "p.txt", name="x", language="zh")
    custom = tmp_path / "mine.txt"
    custom.write_text("# version: mine.v3\n\n改写：{single_turn}", encoding="utf-8")
    prompt = load_prompt(str(custom))
    assert (prompt.version, prompt.render("A")) == ("mine.v3", "改写：A")
    with pytest.raises(ValueError, match="no 'fr' version of prompt 'smile'"):
        load_prompt("smile", "fr")
    assert (PROMPT_DIR / "soulchat_empathy.zh.txt").is_file()
