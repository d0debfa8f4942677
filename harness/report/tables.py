"""The leaderboard as tables: `summary_table`, written as ``leaderboard.csv`` (every column) and
``leaderboard.md`` (GitHub Markdown)."""

from __future__ import annotations

import csv
import io
from typing import Any, Sequence

from harness import __version__
from harness.report.entries import Leaderboard
from harness.scoring.inputs import finite_number

LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_MD = "leaderboard.md"
_SHORT_HASH = 12



def summary_table(board: Leaderboard, *, full: bool) -> tuple[list[str], list[list[Any]]]:
    """The leaderboard's header and rows.

    ``full``: every provenance field in its own column with full checksums
    (the CSV); otherwise checksums shortened to 12 hex digits and the limits
    in one column (Markdown and HTML).
    """
    header = ["rank", "submission", "official", "p official", "robust CMI", "Kendall tau", "Psi", "sign-error",
              "models ok"] + [f"official {t}" for t in board.tasks] + ["status"]
    if full:
        header += ["harness version", "data sha256", "reference sha256", "submission sha256", "seed",
                   "time per model s", "memory MB", "max threads", "sandbox", "keras", "seeding", "reused", "source"]
    else:
        header += ["harness", "data sha256", "submission sha256", "seed", "limits"]
    rows = []
    for e in board.entries:
        by_task = {t.task: t for t in e.tasks}
        total = sum(t.n_models for t in e.tasks)
        row: list[Any] = [e.rank if e.rank is not None else "-", e.name, _round(e.overall_official),
                          _p(e.overall_p_value), _round(e.mean("robust_cmi")), _round(e.mean("kendall_tau")), _round(e.mean("psi")),
                          _round(e.mean("sign_error")),
                          f"{sum(t.n_scored for t in e.tasks)}/{total}" if e.tasks else "-"]
        row += [_round(by_task[t].official if by_task[t].official is not None else 0.0)
                if t in by_task else "-" for t in board.tasks]
        row.append(e.status)
        p = e.provenance
        if full:
            row += ([p.harness_version, p.data_sha256, p.reference_sha256, p.submission_sha256, p.seed,
                     p.time_per_model, p.memory_mb, p.max_threads, p.sandbox, p.keras, p.seeding, e.reused,
                     e.source]
                    if p else ["-"] * 12 + [e.source])
        else:
            row += ([p.harness_version, p.data_sha256[:_SHORT_HASH], p.submission_sha256[:_SHORT_HASH], p.seed,
                     p.limits] if p else ["-"] * 5)
        rows.append(row)
    return header, rows


def _p(value: float | None) -> float | str:
    """A p-value for the tables: 3 significant digits, ``-`` for none."""
    number = finite_number(value)
    return "-" if number is None else float(f"{number:.3g}")


def _round(value: float | None) -> float | str:
    number = finite_number(value)
    return "-" if number is None else round(number, 4)


def leaderboard_csv(board: Leaderboard) -> str:
    """``leaderboard.csv``: `summary_table` with every column."""
    header, rows = summary_table(board, full=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def leaderboard_markdown(board: Leaderboard) -> str:
    """``leaderboard.md``: a title, the data checksum and the table (GitHub Markdown)."""
    header, rows = summary_table(board, full=False)

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    parts = ["# PGDL leaderboard", "",
             f"Tasks: {', '.join(board.tasks)}; input data sha256 `{board.data_sha256}`; "
             f"pgdl-harness {__version__}. Ranked by the official score (100 x the mean over tasks "
             "of the 2020 conditional mutual information); `p official` is its one-sided permutation "
             "p-value (the measure's values permuted across each task's models): the chance that an "
             "uninformative measure scores at least as well. Full provenance in `leaderboard.csv`.", "",
             line(header), line(["---"] * len(header))]
    parts += [line(r) for r in rows]
    return "\n".join(parts) + "\n"
