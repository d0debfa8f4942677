"""What every metric takes in: a measure and a gap per model, checked once, and the rule for tied gaps.

Also the one test of "is this a finite number" that scoring, its files and its
tables share (`finite_number`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from harness.scoring.grid import Grid

#: Gaps are compared after rounding to this many decimals wherever ties count or are excluded.
GAP_DECIMALS = 9


def finite_number(value: Any) -> float | None:
    """``float(value)`` when ``value`` is a finite real number (not a bool), else None.

    >>> finite_number(2), finite_number(float("nan")), finite_number(None), finite_number(True)
    (2.0, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def round_gaps(gap: Any) -> np.ndarray:
    """Gaps rounded to 1e-9, so that float noise does not split ties.

    ``0.8 - 0.7`` and ``1.0 - 0.9`` are both a gap of 0.1, but differ in the
    last bits. Every metric that counts or excludes ties (robust CMI, τ, Ψ,
    sign-error, their nulls) compares rounded gaps; the official score keeps
    the 2020 scorer's raw comparisons, which are its specification.

    >>> bool((0.8 - 0.7) == (1.0 - 0.9)), bool(np.equal(*round_gaps([0.8 - 0.7, 1.0 - 0.9])))
    (False, True)
    """
    return np.round(np.asarray(gap, dtype=np.float64), GAP_DECIMALS)


def compare(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sign(x - y) as int8, by comparison (no rounding in a subtraction).

    >>> compare(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])).tolist()
    [-1, 0, 1]
    """
    return (x > y).view(np.int8) - (x < y).view(np.int8)


def as_vectors(measure: Any, gap: Any) -> tuple[np.ndarray, np.ndarray]:
    """``measure`` and ``gap`` as float64 vectors of one length, every value finite; else `ValueError`."""
    try:
        m = np.asarray(measure, dtype=np.float64)
        g = np.asarray(gap, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"measure and gap must be arrays of numbers ({exc})") from None
    if m.ndim != 1 or g.ndim != 1:
        raise ValueError(f"measure and gap must be 1-D, got shapes {m.shape} and {g.shape}")
    if len(m) != len(g):
        raise ValueError(f"measure has {len(m)} values but gap has {len(g)}")
    for name, arr in (("measure", m), ("gap", g)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{name} has {bad.size} non-finite value(s), first at position {bad[0]}")
    return m, g


def check_inputs(measure: Any, gap: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """`as_vectors`, and one value per model of ``grid``."""
    m, g = as_vectors(measure, gap)
    if len(m) != grid.n_models:
        raise ValueError(f"{len(m)} measure values but the grid has {grid.n_models} models")
    return m, g
