"""The ``pgdl`` command line: a thin layer over the Python API.

Each command parses its options, calls one library function and prints the
result. Errors the user can fix (`HarnessError`, and any OSError, ValueError
or RecursionError that gets this far) are shown as one line, ``error: ...``,
with exit status 2; ``pgdl --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.errors import HarnessError, ParameterError

#: Exit statuses: scores written, with at least one flagged task; nothing written (bad input, an error).
EXIT_FLAGGED, EXIT_ERROR = 1, 2
#: The commands in the order a user meets them (`pgdl --help` lists them so).
COMMAND_ORDER = ("init", "check", "score", "predict", "evaluate", "leaderboard", "pack", "official", "zoo")
#: Library parameters whose option is not simply ``--`` + the name with dashes.
_OPTION_OF = {"tasks": "--task", "models": "--limit"}


class _Ordered(click.Group):
    """A group that lists its commands in `COMMAND_ORDER` (others after them, by name)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return [n for n in COMMAND_ORDER if n in names] + sorted(n for n in names if n not in COMMAND_ORDER)


@click.group(cls=_Ordered, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit status: 0 when everything was scored; 1 when scores were written but a task was "
                    "flagged (its official score counts 0, e.g. a model failed); 2 when nothing was written "
                    "(bad input or an error, shown in one line).")
@click.version_option(__version__, prog_name="pgdl")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predicting Generalization in Deep Learning: run and score complexity measures.

    \b
    Start here:
      pgdl init my_measure                  # a template submission
      pgdl check my_measure                 # import it in the sandbox, run it on one model
      pgdl score my_measure --task animal_mnist_mlp --limit 8   # a quick look
      pgdl score my_measure                 # every task of the shipped zoo
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --- commands are registered below, one section per concern -----------------


# --- run: predict, score, check (harness.runner) -----------------------------


def _hidden_alias(flag: str, param: str, type: Any):
    """A hidden option ``flag`` that sets ``param`` (an old name kept working: ``--time-limit``)."""
    alias = f"alias_{param}"

    def decorate(command):
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            value = kwargs.pop(alias)
            if value is not None:
                kwargs[param] = value
            return command(*args, **kwargs)

        return click.option(flag, alias, hidden=True, type=type, default=None)(wrapper)

    return decorate


def _with(command, options):
    """``command`` with ``options`` (click decorators), in the order listed."""
    for option in reversed(options):
        command = option(command)
    return command


# Options that mean the same wherever they appear (click makes a new Option each time one is applied).
_TIME_PER_MODEL = click.option("--time-per-model", default=300.0, show_default=True, metavar="SECONDS",
                               help="Wall-time limit per model (and for importing the submission).")
_MEMORY_MB = click.option("--memory-mb", default=8192, show_default=True,
                          help="Limit on the resident memory of a worker's whole process tree.")
_MAX_THREADS = click.option("--max-threads", default=1024, show_default=True,
                            help="Limit on the threads and processes of a worker.")
_KERAS = click.option("--keras", type=click.Choice(["auto", "2", "3"]), default="auto", show_default=True,
                      help="Keras the submission runs under: 2 (tf_keras), 3, or auto (Keras 2 where its source "
                           "uses Keras-2-only APIs, or after a Keras-3-only AttributeError).")
_KERAS2 = click.option("--keras2", is_flag=True, help="The same as --keras 2.")
_SEEDING = click.option("--seeding", type=click.Choice(["model", "kit"]), default="model", show_default=True,
                        help="model: seed every generator per model (deterministic); kit: seed nothing and clear "
                             "the Keras session before each model, as the 2020 ingestion program did.")
_BOOTSTRAP = click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
                          help="Bootstrap resamples per task for the confidence intervals (0: none).")
_SEED = click.option("--seed", default=0, show_default=True, type=int,
                      help="Seed of the bootstrap, of the permutation null (each task its own stream) "
                           "and of the --limit subset.")
_PERMUTATIONS = click.option("--permutations", default=None, type=click.IntRange(min=0), show_default="auto",
                             help="Permutations of each task's null, for the p-values (0: none; auto: 999 up "
                                  "to ~500 models, fewer above, 19 at 10,000).")


