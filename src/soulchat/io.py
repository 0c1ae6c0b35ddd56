"""Streaming readers that name the file and line of every bad record.

Corpora are large (the paper's is ~1 GB of JSON), so records are read one line at a time; a bad
line raises `InputError` with its location, or, when the caller asked to skip, is handed to a
rejects writer with its reason and the run goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .dialogue import Dialogue, DialogueFormatError
from .errors import SoulChatError


class InputError(SoulChatError, ValueError):
    """A record that cannot be read; says where it is and what was expected."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Reject:
    path: str
    line: int | None
    reason: str
    raw: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "reason": self.reason, "raw": self.raw}


def reject_record(error: Exception, path: str | Path, number: int, record: Any,
                  on_reject: Callable[[Reject], None] | None) -> None:
    """A bad record of `path`: raise it as InputError (file and line), or hand it to `on_reject` with
    its raw text (empty for a line that was not JSON) so that reading goes on."""
    located = error if isinstance(error, InputError) else InputError(path, number, str(error))
    if on_reject is None:
        raise located from None
    raw = "" if isinstance(record, InputError) else json.dumps(record, ensure_ascii=False)
    on_reject(Reject(located.path, located.line, located.reason, raw))


def iter_records(path: str | Path, *, skip_torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or InputError) for each non-blank line: bad lines do not stop
    the reading, the caller decides. A `.json` file holding one JSON array is read too (parsed
    whole, so for small files only; its "line" numbers are 1-based item positions); a `.jsonl`
    file is always JSON lines, even when each line is a list.

    `skip_torn_tail`: an unreadable last line without its newline is what a killed writer of an
    append-only log leaves behind, not bad data: it is skipped instead of reported."""
    path = require_file(path)
    with path.open("rb") as stream:
        head = stream.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        stream.seek(0)
        if head.startswith(b"[") and path.suffix.lower() != ".jsonl":
            yield from _iter_json_array(path, stream.read())
            return
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                if skip_torn_tail and not raw.endswith(b"\n"):  # only the last line lacks one
                    return
                yield number, _line_error(path, number, error, raw)


def _line_error(path: Path, number: int | None, error: Exception, raw: bytes = b"") -> InputError:
    if isinstance(error, UnicodeDecodeError):
        return InputError(path, number, not_utf8(error, raw))
    if isinstance(error, RecursionError):
        return InputError(path, number, "JSON nested too deeply to read (more than about 900 levels)")
    if isinstance(error, json.JSONDecodeError):
        return InputError(
            path, number, f"broken JSON ({error.msg} at column {error.colno}); expected one JSON object per line"
        )
    return InputError(path, number, f"unreadable JSON ({error})")


def not_utf8(error: UnicodeDecodeError, raw: bytes = b"") -> str:
    """What to tell about text that is not UTF-8; Excel and Notepad on Chinese Windows write GBK."""
    reason = f"not valid UTF-8 ({error.reason} at byte {error.start})"
    if raw:
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            return reason
        return reason + "; it reads as GBK/GB18030: save it as UTF-8 (e.g. iconv -f GB18030 -t UTF-8)"
    return reason


def require_file(path: str | Path) -> Path:
    """`path` as a Path when it is a readable file; InputError saying what it is otherwise."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a folder; expected a file")
    if not path.exists():
        raise InputError(path, None, "no such file")
    return path


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file (a BOM is dropped); InputError names the file and what is wrong."""
    path = require_file(path)
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise InputError(path, line, not_utf8(error, raw)) from None


def read_json(path: str | Path, what: str = "a JSON file") -> Any:
    """One JSON document; broken, too deeply nested or non-UTF-8 text raises InputError(file, line)."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, error.lineno, f"broken JSON ({error.msg} at column {error.colno}); expected {what}") from None
    except (ValueError, RecursionError) as error:
        raise _line_error(Path(path), None, error) from None


