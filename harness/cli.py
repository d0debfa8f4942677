"""The ``pgdl`` command line: a thin layer over the Python API.

Each command parses its options, calls one library function and prints the
result. Errors the user can fix are raised as `HarnessError` and shown as one
line (exit status 2); ``pgdl --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness import __version__
from harness.errors import HarnessError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgdl")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predicting Generalization in Deep Learning: run and score complexity measures."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --- commands are registered below, one section per concern -----------------


# --- run: predict, score, check (harness.runner) -----------------------------


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
_KERAS2 = click.option("--keras2", is_flag=True, help="Run the submission under Keras 2 (tf_keras).")
_BOOTSTRAP = click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
                          help="Bootstrap resamples per task for the confidence intervals (0: none).")
_SEED = click.option("--seed", default=0, show_default=True, type=int,
                     help="Seed of the bootstrap and of the permutation null (each task its own stream).")
_PERMUTATIONS = click.option("--permutations", default=None, type=click.IntRange(min=0), show_default="auto",
                             help="Permutations of each task's null, for the p-values (0: none; auto: 999 up "
                                  "to ~500 models, fewer above, 19 at 10,000).")


def _null_progress(task: str):
    """The progress bar of a task's permutation null (shown only for tasks that take a while)."""
    def wrap(batches):
        return click.progressbar(batches, label=f"null of {task}", file=sys.stderr)
    return wrap


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
        _KERAS2,
        click.option("--task", "tasks", multiple=True, metavar="NAME", help="Only this task (repeatable)."),
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
    """Options of the one-model check shared by `check` and `pack`."""
    return _with(command, [
        click.option("--time-limit", default=60.0, show_default=True, metavar="SECONDS",
                     help="Limit for importing the submission, and for the one model."),
        _MEMORY_MB,
        click.option("--no-sandbox", is_flag=True, help="Run without bubblewrap (trusted code only)."),
        _KERAS2,
    ])


def _check_config(time_limit: float, memory_mb: int, no_sandbox: bool, keras2: bool):
    """The `RunConfig` of a check: one worker, quiet."""
    return _run_config(workers=1, gpus="", time_per_model=time_limit, memory_mb=memory_mb, max_threads=1024,
                       no_sandbox=no_sandbox, keras2=keras2, tasks=(), progress=False)


def _run_config(workers, gpus, time_per_model, memory_mb, max_threads, no_sandbox, keras2, tasks,
                executor="local", ray_address=None, ray_data="ship", ray_cpus=1.0, ray_gpus=0.0,
                models_per_unit=None, **overrides):
    from harness.runner import RunConfig

    if keras2:
        import importlib.util

        if importlib.util.find_spec("tf_keras") is None:
            raise HarnessError("--keras2 needs the tf_keras package: pip install tf_keras")
    try:
        gpu_ids = tuple(int(g) for g in gpus.split(",") if g.strip())
    except ValueError:
        raise HarnessError(f"--gpus: expected comma-separated GPU numbers, got {gpus!r}") from None
    settings = dict(workers=workers, gpus=gpu_ids, time_per_model=time_per_model, memory_mb=memory_mb,
                    max_threads=max_threads, sandbox=not no_sandbox, keras2=keras2,
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
    """Per task: models, ok, failures by status, median seconds per model."""
    click.echo(f"{'task':<24} {'models':>6} {'ok':>5} {'s/model':>8}  failed")
    for row in result.summaries():
        failed = ", ".join(f"{n} {status}" for status, n in sorted(row.failed.items())) or "-"
        seconds = f"{row.median_seconds:.2f}" if row.median_seconds is not None else "-"
        click.echo(f"{row.task:<24} {row.models:>6} {row.ok:>5} {seconds:>8}  {failed}")
    if result.failed:
        click.echo(f"{result.failed} model(s) failed: reasons in {result.out_dir / 'run.jsonl'}")


def _run(submission: Path, data: Path, out: Path, config):
    from harness.runner import run_submission

    try:
        result = run_submission(submission, data, out, config)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {out} keeps every finished model; run the same command again to resume",
                   err=True)
        raise
    _echo_run_summary(result)
    return result


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Root of the tasks to run on.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (resumable).")
@_run_options
def predict(submission: Path, data: Path, out: Path, **options) -> None:
    """Run SUBMISSION (folder or .zip with complexity.py) on every model under --data.

    Writes OUT/<task>.predict and OUT/run.jsonl (one record per model). Never
    reads reference data. Started again with the same --out, it resumes.
    """
    _run(submission, data, out, _run_config(**options))


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path),
              help="Root of the tasks (default: the zoo shipped in model_zoo/default).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Output folder (default: results/<submission name>).")
