"""``pgdl score``, ``evaluate``, ``leaderboard`` and ``official``: commands that write scores."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from harness.cli.errors import EXIT_FLAGGED
from harness.cli.options import (BOOTSTRAP_OPTION, KERAS2_OPTION, KERAS_OPTION, MAX_THREADS_OPTION,
                                 MEMORY_MB_OPTION, PERMUTATIONS_OPTION, SEED_OPTION, SEEDING_OPTION,
                                 TASKS_OPTION, TIME_PER_MODEL_OPTION, data_option, data_or_zoo, hidden_alias,
                                 null_progress, run_config, run_options, with_options)
from harness.cli.run_commands import echo_run_summary, interruptible, written


@click.command()
@click.argument("submission", type=click.Path(path_type=Path))
@data_option()
@click.option("--out", type=click.Path(path_type=Path),
              help="Output folder (default: results/<submission name>; resumable).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Run N models per task: a subset (seeded by --seed) that covers every hyperparameter "
                   "value. The robust metrics are defined on it; the official score needs the complete grid.")
@BOOTSTRAP_OPTION
@SEED_OPTION
@PERMUTATIONS_OPTION
@run_options
def score(submission: Path, data: Path | None, out: Path | None, limit: int | None, bootstrap: int, seed: int,
          permutations: int | None, **options) -> None:
    """Run SUBMISSION on a zoo, then score its predictions (predict + evaluate).

    Writes predictions, run.jsonl, logs/, scores.json, scores.txt and
    models.csv (one row per model, for pandas) to --out; scores.json is
    written last, and an earlier run's scores are removed first. Exit status:
    0 when every task was scored, 1 when the scores were written but a task
    was flagged (e.g. a model failed: that task's official score is 0, as in
    the original competition), 2 when nothing was written.

    \b
    Examples:
      pgdl score sample_submissions/sum_of_squared_weights
      pgdl score my_measure --task animal_mnist_mlp --limit 8 --out results/quick
    """
    from harness.scoring.evaluate import SCORE_FILES
    from harness.report.score import score_submission
    from harness.submission import default_name

    started = time.monotonic()
    data = data_or_zoo(data)
    out = out or Path("results") / default_name(submission)
    result = interruptible(out, lambda: score_submission(
        submission, data, out, run_config(**options), limit=limit, bootstrap=bootstrap, seed=seed,
        permutations=permutations, null_progress=null_progress))
    echo_run_summary(result.run)
    show_report(result.report, out, footer=written(out, result.run, started, *SCORE_FILES))


@click.command()
@click.argument("pred_dir", type=click.Path(file_okay=False, path_type=Path))
@data_option(help="Reference data: a split root, a reference_data folder, or a combined task folder "
                   "(default: the zoo shipped in model_zoo/default).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for scores.json, scores.txt and models.csv.")
@TASKS_OPTION
@BOOTSTRAP_OPTION
@SEED_OPTION
@PERMUTATIONS_OPTION
@hidden_alias("--reference", "data", click.Path(path_type=Path))
def evaluate(pred_dir: Path, data: Path | None, out_dir: Path, tasks: tuple[str, ...], bootstrap: int,
             seed: int, permutations: int | None) -> None:
    """Score PRED_DIR/<task>.predict files against reference data (the original scoring program).

    Never imports TensorFlow. Exit status: 0 when every task was scored, 1
    when the scores were written but a task was flagged (a missing .predict,
    models without a finite prediction, an invalid grid), 2 when nothing
    was written.

    \b
    Example:
      pgdl evaluate predictions/ --data model_zoo/default --out scores/
    """
    from harness.scoring.evaluate import evaluate_dir

    def progress(items):
        return click.progressbar(items, label="scoring", file=sys.stderr, item_show_func=lambda t: t)

    report = evaluate_dir(pred_dir, data_or_zoo(data), out_dir, tasks=list(tasks) or None, bootstrap=bootstrap,
                          seed=seed, permutations=permutations, progress=progress,
                          null_progress=null_progress)
    show_report(report, out_dir)


def scoring_options(command):
    """Options of the scoring half shared by `leaderboard` and `official`."""
    return with_options(command, [
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Folder for OUT/<submission>/ results, leaderboard.csv/.md and report.html."),
        click.option("--rerun", is_flag=True, help="Run every submission again, even where OUT has its results."),
        BOOTSTRAP_OPTION,
        SEED_OPTION,
    ])


def report_progress(entries):
    return click.progressbar(entries, label="report", file=sys.stderr,
                             item_show_func=lambda e: e.name if e else None)


def echo_leaderboard(board) -> None:
    from harness.report.tables import LEADERBOARD_CSV, LEADERBOARD_MD
    from harness.report.html import REPORT_HTML

    from harness.scoring.formatting import format_p

    click.echo(f"{'rank':>4}  {'submission':<28} {'official':>9} {'p':>7}  status")
    for e in board.entries:
        official = "-" if e.overall_official is None else f"{e.overall_official:.4f}"
        click.echo(f"{e.rank if e.rank is not None else '-':>4}  {e.name:<28} {official:>9} "
                   f"{format_p(e.overall_p_value):>7}  {e.status}")
    out = board.out_dir
    click.echo(f"wrote {out / LEADERBOARD_CSV}, {out / LEADERBOARD_MD}, {out / REPORT_HTML}")


@click.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_option()
@scoring_options
@PERMUTATIONS_OPTION
@run_options
def leaderboard(submissions: tuple[Path, ...], data: Path | None, out: Path, rerun: bool, bootstrap: int,
                seed: int, permutations: int | None, **options) -> None:
    """Score every SUBMISSION (folders or .zip files), rank them, and write a report.

    Each submission's results go to OUT/<name>/ (named from its metadata
    file's `name:` line, else its folder or zip); results already there for
    the same submission, data and limits are reused unless --rerun. A
    submission that fails gets a row saying why; the others are still ranked.
    Writes OUT/leaderboard.csv (full provenance), OUT/leaderboard.md and
    OUT/report.html (self-contained, with plots).

    \b
    Example:
      pgdl leaderboard sample_submissions/* --out board/ --workers 2
    """
    from harness.report.leaderboard import run_leaderboard

    board = run_leaderboard(list(submissions), data_or_zoo(data), out, run_config(**options), rerun=rerun,
                            bootstrap=bootstrap, seed=seed, permutations=permutations, log=lambda line: click.echo(line, err=True),
                            progress=report_progress)
    echo_leaderboard(board)


@click.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_option(help="Split root of the tasks: DATA/input_data and DATA/reference_data "
                   "(default: the zoo shipped in model_zoo/default).")
@scoring_options
@click.option("--engine", type=click.Choice(["docker", "podman", "container-check"]), default="docker",
              show_default=True, help="What runs the containers.")
@click.option("--image", default="pgdl", show_default=True, help="Image built from the Dockerfile (docker, podman).")
@click.option("--docker-gpus", metavar="SPEC", help="Passed as --gpus to the prediction container, e.g. all.")
@click.option("--context", type=click.Path(file_okay=False, path_type=Path),
              help="container-check: the folder with the Dockerfile (default: this checkout).")
@click.option("--tool", type=click.Path(dir_okay=False, path_type=Path),
              help="container-check: its path (default: ../shared/tools/container-check beside the checkout).")
@click.option("--workers", default=1, show_default=True, help="CPU worker processes per prediction container.")
@click.option("--gpus", default="", metavar="0,1,...", help="GPUs inside the prediction container, one worker each.")
@TIME_PER_MODEL_OPTION
@MEMORY_MB_OPTION
@MAX_THREADS_OPTION
@KERAS_OPTION
@KERAS2_OPTION
@SEEDING_OPTION
def official(submissions: tuple[Path, ...], data: Path | None, out: Path, rerun: bool, bootstrap: int, seed: int,
             engine: str, image: str, docker_gpus: str | None, context: Path | None, tool: Path | None,
             workers: int, gpus: str, time_per_model: float, memory_mb: int, max_threads: int,
             keras: str, keras2: bool, seeding: str) -> None:
    """The official run: each SUBMISSION predicted in one container and scored in another.

    The prediction container has no network and sees only the tasks' input
    side and the submission (read-only); the scoring container sees only the
    predictions and the reference side. Then ranks them and writes the
    leaderboard and report as `pgdl leaderboard` does. Build the image first:
    `docker build -t pgdl .` (GPU: add --build-arg TF_PACKAGE='tensorflow[and-cuda]').

    \b
    Example:
      pgdl official subs/* --data ROOT --out board/ --engine container-check
    """
    from harness.report.official import ContainerCheckEngine, DockerEngine, run_official

    repo = Path(__file__).resolve().parents[2]
    if engine == "container-check":
        runner = ContainerCheckEngine(tool or repo.parent / "shared" / "tools" / "container-check", context or repo)
    else:
        runner = DockerEngine(image, engine, docker_gpus)
    config = run_config(workers, gpus, time_per_model, memory_mb, max_threads, True, keras2, (), keras=keras,
                         seeding=seeding)
    board = run_official(list(submissions), data_or_zoo(data), out, runner, config, bootstrap=bootstrap, seed=seed,
                         rerun=rerun, log=lambda line: click.echo(line, err=True), progress=report_progress)
    echo_leaderboard(board)


def show_report(report, out: Path, footer: str | None = None) -> None:
    """Print a score report's table, notes, warnings and flagged tasks, and what was written (``footer``,
    else the score files); exit with `EXIT_FLAGGED` if a task was flagged."""
    from harness.scoring.evaluate import SCORE_FILES
    from harness.scoring.formatting import format_table

    click.echo(format_table(report))
    for line in report.notes:
        click.echo(f"note: {line}", err=True)
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
    for line in report.problems:
        click.echo(f"flagged: {line}", err=True)
    if footer is not None:
        click.echo(footer)
    else:
        click.echo(f"wrote {', '.join(str(out / name) for name in SCORE_FILES)}", err=True)
    if report.problems:
        sys.exit(EXIT_FLAGGED)
