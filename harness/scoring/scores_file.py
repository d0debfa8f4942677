"""``scores.json``: one schema, written and read by the same records.

`ScoresFile.of` takes what ``scores.json`` keeps of a `harness.scoring.results.ScoreReport`
(numbers that are nan or inf become ``null``); `ScoresFile.to_json` writes it and
`ScoresFile.from_json` reads it back into equal records, so the leaderboard and the
report read the scores with the code that wrote them.

    >>> from harness.scoring.results import ScoreReport, TaskScore
    >>> report = ScoreReport((TaskScore("t", 4, 0, None, "no predictions"),), environment={})
    >>> file = ScoresFile.of(report)
    >>> ScoresFile.from_json(file.to_json()) == file, file.tasks[0].official_reason
    (True, 'no predictions')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from harness.errors import HarnessError
from harness.task.records import atomic_write_text
from harness.scoring.inputs import finite_number
from harness.scoring.null import NULL_METRICS, NullSummary, TaskNull
from harness.scoring.ranking import SignErrorSummary
from harness.scoring.results import ScoreReport, TaskScore

SCORES_JSON = "scores.json"

Number = float | None
Pair = tuple[str, str]

_NULL_NOTE = {
    "p_value": "(1 + #{null >= observed}) / (n_permutations + 1), one-sided: larger is better for "
               "every metric (for tau and Psi, a measure that grows with the gap)",
    "null": "the measure's values permuted across each task's models; the overall official score "
            "permutes every task independently"}
_INTERVALS_NOTE = ("percentile intervals, widened to contain the estimate: tau and Psi from models "
                   "resampled; with replicate seeds, seeds resampled within each configuration (then the "
                   "official score too); never for robust CMI, nor for the official score from "
                   "resampled models")


def _pairs(items: list[Mapping[str, Any]], key: str) -> dict[Pair, Number]:
    return {(p["hparams"][0], p["hparams"][1]): p[key] for p in items}


def _pair_list(pairs: Mapping[Pair, Number], key: str) -> list[dict[str, Any]]:
    return [{"hparams": list(pair), key: value} for pair, value in pairs.items()]


@dataclass(frozen=True)
class SummaryEntry:
    """A metric against its null (mean, 95th percentile, p-value), as the file keeps it."""

    mean: Number
    q95: Number
    p_value: Number

    @classmethod
    def of(cls, summary: NullSummary | None) -> SummaryEntry | None:
        if summary is None:
            return None
        return cls(finite_number(summary.mean), finite_number(summary.q95), finite_number(summary.p_value))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> SummaryEntry | None:
        return None if raw is None else cls(raw["mean"], raw["q95"], raw["p_value"])

    def to_dict(self) -> dict[str, Number]:
        return {"mean": self.mean, "q95": self.q95, "p_value": self.p_value}


@dataclass(frozen=True)
class SignErrorEntry:
    """One sign-error summary (`harness.scoring.ranking.SignErrorSummary`)."""

    mean: Number
    worst_environment: Number
    worst_group: Number
    n_pairs: int
    n_environments: int

    @classmethod
    def of(cls, s: SignErrorSummary) -> SignErrorEntry:
        return cls(finite_number(s.mean), finite_number(s.worst_environment), finite_number(s.worst_group),
                   s.n_pairs, s.n_environments)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SignErrorEntry:
        return cls(raw["mean"], raw["worst_environment"], raw["worst_group"], raw["n_pairs"], raw["n_environments"])

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "worst_environment": self.worst_environment, "worst_group": self.worst_group,
                "n_pairs": self.n_pairs, "n_environments": self.n_environments}


@dataclass(frozen=True)
class IntervalEntry:
    """One percentile interval; ``resampled`` is ``models`` or ``seeds``."""

    low: Number
    high: Number
    confidence: float
    n_resamples: int
    n_defined: int
    resampled: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> IntervalEntry:
        return cls(raw["low"], raw["high"], raw["confidence"], raw["n_resamples"], raw["n_defined"], raw["resampled"])

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "confidence": self.confidence,
                "n_resamples": self.n_resamples, "n_defined": self.n_defined, "resampled": self.resampled}


@dataclass(frozen=True)
class NullEntry:
    """A task's permutation null: per metric of `NULL_METRICS` its summary (None where it has no
    null), how many permutations, the seed, each p-value's method, and the 95th percentiles
    of score(a, b) and ψ_k for the plots."""

    summaries: dict[str, SummaryEntry | None]
    n_permutations: int
    seed: int
    methods: dict[str, str]
    official_pairs_q95: dict[Pair, Number]
    psi_per_hparam_q95: dict[str, Number]

    @classmethod
    def of(cls, null: TaskNull) -> NullEntry:
        return cls({m: SummaryEntry.of(null.summaries.get(m)) for m in NULL_METRICS}, null.n_permutations,
                   null.seed, dict(null.methods),
                   {pair: finite_number(v) for pair, v in null.official_pairs_q95.items()},
                   {k: finite_number(v) for k, v in null.psi_per_hparam_q95.items()})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> NullEntry:
        return cls({m: SummaryEntry.from_dict(raw[m]) for m in NULL_METRICS}, raw["n_permutations"], raw["seed"],
                   dict(raw["methods"]), _pairs(raw["official_pairs_q95"], "q95"), dict(raw["psi_per_hparam_q95"]))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {m: None if s is None else s.to_dict() for m, s in self.summaries.items()}
        out.update(n_permutations=self.n_permutations, seed=self.seed, methods=dict(self.methods),
                   official_pairs_q95=_pair_list(self.official_pairs_q95, "q95"),
                   psi_per_hparam_q95=dict(self.psi_per_hparam_q95))
        return out


@dataclass(frozen=True)
class RobustEntry:
    """Robust CMI: the headline and every conditioning set's value."""

    headline: Number
    by_set: dict[tuple[str, ...], Number]