@_PERMUTATIONS
@_run_options
def score(submission: Path, data: Path | None, out: Path | None, permutations: int | None, **options) -> None:
    """Run SUBMISSION on a zoo, then score its predictions (predict + evaluate).

    Writes predictions, run.jsonl, logs/ and scores.json/scores.txt to --out.
    Exits with status 2 when a task was flagged (e.g. a model failed: that
    task's official score is 0, as in the original competition).
    """
    from harness.evaluate import evaluate_dir
    from harness.runner import default_zoo
    from harness.submission import default_name

    data = data or default_zoo()
    out = out or Path("results") / default_name(submission)
    _run(submission, data, out, _run_config(**options))
    report = evaluate_dir(out, data, out, permutations=permutations, null_progress=_null_progress)
    _show_report(report, "flagged")


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path),
              help="Root of the tasks (default: the zoo shipped in model_zoo/default).")
@_check_options
def check(submission: Path, data: Path | None, time_limit: float, memory_mb: int, no_sandbox: bool,
          keras2: bool) -> None:
    """Check SUBMISSION quickly: import it in the sandbox, read its signature, run it on one model."""
    from harness.runner import check_submission, default_zoo

    report = check_submission(submission, data or default_zoo(),
                              _check_config(time_limit, memory_mb, no_sandbox, keras2))
    record = report.record

    def seconds(value):
        return "-" if value is None else f"{value:.2f} s"

    click.echo(f"submission  {report.submission}")
    click.echo(f"sandbox     {'bubblewrap' if report.sandboxed else 'none (--no-sandbox)'}")
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
@click.argument("pred_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--reference", required=True, type=click.Path(path_type=Path),
              help="Reference data: a split root, a reference_data folder, or a combined task folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for scores.json and scores.txt.")
@_BOOTSTRAP
@_PERMUTATIONS
@_SEED
def evaluate(pred_dir: Path, reference: Path, out_dir: Path, bootstrap: int, permutations: int | None,
             seed: int) -> None:
    """Score PRED_DIR/<task>.predict files against reference data (the original scoring program).

    Exits with status 2 after writing the scores when a task was flagged
    (a missing .predict, models without a finite prediction, an invalid grid).
    """
    from harness.evaluate import evaluate_dir

    def progress(tasks):
        return click.progressbar(tasks, label="scoring", file=sys.stderr,
                                 item_show_func=lambda t: t.name if t else None)

    report = evaluate_dir(pred_dir, reference, out_dir, bootstrap=bootstrap, seed=seed,
                          permutations=permutations, progress=progress, null_progress=_null_progress)
    _show_report(report, "error")


# --- zoo: train model zoos and describe them (model_zoo) ---------------------


@cli.group()
def zoo() -> None:
    """Train model zoos from spec files (model_zoo/specs/*.toml) and describe them."""


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
    """Train the zoo that SPEC (a TOML file) describes into OUT, skipping models already trained."""
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
    """Describe the zoo at ROOT: per task the grid, the models, and the spread of gaps."""
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
    """Estimate the build time of SPEC: time a sample of each task's models, extrapolate."""
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
    from harness.leaderboard import LEADERBOARD_CSV, LEADERBOARD_MD
    from harness.report import REPORT_HTML

    from harness.evaluate import format_p

    click.echo(f"{'rank':>4}  {'submission':<28} {'official':>9} {'p':>7}  status")
    for e in board.entries:
        official = "-" if e.overall_official is None else f"{e.overall_official:.4f}"
        click.echo(f"{e.rank if e.rank is not None else '-':>4}  {e.name:<28} {official:>9} "
                   f"{format_p(e.overall_p_value):>7}  {e.status}")
    out = board.out_dir
    click.echo(f"wrote {out / LEADERBOARD_CSV}, {out / LEADERBOARD_MD}, {out / REPORT_HTML}")