def _null_progress(task: str):
    """The progress bar of a task's permutation null (shown only for tasks that take a while)."""
    def wrap(batches):
        return click.progressbar(batches, label=f"null of {task}", file=sys.stderr)
    return wrap
_TASKS = click.option("--task", "tasks", multiple=True, metavar="NAME",
                      help="Only this task (repeatable); the overall score is over these.")


def _data_option(help: str = "Root of the tasks (default: the zoo shipped in model_zoo/default).", **kwargs):
    return click.option("--data", type=click.Path(path_type=Path), help=help, **kwargs)


def _run_options(command):
    """Options shared by `predict`, `score` and `leaderboard`: workers, limits, sandbox, Keras flavour, Ray."""
    return _with(command, [
        click.option("--workers", default=1, show_default=True, help="CPU worker processes."),
        click.option("--gpus", default="", metavar="0,1,...",
                     help="One worker per listed GPU (CUDA_VISIBLE_DEVICES); replaces --workers."),
        _TIME_PER_MODEL,
        _MEMORY_MB,
        _MAX_THREADS,
        click.option("--no-sandbox", is_flag=True,
                     help="Run without bubblewrap: only for trusted code, or inside a container "
                          "that is itself the sandbox (limits still apply)."),
        _KERAS,
        _KERAS2,
        _SEEDING,
        click.option("--keep-going", is_flag=True,
                     help="Run every model of a task even after 3 consecutive timeouts (default: skip the rest)."),
        _TASKS,
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Run models in local worker processes, or as units of work on a Ray cluster "
                          "(docs/ray.md)."),
        click.option("--ray-address", metavar="HOST:PORT",
                     help="Ray cluster to join (default: $RAY_ADDRESS, else a cluster started on this "
                          "machine, else a new local Ray instance)."),
        click.option("--ray-data", type=click.Choice(["ship", "shared"]), default="ship", show_default=True,
                     help="How task data reaches Ray nodes: through Ray's object store, or at the same "
                          "--data path on every node (NFS)."),
        click.option("--ray-cpus", default=1.0, show_default=True, help="CPUs per unit of work on Ray."),
        click.option("--ray-gpus", default=0.0, show_default=True,
                     help="GPUs per unit of work on Ray (0 to 1; 0.5 packs two units per GPU)."),
        click.option("--models-per-unit", type=click.IntRange(min=1),
                     help="Models per unit of work on Ray (default: two units per slot, at most 16 models)."),
    ])


def _check_options(command):
    """Options of the one-model check shared by `check` and `pack` (the same limits as a run's)."""
    return _with(command, [
        _data_option(help="Tasks for the check (default: the zoo shipped in model_zoo/default)."),
        _TIME_PER_MODEL,
        _MEMORY_MB,
        _MAX_THREADS,
        click.option("--no-sandbox", is_flag=True, help="Run without bubblewrap (trusted code only)."),
        _KERAS,
        _KERAS2,
        _SEEDING,
        _hidden_alias("--time-limit", "time_per_model", float),
    ])


def _check_config(time_per_model: float, memory_mb: int, max_threads: int, no_sandbox: bool, keras2: bool,
                  keras: str = "auto", seeding: str = "model"):
    """The `RunConfig` of a check: one worker, quiet."""
    return _run_config(workers=1, gpus="", time_per_model=time_per_model, memory_mb=memory_mb,
                       max_threads=max_threads, no_sandbox=no_sandbox, keras2=keras2, tasks=(), progress=False,
                       keras=keras, seeding=seeding)


def _keras_version(keras: str, keras2: bool) -> str:
    """``--keras``, with ``--keras2`` as its alias for ``2``; tf_keras must be installed for ``2``."""
    if keras2 and keras not in ("auto", "2"):
        raise HarnessError(f"--keras2 means --keras 2, which contradicts --keras {keras}")
    version = "2" if keras2 else keras
    if version == "2":
        import importlib.util

        if importlib.util.find_spec("tf_keras") is None:
            raise HarnessError("--keras 2 needs the tf_keras package (a dependency of the harness): "
                               "pip install tf_keras")
    return version


