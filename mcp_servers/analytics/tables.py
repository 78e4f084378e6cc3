"""CSV parsing with column type inference, and the in-memory table the analytics tools work on.

A column is ``bool`` when every non-empty cell is true/false, ``number`` when every one is a decimal
number, and ``string`` otherwise. Empty cells and ``null``/``none``/``na``/``n/a``/``nan``
(any case) are missing values (``None``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver.exceptions import ToolError

ColumnType = Literal["number", "string", "bool"]
Cell = float | int | str | bool | None

MAX_CSV_CHARS = 1_000_000
MAX_ROWS = 20_000
MAX_COLUMNS = 100
MAX_COLUMN_NAME = 100

NULL_TOKENS = frozenset({"", "null", "none", "na", "n/a", "nan"})
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d{1,18}$")


def _is_null(text: str) -> bool:
    return text.lower() in NULL_TOKENS


def _is_number(text: str) -> bool:
    return len(text) <= 40 and bool(_NUMBER_RE.match(text)) and math.isfinite(float(text))


def _to_number(text: str) -> int | float:
    return int(text) if _INT_RE.match(text) else float(text)


def infer_type(cells: list[str]) -> ColumnType:
    present = [c for c in cells if not _is_null(c)]
    if not present:
        return "string"
    if all(c.lower() in ("true", "false") for c in present):
        return "bool"
    if all(_is_number(c) for c in present):
        return "number"
    return "string"


def _convert(text: str, kind: ColumnType) -> Cell:
    if _is_null(text):
        return None
    if kind == "number":
        return _to_number(text)
    if kind == "bool":
        return text.lower() == "true"
    return text


def parse_csv(text: str, delimiter: str = ",") -> tuple[list[dict[str, str]], list[list[Cell]]]:
    """Parse CSV text with a header row into ``(columns, rows)`` with typed cells."""
    if len(text) > MAX_CSV_CHARS:
        raise ToolError(f"the CSV is too large ({len(text)} characters, at most {MAX_CSV_CHARS})")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    raw: list[list[str]] = []
    header: list[str] | None = None
    try:
        for record in reader:
            if not record or all(not cell.strip() for cell in record):
                continue  # blank line
            cells = [cell.strip() for cell in record]
            if header is None:
                header = cells
                _check_header(header)
                continue
            if len(cells) != len(header):
                raise ToolError(
                    f"line {reader.line_num}: {len(cells)} fields, but the header has {len(header)} columns"
                )
            raw.append(cells)
            if len(raw) > MAX_ROWS:
                raise ToolError(f"too many rows (at most {MAX_ROWS})")
    except csv.Error as exc:
        raise ToolError(f"invalid CSV at line {reader.line_num}: {exc}") from None
    if header is None:
        raise ToolError("the CSV is empty: it needs a header row with the column names")
    types = [infer_type([row[i] for row in raw]) for i in range(len(header))]
    columns = [{"name": name, "type": kind} for name, kind in zip(header, types, strict=True)]
    rows = [[_convert(cell, types[i]) for i, cell in enumerate(row)] for row in raw]
    return columns, rows


def parse_csv_sized(text: str, delimiter: str = ",") -> tuple[list[dict[str, str]], list[list[Cell]], int]:
    """``parse_csv`` plus the dataset's size: the UTF-8 bytes of its columns and rows as JSON text
    (what the ``dataset_bytes`` quota counts)."""
    columns, rows = parse_csv(text, delimiter)
    size = len(json.dumps(columns, ensure_ascii=False).encode()) + len(
        json.dumps(rows, ensure_ascii=False).encode()
    )
    return columns, rows, size


def _check_header(header: list[str]) -> None:
    if len(header) > MAX_COLUMNS:
        raise ToolError(f"too many columns ({len(header)}, at most {MAX_COLUMNS})")
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise ToolError(f"header: column {position} has no name")
        if len(name) > MAX_COLUMN_NAME:
            raise ToolError(f"header: column {position} name is longer than {MAX_COLUMN_NAME} characters")
        if name in seen:
            raise ToolError(f"header: column name {name!r} appears twice")
        seen.add(name)


@dataclass
class Table:
    """A dataset as the operations see it."""

    name: str
    columns: list[dict[str, str]]
    rows: list[list[Cell]]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def index(self, column: str) -> int:
        for position, col in enumerate(self.columns):
            if col["name"] == column:
                return position
        shown = ", ".join(self.names[:30])
        raise ToolError(f"dataset {self.name!r} has no column {column!r} (columns: {shown})")

    def type_of(self, column: str) -> ColumnType:
        return self.columns[self.index(column)]["type"]  # type: ignore[return-value]

    def numeric(self, column: str, purpose: str) -> int:
        """The index of ``column``, which must be a number column."""
        position = self.index(column)
        kind = self.columns[position]["type"]
        if kind != "number":
            raise ToolError(f"{purpose} needs a number column, but {column!r} is {kind}")
        return position

    def values(self, position: int) -> list[Cell]:
        return [row[position] for row in self.rows]

    def as_dict(self, row: list[Cell]) -> dict[str, Any]:
        return dict(zip(self.names, row, strict=True))
