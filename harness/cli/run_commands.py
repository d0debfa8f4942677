"""``pgdl init``, ``check``, ``predict`` and ``pack``: commands over `harness.run` and `harness.submission`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from harness.errors import HarnessError
from harness.cli.options import (check_config, check_options, data_option, data_or_zoo, run_config,
                                 run_options)


def echo_run_summary(result) -> None:
    """Per task: models, ok, failures by status, median seconds per model; then each distinct failure reason."""
    from harness.task.records import failure_reasons

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


def written(out: Path, result, started: float, *names: str) -> str:
    """The run's last line: what it wrote where, and the total time."""
    from harness.run.progress import format_duration

    predicts = len(result.tasks)
    listed = ", ".join([*names, "run.jsonl", f"{predicts} .predict file{'s' if predicts != 1 else ''}", "logs/"])
    return f"wrote {listed} to {out} in {format_duration(time.monotonic() - started)}"


def interruptible(out: Path, work):
    """``work()``; on Ctrl-C, says that ``out`` keeps the finished models before stopping."""
    try:
        return work()
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {out} keeps every finished model; run the same command again to resume",
                   err=True)
        raise


def run_and_summarize(submission: Path, data: Path, out: Path, config):
    from harness.task.records import prepare_out_dir
    from harness.run import run_submission

    prepare_out_dir(out, create=False)
    result = interruptible(out, lambda: run_submission(submission, data, out, config))
    echo_run_summary(result)
    return result


@click.command()
@click.argument("name", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite NAME/complexity.py if it exists.")
def init(name: Path, force: bool) -> None:
    """Write NAME/complexity.py: a commented template submission that passes `pgdl check`.

    \b
    Example:
      pgdl init my_measure && pgdl check my_measure
    """
    from harness.submission import ENTRY_FILE, write_template

    if not force and (name / ENTRY_FILE).exists():
        raise HarnessError(f"{name / ENTRY_FILE}: already exists (pass --force to overwrite it)")
    written = write_template(name, overwrite=force)
    click.echo(f"wrote {', '.join(str(p) for p in written)}; next: pgdl check {name}")


@click.command()
@click.argument("submission", type=click.Path(path_type=Path))
@check_options
def check(submission: Path, data: Path | None, time_per_model: float, memory_mb: int, max_threads: int,
          no_sandbox: bool, keras: str, keras2: bool, seeding: str) -> None:
    """Check SUBMISSION quickly: import it in the sandbox, read its signature, run it on one model.

    Uses the limits a run would (--time-per-model, --memory-mb). Exits with
    status 1 when the check fails.

    \b
    Example:
      pgdl check sample_submissions/sum_of_squared_weights
    """
    from harness.run import check_submission
    from harness.submission.environment import describe_environment

    report = check_submission(submission, data_or_zoo(data),
                              check_config(time_per_model, memory_mb, max_threads, no_sandbox, keras2,
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


@click.command()
@click.argument("submission", type=click.Path(path_type=Path))
@data_option()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (resumable).")
@run_options
def predict(submission: Path, data: Path | None, out: Path, **options) -> None:
    """Run SUBMISSION (folder or .zip with complexity.py) on every model under --data.

    Writes OUT/<task>.predict and OUT/run.jsonl (one record per model). Never
    reads reference data. Started again with the same --out, it resumes.

    \b
    Example:
      pgdl predict my_measure --data model_zoo/default/input_data --out predictions/
    """
    started = time.monotonic()
    result = run_and_summarize(submission, data_or_zoo(data), out, run_config(**options))
    click.echo(written(out, result, started))


@click.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (default: ./<name>.zip).")
@click.option("--no-check", is_flag=True, help="Write the zip without running the check.")
@check_options
def pack(submission: Path, out: Path | None, no_check: bool, data: Path | None, time_per_model: float,
         memory_mb: int, max_threads: int, no_sandbox: bool, keras: str, keras2: bool, seeding: str) -> None:
    """Check SUBMISSION (as `pgdl check`, with its options), then write the zip the official run accepts.

    The zip has complexity.py at its root and no caches (__pycache__, *.pyc),
    .DS_Store or hidden files; the same files always give the same zip.

    \b
    Example:
      pgdl pack my_measure --out my_measure.zip
    """
    from harness.run.pack import human_size, pack_submission

    config = check_config(time_per_model, memory_mb, max_threads, no_sandbox, keras2, keras, seeding)
    result = pack_submission(submission, out, data_root=data if no_check else data_or_zoo(data), config=config,
                             check=not no_check)
    if result.check is not None:
        record = result.check.record
        click.echo(f"check ok: {record.task}/model_{record.model} gave {record.value:.6g} "
                   f"in {record.seconds:.2f} s ({result.check.plan})")
    shown = ", ".join(result.files[:10]) + (", ..." if len(result.files) > 10 else "")
    click.echo(f"wrote {result.path} ({len(result.files)} file(s), {human_size(result.size)}): {shown}")