def _run_config(workers, gpus, time_per_model, memory_mb, max_threads, no_sandbox, keras2, tasks,
                executor="local", ray_address=None, ray_data="ship", ray_cpus=1.0, ray_gpus=0.0,
                models_per_unit=None, keras="auto", **overrides):
    from harness.runner import RunConfig

    keras = _keras_version(keras, keras2)
    try:
        gpu_ids = tuple(int(g) for g in gpus.split(",") if g.strip())
    except ValueError:
        raise HarnessError(f"--gpus: expected comma-separated GPU numbers, got {gpus!r}") from None
    settings = dict(workers=workers, gpus=gpu_ids, time_per_model=time_per_model, memory_mb=memory_mb,
                    max_threads=max_threads, sandbox=not no_sandbox, keras=keras,
                    tasks=tuple(tasks) or None, progress=True)
    ray_settings = dict(address=ray_address, data=ray_data, cpus=ray_cpus, gpus=ray_gpus,
                        models_per_unit=models_per_unit)
    if executor == "ray":
        from harness.ray_executor import RayOptions

        if gpu_ids:
            raise HarnessError("--gpus picks GPUs of this machine; with --executor ray, use --ray-gpus "
                               "(GPUs per unit of work)")
        settings["ray"] = RayOptions(**ray_settings)
    elif ray_settings != dict(address=None, data="ship", cpus=1.0, gpus=0.0, models_per_unit=None):
        raise HarnessError("--ray-address, --ray-data, --ray-cpus, --ray-gpus and --models-per-unit "
                           "need --executor ray")
    settings.update(overrides)
    return RunConfig(**settings)


def _echo_run_summary(result) -> None:
    """Per task: models, ok, failures by status, median seconds per model; then each distinct failure reason."""
    from harness.records import failure_reasons

    click.echo(f"{'task':<24} {'models':>6} {'ok':>5} {'s/model':>8}  failed")
    for row in result.summaries():
        failed = ", ".join(f"{n} {status}" for status, n in sorted(row.failed.items())) or "-"
        seconds = f"{row.median_seconds:.2f}" if row.median_seconds is not None else "-"
        click.echo(f"{row.task:<24} {row.models:>6} {row.ok:>5} {seconds:>8}  {failed}")
    reasons = failure_reasons(result.records)
    if reasons:
        click.echo(f"{result.failed} model(s) failed, for {len(reasons)} reason(s) (each model's in "
                   f"{result.out_dir / 'run.jsonl'}):")
        for reason in reasons:
            click.echo(f"  {reason.count:>4} x {reason.status}: {reason.message}")


def _written(out: Path, result, started: float, *names: str) -> str:
    """The run's last line: what it wrote where, and the total time."""
    from harness.progress import format_duration

    predicts = len(result.tasks)
    listed = ", ".join([*names, "run.jsonl", f"{predicts} .predict file{'s' if predicts != 1 else ''}", "logs/"])
    return f"wrote {listed} to {out} in {format_duration(time.monotonic() - started)}"


def _interruptible(out: Path, work):
    """``work()``; on Ctrl-C, says that ``out`` keeps the finished models before stopping."""
    try:
        return work()
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {out} keeps every finished model; run the same command again to resume",
                   err=True)
        raise


def _run(submission: Path, data: Path, out: Path, config):
    from harness.records import prepare_out_dir
    from harness.runner import run_submission

    prepare_out_dir(out, create=False)
    result = _interruptible(out, lambda: run_submission(submission, data, out, config))
    _echo_run_summary(result)
    return result


def _data_or_zoo(data: Path | None) -> Path:
    from harness.runner import default_zoo

    return data if data is not None else default_zoo()


