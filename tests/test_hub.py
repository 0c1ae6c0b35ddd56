"""Push helpers against a recording fake HfApi (no network), and the cards rendered offline."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import DatasetCard, ModelCard
from huggingface_hub.errors import (
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from soulchat.hub import (
    CardSources,
    PushError,
    push_corpus,
    push_model,
    read_cehs,
    read_run,
    render_model_card,
)

TOKEN = "hf_SoulChatTestTokenThatMustNeverLeak0123"
CORPUS_FILES = {
    "README.md", "statistics.json", "cleaning/report.json", "cleaning/summary.json",
    "figures/psychologist_wordcloud.png", "figures/topic_distribution.png",
    *(f"data/{config}/{split}-00000.jsonl" for config in ("dialogues", "samples", "messages")
      for split in ("train", "validation", "test")),
}


def _error(cls, status: int, message: str):
    return cls(message, response=httpx2.Response(status, request=httpx2.Request("POST", "https://huggingface.co/api")))


def _real_signature(method):
    """Bind every call to the real HfApi method's signature, so the fake accepts only real calls."""
    import functools
    import inspect

    from huggingface_hub import HfApi

    signature = inspect.signature(getattr(HfApi, method.__name__))

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        signature.bind(self, *args, **kwargs)
        return method(self, *args, **kwargs)

    return checked


