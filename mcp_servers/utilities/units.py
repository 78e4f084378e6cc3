"""``convert_units``: length, mass, temperature, volume, time and data size.

Every linear unit is a factor to its category's base unit (metre, kilogram, litre, second, byte);
temperature is converted through kelvin. US customary volumes are used (gallon = 3.785411784 L).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, get_args

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

Category = Literal["length", "mass", "temperature", "volume", "time", "data"]

# unit -> (category, factor to the category's base unit)
_LINEAR: dict[str, tuple[Category, float]] = {
    # length (metre)
    "mm": ("length", 0.001),
    "cm": ("length", 0.01),
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "in": ("length", 0.0254),
    "ft": ("length", 0.3048),
    "yd": ("length", 0.9144),
    "mi": ("length", 1609.344),
    "nmi": ("length", 1852.0),
    # mass (kilogram)
    "mg": ("mass", 1e-6),
    "g": ("mass", 0.001),
    "kg": ("mass", 1.0),
    "t": ("mass", 1000.0),
    "oz": ("mass", 0.028349523125),
    "lb": ("mass", 0.45359237),
    "st": ("mass", 6.35029318),
    # volume (litre, US customary)
    "ml": ("volume", 0.001),
    "l": ("volume", 1.0),
    "m3": ("volume", 1000.0),
    "tsp": ("volume", 0.00492892159375),
    "tbsp": ("volume", 0.01478676478125),
    "fl_oz": ("volume", 0.0295735295625),
    "cup": ("volume", 0.2365882365),
    "pt": ("volume", 0.473176473),
    "qt": ("volume", 0.946352946),
    "gal": ("volume", 3.785411784),
    # time (second; a year is 365.25 days)
    "ms": ("time", 0.001),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "d": ("time", 86400.0),
    "wk": ("time", 604800.0),
    "yr": ("time", 31557600.0),
    # data size (byte; kB/MB/GB/TB decimal, KiB/MiB/GiB/TiB binary)
    "bit": ("data", 0.125),
    "B": ("data", 1.0),
    "kB": ("data", 1e3),
    "MB": ("data", 1e6),
    "GB": ("data", 1e9),
    "TB": ("data", 1e12),
    "KiB": ("data", 1024.0),
    "MiB": ("data", 1024.0**2),
    "GiB": ("data", 1024.0**3),
    "TiB": ("data", 1024.0**4),
}
_TEMPERATURE = ("C", "F", "K")

Unit = Literal[
    "mm", "cm", "m", "km", "in", "ft", "yd", "mi", "nmi",
    "mg", "g", "kg", "t", "oz", "lb", "st",
    "C", "F", "K",
    "ml", "l", "m3", "tsp", "tbsp", "fl_oz", "cup", "pt", "qt", "gal",
    "ms", "s", "min", "h", "d", "wk", "yr",
    "bit", "B", "kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB",
]  # fmt: skip
assert set(get_args(Unit)) == set(_LINEAR) | set(_TEMPERATURE), "Unit and the unit tables disagree"

_UNIT_DESCRIPTION = (
    "length: mm cm m km in ft yd mi nmi; mass: mg g kg t oz lb st; temperature: C F K; "
    "volume: ml l m3 tsp tbsp fl_oz cup pt qt gal (US); time: ms s min h d wk yr; "
    "data: bit B kB MB GB TB KiB MiB GiB TiB"
)


def category_of(unit: str) -> Category:
    return "temperature" if unit in _TEMPERATURE else _LINEAR[unit][0]


def _to_kelvin(value: float, unit: str) -> float:
    if unit == "C":
        return value + 273.15
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0 + 273.15
    return value


def _from_kelvin(kelvin: float, unit: str) -> float:
    if unit == "C":
        return kelvin - 273.15
    if unit == "F":
        return (kelvin - 273.15) * 9.0 / 5.0 + 32.0
    return kelvin


def convert(value: float, from_unit: str, to_unit: str) -> float:
    source, target = category_of(from_unit), category_of(to_unit)
    if source != target:
        raise ToolError(f"cannot convert {source} ({from_unit}) to {target} ({to_unit})")
    if source == "temperature":
        kelvin = _to_kelvin(value, from_unit)
        if kelvin < -1e-9:
            raise ToolError(f"{value} {from_unit} is below absolute zero")
        return _from_kelvin(kelvin, to_unit)
    result = value * _LINEAR[from_unit][1] / _LINEAR[to_unit][1]
    if not math.isfinite(result):
        raise ToolError("the result is too large")
    return result


class ConversionResult(BaseModel):
    value: float
    from_unit: str
    to_unit: str
    category: Category
    result: float = Field(description="The converted value (rounded to 12 significant digits)")


def convert_units(
    value: Annotated[float, Field(ge=-1e15, le=1e15, description="The quantity to convert")],
    from_unit: Annotated[Unit, Field(description=f"Unit of value. {_UNIT_DESCRIPTION}")],
    to_unit: Annotated[Unit, Field(description="Unit to convert to (same category as from_unit)")],
) -> ConversionResult:
    """Convert a quantity between units of length, mass, temperature, volume, time or data size."""
    result = convert(value, from_unit, to_unit)
    rounded = float(f"{result:.12g}")
    return ConversionResult(
        value=value, from_unit=from_unit, to_unit=to_unit, category=category_of(from_unit), result=rounded
    )
