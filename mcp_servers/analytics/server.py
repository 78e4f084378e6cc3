"""The analytics server: load small CSV datasets and ask questions of them.

Datasets belong to the organization in the request's ``_meta["io.omni/org"]``; another
organization's dataset of the same name is a different dataset, and never visible.

Datasets are read and written here (async ORM); parsing CSV and every computation over the rows runs
in the tool worker pool (``mcp_servers.workers``), off the event loop of the process that serves it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_servers import quotas
from mcp_servers.analytics import ops
from mcp_servers.analytics.schemas import (
    Aggregation,
    ColumnInfo,
    ColumnName,
    Condition,
    CorrelationResult,
    DatasetDescription,
    DatasetName,
    GroupResult,
    LoadResult,
    RowsResult,
)
from mcp_servers.analytics.tables import MAX_CSV_CHARS, MAX_ROWS, Table, parse_csv_sized
from mcp_servers.common import current_org
from mcp_servers.models import Dataset
from mcp_servers.workers import run as run_in_worker
from mcp_servers.workers import warm_up

VERSION = "1.0.0"
INSTRUCTIONS = (
    "Small tabular datasets of your organization. Load one with load_csv (a header row is required; "
    "column types number/string/bool are inferred), then use describe_dataset, filter_rows, "
    "group_aggregate, top_n and correlation on it by name."
)

_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


async def _table(org: str, name: str) -> Table:
    dataset = await Dataset.objects.for_org(org).filter(name=name).afirst()
    if dataset is None:
        raise ToolError(f"dataset not found: {name!r} (load it with load_csv first)")
    return Table(name=dataset.name, columns=dataset.columns, rows=dataset.rows)


async def load_csv(
    name: DatasetName,
    csv_text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_CSV_CHARS,
            description=f"CSV with a header row (at most {MAX_CSV_CHARS} characters, {MAX_ROWS} rows)",
        ),
    ],
    ctx: Context,
    delimiter: Annotated[Literal[",", ";", "\t", "|"], Field(description="Field separator")] = ",",
) -> LoadResult:
    """Load CSV text as a dataset of your organization, replacing any dataset of the same name.

    Column types are inferred: bool (all true/false), number, else string. Empty cells and
    null/none/na/n/a/nan are missing values.
    """
    org = current_org(ctx)
    columns, rows, size = await run_in_worker(parse_csv_sized, csv_text, delimiter, label="load_csv")
    await quotas.check_datasets(org, "load_csv", name=name, size=size)
    _, created = await Dataset.objects.aupdate_or_create(
        org_slug=org, name=name, defaults={"columns": columns, "rows": rows}
    )
    return LoadResult(
        name=name,
        row_count=len(rows),
        columns=[ColumnInfo.model_validate(c) for c in columns],
        replaced=not created,
    )


async def describe_dataset(name: DatasetName, ctx: Context) -> DatasetDescription:
    """Per column: type, count, missing, distinct; min/max/mean/median/stddev (numbers) or top values."""
    table = await _table(current_org(ctx), name)
    columns = await run_in_worker(ops.describe, table, label="describe_dataset")
    return DatasetDescription(name=table.name, row_count=len(table.rows), columns=columns)


async def filter_rows(
    name: DatasetName,
    ctx: Context,
    conditions: Annotated[
        list[Condition], Field(max_length=20, description="Conditions on columns (none: every row)")
    ] = [],  # noqa: B006
    match: Annotated[
        Literal["all", "any"], Field(description="all: every condition holds (AND); any: at least one (OR)")
    ] = "all",
    limit: Annotated[int, Field(ge=1, le=1000, description="Most rows to return (1-1000)")] = 100,
) -> RowsResult:
    """Rows of a dataset that satisfy the conditions, in their original order."""
    table = await _table(current_org(ctx), name)
    return await run_in_worker(ops.filter_rows, table, conditions, match, limit, label="filter_rows")


async def group_aggregate(
    name: DatasetName,
    aggregations: Annotated[
        list[Aggregation], Field(min_length=1, max_length=20, description="What to compute per group")
    ],
    ctx: Context,
    group_by: Annotated[
        list[ColumnName], Field(max_length=5, description="Columns to group by (none: one group of all rows)")
    ] = [],  # noqa: B006
) -> GroupResult:
    """Group rows by columns and compute count/sum/mean/min/max per group (missing values are ignored)."""
    table = await _table(current_org(ctx), name)
    return await run_in_worker(ops.group_aggregate, table, group_by, aggregations, label="group_aggregate")


async def top_n(
    name: DatasetName,
    column: ColumnName,
    ctx: Context,
    n: Annotated[int, Field(ge=1, le=100, description="How many rows (1-100)")] = 10,
    order: Annotated[
        Literal["desc", "asc"], Field(description="desc: largest first; asc: smallest first")
    ] = "desc",
) -> RowsResult:
    """The n rows with the largest (or smallest) values in a column; rows missing that value are skipped."""
    table = await _table(current_org(ctx), name)
    return await run_in_worker(ops.top_n, table, column, n, order, label="top_n")


async def correlation(
    name: DatasetName,
    x: Annotated[str, Field(min_length=1, max_length=100, description="First number column")],
    y: Annotated[str, Field(min_length=1, max_length=100, description="Second number column")],
    ctx: Context,
) -> CorrelationResult:
    """Pearson correlation of two number columns over the rows where both have a value."""
    table = await _table(current_org(ctx), name)
    return await run_in_worker(ops.correlation, table, x, y, label="correlation")


def build_server() -> MCPServer:
    """A new analytics server instance (cheap: no I/O until a tool runs)."""
    warm_up()  # the tool worker pool starts in the background, before the first call
    server = MCPServer(name="analytics", version=VERSION, instructions=INSTRUCTIONS)
    server.add_tool(
        load_csv,
        annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    for fn in (describe_dataset, filter_rows, group_aggregate, top_n, correlation):
        server.add_tool(fn, annotations=_READ)
    return server
