"""The ``pgdl`` options shared by several commands; their defaults are the library's (`harness.run.config`)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError
from harness.run.config import MAX_THREADS, MEMORY_MB, RAY_DATA, SEEDINGS, TIME_PER_MODEL, RayOptions, RunConfig
from harness.run.executors import EXECUTORS

#: Library parameters whose option is not simply ``--`` + the name with dashes.
_OPTION_OF = {"tasks": "--task", "models": "--limit", "out_dir": "--out", "data_root": "--data",
              "RayOptions.address": "--ray-address", "RayOptions.data": "--ray-data", "RayOptions.cpus": "--ray-cpus",
              "RayOptions.gpus": "--ray-gpus", "RayOptions.models_per_unit": "--models-per-unit",
              "RayOptions.max_retries": "--ray-retries"}


def option_name(param: str) -> str:
    """The command-line option of a library parameter: ``time_per_model`` is ``--time-per-model``."""
    return _OPTION_OF.get(param, "--" + param.replace("_", "-"))


def hidden_alias(flag: str, param: str, type: Any):
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


def with_options(command, options):
    """``command`` with ``options`` (click decorators), in the order listed."""
    for option in reversed(options):
        command = option(command)
    return command


TIME_PER_MODEL_OPTION = click.option("--time-per-model", default=TIME_PER_MODEL, show_default=True, metavar="SECONDS",
                               help="Wall-time limit per model (and for importing the submission).")
MEMORY_MB_OPTION = click.option("--memory-mb", default=MEMORY_MB, show_default=True,
                          help="Limit on the resident memory of a worker's whole process tree.")
MAX_THREADS_OPTION = click.option("--max-threads", default=MAX_THREADS, show_default=True,
                            help="Limit on the threads and processes of a worker.")
KERAS_OPTION = click.option("--keras", type=click.Choice(["auto", "2", "3"]), default="auto", show_default=True,
                      help="Keras the submission runs under: 2 (tf_keras), 3, or auto (Keras 2 where its source "
                           "uses Keras-2-only APIs, or after a Keras-3-only AttributeError).")
KERAS2_OPTION = click.option("--keras2", is_flag=True, help="The same as --keras 2.")
SEEDING_OPTION = click.option("--seeding", type=click.Choice(SEEDINGS), default="model", show_default=True,
                        help="model: seed every generator per model (deterministic); kit: seed nothing and clear "
                             "the Keras session before each model, as the 2020 ingestion program did.")
BOOTSTRAP_OPTION = click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
                          help="Bootstrap resamples per task for the confidence intervals (0: none).")
SEED_OPTION = click.option("--seed", default=0, show_default=True, type=int,
                      help="Seed of the bootstrap, of the permutation null (each task its own stream) "
                           "and of the --limit subset.")
PERMUTATIONS_OPTION = click.option("--permutations", default=None, type=click.IntRange(min=0), show_default="auto",
                             help="Permutations of each task's null, for the p-values (0: none; auto: 999 up "
                                  "to ~500 models, fewer above, 19 at 10,000).")


def null_progress(task: str):
    """The progress bar of a task's permutation null (shown only for tasks that take a while)."""
    def wrap(batches):
        return click.progressbar(batches, label=f"null of {task}", file=sys.stderr)
    return wrap


TASKS_OPTION = click.option("--task", "tasks", multiple=True, metavar="NAME",
                      help="Only this task (repeatable); the overall score is over these.")


def data_option(help: str = "Root of the tasks (default: the zoo shipped in model_zoo/default).", **kwargs):
    return click.option("--data", type=click.Path(path_type=Path), help=help, **kwargs)