@cli.command()
@click.argument("name", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite NAME/complexity.py if it exists.")
def init(name: Path, force: bool) -> None:
    """Write NAME/complexity.py: a commented template submission that passes `pgdl check`.

    \b
    Example:
      pgdl init my_measure && pgdl check my_measure
    """
    from harness.init_template import write_template

    written = write_template(name, overwrite=force)
    click.echo(f"wrote {', '.join(str(p) for p in written)}; next: pgdl check {name}")


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@_check_options
def check(submission: Path, data: Path | None, time_per_model: float, memory_mb: int, max_threads: int,
          no_sandbox: bool, keras: str, keras2: bool, seeding: str) -> None:
    """Check SUBMISSION quickly: import it in the sandbox, read its signature, run it on one model.

    Uses the limits a run would (--time-per-model, --memory-mb). Exits with
    status 1 when the check fails.

    \b
    Example:
      pgdl check sample_submissions/sum_of_squared_weights
    """
    from harness.runner import check_submission
    from harness.submission_env import describe_environment

    report = check_submission(submission, _data_or_zoo(data),
                              _check_config(time_per_model, memory_mb, max_threads, no_sandbox, keras2,
                                            keras, seeding))
    record = report.record

    def seconds(value):
        return "-" if value is None else f"{value:.2f} s"

    click.echo(f"submission  {report.submission}")
    click.echo(f"sandbox     {'bubblewrap' if report.sandboxed else 'none (--no-sandbox)'}")
    click.echo(f"environment {describe_environment()}")
    click.echo(f"keras       {report.keras}")
    click.echo(f"seeding     {report.seeding}")
    click.echo(f"worker      Python and TensorFlow ready in {seconds(report.tensorflow_seconds)}")
    click.echo(f"import      {seconds(report.import_seconds)}")
    click.echo(f"signature   {report.plan or '-'}")
    outcome = f"value {record.value:.6g}" if report.ok else record.message
    click.echo(f"model       {record.task}/model_{record.model}: {record.status}, {outcome} "
               f"(measure {seconds(record.measure_seconds)}, {seconds(record.seconds)} in all)")
    if not report.ok:
        click.echo("check failed", err=True)
        sys.exit(1)
    click.echo("ok: ready for `pgdl score`")


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@_data_option()
@click.option("--out", type=click.Path(path_type=Path),
              help="Output folder (default: results/<submission name>; resumable).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Run N models per task: a subset (seeded by --seed) that covers every hyperparameter "
                   "value. The robust metrics are defined on it; the official score needs the complete grid.")
@_BOOTSTRAP
@_SEED
@_PERMUTATIONS
@_run_options
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
    from harness.report.score import score_submission
    from harness.scoring.evaluate import SCORE_FILES
    from harness.submission import default_name

    started = time.monotonic()
    data = _data_or_zoo(data)
    out = out or Path("results") / default_name(submission)
    result = _interruptible(out, lambda: score_submission(
        submission, data, out, _run_config(**options), limit=limit, bootstrap=bootstrap, seed=seed,
        permutations=permutations, null_progress=_null_progress))
    _echo_run_summary(result.run)
    _show_report(result.report, out, footer=_written(out, result.run, started, *SCORE_FILES))


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@_data_option()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (resumable).")
@_run_options
def predict(submission: Path, data: Path | None, out: Path, **options) -> None:
    """Run SUBMISSION (folder or .zip with complexity.py) on every model under --data.

    Writes OUT/<task>.predict and OUT/run.jsonl (one record per model). Never
    reads reference data. Started again with the same --out, it resumes.

    \b
    Example:
      pgdl predict my_measure --data model_zoo/default/input_data --out predictions/
    """
    started = time.monotonic()
    result = _run(submission, _data_or_zoo(data), out, _run_config(**options))
    click.echo(_written(out, result, started))


@cli.command()
@click.argument("pred_dir", type=click.Path(file_okay=False, path_type=Path))
@_data_option(help="Reference data: a split root, a reference_data folder, or a combined task folder "
                   "(default: the zoo shipped in model_zoo/default).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for scores.json, scores.txt and models.csv.")
@_TASKS
@_BOOTSTRAP
@_SEED
@_PERMUTATIONS
@_hidden_alias("--reference", "data", click.Path(path_type=Path))
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

    report = evaluate_dir(pred_dir, _data_or_zoo(data), out_dir, tasks=list(tasks) or None, bootstrap=bootstrap,
                          seed=seed, permutations=permutations, progress=progress,
                          null_progress=_null_progress)
    _show_report(report, out_dir)


# --- zoo: train model zoos and describe them (model_zoo) ---------------------


@cli.group()
def zoo() -> None:
    """Train model zoos from spec files (model_zoo/specs/*.toml) and describe them.

    \b
    Example:
      pgdl zoo info model_zoo/default
    """


@zoo.command("build")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Root to write (input_data/ and reference_data/); a re-run resumes.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Models trained at once, each in its own process.")
@click.option("--task", "tasks", multiple=True, metavar="NAME", help="Only this task of the spec (repeatable).")
@click.option("--max-models", type=click.IntRange(min=1),
              help="Train at most this many models now; a later run trains the rest.")
def zoo_build(spec: Path, out: Path, jobs: int, tasks: tuple[str, ...], max_models: int | None) -> None:
    """Train the zoo that SPEC (a TOML file) describes into OUT, skipping models already trained.

    \b
    Example:
      pgdl zoo build model_zoo/specs/default.toml --out zoos/default --jobs 2
    """
    from model_zoo.builder import build_zoo
    from model_zoo.info import format_info, zoo_info
    from model_zoo.spec import load_spec

    report = build_zoo(load_spec(spec), out, jobs=jobs, tasks=list(tasks) or None,
                       max_models=max_models, progress=True)
    click.echo(f"trained {len(report.trained)} models in {report.seconds:.0f} s "
               f"({report.skipped} already done, {report.left} left)")
    click.echo(format_info(zoo_info(out)), nl=False)


@zoo.command("info")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
def zoo_info_command(root: Path) -> None:
    """Describe the zoo at ROOT: per task the grid, the models, and the spread of gaps.

    \b
    Example:
      pgdl zoo info model_zoo/default
    """
    from model_zoo.info import format_info, zoo_info

    click.echo(format_info(zoo_info(root)), nl=False)


@zoo.command("estimate")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sample", default=4, show_default=True, type=click.IntRange(min=1),
              help="Models timed per task (a seeded random sample).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes, as for `zoo build`.")
