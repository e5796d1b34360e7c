"""Dataset files of an evaluation suite -> raw case mappings with the position of every field.

The result of every loader is a ``SourceDocument`` whose ``data`` is a list of raw cases (plain
mappings, not yet validated) and whose positions are keyed ``(index, field, ...)`` like a YAML
document's, so the suite's checks report a problem in ``tickets.jsonl`` at ``tickets.jsonl:7:15``
exactly as they report one in the suite file.  A line or row that cannot be read is a diagnostic
for that line; the others still load.

Formats (``dataset.format``, or the file's extension):

* **jsonl** -- one JSON object per line, ``{"id", "inputs", "expected", "tags", "assert",
  "description"}``, the same fields as an inline case.  Blank lines are skipped.  JSON is parsed
  strictly: duplicate keys, ``NaN`` and ``Infinity`` are errors.
* **csv** -- a header row, then one case per row.  Columns: ``id``, ``description``, ``tags``
  (separated by ``,`` or ``;`` inside the cell), ``expected`` (the whole expected value) or
  ``expected.<name>`` (one field of it), and workflow inputs, written ``<name>`` or
  ``inputs.<name>`` (the prefix is only needed for an input called ``id``, ``tags``...).  Input
  cells are converted to the input's declared type the way ``llm-orchestrator run -i`` converts
  command-line text; expected cells stay text (use JSONL for typed or structured expectations).
  An empty cell means "not given", so the input's default applies.
* **yaml** -- a YAML list of cases, positions as precise as the suite file's.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from compiler.diagnostics import Diagnostic, did_you_mean
from compiler.inputs import coerce
from compiler.source import Path, SourceDocument, load_documents

MAX_DATASET_BYTES = 64 * 1024 * 1024
RESERVED_COLUMNS = ("id", "description", "tags", "expected")
_TAG_SPLIT = re.compile(r"[,;]")


@dataclass
class LoadedDataset:
    """Raw cases of one file (``doc.data`` is a list) and the default id of each (``file:line``)."""

    doc: SourceDocument
    default_ids: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def dataset_format(file: str, declared: str | None) -> str | None:
    if declared:
        return declared
    suffix = FilePath(file).suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)


def read_dataset(path: FilePath, name: str) -> tuple[str | None, str | None]:
    """(text, problem): the file's text, or why it cannot be read."""
    try:
        if path.stat().st_size > MAX_DATASET_BYTES:
            return None, f"dataset file '{name}' is larger than {MAX_DATASET_BYTES // 2**20} MiB"
        return path.read_text(encoding="utf-8-sig"), None  # a BOM is common in CSV exported by spreadsheets
    except FileNotFoundError:
        return None, f"dataset file '{name}' does not exist"
    except IsADirectoryError:
        return None, f"dataset file '{name}' is a directory"
    except UnicodeDecodeError as exc:
        return None, f"dataset file '{name}' is not UTF-8 text ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        return None, f"cannot read dataset file '{name}': {exc.strerror or exc}"


# -- JSONL -------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key '{key}'")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 numbers are finite)")


def _key_column(line: str, key: str, start: int = 0) -> int | None:
    """1-based column of ``"key"`` followed by ``:`` in ``line`` at or after ``start`` (best effort)."""
    match = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(line, start)
    return match.start() + 1 if match else None


