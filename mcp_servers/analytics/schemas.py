"""Argument types and results of the analytics server's tools."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from mcp_servers.analytics.tables import MAX_COLUMN_NAME

DatasetName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Dataset name: letters, digits, '-', '_' or '.' (unique within your organization)",
    ),
]
ColumnName = Annotated[str, Field(min_length=1, max_length=MAX_COLUMN_NAME, description="A column name")]
Scalar = bool | int | float | str | None
FilterOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in"]
AggFunc = Literal["count", "sum", "mean", "min", "max"]


class ColumnInfo(BaseModel):
    name: str
    type: Literal["number", "string", "bool"]


class LoadResult(BaseModel):
    name: str
    row_count: int
    columns: list[ColumnInfo]
    replaced: bool = Field(description="True when a dataset of this name existed and was replaced")


class ValueCount(BaseModel):
    value: Scalar
    count: int


class ColumnStats(BaseModel):
    name: str
    type: Literal["number", "string", "bool"]
    count: int = Field(description="Non-missing values")
    nulls: int = Field(description="Missing values")
    unique: int = Field(description="Distinct non-missing values")
    min: float | None = Field(None, description="Number columns only")
    max: float | None = None
    mean: float | None = None
    median: float | None = None
    stddev: float | None = Field(None, description="Sample standard deviation (needs 2+ values)")
    most_common: list[ValueCount] = Field(
        default_factory=list, description="Up to 5 most frequent values (string and bool columns)"
    )


class DatasetDescription(BaseModel):
    name: str
    row_count: int
    columns: list[ColumnStats]


class Condition(BaseModel):
    column: ColumnName
    op: FilterOp = Field(
        description=(
            "eq/ne: equal/not equal (value null tests for missing); gt/gte/lt/lte: ordering (number or "
            "string columns); contains: case-insensitive substring; in: value is a list of accepted values"
        )
    )
    value: Scalar | Annotated[list[Scalar], Field(max_length=100)] = Field(
        description="Compared with the cell; a list for op 'in'"
    )


class RowsResult(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    matched: int = Field(description="Rows that matched (before limit)")
    returned: int


class Aggregation(BaseModel):
    func: AggFunc
    column: ColumnName | None = Field(
        None, description="The column to aggregate; omit with count to count rows"
    )
    label: Annotated[str | None, Field(max_length=100)] = Field(
        None, description="Output column name (default: func_column, or count)"
    )


class GroupResult(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]] = Field(
        description="One row per group: the group_by values then the aggregates"
    )
    group_count: int
    truncated: bool = Field(description="True when there were more groups than returned")


class CorrelationResult(BaseModel):
    x: str
    y: str
    n: int = Field(description="Rows where both columns have a value")
    r: float = Field(description="Pearson correlation coefficient, -1..1")
    r_squared: float
