"""The analytics server's six tools through the SDK client, scoped per organization."""

from __future__ import annotations

import statistics

import pytest

from mcp_servers.common import MISSING_ORG_MESSAGE
from mcp_servers.models import Dataset

from .conftest import ToolCaller

SALES = """region,product,units,price,promo
north,pen,10,1.5,true
north,book,2,12,false
south,pen,7,1.5,true
south,book,,12.5,false
east,pen,1,2,
west,lamp,3,40,FALSE
"""


async def load(analytics: ToolCaller, csv_text: str = SALES, name: str = "sales", **kwargs) -> dict:
    return await analytics.ok("load_csv", name=name, csv_text=csv_text, **kwargs)


async def test_load_csv_infers_types_and_replaces(analytics: ToolCaller, acme: str):
    loaded = await load(analytics)
    assert loaded == {
        "name": "sales",
        "row_count": 6,
        "columns": [
            {"name": "region", "type": "string"},
            {"name": "product", "type": "string"},
            {"name": "units", "type": "number"},
            {"name": "price", "type": "number"},
            {"name": "promo", "type": "bool"},
        ],
        "replaced": False,
    }
    stored = await Dataset.objects.aget(org_slug=acme, name="sales")
    assert stored.rows[3] == ["south", "book", None, 12.5, False]
    assert stored.rows[4][4] is None

    again = await load(analytics, "a;b\n1;x\n", delimiter=";")
    assert again["replaced"] is True and again["row_count"] == 1
    assert await Dataset.objects.filter(org_slug=acme, name="sales").acount() == 1


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("", "csv_text"),
        ("\n\n", "the CSV is empty"),
        ("a,b\n1,2,3\n", "line 2: 3 fields, but the header has 2 columns"),
        ("a,a\n1,2\n", "column name 'a' appears twice"),
        ("a,,c\n1,2,3\n", "column 2 has no name"),
        ('a,b\n"unterminated,2\n', "invalid CSV"),
    ],
)
async def test_load_csv_errors(analytics: ToolCaller, csv_text: str, message: str):
    assert message in await analytics.error("load_csv", name="bad", csv_text=csv_text)


async def test_load_csv_bounds_and_names(analytics: ToolCaller):
    assert "name" in await analytics.error("load_csv", name="../etc", csv_text="a\n1\n")
    assert "csv_text" in await analytics.error("load_csv", name="big", csv_text="a\n" + "1\n" * 500_000)
    rows = "a\n" + "1\n" * 20_001
    assert "too many rows (at most 20000)" in await analytics.error("load_csv", name="big", csv_text=rows)
    assert "delimiter" in await analytics.error("load_csv", name="x", csv_text="a\n1\n", delimiter=":")


async def test_describe_dataset(analytics: ToolCaller):
    await load(analytics)
    described = await analytics.ok("describe_dataset", name="sales")
    assert described["row_count"] == 6
    columns = {c["name"]: c for c in described["columns"]}
    units = columns["units"]
    assert (units["type"], units["count"], units["nulls"], units["unique"]) == ("number", 5, 1, 5)
    assert (units["min"], units["max"], units["median"]) == (1, 10, 3)
    assert units["mean"] == pytest.approx(4.6)
    assert units["stddev"] == pytest.approx(statistics.stdev([10, 2, 7, 1, 3]))
    assert units["most_common"] == []
    price = columns["price"]
    assert (price["min"], price["max"], price["unique"]) == (1.5, 40, 5)
    assert price["mean"] == pytest.approx((1.5 + 12 + 1.5 + 12.5 + 2 + 40) / 6)
    region = columns["region"]
    assert (region["type"], region["count"], region["unique"], region["min"]) == ("string", 6, 4, None)
    assert region["most_common"][:2] == [{"value": "north", "count": 2}, {"value": "south", "count": 2}]
    promo = columns["promo"]
    assert (promo["type"], promo["count"], promo["nulls"]) == ("bool", 5, 1)
    assert promo["most_common"] == [{"value": False, "count": 3}, {"value": True, "count": 2}]


