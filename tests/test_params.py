"""`harness.params`: constraints declared once per public function, errors that name the parameter."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ParameterError
from harness.params import InstanceOf, Interval, Options, Satisfies, check_param, declared_constraints, validate_params


@validate_params({"count": [Interval(int, 0, None)], "rate": [Interval(float, 0, 1, closed="right")],
                  "mode": [Options(("fast", "exact"))], "names": [InstanceOf(tuple), None]})
def _configure(count: int, rate: float = 0.5, *, mode: str = "fast", names: tuple | None = None) -> tuple:
    return count, rate, mode, names


def test_valid_call_passes_its_arguments_through() -> None:
    assert _configure(2, 1.0, mode="exact", names=("a",)) == (2, 1.0, "exact", ("a",))


@pytest.mark.parametrize("kwargs, message", [
    ({"count": -1}, "count must be an int in [0, inf). Received: count=-1"),
    ({"count": True}, "count must be an int in [0, inf). Received: count=True"),
    ({"count": 1, "rate": 0.0}, "rate must be a float in (0, 1]. Received: rate=0.0"),
    ({"count": 1, "rate": float("nan")}, "rate must be a float in (0, 1]. Received: rate=nan"),
    ({"count": 1, "mode": "slow"}, "mode must be one of 'fast', 'exact'. Received: mode='slow'"),
    ({"count": 1, "names": ["a"]}, "names must be a tuple or None. Received: names=['a']"),
])
def test_bad_value_names_the_parameter_and_what_it_received(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        _configure(**kwargs)
    assert str(info.value) == message
    assert info.value.param == next(k for k in reversed(list(kwargs)))


def test_defaults_are_checked_too() -> None:
    @validate_params({"limit": [Interval(int, 1, None)]})
    def broken(limit: int = 0) -> int:
        return limit

    with pytest.raises(ParameterError, match="limit must be"):
        broken()


def test_integral_numpy_scalars_count_as_ints_and_ints_as_floats() -> None:
    assert _configure(np.int64(3), 1)[0] == 3


def test_constraint_on_a_missing_parameter_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no parameter"):
        validate_params({"missing": [None]})(lambda x: x)


def test_declared_constraints_are_readable_for_the_cli() -> None:
    assert set(declared_constraints(_configure)) == {"count", "rate", "mode", "names"}
    assert declared_constraints(len) == {}


def test_check_param_with_a_predicate() -> None:
    even = Satisfies(lambda v: v % 2 == 0, "an even number")
    check_param("n", 4, [even])
    with pytest.raises(ParameterError, match="n must be an even number. Received: n=3"):
        check_param("n", 3, [even])


def test_cli_shows_the_message_under_the_option_name() -> None:
    with pytest.raises(ParameterError) as info:
        _configure(-1)
    assert info.value.shown_as("--count") == "--count must be an int in [0, inf). Received: --count -1"


def test_docstring_examples_run() -> None:
    import doctest

    import harness.params

    result = doctest.testmod(harness.params)
    assert result.failed == 0 and result.attempted > 0
