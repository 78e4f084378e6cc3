"""The analytics operations over a ``Table``: pure functions, stdlib ``statistics`` only."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from mcp_servers.analytics.schemas import (
    Aggregation,
    ColumnStats,
    Condition,
    CorrelationResult,
    GroupResult,
    RowsResult,
    Scalar,
    ValueCount,
)
from mcp_servers.analytics.tables import Cell, ColumnType, Table

MAX_GROUPS = 1000


# --------------------------------------------------------------------------- describe
def describe_column(name: str, kind: ColumnType, values: list[Cell]) -> ColumnStats:
    present = [v for v in values if v is not None]
    stats = ColumnStats(
        name=name, type=kind, count=len(present), nulls=len(values) - len(present), unique=len(set(present))
    )
    if kind == "number" and present:
        numbers = [float(v) for v in present]  # type: ignore[arg-type]
        stats.min, stats.max = min(numbers), max(numbers)
        stats.mean = statistics.fmean(numbers)
        stats.median = float(statistics.median(numbers))
        stats.stddev = statistics.stdev(numbers) if len(numbers) > 1 else None
    elif kind != "number":
        counts = Counter(present).most_common()
        counts.sort(key=lambda item: (-item[1], str(item[0])))
        stats.most_common = [ValueCount(value=v, count=c) for v, c in counts[:5]]
    return stats


def describe(table: Table) -> list[ColumnStats]:
    return [
        describe_column(col["name"], col["type"], table.values(i))  # type: ignore[arg-type]
        for i, col in enumerate(table.columns)
    ]


# --------------------------------------------------------------------------- filter_rows
def _coerce(value: Scalar, kind: ColumnType, column: str) -> Cell:
    """``value`` as the type of the column it is compared with."""
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool):
            raise ToolError(f"column {column!r} holds numbers; {value!r} is not a number")
        if isinstance(value, int | float):
            return value
        try:
            return float(value)
        except ValueError:
            raise ToolError(f"column {column!r} holds numbers; {value!r} is not a number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ToolError(f"column {column!r} holds true/false; {value!r} is not a boolean")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _predicate(table: Table, cond: Condition) -> Callable[[list[Cell]], bool]:
    position = table.index(cond.column)
    kind = table.type_of(cond.column)
    op = cond.op
    if op == "in":
        if not isinstance(cond.value, list):
            raise ToolError(f"op 'in' on {cond.column!r} needs a list value")
        accepted = {_coerce(v, kind, cond.column) for v in cond.value}
        return lambda row: row[position] in accepted
    if isinstance(cond.value, list):
        raise ToolError(f"op {op!r} on {cond.column!r} needs a single value, not a list (use 'in')")
    if op == "contains":
        if not isinstance(cond.value, str):
            raise ToolError("op 'contains' needs a text value")
        needle = cond.value.casefold()
        return lambda row: row[position] is not None and needle in str(row[position]).casefold()
    target = _coerce(cond.value, kind, cond.column)
    if op == "eq":
        return lambda row: row[position] == target
    if op == "ne":
        return lambda row: row[position] != target
    if target is None:
        raise ToolError(f"op {op!r} cannot compare with null (use eq or ne to test for missing values)")
    if kind == "bool":
        raise ToolError(f"op {op!r} does not apply to the true/false column {cond.column!r}")
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    check = compare[op]
    return lambda row: row[position] is not None and check(row[position], target)


def filter_rows(table: Table, conditions: list[Condition], match: str, limit: int) -> RowsResult:
    predicates = [_predicate(table, cond) for cond in conditions]
    combine = all if match == "all" else any
    matched = [row for row in table.rows if not predicates or combine(p(row) for p in predicates)]
    rows = [table.as_dict(row) for row in matched[:limit]]
    return RowsResult(columns=table.names, rows=rows, matched=len(matched), returned=len(rows))


# --------------------------------------------------------------------------- group_aggregate
def _label(agg: Aggregation) -> str:
    if agg.label:
        return agg.label
    return agg.func if agg.column is None else f"{agg.func}_{agg.column}"


def _aggregator(table: Table, agg: Aggregation) -> Callable[[list[list[Cell]]], Cell]:
    if agg.column is None:
        if agg.func != "count":
            raise ToolError(f"{agg.func} needs a column")
        return len
    position = table.index(agg.column)
    kind = table.type_of(agg.column)

    def present(rows: list[list[Cell]]) -> list[Any]:
        return [row[position] for row in rows if row[position] is not None]

    if agg.func == "count":
        return lambda rows: len(present(rows))
    if agg.func in ("sum", "mean"):
        table.numeric(agg.column, agg.func)
        if agg.func == "sum":
            return lambda rows: sum(present(rows))
        return lambda rows: statistics.fmean(values) if (values := present(rows)) else None
    if kind == "bool":
        raise ToolError(f"{agg.func} does not apply to the true/false column {agg.column!r}")
    pick = min if agg.func == "min" else max
    return lambda rows: pick(values) if (values := present(rows)) else None


def _sort_key(key: tuple[Cell, ...]) -> tuple[Any, ...]:
    # Missing values sort first; a column holds one type, so the rest compare.
    return tuple((value is not None, value if value is not None else 0) for value in key)


def group_aggregate(table: Table, group_by: list[str], aggregations: list[Aggregation]) -> GroupResult:
    if len(set(group_by)) != len(group_by):
        raise ToolError("group_by lists a column twice")
    positions = [table.index(column) for column in group_by]
    labels = [_label(agg) for agg in aggregations]
    clashes = {label for label in labels if labels.count(label) > 1 or label in group_by}
    if clashes:
        raise ToolError(f"output column names collide: {sorted(clashes)} (set label on the aggregations)")
    functions = [_aggregator(table, agg) for agg in aggregations]
    groups: dict[tuple[Cell, ...], list[list[Cell]]] = {}
    for row in table.rows:
        groups.setdefault(tuple(row[p] for p in positions), []).append(row)
    if not group_by and not groups:
        groups[()] = []  # aggregates over an empty dataset are still one answer
    keys = sorted(groups, key=_sort_key)
    rows = []
    for key in keys[:MAX_GROUPS]:
        out: dict[str, Any] = dict(zip(group_by, key, strict=True))
        for label, fn in zip(labels, functions, strict=True):
            out[label] = fn(groups[key])
        rows.append(out)
    return GroupResult(
        columns=[*group_by, *labels], rows=rows, group_count=len(keys), truncated=len(keys) > MAX_GROUPS
    )


# --------------------------------------------------------------------------- top_n
def top_n(table: Table, column: str, n: int, order: str) -> RowsResult:
    position = table.index(column)
    present = [row for row in table.rows if row[position] is not None]
    ranked = sorted(present, key=lambda row: row[position], reverse=order == "desc")  # type: ignore[arg-type, return-value]
    rows = [table.as_dict(row) for row in ranked[:n]]
    return RowsResult(columns=table.names, rows=rows, matched=len(present), returned=len(rows))


# --------------------------------------------------------------------------- correlation
def correlation(table: Table, x: str, y: str) -> CorrelationResult:
    px, py = table.numeric(x, "correlation"), table.numeric(y, "correlation")
    pairs = [(row[px], row[py]) for row in table.rows if row[px] is not None and row[py] is not None]
    if len(pairs) < 2:
        raise ToolError(f"correlation needs at least 2 rows where both {x!r} and {y!r} have values")
    xs = [float(a) for a, _ in pairs]  # type: ignore[arg-type]
    ys = [float(b) for _, b in pairs]  # type: ignore[arg-type]
    try:
        r = statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        constant = x if len(set(xs)) == 1 else y
        raise ToolError(
            f"column {constant!r} is constant over these rows: correlation is undefined"
        ) from None
    r = max(-1.0, min(1.0, r))
    return CorrelationResult(x=x, y=y, n=len(pairs), r=r, r_squared=r * r)
