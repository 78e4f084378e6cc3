"""The utilities server's nine tools through the SDK client: real values and clear errors."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from .conftest import ToolCaller

# --------------------------------------------------------------------------- calculate


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2*(3+4)", 14),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("-2 ** 2", -4),
        ("(-2) ** 3", -8),
        ("1 / 4", 0.25),
        ("2 ** -1", 0.5),
        ("sqrt(16) + abs(-3)", 7.0),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("round(pi, 2)", 3.14),
        ("log(8, 2)", 3.0),
        ("exp(0) + cos(0) + sin(0) + tan(0)", 2.0),
        ("log(e)", 1.0),
        ("+5", 5),
        ("2 ** 100", 2**100),
    ],
)
async def test_calculate_values(utilities: ToolCaller, expression: str, expected: float):
    result = await utilities.ok("calculate", expression=expression)
    assert result["expression"] == expression
    assert result["result"] == pytest.approx(expected)
    assert type(result["result"]) is type(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "unknown function"),
        ("().__class__", "Attribute is not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("1 << 10", "operator LShift is not allowed"),
        ("[1, 2]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("sqrt(x=4)", "takes no keyword arguments"),
        ("sqrt(1, 2)", "takes 1 argument(s), got 2"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("9 ** 9 ** 9", "exponent 387420489 is too large"),
        ("10 ** 5000", "too large"),
        ("10.0 ** 400", "too large"),
        ("(-8) ** 0.5", "complex number"),
        ("sqrt(-1)", "math error"),
        ("log(0)", "math error"),
        ("round(1.5, 100)", "between -15 and 15"),
        ("2 +", "invalid expression"),
        ("(" * 240 + "1" + ")" * 240, "invalid expression"),
        ("-" * 400 + "1", "too complex"),
        ("1+" * 200 + "1", "too complex"),
    ],
)
async def test_calculate_refuses(utilities: ToolCaller, expression: str, message: str):
    assert message in await utilities.error("calculate", expression=expression)


async def test_calculate_bounds_expression_length(utilities: ToolCaller):
    assert "at most 500" in await utilities.error("calculate", expression="1+" * 300 + "1")


# --------------------------------------------------------------------------- convert_units


@pytest.mark.parametrize(
    ("value", "source", "target", "expected", "category"),
    [
        (100, "C", "F", 212, "temperature"),
        (32, "F", "C", 0, "temperature"),
        (0, "K", "C", -273.15, "temperature"),
        (1, "mi", "km", 1.609344, "length"),
        (12, "in", "ft", 1, "length"),
        (1, "kg", "lb", 2.20462262185, "mass"),
        (1, "gal", "l", 3.785411784, "volume"),
        (2, "h", "min", 120, "time"),
        (1, "GiB", "MiB", 1024, "data"),
        (1, "GB", "MB", 1000, "data"),
        (8, "bit", "B", 1, "data"),
    ],
)
async def test_convert_units(utilities: ToolCaller, value, source, target, expected, category):
    result = await utilities.ok("convert_units", value=value, from_unit=source, to_unit=target)
    assert result["result"] == pytest.approx(expected)
    assert result["category"] == category


async def test_convert_units_errors(utilities: ToolCaller):
    assert "cannot convert length (m) to mass (kg)" in await utilities.error(
        "convert_units", value=1, from_unit="m", to_unit="kg"
    )
    assert "below absolute zero" in await utilities.error(
        "convert_units", value=-300, from_unit="C", to_unit="K"
    )
    assert "from_unit" in await utilities.error("convert_units", value=1, from_unit="furlong", to_unit="m")


async def test_convert_units_schema_lists_the_units(utilities: ToolCaller):
    from mcp import Client

    async with Client(utilities.server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["convert_units"].input_schema
    units = schema["properties"]["from_unit"]["enum"]
    assert {"m", "kg", "C", "gal", "h", "GiB"} <= set(units)


# --------------------------------------------------------------------------- datetime_calc


async def test_datetime_add_subtract_and_difference(utilities: ToolCaller):
    added = await utilities.ok("datetime_calc", operation="add", start="2024-02-28T22:00:00Z", hours=3)
    assert added["result"] == "2024-02-29T01:00:00+00:00"
    assert added["weekday"] == "Thursday"
    sub = await utilities.ok(
        "datetime_calc", operation="subtract", start="2024-03-01", days=1, weeks=1, timezone="Europe/Paris"
    )
    assert sub["result"] == "2024-02-22T00:00:00+01:00"
    assert sub["utc"] == "2024-02-21T23:00:00+00:00"
    diff = await utilities.ok(
        "datetime_calc", operation="difference", start="2024-01-01T00:00:00Z", end="2024-01-02T03:04:05.5Z"
    )
    assert diff["difference_seconds"] == 97445.5
    assert diff["difference"] == "1d 03:04:05.5"
    negative = await utilities.ok(
        "datetime_calc", operation="difference", start="2024-01-02", end="2024-01-01"
    )
    assert negative["difference"] == "-1d 00:00:00"


async def test_datetime_time_zones(utilities: ToolCaller):
    converted = await utilities.ok(
        "datetime_calc", operation="convert", start="2024-07-01T12:00:00Z", to_timezone="America/New_York"
    )
    assert converted["result"] == "2024-07-01T08:00:00-04:00"
    assert converted["timezone"] == "America/New_York"
    # 24 hours of elapsed time across the spring DST change in Paris: the wall clock moves 25 hours.
    dst = await utilities.ok(
        "datetime_calc", operation="add", start="2024-03-30T12:00:00", hours=24, timezone="Europe/Paris"
    )
    assert dst["result"] == "2024-03-31T13:00:00+02:00"
    # A naive datetime is read in `timezone`, an explicit offset wins over it.
    explicit = await utilities.ok(
        "datetime_calc", operation="convert", start="2024-01-01T00:00:00+05:00", timezone="Asia/Tokyo",
        to_timezone="UTC",
    )  # fmt: skip
    assert explicit["result"] == "2023-12-31T19:00:00+00:00"


async def test_datetime_errors(utilities: ToolCaller):
    assert "not an ISO 8601" in await utilities.error(
        "datetime_calc", operation="add", start="yesterday", days=1
    )
    assert "unknown time zone 'Mars/Base'" in await utilities.error(
        "datetime_calc", operation="convert", start="2024-01-01", to_timezone="Mars/Base"
    )
    assert "unknown time zone" in await utilities.error(
        "datetime_calc", operation="convert", start="2024-01-01", to_timezone="../../etc/passwd"
    )
    assert "difference needs end" in await utilities.error(
        "datetime_calc", operation="difference", start="2024-01-01"
    )
    assert "convert needs to_timezone" in await utilities.error(
        "datetime_calc", operation="convert", start="2024-01-01"
    )
    assert "needs a duration" in await utilities.error("datetime_calc", operation="add", start="2024-01-01")
    assert "date range" in await utilities.error("datetime_calc", operation="add", start="9999-12-31", days=2)
    assert "operation" in await utilities.error("datetime_calc", operation="multiply", start="2024-01-01")


# --------------------------------------------------------------------------- text_stats


async def test_text_stats(utilities: ToolCaller):
    text = "The cat sat. The cat ran away!\n\nIs it back? Yes it's back."
    stats = await utilities.ok("text_stats", text=text, top=3)
    assert stats["characters"] == len(text)
    assert stats["characters_no_spaces"] == len(text.replace(" ", "").replace("\n", ""))
    assert stats["words"] == 13
    assert stats["sentences"] == 4
    assert stats["lines"] == 3
    assert stats["paragraphs"] == 2
    assert stats["top_words"] == [
        {"word": "back", "count": 2},
        {"word": "cat", "count": 2},
        {"word": "away", "count": 1},
    ]
    assert stats["average_word_length"] == round(
        sum(map(len, "The cat sat The cat ran away Is it back Yes it's back".split())) / 13, 2
    )
    assert stats["reading_time_seconds"] == 4  # 13 words at 200 wpm, rounded up
    with_stopwords = await utilities.ok("text_stats", text=text, top=1, exclude_stopwords=False)
    assert with_stopwords["top_words"] == [
        {"word": "back", "count": 2}
    ]  # back, cat, it, the tie: alphabetical


async def test_text_stats_empty_and_bounds(utilities: ToolCaller):
    empty = await utilities.ok("text_stats", text="")
    assert (empty["words"], empty["sentences"], empty["lines"], empty["average_word_length"]) == (
        0,
        0,
        0,
        0.0,
    )
    assert "text" in await utilities.error("text_stats", text="x" * 100_001)
    assert "top" in await utilities.error("text_stats", text="x", top=51)


# --------------------------------------------------------------------------- regex_extract


async def test_regex_extract_groups(utilities: ToolCaller):
    result = await utilities.ok(
        "regex_extract", pattern=r"(?P<user>\w+)@(?P<domain>[\w.]+)", text="mail ann@example.org and bob@x.io"
    )
    assert result["match_count"] == 2 and result["truncated"] is False
    first = result["matches"][0]
    assert first == {
        "match": "ann@example.org",
        "start": 5,
        "end": 20,
        "groups": ["ann", "example.org"],
        "named_groups": {"user": "ann", "domain": "example.org"},
    }
    optional = await utilities.ok("regex_extract", pattern=r"a(b)?", text="a")
    assert optional["matches"][0]["groups"] == [None]


async def test_regex_extract_flags_and_limit(utilities: ToolCaller):
    text = "Alpha\nbeta\nGAMMA"
    assert (await utilities.ok("regex_extract", pattern=r"^[a-z]+$", text=text))["match_count"] == 0
    both = await utilities.ok(
        "regex_extract", pattern=r"^[a-z]+$", text=text, flags=["MULTILINE", "IGNORECASE"]
    )
    assert [m["match"] for m in both["matches"]] == ["Alpha", "beta", "GAMMA"]
    limited = await utilities.ok("regex_extract", pattern=r"\d", text="1234", max_matches=2)
    assert [m["match"] for m in limited["matches"]] == ["1", "2"] and limited["truncated"] is True


async def test_regex_extract_errors(utilities: ToolCaller):
    assert "invalid regular expression" in await utilities.error(
        "regex_extract", pattern="(unclosed", text="x"
    )
    assert "flags" in await utilities.error("regex_extract", pattern="x", text="x", flags=["UNICORN"])
    assert "text" in await utilities.error("regex_extract", pattern="x", text="x" * 100_001)


async def test_regex_catastrophic_pattern_runs_in_linear_time(utilities: ToolCaller):
    # (a|aa)+$ backtracks exponentially on Python's re; RE2 answers it (no match) in one pass.
    result = await utilities.ok("regex_extract", pattern=r"(a|aa)+$", text="a" * 5000 + "b")
    assert result["match_count"] == 0
    nested = await utilities.ok("regex_extract", pattern=r"^(a+)+$", text="a" * 28 + "!")
    assert nested["match_count"] == 0
    # RE2 has no look-around or back-references: refused with a clear error, never run on re.
    message = await utilities.error("regex_extract", pattern=r"(?<=@)\w+", text="a@b")
    assert "invalid regular expression" in message and "RE2" in message
    assert "RE2" in await utilities.error("regex_extract", pattern=r"(a)\1", text="aa")
    assert "VERBOSE" in await utilities.error("regex_extract", pattern="a", text="a", flags=["VERBOSE"])


# --------------------------------------------------------------------------- json_tool


async def test_json_tool_validates_and_queries(utilities: ToolCaller):
    doc = '{"a": {"b": [{"c": 1}, {"c": "two"}]}, "key with.dots": true}'
    result = await utilities.ok("json_tool", json_text=doc, path="a.b[1].c")
    assert result["valid_json"] is True and result["type"] == "object"
    assert result["query"] == {
        "path": "a.b[1].c",
        "found": True,
        "value": "two",
        "type": "string",
        "error": None,
    }
    assert (await utilities.ok("json_tool", json_text=doc, path='$["key with.dots"]'))["query"][
        "value"
    ] is True
    assert (await utilities.ok("json_tool", json_text=doc, path="a.b[-1]"))["query"]["value"] == {"c": "two"}
    missing = (await utilities.ok("json_tool", json_text=doc, path="a.b[5]"))["query"]
    assert missing["found"] is False and "index out of range (array of 2 items)" in missing["error"]
    wrong = (await utilities.ok("json_tool", json_text=doc, path="a.x"))["query"]
    assert wrong["found"] is False and "$.a has no key 'x'" in wrong["error"]
    assert "invalid path" in await utilities.error("json_tool", json_text=doc, path="a..b")


async def test_json_tool_reports_invalid_json(utilities: ToolCaller):
    result = await utilities.ok("json_tool", json_text='{"a": 1,}')
    assert result["valid_json"] is False
    assert "line 1, column 9" in result["error"]


async def test_json_tool_schema(utilities: ToolCaller):
    schema = {
        "type": "object",
        "required": ["name", "price"],
        "properties": {"name": {"type": "string"}, "price": {"type": "number", "minimum": 0}},
    }
    good = await utilities.ok("json_tool", json_text='{"name": "pen", "price": 2}', json_schema=schema)
    assert good["schema_valid"] is True and good["schema_errors"] == []
    bad = await utilities.ok("json_tool", json_text='{"price": -1}', json_schema=schema)
    assert bad["schema_valid"] is False
    assert {(e["path"], e["message"]) for e in bad["schema_errors"]} == {
        ("$", "'name' is a required property"),
        ("$.price", "-1 is less than the minimum of 0"),
    }
    assert "not a valid JSON Schema" in await utilities.error(
        "json_tool", json_text="{}", json_schema={"type": "no-such-type"}
    )
    remote = {"$ref": "http://127.0.0.1:9/schema.json"}
    assert "cannot be resolved" in await utilities.error("json_tool", json_text="{}", json_schema=remote)


# --------------------------------------------------------------------------- hash_text


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512", "blake2b"])
async def test_hash_text(utilities: ToolCaller, algorithm: str):
    result = await utilities.ok("hash_text", text="héllo", algorithm=algorithm)
    assert result["hex"] == hashlib.new(algorithm, "héllo".encode()).hexdigest()
    assert result["input_bytes"] == 6


async def test_hash_text_known_value_and_errors(utilities: ToolCaller):
    sha = await utilities.ok("hash_text", text="abc")
    assert sha["algorithm"] == "sha256"
    assert sha["hex"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert "algorithm" in await utilities.error("hash_text", text="abc", algorithm="crc32")


# --------------------------------------------------------------------------- generate_uuid


async def test_generate_uuid(utilities: ToolCaller):
    many = await utilities.ok("generate_uuid", count=100)
    assert len(set(many["uuids"])) == 100
    assert all(uuid.UUID(u).version == 4 for u in many["uuids"])
    v5 = await utilities.ok("generate_uuid", version=5, namespace="dns", name="python.org")
    assert v5["uuids"] == ["886313e1-3b8a-5372-9b90-0c9aee199e5d"]
    custom_ns = str(uuid.uuid4())
    v5b = await utilities.ok("generate_uuid", version=5, namespace=custom_ns, name="x")
    assert v5b["uuids"] == [str(uuid.uuid5(uuid.UUID(custom_ns), "x"))]


async def test_generate_uuid_errors(utilities: ToolCaller):
    assert "count" in await utilities.error("generate_uuid", count=101)
    assert "count" in await utilities.error("generate_uuid", count=0)
    assert "version" in await utilities.error("generate_uuid", version=3)
    assert "needs both namespace" in await utilities.error("generate_uuid", version=5, name="x")
    assert "neither dns/url/oid/x500 nor a UUID" in await utilities.error(
        "generate_uuid", version=5, namespace="nope", name="x"
    )
    assert "deterministic" in await utilities.error(
        "generate_uuid", version=5, namespace="dns", name="x", count=2
    )


# --------------------------------------------------------------------------- base64_codec


async def test_base64_round_trip(utilities: ToolCaller):
    text = "héllo wörld?>>"
    encoded = await utilities.ok("base64_codec", operation="encode", text=text)
    assert encoded["result"] == base64.b64encode(text.encode()).decode()
    url = await utilities.ok("base64_codec", operation="encode", text=text, url_safe=True)
    assert url["result"] == base64.urlsafe_b64encode(text.encode()).decode()
    assert "+" in encoded["result"] or "/" in encoded["result"]
    assert "+" not in url["result"] and "/" not in url["result"]
    decoded = await utilities.ok(
        "base64_codec", operation="decode", text=url["result"].rstrip("="), url_safe=True
    )
    assert decoded["result"] == text
    assert (await utilities.ok("base64_codec", operation="decode", text="aGVs\nbG8="))["result"] == "hello"


async def test_base64_errors(utilities: ToolCaller):
    assert "character '*'" in await utilities.error("base64_codec", operation="decode", text="ab*d")
    assert "try url_safe=true" in await utilities.error("base64_codec", operation="decode", text="a-_b")
    assert "not possible for base64" in await utilities.error(
        "base64_codec", operation="decode", text="abcde"
    )
    assert "padding" in await utilities.error("base64_codec", operation="decode", text="ab=cd")
    not_utf8 = base64.b64encode(b"\xff\xfe\x00").decode()
    assert "not UTF-8" in await utilities.error("base64_codec", operation="decode", text=not_utf8)
    assert "operation" in await utilities.error("base64_codec", operation="rot13", text="x")