@dataclass(frozen=True)
class GranulatedEntry:
    """Granulated Kendall: Ψ and every ψ_k."""

    psi: Number
    per_hparam: dict[str, Number]


@dataclass(frozen=True)
class SignErrorsEntry:
    """Sign-error over every hyperparameter (``overall``) and per hyperparameter."""

    overall: SignErrorEntry
    per_hparam: dict[str, SignErrorEntry]


@dataclass(frozen=True)
class TaskEntry:
    """One task of ``scores.json`` (``tasks.<task>``): what `harness.scoring.results.TaskScore` gives,
    numbers that are not finite as None."""

    task: str
    n_models: int
    n_scored: int
    official: Number
    official_reason: str | None
    official_pairs: dict[Pair, Number]
    robust: RobustEntry | None
    kendall_tau: Number
    granulated: GranulatedEntry | None
    sign_error: SignErrorsEntry | None
    ci: dict[str, IntervalEntry]
    null: NullEntry | None
    flags: tuple[str, ...]

    @classmethod
    def of(cls, t: TaskScore) -> TaskEntry:
        num = finite_number
        robust = None if t.robust is None else RobustEntry(
            num(t.robust.headline), {s: num(v) for s, v in t.robust.by_set.items()})
        granulated = None if t.granulated is None else GranulatedEntry(
            num(t.granulated.psi), {k: num(v) for k, v in t.granulated.per_hparam.items()})
        sign = None if t.sign_error is None else SignErrorsEntry(
            SignErrorEntry.of(t.sign_error.overall),
            {k: SignErrorEntry.of(v) for k, v in t.sign_error.per_hparam.items()})
        ci = {k: IntervalEntry(num(v.low), num(v.high), v.confidence, v.n_resamples, v.n_defined, v.method)
              for k, v in t.ci.items()}
        return cls(t.task, t.n_models, t.n_scored, num(t.official), t.official_reason,
                   {pair: num(v) for pair, v in t.official_pairs.items()}, robust, num(t.kendall_tau),
                   granulated, sign, ci, None if t.null is None else NullEntry.of(t.null), tuple(t.flags))

    @classmethod
    def from_dict(cls, task: str, raw: Mapping[str, Any]) -> TaskEntry:
        robust, gran, sign = raw["robust_cmi"], raw["granulated_kendall"], raw["sign_error"]
        return cls(
            task, int(raw["n_models"]), int(raw["n_scored"]), raw["official"], raw["official_reason"],
            _pairs(raw["official_pairs"], "score"),
            None if robust is None else RobustEntry(robust["headline"],
                                                    {tuple(s["hparams"]): s["value"] for s in robust["by_set"]}),
            raw["kendall_tau"],
            None if gran is None else GranulatedEntry(gran["psi"], dict(gran["per_hparam"])),
            None if sign is None else SignErrorsEntry(
                SignErrorEntry.from_dict(sign), {k: SignErrorEntry.from_dict(v) for k, v in sign["per_hparam"].items()}),
            {k: IntervalEntry.from_dict(v) for k, v in raw["ci"].items()},
            None if raw["null"] is None else NullEntry.from_dict(raw["null"]), tuple(raw["flags"]))

    def to_dict(self) -> dict[str, Any]:
        robust, gran, sign = self.robust, self.granulated, self.sign_error
        return {
            "n_models": self.n_models, "n_scored": self.n_scored, "n_missing": self.n_models - self.n_scored,
            "official": self.official, "official_reason": self.official_reason,
            "official_pairs": _pair_list(self.official_pairs, "score"),
            "robust_cmi": None if robust is None else {
                "headline": robust.headline,
                "by_set": [{"hparams": list(s), "value": v} for s, v in robust.by_set.items()]},
            "kendall_tau": self.kendall_tau,
            "granulated_kendall": None if gran is None else {"psi": gran.psi, "per_hparam": dict(gran.per_hparam)},
            "sign_error": None if sign is None else {
                **sign.overall.to_dict(), "per_hparam": {k: v.to_dict() for k, v in sign.per_hparam.items()}},
            "ci": {k: v.to_dict() for k, v in self.ci.items()},
            "null": None if self.null is None else self.null.to_dict(),
            "flags": list(self.flags),
        }

    def headline(self, metric: str) -> Number:
        """The headline of ``metric``: ``official``, ``robust_cmi``, ``kendall_tau``, ``psi`` or
        ``sign_error`` (its mean over pairs); None where undefined."""
        values = {"official": self.official, "kendall_tau": self.kendall_tau,
                  "robust_cmi": None if self.robust is None else self.robust.headline,
                  "psi": None if self.granulated is None else self.granulated.psi,
                  "sign_error": None if self.sign_error is None else self.sign_error.overall.mean}
        return values[metric]

    def null_summary(self, metric: str) -> SummaryEntry | None:
        """The null of ``metric`` (one of `NULL_METRICS`); None where it has none."""
        return None if self.null is None else self.null.summaries.get(metric)

    @property
    def psi_per_hparam(self) -> dict[str, Number]:
        return {} if self.granulated is None else dict(self.granulated.per_hparam)

    @property
    def sign_error_per_hparam(self) -> dict[str, tuple[Number, Number]]:
        """Per hyperparameter, its sign-error's (mean, worst group)."""
        per = {} if self.sign_error is None else self.sign_error.per_hparam
        return {k: (v.mean, v.worst_group) for k, v in per.items()}


