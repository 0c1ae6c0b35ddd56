"""`SoulChatCorpus`: the corpus as a `datasets` builder, for users of the datasets library.

    from soulchat import SoulChatCorpus

    builder = SoulChatCorpus(config_name="samples", data_files=["rewrite/", "smile.jsonl"], crisis_policy="tag")
    builder.download_and_prepare()
    corpus = builder.as_dataset()        # DatasetDict: train / validation / test, as `soulchat build` splits them

The builder runs `soulchat.corpus.build_corpus`, the one implementation `soulchat build` runs, into
`builder.corpus_dir` (a `soulchat build --output` folder: card, cleaning report, rejects; by default
under the datasets cache, shared by the three configs) and reads the chosen config's shards from
there, so both give the same splits and rows for the same inputs and settings.

Configs: `dialogues` (whole dialogues, the released shape), `samples` (one row per psychologist
turn: the paper's input/target), `messages` (one row per psychologist turn as a message list).
Settings are the fields of `CleanConfig` and `BuildConfig` (`crisis_policy`, `min_rounds`,
`test_size`, `split_salt`, …; `SoulChatCorpus.settings()` lists them with their help), passed as
keyword arguments; the cache key covers all of them, every input file's size and modification time
and the soulchat version. Inputs (`data_files`): rewrite folders or their results.jsonl, released
SoulChatCorpus JSON(L) files, SMILE lists, or folders of such files. Bad input is reported as
`soulchat build` reports it: a missing path names itself, broken lines go to the rejects with
their file and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import datasets

from .. import __version__
from ..clean import CleanConfig
from ..clean.sources import resolve_inputs
from .build import CONFIGS, BuildConfig, build_corpus, build_fingerprint
from .card import CITATION, features

logger = logging.getLogger(__name__)

ROWS_VERSION = "1.0.0"  # of the rows' layout; the cache key also carries soulchat's own version
PAPER = "https://aclanthology.org/2023.findings-emnlp.83/"
DESCRIPTIONS = {
    "dialogues": "SoulChatCorpus: multi-turn empathetic counseling dialogues in Chinese (user, psychologist), "
                 "one row per dialogue {id, topic, messages, tags}, in the released SoulChatCorpus shape.",
    "samples": "SoulChatCorpus samples: one row per psychologist turn, the paper's expansion "
               "{id, dialogue_id, turn, topic, input, target} with input 用户：…\\n心理咨询师：…\\n用户：…\\n心理咨询师：.",
    "messages": "SoulChatCorpus messages: one row per psychologist turn as a message list ending with that turn "
                "{id, dialogue_id, turn, topic, messages} (TRL, LLaMA-Factory).",
}
#: Where the builder differs from `soulchat build`'s defaults: figures are the card's, not the data's.
BUILDER_DEFAULTS = {"plots": False}
_SETTING_CLASSES = (CleanConfig, BuildConfig)


def _setting_fields():
    for cls in _SETTING_CLASSES:
        for f in dataclasses.fields(cls):
            default = BUILDER_DEFAULTS.get(f.name, f.default)
            yield f.name, f.type, dataclasses.field(default=default, metadata=f.metadata)


def _settings(self, cls):
    return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)})


SoulChatCorpusConfig = dataclasses.make_dataclass(
    "SoulChatCorpusConfig",
    list(_setting_fields()),
    bases=(datasets.BuilderConfig,),
    namespace={
        "__doc__": "A SoulChatCorpus config: its name (dialogues | samples | messages) plus every field of "
                   "soulchat's CleanConfig and BuildConfig, with their defaults (plots off).",
        "clean_config": lambda self: _settings(self, CleanConfig),
        "build_config": lambda self: _settings(self, BuildConfig),
    },
)
SoulChatCorpusConfig.__module__ = __name__
SETTINGS = tuple(name for name, _, _ in _setting_fields())


def input_files(data_files: Any) -> list[str]:
    """The files behind `data_files` (paths, folders, or {split: paths} with one split), in order;
    a missing path raises soulchat's InputError naming it."""
    if isinstance(data_files, dict):
        if len(data_files) != 1:
            raise ValueError(
                f"SoulChatCorpus: data_files has splits {sorted(data_files)}; the corpus makes its own "
                "train/validation/test splits by dialogue id, so pass one list of inputs")
        (data_files,) = data_files.values()
    paths = [data_files] if isinstance(data_files, (str, Path)) else list(data_files or [])
    if not [p for p in paths if str(p)]:
        raise ValueError(
            "SoulChatCorpus: no input files: pass data_files=[...] with rewrite folders (or their results.jsonl), "
            "SoulChatCorpus / SMILE JSON(L) files or folders of them")
    return [str(path.resolve()) for _, path in resolve_inputs(paths)]


