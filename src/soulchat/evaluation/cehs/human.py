"""CEHS human-annotation kit: blind export to CSV/XLSX, import, validation, means and Fleiss' κ.

Blindness: each (item, model) response gets a code like R0007; sheets show only the code, the
dialogue context and the response, in an order shuffled with a seed. The key (code -> model, item)
is written apart from the sheets (by default next to the folder, not inside it) so the folder can
be sent to annotators as is.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from io import StringIO
from pathlib import Path

from ...errors import SoulChatError
from .agreement import fleiss_kappa, rating_table
from .rubric import BY_KEY, DIMENSIONS, KEYS, rubric_text

COLUMNS = ("code", "context", "response", *KEYS, "note")
SHEET = "ratings"


class KitError(SoulChatError, ValueError):
    """Problems found in annotator sheets; `problems` lists each as 'file[:sheet] row N: reason'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def default_key_path(output: Path) -> Path:
    output = Path(output)
    return output.parent / f"{output.name}.key.json"


def display_context(record: Mapping) -> str:
    """The conversation an annotator sees: the SoulChat input without the open psychologist cue."""
    text = record.get("input")
    if text is None and "messages" in record:
        text = "\n".join(
            ("用户：" if m["role"] == "user" else "心理咨询师：") + m["content"] for m in record["messages"][:-1]
        )
    text = str(text or "")
    for cue in ("\n心理咨询师：", "心理咨询师："):
        if text.endswith(cue):
            return text[: -len(cue)]
    return text


