"""Declarative, typed algorithm settings: one table per algorithm, one parser.

Katib sends every setting as a string (``AlgorithmSetting{name, value}``). Each algorithm
declares a :class:`SettingsTable`; the same :meth:`SettingsTable.parse` runs in
``ValidateAlgorithmSettings`` and in ``GetSuggestions``, so a setting cannot be accepted by one
and rejected by the other. Unknown names are rejected with the list of known ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .errors import SuggestionInputError

Kind = Literal["int", "float", "bool", "str", "choice", "int_list", "bool_list"]

T = TypeVar("T")
_UNSET = object()
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected true or false")


@dataclass(frozen=True)
class Setting:
    """One setting: its name, type, allowed range, default and a one-line doc."""

    name: str
    kind: Kind
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def allowed(self) -> str:
        """Human-readable allowed values, used in error messages and the docs table."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("bool", "bool_list"):
            per_stage = " per stage, comma-separated" if self.kind == "bool_list" else ""
            return "true/false" + per_stage
        if self.kind == "str":
            return "text"
        lo = "-inf" if self.minimum is None else _num(self.minimum)
        hi = "inf" if self.maximum is None else _num(self.maximum)
        what = {"int": "integer", "float": "number", "int_list": "comma-separated integers"}
        return f"{what[self.kind]} in [{lo}, {hi}]"

    def parse(self, raw: str) -> Any:
        """Parse ``raw`` or raise :class:`SuggestionInputError` naming the setting."""
        text = raw.strip()
        try:
            value = self._convert(text)
        except ValueError as e:
            raise SuggestionInputError(
                f"algorithm setting {self.name}={raw!r} is invalid ({e}); allowed: {self.allowed()}"
            ) from None
        return value

    def _convert(self, text: str) -> Any:
        if self.kind == "str":
            return text
        if self.kind == "bool":
            return _bool(text)
        if self.kind == "choice":
            low = text.lower()
            if low not in self.choices:
                raise ValueError("not a supported choice")
            return low
        if self.kind == "bool_list":
            return tuple(_bool(part) for part in _split(text))
        if self.kind == "int_list":
            return tuple(self._check(int(part)) for part in _split(text))
        if self.kind == "int":
            return self._check(int(text))
        number = float(text)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return self._check(number)

    def _check(self, number: float) -> Any:
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"below the minimum {_num(self.minimum)}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"above the maximum {_num(self.maximum)}")
        return number


def _num(value: float) -> str:
    """12 not 12.0, 2147483647 not 2.14748e+09, 1e-12 as is."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def _split(text: str) -> list[str]:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    if not text or any(not p for p in parts):
        raise ValueError("empty element")
    return parts


@dataclass(frozen=True)
class SettingsTable:
    """The settings one algorithm accepts."""

    algorithm: str
    settings: tuple[Setting, ...]
    _by_name: dict[str, Setting] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Setting] = {}
        for s in self.settings:
            for key in (s.name, *s.aliases):
                by_name[key] = s
        object.__setattr__(self, "_by_name", by_name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.settings]

    def parse(self, raw: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, Any]:
        """Typed settings (defaults filled in) from Katib's name/value strings.

        An empty value means "use the default" (Katib's UI and SDK write empty strings for
        settings left blank).
        """
        items = raw.items() if isinstance(raw, Mapping) else raw
        values = {s.name: s.default for s in self.settings}
        for name, text in items:
            setting = self._by_name.get(name)
            if setting is None:
                raise SuggestionInputError(
                    f"unknown algorithm setting {name!r} for algorithm {self.algorithm!r}; "
                    f"known settings: {', '.join(sorted(self.names))}"
                )
            if text.strip() == "":
                continue
            values[setting.name] = setting.parse(text)
        return values

    def parse_into(self, cls: type[T], raw: Mapping[str, str] | Iterable[tuple[str, str]],
                   /, **given: Any) -> T:
        """:meth:`parse` straight into the frozen config dataclass `cls` (see :meth:`fill`)."""
        return self.fill(cls, self.parse(raw), **given)

    def fill(self, cls: type[T], values: Mapping[str, Any], /, **given: Any) -> T:
        """``cls(...)`` with each field taken from `given`, else from the parsed `values`.

        Every setting must reach the result, so a setting cannot be parsed and then forgotten:
        as the field of its name (its parsed value, or the `given` one that replaces it, e.g.
        a seed defaulted from the experiment name), or as the same-valued attribute of a
        dataclass passed in `given` (a nested settings object). Otherwise this raises
        TypeError: a bug in the algorithm, not bad input.
        """
        names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        nested = [v for v in given.values()
                  if dataclasses.is_dataclass(v) and not isinstance(v, type)]
        for name, value in values.items():
            if name in names or any(getattr(n, name, _UNSET) == value for n in nested):
                continue
            raise TypeError(f"setting {name!r} of algorithm {self.algorithm!r} does not reach "
                            f"{cls.__name__}: add a field for it or pass it on")
        unknown = set(given) - names
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {sorted(unknown)}")
        return cls(**{n: given[n] if n in given else values[n]
                      for n in names if n in given or n in values})

    def markdown(self) -> str:
        """The table as Markdown (docs/katib.md is written from it)."""
        rows = ["| setting | type / allowed | default | meaning |", "|---|---|---|---|"]
        for s in self.settings:
            default = "" if s.default is None else _show(s.default)
            alias = f" (alias: {', '.join(s.aliases)})" if s.aliases else ""
            rows.append(f"| `{s.name}`{alias} | {s.allowed()} | `{default}` | {s.doc} |")
        return "\n".join(rows)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
