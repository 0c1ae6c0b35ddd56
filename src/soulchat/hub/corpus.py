"""Push a SoulChatCorpus folder (as `soulchat build` writes it) to a dataset repo.

What goes up: the card (README.md, whose `configs:` YAML is what `load_dataset` reads), every
shard under data/, the figures, statistics.json and the cleaning report and summary (counts only).
What stays local:

* `cleaning/rejects.jsonl`: the raw text of every dialogue a filter removed, before privacy
  scrubbing, including the crisis dialogues. Publishing it would publish exactly what the filters
  were there to keep out. `include_rejects=True` uploads it anyway, for a reviewed research release.
* `build-done.json`, `.build/`, `data.partial/`: the build's own resume markers and scratch space.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .upload import PushResult, Upload, default_api, push_files

REJECTS = "cleaning/rejects.jsonl"
PUBLISHED = ("README.md", "statistics.json", "cleaning/report.json", "cleaning/summary.json")
PUBLISHED_FOLDERS = ("data/", "figures/")
# The card's usage example names a placeholder; on the hub it should name the repo itself.
PLACEHOLDER = '"path/to/this/folder"'


def corpus_managed(path: str, include_rejects: bool = False) -> bool:
    """Whether `path` (relative, '/'-separated) is a file this push owns in the repo."""
    if path in PUBLISHED or (include_rejects and path == REJECTS):
        return True
    return path.startswith(PUBLISHED_FOLDERS)


def corpus_uploads(folder: str | Path, repo_id: str, include_rejects: bool = False) -> list[Upload]:
    """The files of a finished build, checked: a half-built folder would publish a broken dataset."""
    from ..corpus.build import DONE, is_finished_build

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    card = folder / "README.md"
    if not is_finished_build(folder):
        raise ValueError(f"{folder}: not a finished SoulChatCorpus build (no {DONE} or README.md); "
                         "run `soulchat build ... --output` to completion first")
    text = card.read_text(encoding="utf-8")
    check_dataset_card(text, folder)
    uploads = [Upload("README.md", text.replace(PLACEHOLDER, f'"{repo_id}"').encode("utf-8"))]
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != "README.md" and corpus_managed(name, include_rejects):
            uploads.append(Upload(name, path))
    return uploads


def check_dataset_card(text: str, folder: Path) -> None:
    """The card's `configs:` must exist and every data_files pattern must match a local shard."""
    from huggingface_hub import DatasetCard

    data = DatasetCard(text).data
    configs = data.to_dict().get("configs") or []
    if not configs:
        raise ValueError(f"{folder / 'README.md'}: no `configs:` in the YAML front matter; load_dataset would not find the configs")
    for config in configs:
        for entry in config.get("data_files", []):
            if not list(folder.glob(entry["path"])):
                raise ValueError(f"{folder / 'README.md'}: config {config.get('config_name')!r} split "
                                 f"{entry.get('split')!r} names {entry['path']}, which matches no file")


def push_corpus(
    folder: str | Path,
    repo_id: str,
    *,
    api=None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    include_rejects: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> PushResult:
    """Upload a built SoulChatCorpus folder as a dataset repo; unchanged files are not re-sent.

    Raises `PushError` (listing the files that were not uploaded) when the hub refuses or fails;
    the folder itself is only read.
    """
    uploads = corpus_uploads(folder, repo_id, include_rejects)
    if include_rejects:
        say(f"warning: uploading {REJECTS}: raw, unscrubbed text of the dialogues the filters removed")
    return push_files(
        api or default_api(), repo_id, uploads, repo_type="dataset",
        managed=lambda path: corpus_managed(path, include_rejects),
        private=private, revision=revision, create_pr=create_pr,
        commit_message=commit_message or "Upload SoulChatCorpus", say=say,
    )