@cli.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path),
              help="Root of the tasks (default: the zoo shipped in model_zoo/default).")
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
    """
    from harness.leaderboard import run_leaderboard
    from harness.runner import default_zoo

    board = run_leaderboard(list(submissions), data or default_zoo(), out, _run_config(**options), rerun=rerun,
                            bootstrap=bootstrap, seed=seed, permutations=permutations,
                            log=lambda line: click.echo(line, err=True),
                            progress=_report_progress)
    _echo_leaderboard(board)


@cli.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Split root of the tasks: DATA/input_data and DATA/reference_data.")
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
@_KERAS2
def official(submissions: tuple[Path, ...], data: Path, out: Path, rerun: bool, bootstrap: int, seed: int,
             engine: str, image: str, docker_gpus: str | None, context: Path | None, tool: Path | None,
             workers: int, gpus: str, time_per_model: float, memory_mb: int, max_threads: int,
             keras2: bool) -> None:
    """The official run: each SUBMISSION predicted in one container and scored in another.

    The prediction container has no network and sees only the tasks' input
    side and the submission (read-only); the scoring container sees only the
    predictions and the reference side. Then ranks them and writes the
    leaderboard and report as `pgdl leaderboard` does. Build the image first:
    `docker build -t pgdl .` (GPU: add --build-arg TF_PACKAGE='tensorflow[and-cuda]').
    """
    from harness.official import ContainerCheckEngine, DockerEngine, run_official

    repo = Path(__file__).resolve().parent.parent
    if engine == "container-check":
        runner = ContainerCheckEngine(tool or repo.parent / "shared" / "tools" / "container-check", context or repo)
    else:
        runner = DockerEngine(image, engine, docker_gpus)
    config = _run_config(workers, gpus, time_per_model, memory_mb, max_threads, True, keras2, ())
    board = run_official(list(submissions), data, out, runner, config, bootstrap=bootstrap, seed=seed,
                         rerun=rerun, log=lambda line: click.echo(line, err=True), progress=_report_progress)
    _echo_leaderboard(board)


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (default: ./<name>.zip).")
@click.option("--data", type=click.Path(path_type=Path),
              help="Tasks for the check (default: the zoo shipped in model_zoo/default).")
@click.option("--no-check", is_flag=True, help="Write the zip without running the check.")
@_check_options
def pack(submission: Path, out: Path | None, data: Path | None, no_check: bool, time_limit: float,
         memory_mb: int, no_sandbox: bool, keras2: bool) -> None:
    """Check SUBMISSION (as `pgdl check`, with its options), then write the zip the official run accepts.

    The zip has complexity.py at its root and no caches (__pycache__, *.pyc),
    .DS_Store or hidden files; the same files always give the same zip.
    """
    from harness.pack import human_size, pack_submission

    result = pack_submission(submission, out, data_root=data, config=_check_config(time_limit, memory_mb, no_sandbox,
                                                                                 keras2),
                             check=not no_check)
    if result.check is not None:
        record = result.check.record
        click.echo(f"check ok: {record.task}/model_{record.model} gave {record.value:.6g} "
                   f"in {record.seconds:.2f} s ({result.check.plan})")
    shown = ", ".join(result.files[:10]) + (", ..." if len(result.files) > 10 else "")
    click.echo(f"wrote {result.path} ({len(result.files)} file(s), {human_size(result.size)}): {shown}")


def _show_report(report, problem_label: str) -> None:
    """Print a score report's table, its warnings and problems; exit 2 if it has problems."""
    from harness.evaluate import format_table

    click.echo(format_table(report))
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
    for line in report.problems:
        click.echo(f"{problem_label}: {line}", err=True)
    if report.problems:
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pgdl`` console script."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="pgdl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except HarnessError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
