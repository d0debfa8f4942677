"""Run every sample submission on a zoo and write the baseline table for the README.

    .venv/bin/python benchmarks/leaderboard.py                  # default zoo, 1 worker
    .venv/bin/python benchmarks/leaderboard.py --workers 2 --only path_norm --only db_mixup

Each submission under ``sample_submissions/`` is run and scored with
`harness.report.leaderboard.run_leaderboard` (sandboxed, as ``pgdl leaderboard``
does; finished results in ``--runs`` are reused unless ``--rerun``), which also
writes its own ``leaderboard.md``/``.csv``/``report.html`` there. This script
then writes ``--out`` (default ``benchmarks/results/leaderboard.md``): the
overall ranking with each measure's family, permutation p-value and time per
model, which baselines beat a random measure on every task, the mean official
score of each family and the per-task metrics (also one page per task,
``leaderboard_<task>.md`` beside it), so that the table in the README is
produced by the harness rather than typed in.
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

import click

from harness import __version__
from harness.errors import HarnessError
from harness.report.entries import Entry, Leaderboard
from harness.report.leaderboard import run_leaderboard
from harness.run import RunConfig
from harness.scoring.scores_file import TaskEntry
from harness.submission.naming import metadata_field
from model_zoo import DEFAULT_ZOO

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "sample_submissions"
FAMILIES = ("weights", "output", "flatness", "representation")
ALPHA = 0.05


def sample_submissions(only: Sequence[str] = ()) -> list[Path]:
    """The sample submission folders (those holding ``complexity.py``), by name."""
    folders = sorted(p for p in SUBMISSIONS.iterdir() if (p / "complexity.py").is_file())
    if only:
        unknown = set(only) - {p.name for p in folders}
        if unknown:
            raise click.BadParameter(f"no sample submission named {', '.join(sorted(unknown))}")
        folders = [p for p in folders if p.name in only]
    return folders


def family(entry: Entry) -> str:
    """The ``family:`` line of the submission's ``metadata`` file ("-" when absent)."""
    return metadata_field(Path(entry.source), "family") or "-"


def seconds_per_model(entry: Entry) -> tuple[float | None, float | None]:
    """Median and maximum time of the ``complexity`` call over the models that succeeded."""
    times = [r.measure_seconds for r in entry.records if r.status == "ok" and r.measure_seconds is not None]
    return (statistics.median(times), max(times)) if times else (None, None)


def fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * scale:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c) for c in cells) + " |"
    return [line(header), line(["---"] * len(header))] + [line(r) for r in rows]


def fmt_p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def null_of(task: TaskEntry, metric: str, field: str) -> float | None:
    """``field`` (``p_value``, ``q95``) of ``metric``'s permutation null on one task (None without one)."""
    summary = None if task.null is None else task.null.summaries.get(metric)
    return None if summary is None else getattr(summary, field)


def beats_random(entry: Entry, tasks: Sequence[str], alpha: float = ALPHA) -> bool:
    """Whether ``entry``'s official score has a permutation p-value below ``alpha`` on every task."""
    found = {t.task: null_of(t, "official", "p_value") for t in entry.tasks}
    return all(found.get(task) is not None and found[task] < alpha for task in tasks)


def overview(board: Leaderboard) -> list[str]:
    header = ["rank", "measure", "family", "official", "p", "robust CMI", "tau", "Psi", "sign-error",
              "s/model (median)", "s/model (max)", "failed"]
    rows = []
    for e in board.entries:
        median, worst = seconds_per_model(e)
        rows.append([e.rank or "-", e.name, family(e), fmt(e.overall_official), fmt_p(e.overall_p_value),
                     fmt(e.mean("robust_cmi"), digits=3), fmt(e.mean("kendall_tau"), digits=3),
                     fmt(e.mean("psi"), digits=3), fmt(e.mean("sign_error"), digits=3),
                     fmt(median), fmt(worst), "not scored" if e.error else e.failed_models])
    return table(header, rows)


def problems(board: Leaderboard) -> list[str]:
    """One line per submission that was not scored or had failed models."""
    lines = []
    for e in board.entries:
        failed = [r for r in e.records if r.status != "ok"]
        if e.error:
            lines.append(f"- {e.name}: not scored: {e.error}")
        elif failed:
            lines.append(f"- {e.name}: {len(failed)} model(s) failed, e.g. {failed[0].task}/"
                         f"model_{failed[0].model}: {failed[0].status}: {failed[0].message}")
    return lines


def per_task(board: Leaderboard, task: str) -> list[str]:
    header = ["measure", "official", "p", "null q95", "robust CMI", "tau", "p (tau)", "Psi", "sign-error",
              "models scored"]
    rows = []
    for e in board.entries:
        t = next((t for t in e.tasks if t.task == task), None)
        if t is None:
            rows.append([e.name] + ["-"] * (len(header) - 1))
            continue
        rows.append([e.name, fmt(t.official, 100.0), fmt_p(null_of(t, "official", "p_value")),
                     fmt(null_of(t, "official", "q95"), 100.0), fmt(t.headline("robust_cmi"), digits=3),
                     fmt(t.kendall_tau, digits=3), fmt_p(null_of(t, "kendall_tau", "p_value")),
                     fmt(t.headline("psi"), digits=3), fmt(t.headline("sign_error"), digits=3),
                     f"{t.n_scored}/{t.n_models}"])
    return table(header, rows)


