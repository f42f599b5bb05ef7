"""The one YAML value coercer of the package (TrainConfig fields, notebook parameters)."""
from __future__ import annotations

from .errors import fail as _fail

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}


def coerce(name: str, value, kind: type, optional: bool = False, item: type | None = None):
    """`value` as `kind` (bool, int, float, str or list of `item`) or ConfigError naming `name`.

    The one YAML coercer of the package (TrainConfig fields, notebook parameters). YAML 1.1 reads
    `1e-4` (no dot) as a string: numeric strings are accepted for float fields.
    """
    if value is None:
        if optional:
            return None
        _fail(name, value, f"must be {_KINDS.get(kind, kind.__name__)}")
    ok = True
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is list:
        ok = isinstance(value, list)
        if ok and item is not None:
            value = [coerce(f"{name}[{i}]", v, item) for i, v in enumerate(value)]  # names the bad item
    elif kind is str:
        ok = isinstance(value, str)
    if not ok:
        plural = {bool: "true or false values", int: "integers", float: "numbers", str: "strings"}
        what = _KINDS.get(kind, kind.__name__) + (f" of {plural.get(item, item.__name__)}" if item else "")
        _fail(name, value, f"must be {what}" + (" or null" if optional else ""))
    return value


__all__ = ["coerce"]