async def test_filter_rows(analytics: ToolCaller):
    await load(analytics)

    async def regions(**kwargs) -> list[str]:
        result = await analytics.ok("filter_rows", name="sales", **kwargs)
        return [row["region"] for row in result["rows"]]

    assert await regions(conditions=[{"column": "product", "op": "eq", "value": "pen"}]) == [
        "north",
        "south",
        "east",
    ]
    assert await regions(conditions=[{"column": "units", "op": "gte", "value": 3}]) == [
        "north",
        "south",
        "west",
    ]
    assert await regions(conditions=[{"column": "units", "op": "lt", "value": "3"}]) == ["north", "east"]
    assert await regions(conditions=[{"column": "units", "op": "eq", "value": None}]) == ["south"]
    assert await regions(conditions=[{"column": "promo", "op": "eq", "value": True}]) == ["north", "south"]
    assert await regions(conditions=[{"column": "product", "op": "contains", "value": "OO"}]) == [
        "north",
        "south",
    ]
    assert await regions(conditions=[{"column": "region", "op": "in", "value": ["east", "west", "x"]}]) == [
        "east",
        "west",
    ]
    assert await regions(conditions=[{"column": "region", "op": "ne", "value": "north"}], limit=2) == [
        "south",
        "south",
    ]
    both = [{"column": "product", "op": "eq", "value": "pen"}, {"column": "price", "op": "gt", "value": 1.5}]
    assert await regions(conditions=both) == ["east"]
    either = [
        {"column": "product", "op": "eq", "value": "lamp"},
        {"column": "units", "op": "gte", "value": 7},
    ]
    assert await regions(conditions=either, match="any") == ["north", "south", "west"]

    result = await analytics.ok("filter_rows", name="sales", limit=1)
    assert result["matched"] == 6 and result["returned"] == 1
    assert result["columns"] == ["region", "product", "units", "price", "promo"]
    assert result["rows"] == [{"region": "north", "product": "pen", "units": 10, "price": 1.5, "promo": True}]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"column": "nope", "op": "eq", "value": 1}, "has no column 'nope'"),
        ({"column": "units", "op": "eq", "value": "many"}, "'many' is not a number"),
        ({"column": "units", "op": "in", "value": 3}, "needs a list value"),
        ({"column": "units", "op": "eq", "value": [1, 2]}, "use 'in'"),
        ({"column": "units", "op": "gt", "value": None}, "cannot compare with null"),
        ({"column": "promo", "op": "gt", "value": True}, "does not apply to the true/false column"),
        ({"column": "promo", "op": "eq", "value": "maybe"}, "is not a boolean"),
        ({"column": "units", "op": "between", "value": 1}, "op"),
    ],
)
async def test_filter_rows_errors(analytics: ToolCaller, condition: dict, message: str):
    await load(analytics)
    assert message in await analytics.error("filter_rows", name="sales", conditions=[condition])


async def test_group_aggregate(analytics: ToolCaller):
    await load(analytics)
    result = await analytics.ok(
        "group_aggregate",
        name="sales",
        group_by=["product"],
        aggregations=[
            {"func": "count"},
            {"func": "count", "column": "units", "label": "with_units"},
            {"func": "sum", "column": "units"},
            {"func": "mean", "column": "price"},
            {"func": "min", "column": "region"},
            {"func": "max", "column": "price"},
        ],
    )
    assert result["columns"] == [
        "product",
        "count",
        "with_units",
        "sum_units",
        "mean_price",
        "min_region",
        "max_price",
    ]
    assert result["group_count"] == 3 and result["truncated"] is False
    book, lamp, pen = result["rows"]
    assert book == {
        "product": "book", "count": 2, "with_units": 1, "sum_units": 2, "mean_price": 12.25,
        "min_region": "north", "max_price": 12.5,
    }  # fmt: skip
    assert lamp == {
        "product": "lamp", "count": 1, "with_units": 1, "sum_units": 3, "mean_price": 40.0,
        "min_region": "west", "max_price": 40,
    }  # fmt: skip
    assert pen == {
        "product": "pen", "count": 3, "with_units": 3, "sum_units": 18, "mean_price": pytest.approx(5 / 3),
        "min_region": "east", "max_price": 2,
    }  # fmt: skip

    two_keys = await analytics.ok(
        "group_aggregate", name="sales", group_by=["promo", "product"], aggregations=[{"func": "count"}]
    )
    assert [(r["promo"], r["product"], r["count"]) for r in two_keys["rows"]] == [
        (None, "pen", 1),
        (False, "book", 2),
        (False, "lamp", 1),
        (True, "pen", 2),
    ]
    overall = await analytics.ok(
        "group_aggregate", name="sales", aggregations=[{"func": "sum", "column": "units"}]
    )
    assert overall["rows"] == [{"sum_units": 23}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregations": []}, "aggregations"),
        ({"aggregations": [{"func": "sum"}]}, "sum needs a column"),
        (
            {"aggregations": [{"func": "sum", "column": "region"}]},
            "sum needs a number column, but 'region' is string",
        ),
        ({"aggregations": [{"func": "max", "column": "promo"}]}, "does not apply to the true/false column"),
        ({"aggregations": [{"func": "median", "column": "units"}]}, "func"),
        ({"aggregations": [{"func": "count"}], "group_by": ["region", "region"]}, "lists a column twice"),
        ({"aggregations": [{"func": "count"}], "group_by": ["ghost"]}, "has no column 'ghost'"),
        ({"aggregations": [{"func": "count"}, {"func": "count"}]}, "output column names collide"),
    ],
)
async def test_group_aggregate_errors(analytics: ToolCaller, kwargs: dict, message: str):
    await load(analytics)
    assert message in await analytics.error("group_aggregate", name="sales", **kwargs)