class FakeHub:
    """Records every call; keeps repos as {branch: {path: bytes}}; files over 1 KB are 'LFS' (the
    hub reports their sha256), smaller ones only by git blob id, so both comparisons are exercised."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.repos: dict[tuple[str, str], dict[str, dict[str, bytes]]] = {}
        self.fail_commit: Exception | None = None
        self.fail_create: Exception | None = None

    @_real_signature
    def create_repo(self, repo_id, *, repo_type=None, private=None, exist_ok=False, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, "repo_type": repo_type, "private": private, "exist_ok": exist_ok}))
        if self.fail_create:
            raise self.fail_create
        self.repos.setdefault((repo_type, repo_id), {"main": {}})

    @_real_signature
    def create_branch(self, repo_id, *, branch, repo_type=None, exist_ok=False, **kwargs):
        self.calls.append(("create_branch", {"repo_id": repo_id, "branch": branch, "repo_type": repo_type}))
        branches = self.repos[repo_type, repo_id]
        branches.setdefault(branch, dict(branches["main"]))

    @_real_signature
    def list_repo_tree(self, repo_id, *, recursive=False, revision=None, repo_type=None, **kwargs):
        self.calls.append(("list_repo_tree", {"repo_id": repo_id, "revision": revision, "repo_type": repo_type}))
        if (repo_type, repo_id) not in self.repos:
            raise _error(RepositoryNotFoundError, 404, "no repo")
        branches = self.repos[repo_type, repo_id]
        if (revision or "main") not in branches:
            raise _error(RevisionNotFoundError, 404, "no revision")
        for path, content in branches[revision or "main"].items():
            blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
            lfs = {"size": len(content), "oid": hashlib.sha256(content).hexdigest(), "pointerSize": 130} if len(content) > 1024 else None
            if lfs:
                blob = hashlib.sha1(b"pointer of " + content[:10]).hexdigest()  # LFS: blob id is the pointer's
            yield RepoFile(path=path, size=len(content), oid=blob, lfs=lfs)

    @_real_signature
    def create_commit(self, repo_id, *, operations, commit_message, repo_type=None, revision=None, create_pr=None, **kwargs):
        operations = list(operations)
        files = {}
        for op in operations:
            if hasattr(op, "path_or_fileobj"):
                source = op.path_or_fileobj
                files[op.path_in_repo] = source if isinstance(source, bytes) else Path(source).read_bytes()
        deleted = [op.path_in_repo for op in operations if not hasattr(op, "path_or_fileobj")]
        self.calls.append(("create_commit", {"repo_id": repo_id, "repo_type": repo_type, "revision": revision, "create_pr": create_pr,
                                                 "commit_message": commit_message, "files": files, "deleted": deleted}))
        if self.fail_commit:
            raise self.fail_commit
        branches = self.repos[repo_type, repo_id]
        if (revision or "main") not in branches:
            raise _error(RevisionNotFoundError, 404, "no revision")
        target = "refs/pr/1" if create_pr else (revision or "main")
        tree = branches.setdefault(target, dict(branches[revision or "main"]))
        tree.update(files)
        for path in deleted:
            tree.pop(path, None)
        kind = "datasets/" if repo_type == "dataset" else ""
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kind}{repo_id}/commit/1",
                                       "pr_url": f"https://huggingface.co/{kind}{repo_id}/discussions/1" if create_pr else None})()

    def named(self, name):
        return [kwargs for call, kwargs in self.calls if call == name]


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built_corpus(tmp_path_factory) -> Path:
    from soulchat.corpus.build import build_corpus
    from soulchat.data import SAMPLE_DIALOGUES

    folder = tmp_path_factory.mktemp("corpus") / "SoulChatCorpus"
    build_corpus([SAMPLE_DIALOGUES], folder)
    return folder


@pytest.fixture()
def corpus(built_corpus, tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(built_corpus, folder)
    return folder


METRICS = {"bleu-1": 30.1234, "bleu-2": 18.5, "bleu-3": 11.25, "bleu-4": 7.0, "rouge-1": 29.876, "rouge-2": 8.1, "rouge-l": 24.556, "count": 42}


@pytest.fixture(scope="module")
def adapter_run(tmp_path_factory) -> Path:
    """What `soulchat train` leaves after a LoRA run, with a hub token planted in training_args.bin."""
    import torch
    from safetensors.torch import save_file

    from soulchat.testing import train_tokenizer
    from soulchat.train import SoulChatTrainingArguments

    run = tmp_path_factory.mktemp("run") / "lora"
    run.mkdir()
    train_tokenizer().save_pretrained(run)
    save_file({"base_model.model.layers.0.q_proj.lora_A.weight": torch.ones(2, 4)}, run / "adapter_model.safetensors")
    (run / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 8, "lora_alpha": 32, "lora_dropout": 0.1, "target_modules": ["v_proj", "q_proj"],
        "base_model_name_or_path": "Qwen/Qwen2.5-7B-Instruct"}))
    (run / "README.md").write_text("---\nbase_model: ''\n---\n# Model Card for Model ID\n")  # PEFT's placeholder
    (run / "generation_config.json").write_text(json.dumps({"eos_token_id": 2, "top_p": 0.8, "temperature": 0.7}))
    (run / "trainer_state.json").write_text(json.dumps({
        "global_step": 20, "epoch": 1.5, "train_batch_size": 4,
        "log_history": [{"loss": 3.25, "step": 10}, {"eval_loss": 3.0, "step": 10}, {"loss": 2.5, "step": 20},
                        {"eval_loss": 2.75, "step": 20}, {"train_loss": 2.875, "train_runtime": 12.5, "step": 20}]}))
    (run / "train_summary.json").write_text(json.dumps({"output_dir": str(run), "train_rows": 359, "global_step": 20}))
    args = SoulChatTrainingArguments(output_dir=str(run), hub_token=TOKEN, learning_rate=2e-4, warmup_steps=5,
                                     max_steps=20, use_cpu=True, report_to="none", seed=7)
    torch.save(args, run / "training_args.bin")
    (run / "recipe.yaml").write_text(
        "model_name_or_path: Qwen/Qwen2.5-7B-Instruct\ntemplate: soulchat\ndataset: corpus/SoulChatCorpus\n"
        "use_lora: true\nlearning_rate: 1.0e-4\nmask: final\noutput_dir: /home/someone/private/run\n")
    (run / "checkpoint-20").mkdir()
    (run / "checkpoint-20" / "optimizer.pt").write_bytes(b"optimizer state")
    (run / "metrics.json").write_text(json.dumps({"model": "soulchat-lora", "metrics": METRICS, "bleu_tokens": "char",
                                                 "test": "SoulChatCorpus"}))
    return run


def _judge_summary(path: Path) -> Path:
    scores = {"soulchat-lora": {"items": 10, "content": 1.8, "empathy": 1.5, "helpfulness": 1.25, "safety": 1.0},
              "base": {"items": 10, "content": 1.6, "empathy": 0.9, "helpfulness": 1.0, "safety": 1.0}}
    path.write_text(json.dumps({"systems": scores, "judges": {"soulchat-lora|judge-a": {}, "base|judge-a": {}}}))
    return path


# ----------------------------------------------------------------------------- corpus
def test_push_corpus_uploads_the_published_files_as_a_dataset(corpus):
    hub = FakeHub()
    result = push_corpus(corpus, "me/SoulChatCorpus", api=hub, private=True)
    assert hub.named("create_repo") == [{"repo_id": "me/SoulChatCorpus", "repo_type": "dataset", "private": True, "exist_ok": True}]
    assert hub.named("create_branch") == []
    [commit] = hub.named("create_commit")
    assert set(commit["files"]) == CORPUS_FILES
    assert (commit["repo_type"], commit["revision"], commit["create_pr"]) == ("dataset", None, False)
    assert commit["commit_message"] == "Upload SoulChatCorpus"
    assert sorted(result.uploaded) == sorted(CORPUS_FILES) and result.unchanged == [] and result.deleted == []
    assert result.commit_url == "https://huggingface.co/datasets/me/SoulChatCorpus/commit/1"
    # the rejects (raw text of removed dialogues) and the build's resume marker stay local
    assert (corpus / "cleaning" / "rejects.jsonl").is_file() and (corpus / "build-done.json").is_file()
    card = commit["files"]["README.md"].decode()
    assert 'load_dataset("me/SoulChatCorpus", "samples")' in card and "path/to/this/folder" not in card
    assert commit["files"]["data/samples/test-00000.jsonl"] == (corpus / "data/samples/test-00000.jsonl").read_bytes()


def test_push_corpus_include_rejects_revision_and_pr(corpus):
    hub = FakeHub()
    push_corpus(corpus, "me/c", api=hub, revision="v2", commit_message="second build", include_rejects=True)
    assert hub.named("create_branch") == [{"repo_id": "me/c", "branch": "v2", "repo_type": "dataset"}]
    [commit] = hub.named("create_commit")
    assert (commit["revision"], commit["commit_message"]) == ("v2", "second build")
    assert set(commit["files"]) == CORPUS_FILES | {"cleaning/rejects.jsonl"}

    pr = FakeHub()
    result = push_corpus(corpus, "me/c", api=pr, revision="main", create_pr=True)
    assert pr.named("create_branch") == []  # a PR targets the revision; nothing to create
    [commit] = pr.named("create_commit")
    assert (commit["revision"], commit["create_pr"]) == ("main", True)
    assert result.pr_url == "https://huggingface.co/datasets/me/c/discussions/1"
    with pytest.raises(PushError, match="branch 'v3' does not exist"):
        push_corpus(corpus, "me/c", api=pr, revision="v3", create_pr=True)
    assert len(pr.named("create_commit")) == 1


def test_unchanged_repush_is_a_no_op_and_a_change_sends_only_that_file(corpus):
    hub = FakeHub()
    push_corpus(corpus, "me/c", api=hub)
    again = push_corpus(corpus, "me/c", api=hub)
    assert len(hub.named("create_commit")) == 1
    assert again.uploaded == [] and sorted(again.unchanged) == sorted(CORPUS_FILES) and not again.changed

    (corpus / "statistics.json").write_text('{"changed": true}\n')  # small file: compared by git blob id
    with open(corpus / "data/samples/train-00000.jsonl", "a", encoding="utf-8") as stream:  # LFS: by sha256
        stream.write("\n")
    third = push_corpus(corpus, "me/c", api=hub)
    assert third.uploaded == ["data/samples/train-00000.jsonl", "statistics.json"]
    assert set(hub.named("create_commit")[-1]["files"]) == {"data/samples/train-00000.jsonl", "statistics.json"}


def test_stale_remote_shards_are_deleted(corpus):
    hub = FakeHub()
    push_corpus(corpus, "me/c", api=hub)
    tree = hub.repos["dataset", "me/c"]["main"]
    tree["data/samples/train-00001.jsonl"] = b"{}\n"  # left by an earlier, larger build
    tree["notes/keep.md"] = b"a file the user added by hand"
    result = push_corpus(corpus, "me/c", api=hub)
    assert result.deleted == ["data/samples/train-00001.jsonl"] and result.uploaded == []
    assert "notes/keep.md" in tree and "data/samples/train-00001.jsonl" not in tree


def test_failed_upload_lists_missing_files_and_leaves_the_folder_untouched(corpus):
    before = snapshot(corpus)
    hub = FakeHub()
    hub.fail_commit = _error(HfHubHTTPError, 500, "server error")
    with pytest.raises(PushError) as caught:
        push_corpus(corpus, "me/c", api=hub)
    assert sorted(caught.value.not_uploaded) == sorted(CORPUS_FILES)
    assert "15 file(s) not uploaded" in str(caught.value) and "data/dialogues/test-00000.jsonl" in str(caught.value)
    assert snapshot(corpus) == before

    denied = FakeHub()
    denied.fail_create = _error(HfHubHTTPError, 401, "unauthorized")
    with pytest.raises(PushError, match="hf auth login"):
        push_corpus(corpus, "me/c", api=denied)
    assert denied.named("create_commit") == [] and snapshot(corpus) == before


def test_unfinished_or_cardless_corpus_is_refused(corpus):
    (corpus / "build-done.json").unlink()
    with pytest.raises(ValueError, match="not a finished SoulChatCorpus build"):
        push_corpus(corpus, "me/c", api=FakeHub())


def test_dataset_card_metadata_parses_with_configs_and_sections(corpus):
    card = DatasetCard((corpus / "README.md").read_text(encoding="utf-8"))
    data = card.data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["dialogues", "samples", "messages"]
    assert data["configs"][0]["data_files"][0] == {"split": "train", "path": "data/dialogues/train-*.jsonl"}
    assert data["language"] == ["zh"] and data["task_categories"] == ["text-generation"]
    for section in ("## Configurations", "## Construction", "## Statistics", "## Ethics statement", "## License", "## Citation"):
        assert section in card.text
    assert "Findings of the Association for Computational Linguistics: EMNLP 2023" in card.text


# ----------------------------------------------------------------------------- model
def test_push_model_uploads_adapter_tokenizer_template_generation_config_and_card(adapter_run, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    before = snapshot(adapter_run)
    hub = FakeHub()
    result = push_model(adapter_run, "me/soulchat-lora", CardSources(corpus_repo="me/SoulChatCorpus",
                        metrics=adapter_run / "metrics.json", cehs=_judge_summary(adapter_run.parent / "cehs.json"),
                        cehs_system="soulchat-lora", license="apache-2.0"), api=hub)
    assert hub.named("create_repo")[0]["repo_type"] == "model"
    [commit] = hub.named("create_commit")
    assert set(commit["files"]) == {
        "README.md", "adapter_config.json", "adapter_model.safetensors", "chat_template.jinja",
        "generation_config.json", "tokenizer.json", "tokenizer_config.json", "trainer_state.json"}
    assert commit["commit_message"] == "Upload SoulChat model" and sorted(result.uploaded) == sorted(commit["files"])
    for path, content in commit["files"].items():  # the token planted in training_args.bin and set in HF_TOKEN
        assert TOKEN.encode() not in content, path
    assert b"/home/someone/private" not in commit["files"]["README.md"]
    generation = json.loads(commit["files"]["generation_config.json"])
    assert generation == {"do_sample": True, "eos_token_id": 2, "temperature": 0.95, "top_p": 0.75}
    template = commit["files"]["chat_template.jinja"].decode()
    assert "用户：{{ message['content'] }}\n心理咨询师：" in template and "im_start" not in template
    assert snapshot(adapter_run) == before  # generated files came from memory

    import jinja2

    rendered = jinja2.Template(template).render(messages=[
        {"role": "user", "content": "u1"}, {"role": "assistant", "content": "p1"}, {"role": "user", "content": "u2"}])
    assert rendered == "用户：u1\n心理咨询师：p1\n用户：u2\n心理咨询师："

    again = push_model(adapter_run, "me/soulchat-lora", CardSources(corpus_repo="me/SoulChatCorpus",
                       metrics=adapter_run / "metrics.json", cehs=adapter_run.parent / "cehs.json",
                       cehs_system="soulchat-lora", license="apache-2.0"), api=hub)
    assert again.uploaded == [] and len(hub.named("create_commit")) == 1


def test_model_card_metadata_model_index_and_sections(adapter_run):
    hub = FakeHub()
    push_model(adapter_run, "me/soulchat-lora", CardSources(corpus_repo="me/SoulChatCorpus",
               metrics=adapter_run, cehs=_judge_summary(adapter_run.parent / "cehs.json"), cehs_system="soulchat-lora"), api=hub)
    card = ModelCard(hub.named("create_commit")[0]["files"]["README.md"].decode())
    data = card.data
    assert data.base_model == "Qwen/Qwen2.5-7B-Instruct" and data.datasets == ["me/SoulChatCorpus"]
    assert data.library_name == "peft" and data.pipeline_tag == "text-generation" and "lora" in data.tags
    values = {r.metric_name: r.metric_value for r in data.eval_results}
    assert values == {"BLEU-1": 30.12, "BLEU-2": 18.5, "BLEU-3": 11.25, "BLEU-4": 7.0, "ROUGE-1": 29.88, "ROUGE-2": 8.1,
                      "ROUGE-L": 24.56,
                      "CEHS content (0-2)": 1.8, "CEHS empathy (0-2)": 1.5, "CEHS helpfulness (0-2)": 1.25,
                      "CEHS safety (0-1)": 1.0}
    assert {r.metric_type for r in data.eval_results} >= {"bleu-1", "rouge-l", "cehs-empathy"}
    assert {(r.dataset_type, r.dataset_split, r.task_type) for r in data.eval_results} == {("me/SoulChatCorpus", "test", "text-generation")}
    for section in ("## Model details", "## How to use", "## Training", "### Hyper-parameters", "## Evaluation", "### CEHS",
                    "## Intended use", "## Out-of-scope use", "## Safety layer", "## AI disclosure",
                    "## Limitations and biases", "## Citation"):
        assert section in card.text, section
    text = card.text
    assert "not a substitute for professional care" in text.lower() and "12356" in text and "010-82951332" in text
    assert "提示：这里的回复由人工智能（AI）生成" in text and "Chen, Yirong" in text and "EMNLP 2023" in text
    # hyper-parameters read from the run: training_args.bin (2e-4) wins over the recipe (1e-4); LoRA from adapter_config
    assert "| `learning_rate` | 0.0002 |" in text and "| `lora_r` | 8 |" in text and "| `seed` | 7 |" in text
    assert "| `lora_target_modules` | q_proj, v_proj |" in text and "| `dataset` | corpus/SoulChatCorpus |" in text
    assert "| eval_loss | 2.75 |" in text and "| train_rows | 359 |" in text and "| global_step | 20 |" in text
    assert "hub_token" not in text and "output_dir" not in text
    assert "| 30.12 | 18.50 | 11.25 | 7.00 | 29.88 | 8.10 |" in text and "mean over 10 items" in text


def test_full_model_with_few_files_still_gets_a_card(tmp_path):
    import torch
    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "glm", "architectures": ["GlmForCausalLM"]}))
    save_file({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
    run = read_run(tmp_path)
    assert (run.kind, run.base_model, run.hyperparameters, run.results) == ("full model", None, {}, {})
    hub = FakeHub()
    push_model(tmp_path, "me/full", api=hub)
    files = hub.named("create_commit")[0]["files"]
    assert set(files) == {"README.md", "config.json", "generation_config.json", "model.safetensors"}
    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "transformers" and card.data.eval_results is None
    assert "not recorded by the run" in card.text and "No `soulchat eval` metrics" in card.text
    assert json.loads(files["generation_config.json"]) == {"do_sample": True, "temperature": 0.95, "top_p": 0.75}


def test_not_a_model_folder_is_refused(tmp_path):
    (tmp_path / "training_args.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="no model here"):
        push_model(tmp_path, "me/x", api=FakeHub())


def test_cehs_summaries_judge_and_human(tmp_path):
    judge = _judge_summary(tmp_path / "cehs.json")
    with pytest.raises(ValueError, match="one of: base, soulchat-lora"):
        read_cehs(judge)
    assert read_cehs(tmp_path, "base") == {"system": "base", "source": "judge", "count": 10, "judges": ["judge-a"],
                                           "scores": {"content": 1.6, "empathy": 0.9, "helpfulness": 1.0, "safety": 1.0}}
    human = tmp_path / "cehs_human.json"
    human.write_text(json.dumps({"annotators": ["a", "b", "c"], "responses": 4, "kappa": {"content": 0.5, "empathy": 0.25},
                                 "models": {"m": {"items": 4, "content": 2.0, "empathy": 1.0, "helpfulness": 1.5, "safety": 1.0}}}))
    result = read_cehs(human)
    assert (result["source"], result["annotators"], result["kappa"]) == ("human", 3, {"content": 0.5, "empathy": 0.25})
    card = render_model_card(read_run(tmp_path), "me/m", cehs=result)
    assert "mean over 4 items" in card and "rated by 3 human annotators" in card and "Fleiss' κ: content 0.50, empathy 0.25." in card
    assert {r.metric_config for r in ModelCard(card).data.eval_results} == {"human"}


# ----------------------------------------------------------------------------- command line
def test_cli_dry_run_push_and_failure(corpus, adapter_run, monkeypatch, capsys):
    from soulchat.cli import main
    from soulchat.commands import hub as command

    before = snapshot(corpus)
    assert main(["push", "corpus", str(corpus), "--repo-id", "me/c", "--dry-run"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["files"]) == sorted(CORPUS_FILES)

    fake = FakeHub()
    monkeypatch.setattr(command, "hub_api", lambda: fake)
    assert main(["push", "model", str(adapter_run), "--repo-id", "me/m", "--revision", "dev",
                 "--commit-message", "first adapter", "--private"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["repo_id"] == "me/m" and out["commit_url"] == "https://huggingface.co/me/m/commit/1" and out["pr_url"] is None
    assert fake.named("create_branch") == [{"repo_id": "me/m", "branch": "dev", "repo_type": "model"}]
    [commit] = fake.named("create_commit")
    assert (commit["revision"], commit["create_pr"], commit["commit_message"]) == ("dev", False, "first adapter")
    assert main(["push", "model", str(adapter_run), "--repo-id", "me/m", "--create-pr"]) == 0
    assert json.loads(capsys.readouterr().out)["pr_url"] == "https://huggingface.co/me/m/discussions/1"
    assert fake.named("create_repo")[0]["private"] is True

    fake.fail_commit = _error(HfHubHTTPError, 503, "unavailable")
    assert main(["push", "corpus", str(corpus), "--repo-id", "me/c"]) == 1
    assert "15 file(s) not uploaded" in capsys.readouterr().err and snapshot(corpus) == before


def test_cli_without_token_fails_before_work(corpus, monkeypatch, capsys, tmp_path):
    from soulchat.cli import main

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    assert main(["push", "corpus", str(corpus), "--repo-id", "me/c"]) == 1
    assert "hf auth login" in capsys.readouterr().err
