"""``pgdl zoo build``, ``info`` and ``estimate``: model zoos (`model_zoo`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
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
