"""The base of every file model (scenarios, studies): strict, frozen, closed.

* ``strict``: no silent coercion: ``true`` is not a number, ``'yes'`` is not a boolean, ``'512'`` is
  not an integer, ``512.0`` is not an integer (an integer is accepted where a float is expected).
  TOML arrays fill tuple fields because the loaders turn arrays into tuples at the file boundary
  (:func:`tuples`); study designs convert numpy scalars where they set a value.
* ``allow_inf_nan=False``: ``inf`` and ``nan`` are refused for every float field.
* ``extra="forbid"``: an unknown key is an error (with a suggestion).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Strict, frozen, no extra keys, no infinities or NaN."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def tuples(data: Any) -> Any:
    """``data`` with every list turned into a tuple, recursively (what a TOML array means here)."""
    if isinstance(data, dict):
        return {k: tuples(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return tuple(tuples(v) for v in data)
    return data


#: What a strict type error expected, in the words of a scenario file.
EXPECTED = {
    "float_type": "expected a number",
    "int_type": "expected a whole number (an integer, not 512.0 or '512')",
    "int_from_float": "expected a whole number (an integer)",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "finite_number": "expected a finite number",
    "tuple_type": "expected an array",
    "list_type": "expected an array",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "datetime_type": "expected a TOML date-time, e.g. 2026-11-01T00:00:00Z",
    "datetime_parsing": "expected a date-time, e.g. 2026-11-01T00:00:00Z",
}


def error_message(kind: str, msg: str, value: Any, *, show_value: bool = True) -> str:
    """One pydantic error as a sentence: what was expected and what was given."""
    text = EXPECTED.get(kind, msg.removeprefix("Value error, "))
    short = isinstance(value, str | int | float | bool) and len(repr(value)) < 60
    if (
        show_value
        and short
        and "(got " not in text
        and not (kind == "value_error" and str(value) in text)
    ):
        return f"{text} (got {toml_repr(value)})"
    return text


def toml_repr(value: Any) -> str:
    """A value as it is written in TOML (``true``, ``'yes'``, ``512.0``, ``inf``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return repr(value)