def against_random(board: Leaderboard) -> list[str]:
    """The sentence on which baselines beat a random measure (official p < `ALPHA`) on every task."""
    scored = [e for e in board.entries if e.error is None]
    winners = [e.name for e in scored if beats_random(e, board.tasks)]
    overall = [e.name for e in scored if e.overall_p_value is not None and e.overall_p_value < ALPHA]
    named = ", ".join(winners) if winners else "none"
    return [f"Beat a random measure (official score's permutation p-value < {ALPHA}) on every one of the "
            f"{len(board.tasks)} tasks: {len(winners)} of {len(scored)} baselines ({named}). "
            f"On the overall official score (mean over tasks): {len(overall)} of {len(scored)}."]


def by_family(board: Leaderboard) -> list[str]:
    header = ["family", "measures", "mean official", "best measure", "best official"]
    rows = []
    for fam in FAMILIES:
        members = [e for e in board.entries if family(e) == fam and e.overall_official is not None]
        if not members:
            continue
        best = max(members, key=lambda e: e.overall_official)
        rows.append([fam, len(members), fmt(statistics.mean(e.overall_official for e in members)),
                     best.name, fmt(best.overall_official)])
    return table(header, rows)


def task_markdown(board: Leaderboard, task: str, command: str) -> str:
    """One task's table on its own page (``benchmarks/results/leaderboard_<task>.md``)."""
    return "\n".join([f"# Baseline measures on task {task}", "",
                      f"Produced by `{command}` (pgdl-harness {__version__}), with the overall ranking "
                      "in `leaderboard.md`. Official: 100 x the 2020 conditional mutual information; "
                      "p: its one-sided permutation p-value against a random measure; null q95: that "
                      "null's 95th percentile (x 100); p (tau): the same for Kendall's tau.", ""]
                     + per_task(board, task)) + "\n"


def seed_agreement(board: Leaderboard) -> list[str]:
    """Per replicate task (``<task>_seed<k>`` beside ``<task>``): how alike the baselines score on the two seeds."""
    from scipy.stats import kendalltau

    lines = []
    for twin in board.tasks:
        base = twin.rpartition("_seed")[0]
        if "_seed" not in twin or base not in board.tasks:
            continue
        pairs = [(scores[base], scores[twin]) for scores in
                 ({t.task: t.official for t in e.tasks} for e in board.entries if e.error is None)
                 if scores.get(base) is not None and scores.get(twin) is not None]
        if len(pairs) < 3:
            continue
        tau = kendalltau(*zip(*pairs)).statistic
        spread = statistics.median(abs(a - b) for a, b in pairs)
        lines.append(f"- {base} vs {twin} (same grid and data, other seeds): Kendall tau between the "
                     f"{len(pairs)} baselines' official scores {tau:.2f}; median |difference| "
                     f"{100 * spread:.2f} points.")
    return lines


def markdown(board: Leaderboard, command: str) -> str:
    parts = ["# Baseline measures on the default zoo", "",
             f"Produced by `{command}` (pgdl-harness {__version__}); tasks: {', '.join(board.tasks)}; "
             f"input data sha256 `{board.data_sha256[:12]}`.",
             "Official: 100 x the 2020 conditional mutual information (overall: mean over tasks); "
             "robust CMI, tau, Psi and sign-error: means over tasks (SPEC §3). "
             "s/model: wall time of the `complexity` call inside the sandboxed worker.", "",
             "p: one-sided permutation p-value of the official score against a random measure "
             "(`harness.scoring.null`; per task: the task's score, overall: the mean over tasks); "
             "null q95: that null's 95th percentile.", "",
             "## Ranking", ""] + overview(board)
    parts += ["", "## Against random", ""] + against_random(board)
    if agreement := seed_agreement(board):
        parts += ["", "## Seed to seed", ""] + agreement
    parts += ["", "## By family", ""] + by_family(board)
    for task in board.tasks:
        parts += ["", f"## Task {task}", ""] + per_task(board, task)
    if issues := problems(board):
        parts += ["", "## Problems", ""] + issues
    return "\n".join(parts) + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=DEFAULT_ZOO, show_default=True, help="Root of the tasks.")
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path),
              default=REPO / "results" / "baselines", show_default=True,
              help="Where each submission's run and scores are kept (reused between calls).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=REPO / "benchmarks" / "results" / "leaderboard.md", show_default=True,
              help="The Markdown table to write.")
@click.option("--workers", type=int, default=1, show_default=True, help="CPU worker processes.")
@click.option("--only", multiple=True, help="Only this sample submission (repeatable).")
@click.option("--task", "tasks", multiple=True, help="Only this task (repeatable).")
@click.option("--rerun", is_flag=True, help="Run again even where results can be reused.")
def main(data: Path, runs: Path, out: Path, workers: int, only: tuple[str, ...], tasks: tuple[str, ...],
         rerun: bool) -> None:
    """Run every sample submission on a zoo and write a Markdown table of the results."""
    config = RunConfig(workers=workers, progress=True, tasks=tasks or None)
    try:
        board = run_leaderboard(sample_submissions(only), data, runs, config, rerun=rerun, log=click.echo)
    except HarnessError as exc:
        raise click.ClickException(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/leaderboard.py " + " ".join(sys.argv[1:])
    out.write_text(markdown(board, command.strip()))
    for task in board.tasks:
        (out.parent / f"{out.stem}_{task}.md").write_text(task_markdown(board, task, command.strip()))
    click.echo(f"wrote {out}, one {out.stem}_<task>.md per task (and {runs}/leaderboard.md, report.html)")


if __name__ == "__main__":
    main()