@dataclass(frozen=True)
class ScoresFile:
    """The whole of ``scores.json``: the overall official score and its null, every task, the
    problems, warnings and notes of the run, the environment, and how nulls and intervals were made."""

    overall_official: float
    tasks: tuple[TaskEntry, ...]
    null_overall: SummaryEntry | None = None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    permutations: int | None = None
    seed: int = 0
    bootstrap: int = 200

    @classmethod
    def of(cls, report: ScoreReport) -> ScoresFile:
        return cls(report.overall_official, tuple(TaskEntry.of(t) for t in report.tasks),
                   SummaryEntry.of(report.overall_null), tuple(report.problems), tuple(report.warnings),
                   tuple(report.notes), dict(report.environment), report.permutations, report.seed,
                   report.bootstrap)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall_official": self.overall_official,
            "n_tasks": len(self.tasks),
            "n_models": sum(t.n_models for t in self.tasks),
            "n_scored": sum(t.n_scored for t in self.tasks),
            "n_missing": sum(t.n_models - t.n_scored for t in self.tasks),
            "tasks": {t.task: t.to_dict() for t in self.tasks},
            "null_overall": {"official": None if self.null_overall is None else self.null_overall.to_dict()},
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "environment": self.environment,
            "null_method": {"n_permutations": "auto" if self.permutations is None else self.permutations,
                            "seed": self.seed, **_NULL_NOTE},
            "intervals": {"n_resamples": self.bootstrap, "seed": self.seed, "note": _INTERVALS_NOTE},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScoresFile:
        permutations = raw["null_method"]["n_permutations"]
        return cls(float(raw["overall_official"]),
                   tuple(TaskEntry.from_dict(name, t) for name, t in raw["tasks"].items()),
                   SummaryEntry.from_dict(raw["null_overall"]["official"]), tuple(raw["problems"]),
                   tuple(raw["warnings"]), tuple(raw["notes"]), dict(raw["environment"]),
                   None if permutations == "auto" else permutations, raw["null_method"]["seed"],
                   raw["intervals"]["n_resamples"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ScoresFile:
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: str | Path) -> ScoresFile:
        """The scores at ``path``; `HarnessError` naming it when it is missing or not a scores file."""
        path = Path(path)
        try:
            return cls.from_json(path.read_text())
        except FileNotFoundError:
            raise HarnessError(f"{path}: not found (the submission was not scored)") from None
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise HarnessError(f"{path}: not a scores file ({exc!r})") from None

    def write(self, path: str | Path) -> None:
        """Write atomically (no reader ever sees half a file)."""
        atomic_write_text(Path(path), self.to_json())