def run_options(command):
    """Options shared by `predict`, `score` and `leaderboard`: workers, limits, sandbox, Keras flavour, Ray."""
    return with_options(command, [
        click.option("--workers", default=1, show_default=True, help="CPU worker processes."),
        click.option("--gpus", default="", metavar="0,1,...",
                     help="One worker per listed GPU (CUDA_VISIBLE_DEVICES); replaces --workers."),
        TIME_PER_MODEL_OPTION,
        MEMORY_MB_OPTION,
        MAX_THREADS_OPTION,
        click.option("--no-sandbox", is_flag=True,
                     help="Run without bubblewrap: only for trusted code, or inside a container "
                          "that is itself the sandbox (limits still apply)."),
        KERAS_OPTION,
        KERAS2_OPTION,
        SEEDING_OPTION,
        click.option("--keep-going", is_flag=True,
                     help="Run every model of a task even after 3 consecutive timeouts (default: skip the rest)."),
        TASKS_OPTION,
        click.option("--executor", type=click.Choice(sorted(EXECUTORS)), default="local", show_default=True,
                     help="Run models in local worker processes, or as units of work on a Ray cluster "
                          "(docs/ray.md)."),
        click.option("--ray-address", metavar="HOST:PORT",
                     help="Ray cluster to join (default: $RAY_ADDRESS, else a cluster started on this "
                          "machine, else a new local Ray instance)."),
        click.option("--ray-data", type=click.Choice(RAY_DATA), default="ship", show_default=True,
                     help="How task data reaches Ray nodes: through Ray's object store, or at the same "
                          "--data path on every node (NFS)."),
        click.option("--ray-cpus", default=1.0, show_default=True, help="CPUs per unit of work on Ray."),
        click.option("--ray-gpus", default=0.0, show_default=True,
                     help="GPUs per unit of work on Ray (0 to 1; 0.5 packs two units per GPU)."),
        click.option("--models-per-unit", type=click.IntRange(min=1),
                     help="Models per unit of work on Ray (default: two units per slot, at most 16 models)."),
    ])


def check_options(command):
    """Options of the one-model check shared by `check` and `pack` (the same limits as a run's)."""
    return with_options(command, [
        data_option(help="Tasks for the check (default: the zoo shipped in model_zoo/default)."),
        TIME_PER_MODEL_OPTION,
        MEMORY_MB_OPTION,
        MAX_THREADS_OPTION,
        click.option("--no-sandbox", is_flag=True, help="Run without bubblewrap (trusted code only)."),
        KERAS_OPTION,
        KERAS2_OPTION,
        SEEDING_OPTION,
        hidden_alias("--time-limit", "time_per_model", float),
    ])


def check_config(time_per_model: float, memory_mb: int, max_threads: int, no_sandbox: bool, keras2: bool,
                  keras: str = "auto", seeding: str = "model"):
    """The `RunConfig` of a check: one worker, quiet."""
    return run_config(workers=1, gpus="", time_per_model=time_per_model, memory_mb=memory_mb,
                       max_threads=max_threads, no_sandbox=no_sandbox, keras2=keras2, tasks=(), progress=False,
                       keras=keras, seeding=seeding)


def keras_version(keras: str, keras2: bool) -> str:
    """``--keras``, with ``--keras2`` as its alias for ``2``; tf_keras must be installed for ``2``."""
    if keras2 and keras not in ("auto", "2"):
        raise HarnessError(f"--keras2 means --keras 2, which contradicts --keras {keras}")
    version = "2" if keras2 else keras
    if version == "2":
        if importlib.util.find_spec("tf_keras") is None:
            raise HarnessError("--keras 2 needs the tf_keras package (a dependency of the harness): "
                               "pip install tf_keras")
    return version


def run_config(workers, gpus, time_per_model, memory_mb, max_threads, no_sandbox, keras2, tasks,
                executor="local", ray_address=None, ray_data="ship", ray_cpus=1.0, ray_gpus=0.0,
                models_per_unit=None, keras="auto", **overrides):
    keras = keras_version(keras, keras2)
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
        if gpu_ids:
            raise HarnessError("--gpus picks GPUs of this machine; with --executor ray, use --ray-gpus "
                               "(GPUs per unit of work)")
        settings["ray"] = RayOptions(**ray_settings)
    elif ray_settings != {name: getattr(RayOptions(), name) for name in ray_settings}:
        raise HarnessError("--ray-address, --ray-data, --ray-cpus, --ray-gpus and --models-per-unit "
                           "need --executor ray")
    settings.update(overrides)
    return RunConfig(**settings)


def default_zoo() -> Path:
    """The zoo shipped in the repository (``model_zoo/default``), the CLI's default ``--data``;
    `HarnessError` if it is absent. (The library never imports `model_zoo`.)"""
    from model_zoo import DEFAULT_ZOO as path

    if not path.is_dir():
        raise HarnessError(f"the default zoo ({path}) is not in this checkout yet; pass --data ROOT")
    return path


def data_or_zoo(data: Path | None) -> Path:
    """``--data``, else the shipped zoo (`default_zoo`)."""
    return data if data is not None else default_zoo()
