"""The library as users reach it: one front door, a light `import soulchat`, recipes in the package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import soulchat

FRONT_DOOR = ("SoulChatCorpus", "SoulChatCollator", "SoulChatTrainer", "LoraTrainer", "push_corpus", "push_model",
              "compute_metrics", "ChatSession")
HEAVY = ("torch", "transformers", "datasets", "peft", "accelerate", "matplotlib")


def test_import_soulchat_loads_no_heavy_library_and_dir_lists_the_front_door():
    code = ("import json, sys, soulchat; "
            f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], [n for n in {FRONT_DOOR!r} if n in dir(soulchat)]]))")
    loaded, listed = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True).stdout)
    assert loaded == [] and listed == list(FRONT_DOOR)


def test_every_front_door_name_is_the_object_of_its_module():
    from soulchat.chat import ChatSession
    from soulchat.train.collator import SoulChatCollator
    from soulchat.corpus.builder import SoulChatCorpus
    from soulchat.evaluation.metrics import compute_metrics
    from soulchat.hub import push_corpus, push_model
    from soulchat.train.trainers import LoraTrainer, SoulChatTrainer

    expected = {"SoulChatCorpus": SoulChatCorpus, "SoulChatCollator": SoulChatCollator,
                "SoulChatTrainer": SoulChatTrainer, "LoraTrainer": LoraTrainer, "push_corpus": push_corpus,
                "push_model": push_model, "compute_metrics": compute_metrics, "ChatSession": ChatSession}
    namespace: dict = {}
    exec(f"from soulchat import {', '.join(FRONT_DOOR)}", namespace)
    assert {name: namespace[name] for name in FRONT_DOOR} == expected
    assert set(FRONT_DOOR) <= set(soulchat.__all__)
    with pytest.raises(AttributeError, match="module 'soulchat' has no attribute 'Nope'"):
        soulchat.Nope  # noqa: B018


def test_subpackages_list_their_lazy_names():
    import soulchat.corpus
    import soulchat.train

    assert {"SoulChatTrainer", "LoraTrainer", "train", "build_trainer"} <= set(dir(soulchat.train))
    assert "SoulChatCorpus" in dir(soulchat.corpus)


# ------------------------------------------------------------------------------ recipes
def test_recipes_list_and_copy_bring_the_configs_their_launch_line_uses(tmp_path, capsys, monkeypatch):
    from soulchat.cli import main
    from soulchat.demo.pipeline import default_recipe
    from soulchat.recipes import RECIPES_DIR

    assert main(["recipes", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["demo-cpu/lora", "mechat-chatglm-6b/lora", "soulchat-chatglm-6b/full", "soulchat-glm4-9b/full",
                      "soulchat-glm4-9b/lora", "soulchat-qwen2.5-7b/lora", "tiny-cpu/lora"]
    assert default_recipe() == RECIPES_DIR / "demo-cpu" / "lora.yaml"

    monkeypatch.chdir(tmp_path)
    assert main(["recipes", "copy", "soulchat-glm4-9b", "mine"]) == 0
    out = capsys.readouterr()
    copied = sorted(p.relative_to(tmp_path / "mine").as_posix() for p in (tmp_path / "mine").rglob("*") if p.is_file())
    assert copied == ["README.md", "accelerate_configs/single.yaml", "accelerate_configs/zero3.yaml",
                      "deepspeed/zero3.json", "soulchat-glm4-9b/full.yaml", "soulchat-glm4-9b/lora.yaml", "train.py"]
    assert out.out.splitlines() == [
        "accelerate launch --config_file mine/accelerate_configs/zero3.yaml mine/train.py --config mine/soulchat-glm4-9b/full.yaml",
        "accelerate launch --config_file mine/accelerate_configs/single.yaml mine/train.py --config mine/soulchat-glm4-9b/lora.yaml"]
    assert "deepspeed_config_file: mine/deepspeed/zero3.json" in (tmp_path / "mine/accelerate_configs/zero3.yaml").read_text()
    # copying into ./recipes keeps the README's launch lines as they are written
    assert main(["recipes", "copy", "soulchat-chatglm-6b/full", "recipes"]) == 0
    assert (tmp_path / "recipes/accelerate_configs/zero2.yaml").read_bytes() == \
        (RECIPES_DIR / "accelerate_configs/zero2.yaml").read_bytes()
    assert main(["recipes", "copy", "soulchat-glm4-9b/lora", "mine"]) == 0  # same content again: fine
    (tmp_path / "mine/train.py").write_text("# edited\n")
    assert main(["recipes", "copy", "soulchat-glm4-9b/lora", "mine"]) == 1
    assert "mine/train.py exists and differs from the recipe's; pass --force to overwrite it" in capsys.readouterr().err
    assert main(["recipes", "copy", "nope", "mine"]) == 1
    assert "no recipe 'nope'; known recipes: demo-cpu/lora," in capsys.readouterr().err


# ------------------------------------------------------------------------ the wheel
@pytest.mark.slow
def test_the_wheel_installed_elsewhere_builds_a_corpus_copies_a_recipe_and_trains_a_step(tmp_path):
    """pip's view: build the wheel, install it into a fresh venv (heavy dependencies reused from this
    environment through a .pth line, soulchat itself only from the wheel), and work outside the tree."""
    import os
    import shutil
    import site
    import sysconfig
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    shutil.copytree(root, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "soulchat-demo", "outputs"))
    run = lambda *argv, **kw: subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False, **kw)  # noqa: E731
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w",
                tmp_path / "dist", source)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("soulchat-*.whl")
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"soulchat/recipes/demo-cpu/lora.yaml", "soulchat/recipes/accelerate_configs/zero3.yaml",
            "soulchat/recipes/deepspeed/zero2.json", "soulchat/recipes/train.py", "soulchat/recipes/README.md",
            "soulchat/model_cards/dataset_card.md", "soulchat/data/sample/dialogues.jsonl"} <= names

    env = tmp_path / "env"
    assert run(sys.executable, "-m", "venv", "--without-pip", env).returncode == 0
    python = env / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    reused = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]} if Path(p).is_dir()]
    (purelib / "_reuse_heavy_dependencies.pth").write_text("\n".join(reused) + "\n")
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)
    assert installed.returncode == 0, installed.stderr[-3000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    clean_env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", PATH=f"{env / 'bin'}:{os.environ['PATH']}")
    here = lambda *argv: run(*argv, cwd=work, env=clean_env)  # noqa: E731
    where = here(python, "-c", "import soulchat, soulchat.demo.pipeline as d; print(soulchat.__file__); print(d.default_recipe())")
    assert where.returncode == 0, where.stderr
    package, recipe = where.stdout.split()
    assert package.startswith(str(purelib)) and recipe == str(purelib / "soulchat/recipes/demo-cpu/lora.yaml")

    sample = here(python, "-c", "from soulchat.data import SAMPLE_DIALOGUES; print(SAMPLE_DIALOGUES)").stdout.strip()
    corpus = here(env / "bin/soulchat", "build", sample, "--output", "corpus", "--no-plots", "--test-size", "0.1",
                  "--validation-size", "0")
    assert corpus.returncode == 0, corpus.stderr[-3000:]
    copied = here(env / "bin/soulchat", "recipes", "copy", "tiny-cpu", "recipes")
    assert copied.returncode == 0 and copied.stdout.split("--config ")[-1].strip() == "recipes/tiny-cpu/lora.yaml"
    trained = here(python, "-m", "accelerate.commands.launch", "--config_file", "recipes/accelerate_configs/single.yaml",
                   "recipes/train.py", "--config", "recipes/tiny-cpu/lora.yaml", "--dataset", "corpus",
                   "--max_steps", "1", "--eval_size", "0", "--eval_strategy", "no", "--save_strategy", "no",
                   "--output_dir", "run")
    assert trained.returncode == 0, trained.stderr[-3000:]
    summary = json.loads((work / "run" / "train_summary.json").read_text())
    assert summary["global_step"] == 1 and summary["train_rows"] == 365


def test_every_domain_exception_is_a_soulchat_error_and_keeps_its_builtin_base():
    from soulchat import SoulChatError
    from soulchat.chat import ChatBackendError
    from soulchat.commands._common import UsageError
    from soulchat.corpus.figures import MissingFontError
    from soulchat.demo.pipeline import StepFailed
    from soulchat.dialogue import DialogueFormatError
    from soulchat.endpoint import EmptyAnswer, RequestFailed
    from soulchat.evaluation.cehs.human import KitError
    from soulchat.evaluation.cehs.judge import JudgmentError
    from soulchat.evaluation.generation import GenerationIncomplete
    from soulchat.hub.upload import MissingBase, PushError
    from soulchat.io import InputError
    from soulchat.templates import TemplateError
    from soulchat.train.arguments import RecipeError

    builtin = {ChatBackendError: RuntimeError, UsageError: ValueError, MissingFontError: RuntimeError,
               StepFailed: RuntimeError, DialogueFormatError: ValueError, EmptyAnswer: ValueError,
               RequestFailed: RuntimeError, KitError: ValueError, JudgmentError: ValueError,
               GenerationIncomplete: RuntimeError, MissingBase: ValueError, PushError: RuntimeError,
               InputError: ValueError, TemplateError: ValueError, RecipeError: ValueError}
    for cls, base in builtin.items():
        assert issubclass(cls, SoulChatError) and issubclass(cls, base), cls
