"""Parameter constraints declared once per public function (in the spirit of scikit-learn's `validate_params`).

A public function states, next to its signature, what each checked parameter
may be; a call with anything else raises `ParameterError`, which names the
parameter as the API spells it (the CLI shows it under its option's name)::

    >>> @validate_params({"limit": [Interval(int, 1, None)], "tasks": [InstanceOf(tuple), None]})
    ... def pick(limit, tasks=None):
    ...     return limit
    >>> pick(3)
    3
    >>> pick(0)
    Traceback (most recent call last):
    ...
    harness.errors.ParameterError: limit must be an int in [1, inf). Received: limit=0
    >>> pick(2, tasks=["a"])
    Traceback (most recent call last):
    ...
    harness.errors.ParameterError: tasks must be a tuple or None. Received: tasks=['a']

A parameter's value is accepted when any one of its constraints holds; ``None``
in the list accepts ``None``. ``bool`` is never taken for a number.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, TypeVar

from harness.errors import ParameterError

F = TypeVar("F", bound=Callable[..., Any])


class Constraint(Protocol):
    """What one parameter may be; ``str()`` says it in words ("an int in [0, inf)")."""

    def holds(self, value: Any) -> bool: ...


@dataclass(frozen=True)
class InstanceOf:
    """An instance of ``kind`` (a type or a tuple of types), bools excluded unless ``kind`` is bool."""

    kind: type | tuple[type, ...]

    def holds(self, value: Any) -> bool:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        if isinstance(value, bool) and bool not in kinds:
            return False
        return isinstance(value, kinds)

    def __str__(self) -> str:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        return " or ".join(_article(k.__name__) for k in kinds)


@dataclass(frozen=True)
class Interval:
    """A real (``float``) or whole (``int``) number between ``left`` and ``right`` (None: unbounded).

    ``closed`` is "both", "left", "right" or "neither". Floats exclude NaN;
    ``float`` accepts ints too, ``int`` accepts integral numpy scalars.
    """

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        wanted = numbers.Integral if self.kind is int else numbers.Real
        if not isinstance(value, wanted) or (self.kind is float and math.isnan(value)):
            return False
        left_ok = self.left is None or (value >= self.left if self.closed in ("both", "left") else value > self.left)
        right_ok = self.right is None or (value <= self.right if self.closed in ("both", "right")
                                          else value < self.right)
        return left_ok and right_ok

    def __str__(self) -> str:
        low = "-inf" if self.left is None else _number(self.left)
        high = "inf" if self.right is None else _number(self.right)
        opening = "[" if self.closed in ("both", "left") and self.left is not None else "("
        closing = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        return f"{_article(self.kind.__name__)} in {opening}{low}, {high}{closing}"


@dataclass(frozen=True)
class Options:
    """One of ``values`` (compared with ``==``)."""

    values: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Satisfies:
    """Whatever ``test`` accepts; ``description`` says what that is."""

    test: Callable[[Any], bool]
    description: str

    def holds(self, value: Any) -> bool:
        return bool(self.test(value))

    def __str__(self) -> str:
        return self.description


class _IsNone:
    def holds(self, value: Any) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


def check_param(name: str, value: Any, constraints: Sequence[Constraint | None]) -> None:
    """Raise `ParameterError` naming ``name`` unless one of ``constraints`` holds for ``value``."""
    resolved = [_IsNone() if c is None else c for c in constraints]
    if not any(c.holds(value) for c in resolved):
        raise ParameterError(name, "must be " + " or ".join(str(c) for c in resolved), value)


def validate_params(constraints: Mapping[str, Sequence[Constraint | None]]) -> Callable[[F], F]:
    """Decorate a function so that every call checks the named parameters against ``constraints`` first."""

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameter(s) {', '.join(sorted(unknown))}")

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, allowed in constraints.items():
                check_param(name, bound.arguments[name], allowed)
            return function(*args, **kwargs)

        checked.__param_constraints__ = dict(constraints)  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def declared_constraints(function: Callable[..., Any]) -> dict[str, Sequence[Constraint | None]]:
    """The constraints ``function`` declared with `validate_params` (empty when it declared none)."""
    return dict(getattr(function, "__param_constraints__", {}))


def _article(name: str) -> str:
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


__all__ = ["Constraint", "InstanceOf", "Interval", "Options", "Satisfies", "check_param",
                          "validate_params", "declared_constraints"]
