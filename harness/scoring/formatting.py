"""Scores as text: the table `pgdl evaluate` prints, and how a score or a p-value is shown
(the HTML report and the leaderboard use the same)."""

from __future__ import annotations

import math

from harness.scoring.intervals import Interval
from harness.scoring.results import SUBSET_REASON, ScoreReport


def format_table(report: ScoreReport) -> str:
    """A readable table: one row per task (each headline with its null p-value, τ and Ψ with
    their intervals), then the overall official score with its null."""
    header = ("task", "models", "official", "p", "robust CMI", "p", "tau [95% CI]", "p", "Psi [95% CI]", "p",
              "sign err")
    rows = [header]
    for t in report.tasks:
        psi = None if t.granulated is None else t.granulated.psi
        rows.append((t.task, f"{t.n_scored}/{t.n_models}",
                     format_score(t.official) + ("" if t.official is not None or t.official_reason == SUBSET_REASON
                                                 else " (0)"),
                     format_p(t.p_value("official")),
                     "-" if t.robust is None else format_score(t.robust.headline), format_p(t.p_value("robust_cmi")),
                     _with_interval(t.kendall_tau, t.ci.get("kendall_tau")), format_p(t.p_value("kendall_tau")),
                     _with_interval(psi, t.ci.get("psi")), format_p(t.p_value("psi")),
                     "-" if t.sign_error is None else format_score(t.sign_error.overall.mean)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if c == 0 else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    null = report.overall_null
    against = "" if null is None else \
        f"; null mean {null.mean:.4f}, 95th percentile {null.q95:.4f}, p = {format_p(null.p_value)}"
    if report.tasks and all(t.official_reason == SUBSET_REASON for t in report.tasks):
        lines.append("overall official score: - (a subset of each grid; the official score needs the complete grid)")
    else:
        lines.append(f"overall official score: {report.overall_official:.4f} (100 x mean over "
                     f"{len(report.tasks)} task{'s' if len(report.tasks) != 1 else ''}{against})")
    if any(t.null is not None for t in report.tasks):
        counts = sorted({t.null.n_permutations for t in report.tasks if t.null is not None})
        lines.append(f"p: one-sided permutation p-value ({', '.join(map(str, counts))} permutations; "
                     f"the smallest possible is 1/(N+1)); larger is better for every score")
    return "\n".join(lines)


def format_p(value: float | None) -> str:
    """A p-value as the tables show it: 3 significant digits, ``<0.0001`` below that, ``-`` for none.

    >>> format_p(0.01234), format_p(3e-6), format_p(None)
    ('0.0123', '<0.0001', '-')
    """
    if value is None or math.isnan(value):
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.3g}"


def _with_interval(value: float | None, interval: Interval | None) -> str:
    text = format_score(value)
    if interval is not None and value is not None:
        text += f" [{format_score(interval.low)}, {format_score(interval.high)}]"
    return text


def format_score(value: float | None) -> str:
    """A score as the tables show it: 4 decimals, ``nan``, or ``-`` for none.

    >>> format_score(0.123456), format_score(float("nan")), format_score(None)
    ('0.1235', 'nan', '-')
    """
    if value is None:
        return "-"
    return "nan" if math.isnan(value) else f"{value:.4f}"