async def test_top_n(analytics: ToolCaller):
    await load(analytics)
    top = await analytics.ok("top_n", name="sales", column="units", n=2)
    assert [(r["region"], r["units"]) for r in top["rows"]] == [("north", 10), ("south", 7)]
    bottom = await analytics.ok("top_n", name="sales", column="units", n=10, order="asc")
    assert [r["units"] for r in bottom["rows"]] == [1, 2, 3, 7, 10]  # the missing value is skipped
    assert bottom["matched"] == 5
    by_name = await analytics.ok("top_n", name="sales", column="product", n=1, order="asc")
    assert by_name["rows"][0]["product"] == "book"
    assert "n" in await analytics.error("top_n", name="sales", column="units", n=0)
    assert "order" in await analytics.error("top_n", name="sales", column="units", order="random")
    assert "has no column 'ghost'" in await analytics.error("top_n", name="sales", column="ghost")


async def test_correlation(analytics: ToolCaller):
    csv_text = "x,double,negative,noise,flat\n1,2,-1,5,7\n2,4,-2,1,7\n3,6,-3,4,7\n4,8,-4,2,7\n5,10,-5,,7\n"
    await load(analytics, csv_text, name="lines")
    perfect = await analytics.ok("correlation", name="lines", x="x", y="double")
    assert perfect == {
        "x": "x",
        "y": "double",
        "n": 5,
        "r": pytest.approx(1.0),
        "r_squared": pytest.approx(1.0),
    }
    assert (await analytics.ok("correlation", name="lines", x="x", y="negative"))["r"] == pytest.approx(-1.0)
    noise = await analytics.ok("correlation", name="lines", x="x", y="noise")
    assert noise["n"] == 4
    assert noise["r"] == pytest.approx(statistics.correlation([1, 2, 3, 4], [5, 1, 4, 2]))
    assert "'flat' is constant" in await analytics.error("correlation", name="lines", x="x", y="flat")

    await load(analytics)
    assert "needs a number column, but 'region' is string" in await analytics.error(
        "correlation", name="sales", x="units", y="region"
    )
    await load(analytics, "a,b\n1,2\n", name="tiny")
    assert "at least 2 rows" in await analytics.error("correlation", name="tiny", x="a", y="b")


async def test_datasets_are_scoped_per_organization(analytics: ToolCaller, acme: str, globex: str):
    await load(analytics)
    for tool, extra in [
        ("describe_dataset", {}),
        ("filter_rows", {}),
        ("group_aggregate", {"aggregations": [{"func": "count"}]}),
        ("top_n", {"column": "units"}),
        ("correlation", {"x": "units", "y": "price"}),
    ]:
        message = await analytics.error(tool, as_org=globex, name="sales", **extra)
        assert "dataset not found: 'sales'" in message, tool
        assert MISSING_ORG_MESSAGE in await analytics.error(tool, as_org=None, name="sales", **extra), tool
    assert MISSING_ORG_MESSAGE in await analytics.error("load_csv", as_org=None, name="x", csv_text="a\n1\n")

    # The same name in another organization is another dataset; loading it replaces nothing of acme's.
    theirs = await load(analytics, "only\n1\n", as_org=globex)
    assert theirs["replaced"] is False
    assert (await analytics.ok("describe_dataset", name="sales"))["row_count"] == 6
    assert (await analytics.ok("describe_dataset", as_org=globex, name="sales"))["row_count"] == 1
    assert await Dataset.objects.filter(org_slug__in=[acme, globex], name="sales").acount() == 2
