"""Properties every metric shares, checked over one registry of all of them (as scikit-learn's
``test_common`` does for its metrics).

Each metric depends on the models only through the *order* of the measure and of the gap within
pairs of models, and on the hyperparameters only to condition or to group, so:

* reordering the models (measure, gap and grid together) changes nothing;
* a strictly increasing transform of the measure changes nothing;
* negating the measure leaves a sign-agnostic metric unchanged (robust CMI), negates a signed
  one (τ, Ψ), turns sign-error into its complement, and changes the official score in general
  (a tie, self-pairs included, counts as "not greater" both ways);
* negating measure *and* gap together reverses every pair, which changes no metric.
"""

from __future__ import annotations

import enum
import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from harness.scoring import (Grid, granulated_kendall, kendall_tau, official_pair_scores, official_score, robust_cmi,
                             score_all, sign_error)

Outputs = dict[str, float]


class Negation(enum.Enum):
    """What negating the measure alone does to a metric's outputs."""

    INVARIANT = "unchanged"
    NEGATED = "negated"
    COMPLEMENT = "1 - value"
    CHANGES = "changed, with no fixed relation"
    #: Worst cases (a max over groups becomes 1 - a min): no relation to check but the joint one.
    UNRELATED = "no relation"


@dataclass(frozen=True)
class MetricCase:
    name: str
    outputs: Callable[[np.ndarray, np.ndarray, Grid], Outputs]
    negation: Negation
    complete_grid_only: bool = False


def _official_pairs(m, g, grid) -> Outputs:
    return {f"{a}/{b}": v for (a, b), v in official_pair_scores(m, g, grid).items()}


def _robust(m, g, grid) -> Outputs:
    result = robust_cmi(m, g, grid)
    return {"headline": result.headline, **{"/".join(s) or "()": v for s, v in result.by_set.items()}}


def _psi(m, g, grid) -> Outputs:
    result = granulated_kendall(m, g, grid)
    return {"psi": result.psi, **result.per_hparam}


def _sign_means(m, g, grid) -> Outputs:
    result = sign_error(m, g, grid, min_samples=1)
    return {"overall": result.overall.mean, **{k: v.mean for k, v in result.per_hparam.items()}}


def _sign_worst(m, g, grid) -> Outputs:
    result = sign_error(m, g, grid, min_samples=1)
    summaries = {"overall": result.overall, **result.per_hparam}
    return {f"{k} {field}": getattr(s, field) for k, s in summaries.items()
            for field in ("worst_environment", "worst_group")}


def _score_all(m, g, grid) -> Outputs:
    result = score_all(m, g, grid)
    out = {"official": math.nan if result.official is None else result.official,
           "tau": result.kendall_tau, "psi": result.granulated.psi, "robust": result.robust.headline,
           "sign": result.sign_error.overall.mean}
    out.update({f"{a}/{b}": v for (a, b), v in result.official_pairs.items()})
    return out


METRICS = [
    MetricCase("official_score", lambda m, g, grid: {"score": official_score(m, g, grid)}, Negation.CHANGES,
               complete_grid_only=True),
    MetricCase("official_pair_scores", _official_pairs, Negation.CHANGES, complete_grid_only=True),
    MetricCase("robust_cmi", _robust, Negation.INVARIANT),
    MetricCase("kendall_tau", lambda m, g, grid: {"tau": kendall_tau(m, g)}, Negation.NEGATED),
    MetricCase("granulated_kendall", _psi, Negation.NEGATED),
    MetricCase("sign_error (means)", _sign_means, Negation.COMPLEMENT),
    MetricCase("sign_error (worst cases)", _sign_worst, Negation.UNRELATED),
    MetricCase("score_all", _score_all, Negation.CHANGES),
]

#: Tasks: a complete 3 x 3 x 2 grid with distinct gaps, the same with tied gaps and a tied measure,
#: and an incomplete grid with a repeated configuration.
TASK_KINDS = ("distinct", "ties", "incomplete")