@click.option("--task", "tasks", multiple=True, metavar="NAME", help="Only this task of the spec (repeatable).")
def zoo_estimate(spec: Path, sample: int, jobs: int, tasks: tuple[str, ...]) -> None:
    """Estimate the build time of SPEC: time a sample of each task's models, extrapolate.

    \b
    Example:
      pgdl zoo estimate model_zoo/specs/default.toml --jobs 2
    """
    from model_zoo.builder import estimate_build
    from model_zoo.spec import load_spec

    estimates = estimate_build(load_spec(spec), sample=sample, jobs=jobs, tasks=list(tasks) or None,
                               progress=True)
    click.echo(f"{'task':<28} {'models':>6} {'sampled':>7} {'s/model':>8} {'CPU s/model':>11} "
               f"{'extrapolated':>13}")
    for e in estimates:
        click.echo(f"{e.task:<28} {e.n_models:>6} {len(e.sampled):>7} {e.seconds_per_model:>8.1f} "
                   f"{e.cpu_seconds_per_model:>11.1f} {e.total_seconds / 60:>9.1f} min")
    total = sum(e.total_seconds for e in estimates) / jobs
    cpu = sum(e.cpu_seconds_per_model * e.n_models for e in estimates) / jobs
    click.echo(f"extrapolated build time with --jobs {jobs}: {total / 60:.0f} min at the measured wall "
               f"time per model; {cpu / 60:.0f} min if each job had a core to itself (CPU time)")


# --- leaderboard, official run in containers, pack (harness.leaderboard, .official, .pack)


def _scoring_options(command):
    """Options of the scoring half shared by `leaderboard` and `official`."""
    return _with(command, [
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Folder for OUT/<submission>/ results, leaderboard.csv/.md and report.html."),
        click.option("--rerun", is_flag=True, help="Run every submission again, even where OUT has its results."),
        _BOOTSTRAP,
        _SEED,
    ])


def _report_progress(entries):
    return click.progressbar(entries, label="report", file=sys.stderr,
                             item_show_func=lambda e: e.name if e else None)


def _echo_leaderboard(board) -> None:
    from harness.report.html import REPORT_HTML
    from harness.report.tables import LEADERBOARD_CSV, LEADERBOARD_MD

    from harness.scoring.formatting import format_p

    click.echo(f"{'rank':>4}  {'submission':<28} {'official':>9} {'p':>7}  status")
    for e in board.entries:
        official = "-" if e.overall_official is None else f"{e.overall_official:.4f}"
        click.echo(f"{e.rank if e.rank is not None else '-':>4}  {e.name:<28} {official:>9} "
                   f"{format_p(e.overall_p_value):>7}  {e.status}")
    out = board.out_dir
    click.echo(f"wrote {out / LEADERBOARD_CSV}, {out / LEADERBOARD_MD}, {out / REPORT_HTML}")