class SoulChatCorpus(datasets.GeneratorBasedBuilder):
    """SoulChatCorpus built from rewrite logs or multi-turn files (see the module docstring)."""

    VERSION = datasets.Version(ROWS_VERSION)
    BUILDER_CONFIG_CLASS = SoulChatCorpusConfig
    BUILDER_CONFIGS = [SoulChatCorpusConfig(name=name, version=ROWS_VERSION, description=DESCRIPTIONS[name])
                       for name in CONFIGS]
    DEFAULT_CONFIG_NAME = "dialogues"

    def __init__(self, *args, data_files=None, crisis_detector=None, corpus_dir=None, **kwargs):
        """`crisis_detector`: a callable like soulchat.safety.assess (default: as CleanConfig says);
        `corpus_dir`: where the `soulchat build` folder goes (default: under the datasets cache)."""
        self.crisis_detector = crisis_detector
        self._corpus_dir = Path(corpus_dir) if corpus_dir is not None else None
        kwargs.setdefault("dataset_name", "soulchat_corpus")
        super().__init__(*args, data_files=input_files(data_files), **kwargs)

    @classmethod
    def settings(cls) -> dict[str, str]:
        """{setting: help} of every keyword a config takes besides its name."""
        return {f.name: f.metadata.get("help", "") for c in _SETTING_CLASSES for f in dataclasses.fields(c)}

    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        if config_name is not None and config_name not in self.builder_configs:
            raise ValueError(f"SoulChatCorpus has no config {config_name!r}: choose one of {', '.join(CONFIGS)}")
        unknown = sorted(set(config_kwargs) - set(SETTINGS) - {"data_files", "data_dir", "name", "version", "description"})
        if unknown:
            raise ValueError(f"SoulChatCorpus: unknown setting {', '.join(map(repr, unknown))}; the settings are "
                             f"{', '.join(SETTINGS)} (SoulChatCorpus.settings() says what each does)")
        config, _ = super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)
        config.clean_config(), config.build_config()  # their checks, on overridden values too
        return config, f"{config.name}-{self.build_key(config)[:16]}"

    def build_key(self, config=None) -> str:
        """Hash of everything that decides the rows: inputs, settings, detector, soulchat version."""
        config = config or self.config
        fingerprint = build_fingerprint(list(config.data_files["train"]), config.clean_config(), config.build_config())
        detector = self.crisis_detector
        detector_name = None if detector is None else f"{getattr(detector, '__module__', '')}.{getattr(detector, '__qualname__', repr(detector))}"
        payload = json.dumps([fingerprint, detector_name, __version__])
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def corpus_dir(self) -> Path:
        """The `soulchat build` folder behind this dataset (card, cleaning report, rejects, shards)."""
        if self._corpus_dir is None:
            self._corpus_dir = Path(self._cache_dir_root) / "soulchat_corpus_builds" / self.build_key()[:16]
        return self._corpus_dir

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description or DESCRIPTIONS.get(self.config.name, ""),
            citation=CITATION, homepage=PAPER, license=self.config.license,
            features=features()[self.config.name],
        )

    def _split_generators(self, dl_manager):
        summary = build_corpus(
            list(self.config.data_files["train"]), self.corpus_dir,
            clean_config=self.config.clean_config(), build_config=self.config.build_config(),
            crisis_detector=self.crisis_detector, say=_say,
        )
        shards = self.corpus_dir / "data" / self.config.name
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"files": sorted(shards.glob(f"{split}-*.jsonl"))})
            for split in summary["splits"][self.config.name]
        ]

    def _generate_examples(self, files):
        for path in files:
            with open(path, encoding="utf-8") as stream:
                for line in stream:
                    row = json.loads(line)
                    yield row["id"], row


def _say(message: str) -> None:
    (logger.warning if message.startswith("warning") else logger.info)(message)