def read_yaml(path: str | Path, what: str = "a YAML file") -> Any:
    """One YAML document; a syntax error raises InputError with the line the parser stopped at."""
    import yaml

    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(part) for part in (error.context, error.problem) if part)
        raise InputError(path, line, f"not valid YAML ({problem}); expected {what}") from None
    except (yaml.YAMLError, RecursionError) as error:
        raise InputError(path, None, f"not valid YAML ({type(error).__name__}); expected {what}") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object); raises InputError at the first bad line."""
    for number, record in iter_records(path):
        if isinstance(record, InputError):
            raise record
        yield number, record


def _iter_json_array(path: Path, data: bytes) -> Iterator[tuple[int, Any]]:
    try:
        items = json.loads(data.decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        yield error.lineno, InputError(
            path, error.lineno, f"broken JSON ({error.msg} at column {error.colno})"
        )
        return
    except (ValueError, RecursionError) as error:
        yield 1, _line_error(path, None, error, data)
        return
    if not isinstance(items, list):
        yield 1, InputError(path, None, "expected a JSON array or JSON lines")
        return
    yield from enumerate(items, start=1)


def read_dialogues(
    path: str | Path,
    *,
    on_reject: Callable[[Reject], None] | None = None,
    min_rounds: int | None = None,
    max_rounds: int | None = None,
    validate: bool = True,
) -> Iterator[Dialogue]:
    """Dialogues from a JSONL file of `{"id", "topic", "messages"}` records (or `{"text"}` dumps).

    Without `on_reject` the first bad record raises InputError; with it, each bad record is passed
    on with its reason and reading continues. A record without an id gets its line number.
    """
    for number, record in iter_records(path):
        try:
            if isinstance(record, InputError):
                raise record
            dialogue = dialogue_from_record(record)
            if dialogue.id is None:
                dialogue.id = number
            if validate:
                dialogue.validate(min_rounds=min_rounds, max_rounds=max_rounds)
        except (InputError, DialogueFormatError) as error:
            reject_record(error, path, number, record, on_reject)
            continue
        yield dialogue


def dialogue_from_record(record: Any) -> Dialogue:
    """A dialogue from one record: `{"id", "topic", "messages"}` (also under the keys `dialogue`
    or `conversation`), a bare list of messages (SMILE), or a `{"text"}` dump."""
    if isinstance(record, list):
        return Dialogue.from_messages(record)
    if isinstance(record, dict):
        topic = record.get("topic")
        if topic is not None and not isinstance(topic, str):
            raise DialogueFormatError(f"'topic' must be a string, got {type(topic).__name__}")
        for name in ("messages", "dialogue", "conversation"):
            if name in record:
                if not isinstance(record[name], list):
                    raise DialogueFormatError(
                        f"'{name}' must be a list, got {type(record[name]).__name__}"
                    )
                return Dialogue.from_messages(record[name], id=record.get("id"), topic=topic)
        if isinstance(record.get("text"), str):
            return Dialogue.from_text(record["text"], id=record.get("id"), topic=topic)
    raise DialogueFormatError(
        "expected an object with 'messages' (a list of {role, content}) or 'text', or a list of "
        "messages; got " + (f"keys {sorted(record)}" if isinstance(record, dict) else type(record).__name__)
    )


# ---------------------------------------------------------------------------------- model folders
_WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "*.gguf", "*.pt", "*.pth", "tf_model.h5", "flax_model.msgpack")
_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


def model_source(name: str, *, what: str = "--model", model: bool = True, tokenizer: bool = True) -> tuple[str, bool]:
    """(name, local) for a model argument, checked before transformers sees it.

    A local folder must hold a model (config.json and weights, as `save_pretrained` writes) and a
    tokenizer, else InputError says which is missing. Anything shaped like a path that does not
    exist is "no such folder", not a hub error. Only an `org/name` id that is not a local path is
    left to the Hugging Face Hub (local=False); its cache is used when it holds the model."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(path, None, f"{what}: is a file; expected a model folder (config.json, weights, tokenizer)")
        if model and not (path / "config.json").is_file():
            if (path / "adapter_config.json").is_file():
                raise InputError(path, None, f"{what}: holds a LoRA adapter, not a model; pass the base model "
                                 "and this folder as --adapter, or the merged model (OUTPUT/merged)")
            raise InputError(path, None, f"{what}: holds no model (no config.json); expected a folder "
                             "written by save_pretrained, e.g. the output of `soulchat train`")
        if model and not any(next(path.glob(pattern), None) for pattern in _WEIGHTS):
            raise InputError(path, None, f"{what}: holds no weights (no *.safetensors or pytorch_model*.bin)")
        if tokenizer and not any((path / file).is_file() for file in _TOKENIZER):
            raise InputError(path, None, f"{what}: holds no tokenizer (no tokenizer.json or tokenizer_config.json); "
                             "save the tokenizer next to the model")
        return str(path), True
    parts = name.split("/")
    hub_id = (len(parts) == 2 and all(parts) and not name.startswith((".", "~"))
              and all(part.replace("-", "").replace("_", "").replace(".", "").isalnum() for part in parts))
    if not hub_id:
        raise InputError(path, None, f"{what}: no such folder (expected a local model folder, or a Hugging Face "
                         "model id such as Qwen/Qwen2.5-7B-Instruct)")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json" if model else "tokenizer_config.json")
    if isinstance(cached, str):
        return name, True  # in the cache: no network call at all
    unreachable = _hub_unreachable()
    if unreachable:  # fail in seconds, not after the hub client's retries (~50 s offline)
        raise InputError(path, None, f"{what}: no such local folder, not in the Hugging Face cache, and the hub "
                         f"cannot be reached ({unreachable}); download it where there is network "
                         f"(hf download {name}) or pass a local folder")
    return name, False


def _hub_unreachable(timeout: float = 5.0) -> str | None:
    """Why the Hugging Face Hub cannot be reached from here, or None when a connection opens."""
    import os
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
    except OSError as error:
        return f"{url.hostname}: {error.strerror or error}"
    return None