def export_kit(
    runs: Mapping[str, Sequence[Mapping]],
    output: Path,
    *,
    items: int = 100,
    annotators: int = 3,
    seed: int = 0,
    key_path: Path | None = None,
) -> dict:
    """Write `annotator_{k}.csv` and `.xlsx` (k = 1..annotators), `rubric.txt`, and the key.

    `runs` maps a model name to its prediction records ({id, input, prediction, ...}); items are
    sampled among ids every model answered. Returns the key."""
    if annotators < 2:
        raise ValueError("Fleiss' kappa needs at least 2 annotators (the paper used 3)")
    by_model = {model: {str(r["id"]): r for r in records} for model, records in runs.items()}
    common = set.intersection(*(set(v) for v in by_model.values())) if by_model else set()
    if not common:
        raise ValueError("the runs share no item ids")
    rng = random.Random(seed)
    chosen = rng.sample(sorted(common), min(items, len(common)))
    rows = [(item, model) for item in chosen for model in sorted(by_model)]
    rng.shuffle(rows)
    key = {"seed": seed, "annotators": annotators, "items": {}}
    sheet_rows = []
    for index, (item, model) in enumerate(rows, start=1):
        code = f"R{index:04d}"
        record = by_model[model][item]
        key["items"][code] = {"model": model, "id": item}
        sheet_rows.append([code, display_context(record), str(record.get("prediction", "")), *[""] * len(KEYS), ""])

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "rubric.txt").write_text(rubric_text("zh") + "\n", encoding="utf-8")
    for k in range(1, annotators + 1):
        _write_csv(output / f"annotator_{k}.csv", sheet_rows)
        _write_xlsx(output / f"annotator_{k}.xlsx", sheet_rows)
    key_path = Path(key_path) if key_path else default_key_path(output)
    key_path.write_text(json.dumps(key, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return key


def _write_csv(path: Path, rows: list[list]) -> None:
    # utf-8-sig so that Excel opens the Chinese text correctly
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def _write_xlsx(path: Path, rows: list[list]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(row)
    for column, width in zip("ABCDEFGH", (8, 60, 60, 10, 10, 12, 8, 30)):
        sheet.column_dimensions[column].width = width
    for cells in sheet.iter_rows(min_row=2, max_col=3):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    last = len(rows) + 1
    for offset, key in enumerate(KEYS):
        column = "DEFG"[offset]
        d = BY_KEY[key]
        check = DataValidation(type="whole", operator="between", formula1=str(d.low), formula2=str(d.high))
        check.error = f"{d.name}: an integer {d.low}-{d.high}"
        sheet.add_data_validation(check)
        check.add(f"{column}2:{column}{last}")
    sheet.freeze_panes = "B2"
    guide = book.create_sheet("rubric")
    for line in rubric_text("zh").splitlines():
        guide.append([line])
    guide.column_dimensions["A"].width = 120
    book.save(path)


# ----------------------------------------------------------------------------- import
def _read_rows(path: Path) -> tuple[str, list[tuple[int, dict]]]:
    """(label for messages, [(row number as the annotator sees it, {column: value})])."""
    if not path.is_file():
        raise KitError([f"{path}: " + ("is a folder; expected a .csv or .xlsx sheet" if path.is_dir() else "no such file")])
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
            sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
            label = f"{path.name}:{sheet.title}"
            values = list(sheet.iter_rows(values_only=True))
            book.close()
        except Exception as error:  # noqa: BLE001 - zip, XML and openpyxl errors alike: the file is not a workbook
            raise KitError([f"{path}: not a readable .xlsx workbook ({type(error).__name__}: {error}); "
                            "open it in Excel and save it again, or send the .csv"]) from None
    elif path.suffix.lower() == ".csv":
        label = path.name
        values = list(csv.reader(StringIO(_csv_text(path), newline="")))
    else:
        raise KitError([f"{path}: not a .csv or .xlsx sheet"])
    if not values:
        raise KitError([f"{label}: empty sheet"])
    header = [str(h).strip().lower() if h is not None else "" for h in values[0]]
    missing = [c for c in ("code", *KEYS) if c not in header]
    if missing:
        raise KitError([f"{label} row 1: missing column(s) {', '.join(missing)}"])
    rows = []
    for number, row in enumerate(values[1:], start=2):
        cells = dict(zip(header, row))
        if all(v in (None, "") for v in cells.values()):
            continue  # trailing blank rows
        rows.append((number, cells))
    return label, rows


def _csv_text(path: Path) -> str:
    """A sheet's text: UTF-8 (what export writes, with a BOM), or GBK/GB18030 (what Excel on a
    Chinese Windows writes when an annotator saves as plain CSV)."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise KitError([f"{path.name}: neither UTF-8 nor GBK text; save it again as 'CSV UTF-8'"])


def read_key(path: Path) -> dict:
    """The unblinding key written by `export_kit`; InputError names the file when it is not one."""
    from ...io import InputError, read_json

    key = read_json(path, "the key written by `soulchat cehs export`")
    items = key.get("items") if isinstance(key, dict) else None
    if not isinstance(items, dict) or not items:
        raise InputError(path, None, "not a key written by `soulchat cehs export` (no 'items' mapping codes to models)")
    for code, item in items.items():
        if not isinstance(item, dict) or not isinstance(item.get("model"), str) or "id" not in item:
            raise InputError(path, None, f"items.{code} must be {{\"model\": str, \"id\": ...}}")
    return key


def _score(value, key: str) -> int:
    d = BY_KEY[key]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{key} is empty")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise ValueError(f"{key} is {text!r}, not an integer {d.low}-{d.high}")
        value = int(text)
    from .rubric import check_score

    return check_score(key, value)


def import_sheets(paths: Iterable[Path], key: Mapping) -> dict[str, dict[str, dict[str, int]]]:
    """{annotator (file stem): {code: {dimension: score}}}; KitError lists every problem."""
    codes = set(key["items"])
    ratings: dict[str, dict[str, dict[str, int]]] = {}
    problems: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            label, rows = _read_rows(path)
        except KitError as error:
            problems += error.problems
            continue
        sheet: dict[str, dict[str, int]] = {}
        for number, cells in rows:
            code = str(cells.get("code") or "").strip()
            if code not in codes:
                problems.append(f"{label} row {number}: unknown code {code!r}")
                continue
            if code in sheet:
                problems.append(f"{label} row {number}: {code} rated twice")
                continue
            scores = {}
            for k in KEYS:
                try:
                    scores[k] = _score(cells.get(k), k)
                except ValueError as error:
                    problems.append(f"{label} row {number} ({code}): {error}")
            if len(scores) == len(KEYS):
                sheet[code] = scores
        absent = sorted(codes - sheet.keys() - {str(c.get("code") or "").strip() for _, c in rows})
        if absent:
            shown = ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else "")
            problems.append(f"{label}: {len(absent)} item(s) missing: {shown}")
        if path.stem in ratings:
            problems.append(f"{label}: a sheet for annotator {path.stem!r} was already read")
        ratings[path.stem] = sheet
    if problems:
        raise KitError(problems)
    if len(ratings) < 2:
        raise KitError([f"{len(ratings)} sheet(s) read; agreement needs at least 2 annotators"])
    return ratings


def summarize(ratings: Mapping[str, Mapping[str, Mapping[str, int]]], key: Mapping) -> dict:
    """Per-model mean score per dimension (over items and annotators) and Fleiss' κ per dimension."""
    annotators = sorted(ratings)
    codes = sorted(key["items"])
    models: dict[str, dict] = {}
    for code in codes:
        model = key["items"][code]["model"]
        entry = models.setdefault(model, {"items": 0, **{k: 0.0 for k in KEYS}})
        entry["items"] += 1
        for k in KEYS:
            entry[k] += sum(ratings[a][code][k] for a in annotators) / len(annotators)
    for entry in models.values():
        for k in KEYS:
            entry[k] /= entry["items"]
    kappa = {
        d.key: fleiss_kappa(rating_table([[ratings[a][c][d.key] for a in annotators] for c in codes], d.categories))
        for d in DIMENSIONS
    }
    return {"annotators": annotators, "responses": len(codes), "models": models, "kappa": kappa}