def make_task(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, Grid]:
    rng = np.random.default_rng(seed)
    levels = np.array(list(itertools.product(range(3), range(3), range(2))))
    if kind == "incomplete":
        levels = np.concatenate([levels[2:], levels[:1]])
    n = len(levels)
    if kind == "ties":
        gap, measure = rng.integers(0, 5, n) / 10, rng.integers(0, 6, n).astype(float)
    else:
        gap, measure = rng.permutation(n) / n, rng.normal(size=n)
    return measure, gap, Grid.from_levels(levels)


CASES = [pytest.param(metric, kind, seed, id=f"{metric.name}-{kind}-{seed}")
         for metric in METRICS for kind in TASK_KINDS for seed in range(3)
         if not (metric.complete_grid_only and kind == "incomplete")]
SIGNED_CASES = [case for case in CASES if case.values[0].negation is not Negation.UNRELATED]


def assert_outputs_equal(got: Outputs, want: Outputs) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True), key


@pytest.mark.parametrize("metric, kind, seed", CASES)
def test_the_order_of_the_models_changes_nothing(metric: MetricCase, kind: str, seed: int) -> None:
    measure, gap, grid = make_task(kind, seed)
    order = np.random.default_rng(100 + seed).permutation(len(gap))
    assert_outputs_equal(metric.outputs(measure[order], gap[order], grid.take(order)),
                         metric.outputs(measure, gap, grid))


@pytest.mark.parametrize("transform", [lambda m: np.exp(m / 3) + 7.0, lambda m: m ** 3 - 2.0, np.arctan],
                         ids=["exp", "cube", "arctan"])
@pytest.mark.parametrize("metric, kind, seed", CASES)
def test_a_strictly_increasing_transform_of_the_measure_changes_nothing(metric: MetricCase, kind: str, seed: int,
                                                                       transform) -> None:
    measure, gap, grid = make_task(kind, seed)
    transformed = transform(measure)
    assert np.array_equal(np.argsort(transformed, kind="stable"), np.argsort(measure, kind="stable"))
    assert_outputs_equal(metric.outputs(transformed, gap, grid), metric.outputs(measure, gap, grid))


@pytest.mark.parametrize("metric, kind, seed", SIGNED_CASES)
def test_negating_the_measure_does_what_the_metric_declares(metric: MetricCase, kind: str, seed: int) -> None:
    measure, gap, grid = make_task(kind, seed)
    before, after = metric.outputs(measure, gap, grid), metric.outputs(-measure, gap, grid)
    if metric.negation is Negation.INVARIANT:
        assert_outputs_equal(after, before)
    elif metric.negation is Negation.NEGATED:
        assert_outputs_equal(after, {k: -v for k, v in before.items()})
    elif metric.negation is Negation.COMPLEMENT:
        assert_outputs_equal(after, {k: 1.0 - v for k, v in before.items()})
    else:   # Negation.CHANGES: some output moves (else the metric belongs in another class)
        assert any(not (a == b or (math.isnan(a) and math.isnan(b))) for a, b in zip(after.values(), before.values()))


@pytest.mark.parametrize("metric, kind, seed", CASES)
def test_negating_measure_and_gap_together_changes_nothing(metric: MetricCase, kind: str, seed: int) -> None:
    measure, gap, grid = make_task(kind, seed)
    assert_outputs_equal(metric.outputs(-measure, -gap, grid), metric.outputs(measure, gap, grid))


def test_every_public_metric_is_in_the_registry() -> None:
    """A metric added to `harness.scoring` without a case here would escape these properties."""
    import harness.scoring as scoring

    covered = {"official_score", "official_pair_scores", "robust_cmi", "kendall_tau", "granulated_kendall",
               "sign_error", "score_all"}
    assert covered == {name for name in scoring.METRIC_FUNCTIONS}
    assert covered <= {case.name.split(" ")[0] for case in METRICS}


@pytest.mark.parametrize("name", ["official_score", "official_pair_scores", "robust_cmi", "granulated_kendall",
                                  "sign_error", "score_all"])
def test_a_grid_that_is_not_a_grid_is_refused_naming_the_parameter(name: str) -> None:
    import harness.scoring as scoring
    from harness.errors import ParameterError

    with pytest.raises(ParameterError, match=r"^grid must be a Grid\. Received: grid=\[\[0\], \[1\]\]$"):
        scoring.METRIC_FUNCTIONS[name]([1.0, 2.0], [0.1, 0.2], [[0], [1]])
