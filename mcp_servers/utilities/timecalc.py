"""``datetime_calc``: add or subtract durations, measure differences, convert between time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

Operation = Literal["add", "subtract", "difference", "convert"]
IsoDatetime = Annotated[
    str,
    Field(
        min_length=4,
        max_length=64,
        description="ISO 8601 date or datetime: 2024-03-10T09:30:00+01:00, 2024-03-10T08:30Z, 2024-03-10",
    ),
]
TimeZoneName = Annotated[
    str,
    Field(
        min_length=1, max_length=64, description="IANA time zone, e.g. UTC, Europe/Paris, America/New_York"
    ),
]
_BOUND = 1_000_000  # days, and the same order for the other units
Amount = Annotated[float, Field(ge=-_BOUND, le=_BOUND)]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None


def parse(text: str, default_zone: ZoneInfo, label: str) -> datetime:
    """Parse ISO 8601; a datetime without an offset is taken to be in ``default_zone``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(
            f"{label} {text!r} is not an ISO 8601 date/datetime (e.g. 2024-03-10T09:30:00Z)"
        ) from None
    return value.replace(tzinfo=default_zone) if value.tzinfo is None else value


def describe(delta: timedelta) -> str:
    """``-1d 02:03:04`` style: sign, days, then hh:mm:ss (with fractional seconds when any)."""
    total = delta.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    secs = f"{seconds:06.3f}".rstrip("0").rstrip(".") if seconds % 1 else f"{int(seconds):02d}"
    return f"{sign}{int(days)}d {int(hours):02d}:{int(minutes):02d}:{secs}"


class DatetimeResult(BaseModel):
    operation: Operation
    result: str | None = Field(
        None, description="The resulting datetime (ISO 8601), for add/subtract/convert"
    )
    timezone: str | None = Field(None, description="The zone the result is expressed in")
    weekday: str | None = Field(None, description="Day of the week of the result")
    utc: str | None = Field(None, description="The result in UTC (ISO 8601)")
    difference_seconds: float | None = Field(None, description="end - start in seconds, for difference")
    difference: str | None = Field(None, description="end - start as '[-]Nd hh:mm:ss', for difference")


def datetime_calc(
    operation: Annotated[
        Operation,
        Field(
            description=(
                "add/subtract: start ± the duration; difference: end - start; "
                "convert: start expressed in to_timezone"
            )
        ),
    ],
    start: IsoDatetime,
    end: Annotated[IsoDatetime | None, Field(description="Second datetime, required for difference")] = None,
    weeks: Amount = 0,
    days: Amount = 0,
    hours: Amount = 0,
    minutes: Amount = 0,
    seconds: Amount = 0,
    timezone: Annotated[TimeZoneName, Field(description="Zone of datetimes given without an offset")] = "UTC",
    to_timezone: Annotated[
        TimeZoneName | None,
        Field(description="Zone to express the result in (required for convert; default: timezone)"),
    ] = None,
) -> DatetimeResult:
    """Date and time arithmetic with IANA time zones.

    Durations are exact elapsed time (computed in UTC): adding 24 hours across a daylight-saving
    change moves the local clock by 23 or 25 hours.
    """
    source_zone = zone(timezone)
    target_zone = zone(to_timezone) if to_timezone else source_zone
    first = parse(start, source_zone, "start")

    if operation == "difference":
        if end is None:
            raise ToolError("difference needs end")
        delta = parse(end, source_zone, "end") - first
        return DatetimeResult(
            operation=operation, difference_seconds=delta.total_seconds(), difference=describe(delta)
        )

    if operation == "convert":
        if to_timezone is None:
            raise ToolError("convert needs to_timezone")
        value = first
    else:
        if not any((weeks, days, hours, minutes, seconds)):
            raise ToolError(f"{operation} needs a duration: weeks, days, hours, minutes and/or seconds")
        try:
            duration = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            raise ToolError("the duration is too large") from None
        if operation == "subtract":
            duration = -duration
        try:
            value = (first.astimezone(UTC) + duration).astimezone(target_zone)
        except OverflowError:
            raise ToolError("the result is outside the supported date range (years 1-9999)") from None
    try:
        value = value.astimezone(target_zone)
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ToolError("the result is outside the supported date range (years 1-9999)") from None
    return DatetimeResult(
        operation=operation,
        result=value.isoformat(),
        timezone=str(target_zone.key),
        weekday=value.strftime("%A"),
        utc=utc.isoformat(),
    )