@cli.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@_data_option()
@_scoring_options
@_PERMUTATIONS
@_run_options
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

    board = run_leaderboard(list(submissions), _data_or_zoo(data), out, _run_config(**options), rerun=rerun,
                            bootstrap=bootstrap, seed=seed, permutations=permutations, log=lambda line: click.echo(line, err=True),
                            progress=_report_progress)
    _echo_leaderboard(board)


@cli.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@_data_option(help="Split root of the tasks: DATA/input_data and DATA/reference_data "
                   "(default: the zoo shipped in model_zoo/default).")
@_scoring_options
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
@_TIME_PER_MODEL
@_MEMORY_MB
@_MAX_THREADS
@_KERAS
@_KERAS2
@_SEEDING
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

    repo = Path(__file__).resolve().parent.parent
    if engine == "container-check":
        runner = ContainerCheckEngine(tool or repo.parent / "shared" / "tools" / "container-check", context or repo)
    else:
        runner = DockerEngine(image, engine, docker_gpus)
    config = _run_config(workers, gpus, time_per_model, memory_mb, max_threads, True, keras2, (), keras=keras,
                         seeding=seeding)
    board = run_official(list(submissions), _data_or_zoo(data), out, runner, config, bootstrap=bootstrap, seed=seed,
                         rerun=rerun, log=lambda line: click.echo(line, err=True), progress=_report_progress)
    _echo_leaderboard(board)


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (default: ./<name>.zip).")
@click.option("--no-check", is_flag=True, help="Write the zip without running the check.")
@_check_options
def pack(submission: Path, out: Path | None, no_check: bool, data: Path | None, time_per_model: float,
         memory_mb: int, max_threads: int, no_sandbox: bool, keras: str, keras2: bool, seeding: str) -> None:
    """Check SUBMISSION (as `pgdl check`, with its options), then write the zip the official run accepts.

    The zip has complexity.py at its root and no caches (__pycache__, *.pyc),
    .DS_Store or hidden files; the same files always give the same zip.

    \b
    Example:
      pgdl pack my_measure --out my_measure.zip
    """
    from harness.pack import human_size, pack_submission

    config = _check_config(time_per_model, memory_mb, max_threads, no_sandbox, keras2, keras, seeding)
    result = pack_submission(submission, out, data_root=data, config=config, check=not no_check)
    if result.check is not None:
        record = result.check.record
        click.echo(f"check ok: {record.task}/model_{record.model} gave {record.value:.6g} "
                   f"in {record.seconds:.2f} s ({result.check.plan})")
    shown = ", ".join(result.files[:10]) + (", ..." if len(result.files) > 10 else "")
    click.echo(f"wrote {result.path} ({len(result.files)} file(s), {human_size(result.size)}): {shown}")


def _show_report(report, out: Path, footer: str | None = None) -> None:
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


def option_name(param: str) -> str:
    """The command-line option of a library parameter: ``time_per_model`` is ``--time-per-model``."""
    return _OPTION_OF.get(param, "--" + param.replace("_", "-"))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pgdl`` console script.

    Exit status: 0 done; 1 scores written with a flagged task (or a failed
    check); 2 nothing written: bad input or an error, in one line
    (``--debug``, before the command, shows the traceback instead); 130
    interrupted.
    """
    args = sys.argv[1:] if argv is None else argv
    obj: dict[str, Any] = {}   # the group's callback records --debug here, parsed where click parses it
    try:
        cli.main(args=args, prog_name="pgdl", standalone_mode=False, obj=obj)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (HarnessError, OSError, ValueError, RecursionError) as exc:
        if obj.get("debug"):
            raise
        click.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(EXIT_ERROR)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` in one line: a parameter under its option's name, an OS error with its
    file, anything else prefixed with its type when that says more than the message."""
    from harness.errors import one_line

    if isinstance(exc, ParameterError):
        return exc.shown_as(option_name(exc.param))
    if isinstance(exc, HarnessError):
        return one_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    if isinstance(exc, RecursionError):
        return "input nested too deeply to process (RecursionError)"
    return f"{type(exc).__name__}: {one_line(exc)}"


if __name__ == "__main__":
    main()