def load_jsonl(text: str, file: str) -> LoadedDataset:
    cases: list[Any] = []
    positions: dict[Path, tuple[int, int]] = {}
    keys: dict[Path, tuple[int, int]] = {}
    loaded = LoadedDataset(SourceDocument(cases, file, 0, 1, positions, keys))
    # Split on \n only: str.splitlines would also split inside strings holding U+2028 or \x0c.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip()) + 1
        try:
            value = json.loads(line, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            loaded.diagnostics.append(Diagnostic("E614", f"line {number} is not valid JSON: {exc.msg}", file, number,
                                                 exc.colno, "each line of a .jsonl file is one JSON object (one case)"))
            continue
        except ValueError as exc:
            loaded.diagnostics.append(Diagnostic("E614", f"line {number} is not valid JSON: {exc}", file, number, indent))
            continue
        if not isinstance(value, dict):
            loaded.diagnostics.append(Diagnostic("E614", f"line {number} holds a JSON {type(value).__name__}, not an object",
                                                 file, number, indent,
                                                 'write one case per line: {"id": ..., "inputs": {...}, "expected": ...}'))
            continue
        index = len(cases)
        cases.append(value)
        loaded.default_ids.append(f"{FilePath(file).name}:{number}")
        positions[(index,)] = (number, indent)
        for key, item in value.items():
            column = _key_column(line, key) or indent
            keys[(index, key)] = positions[(index, key)] = (number, column)
            if isinstance(item, dict):
                for sub in item:
                    sub_column = _key_column(line, sub, column) or column
                    keys[(index, key, sub)] = positions[(index, key, sub)] = (number, sub_column)
    return loaded


# -- CSV ---------------------------------------------------------------------------------------


def _cell_columns(line: str) -> list[int]:
    """1-based start column of each cell of a one-line CSV record (quotes respected)."""
    columns = [1]
    quoted = False
    i = 0
    while i < len(line):
        char = line[i]
        if char == '"':
            if quoted and line.startswith('""', i):
                i += 2
                continue
            quoted = not quoted
        elif char == "," and not quoted:
            columns.append(i + 2)
        i += 1
    return columns


def _column_role(name: str, inputs: Mapping[str, str] | None) -> tuple[str, str | None] | None:
    """(section, field) for a header: ("id", None), ("expected", "category"), ("inputs", "ticket")..."""
    if name in ("id", "description", "tags"):
        return name, None
    if name == "expected":
        return "expected", None
    if name.startswith("expected.") and len(name) > len("expected."):
        return "expected", name[len("expected."):]
    if name.startswith("inputs.") and len(name) > len("inputs."):
        return "inputs", name[len("inputs."):]
    if inputs is None or name in inputs:
        return "inputs", name
    return None


def load_csv(text: str, file: str, inputs: Mapping[str, str] | None) -> LoadedDataset:
    """``inputs``: the workflow's declared inputs and their types (None when it did not compile)."""
    cases: list[Any] = []
    positions: dict[Path, tuple[int, int]] = {}
    keys: dict[Path, tuple[int, int]] = {}
    loaded = LoadedDataset(SourceDocument(cases, file, 0, 1, positions, keys))
    # One notion of a line for the reader and the columns (files are read with universal newlines).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        loaded.diagnostics.append(Diagnostic("E614", f"the header row is not valid CSV: {exc}", file, 1, 1))
        return loaded
    if not header or not any(cell.strip() for cell in header):
        loaded.diagnostics.append(Diagnostic("E614", "the CSV file has no header row", file, 1, 1,
                                             "the first row names the columns: id, <input>..., expected.<field>..."))
        return loaded
    header_columns = _cell_columns(lines[0]) if reader.line_num == 1 else []
    roles: list[tuple[str, str | None] | None] = []
    filled_by: dict[tuple[str, str | None], int] = {}
    for i, raw_name in enumerate(header):
        name = raw_name.strip()
        column = header_columns[i] if i < len(header_columns) else 1
        role = _column_role(name, inputs) if name else None
        if not name:
            loaded.diagnostics.append(Diagnostic("E614", f"column {i + 1} has no name", file, 1, column))
        elif role is None:
            assert inputs is not None
            hint = did_you_mean(name, [*RESERVED_COLUMNS, *inputs, *(f"inputs.{n}" for n in inputs)])
            if name.startswith(("input.", "expect.")):
                prefix, _, rest = name.partition(".")
                hint = f"write '{'inputs' if prefix == 'input' else 'expected'}.{rest}'"
            known = ", ".join(inputs) or "none"
            loaded.diagnostics.append(Diagnostic(
                "E605", f"column '{name}' is neither a workflow input (the workflow takes: {known}) nor one of "
                "id, description, tags, expected, expected.<field>", file, 1, column, hint))
        elif role in filled_by:
            loaded.diagnostics.append(Diagnostic(
                "E614", f"column '{name}' fills the same field as column {filled_by[role] + 1}", file, 1, column))
            role = None
        elif role[0] == "expected" and any(r[0] == "expected" and (r[1] is None) != (role[1] is None) for r in filled_by):
            loaded.diagnostics.append(Diagnostic(
                "E614", f"column '{name}': use either one 'expected' column or 'expected.<field>' columns, not both",
                file, 1, column))
            role = None
        if role is not None:
            filled_by[role] = i
        roles.append(role)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            loaded.diagnostics.append(Diagnostic("E614", f"row at line {start} is not valid CSV: {exc}", file, start, 1))
            break
        if row is None:
            break
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            loaded.diagnostics.append(Diagnostic(
                "E614", f"row at line {start} has {len(row)} cells, the header has {len(header)}", file, start, 1,
                "quote cells that contain commas: \"like, this\""))
            continue
        columns = _cell_columns(lines[start - 1]) if reader.line_num == start and start <= len(lines) else []
        index = len(cases)
        case: dict[str, Any] = {}
        positions[(index,)] = (start, 1)
        for i, (cell, role) in enumerate(zip(row, roles, strict=True)):
            if role is None or cell == "":
                continue
            where = (start, columns[i] if i < len(columns) else 1)
            section, field_name = role
            if section == "tags":
                case["tags"] = [t.strip() for t in _TAG_SPLIT.split(cell) if t.strip()]
                path: Path = (index, "tags")
            elif field_name is None:
                case[section] = cell
                path = (index, section)
            else:
                value = coerce(cell, inputs.get(field_name, "string")) if section == "inputs" and inputs else cell
                case.setdefault(section, {})[field_name] = value
                path = (index, section, field_name)
                positions[(index, section)] = keys[(index, section)] = positions.get((index, section), where)
            positions[path] = keys[path] = where
        cases.append(case)
        loaded.default_ids.append(f"{FilePath(file).name}:{start}")
    return loaded


# -- YAML --------------------------------------------------------------------------------------


def load_yaml_cases(text: str, file: str) -> LoadedDataset:
    documents, diagnostics = load_documents(text, file)
    if not documents:
        empty = LoadedDataset(SourceDocument([], file, 0, 1), diagnostics=list(diagnostics))
        if not diagnostics:
            empty.diagnostics.append(Diagnostic("E614", "the dataset file is empty", file, 1, 1))
        return empty
    doc = documents[0]
    loaded = LoadedDataset(doc, diagnostics=list(diagnostics))
    if not isinstance(doc.data, list):
        line, column = doc.position(())
        loaded.diagnostics.append(Diagnostic("E614", "a YAML dataset is a list of cases", file, line, column,
                                             "start each case with '- id: ...'"))
        loaded.doc = SourceDocument([], file, 0, 1)
        return loaded
    loaded.default_ids = [f"{FilePath(file).name}:{doc.position((i,))[0]}" for i in range(len(doc.data))]
    return loaded


def load_dataset(text: str, file: str, fmt: str, inputs: Mapping[str, str] | None) -> LoadedDataset:
    if fmt == "jsonl":
        return load_jsonl(text, file)
    if fmt == "csv":
        return load_csv(text, file, inputs)
    return load_yaml_cases(text, file)
