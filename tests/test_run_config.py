"""`harness.run.config` and `harness.run.executors`: limits defined once, errors naming parameters, executors by name."""

from __future__ import annotations

import doctest
import importlib
import inspect

import click
import pytest

from harness.cli import cli
from harness.cli.options import option_name
from harness.errors import ParameterError
from harness.run import EXECUTORS, MAX_THREADS, MEMORY_MB, TIME_PER_MODEL, Executor, RayOptions, RunConfig
from harness.run.executors import make_executor


@pytest.mark.parametrize(("field", "value"), [("workers", 0), ("time_per_model", -1.0), ("memory_mb", 0),
                                              ("max_threads", 0), ("seeding", "random"), ("log_mb", 0)])
def test_a_bad_run_setting_names_its_parameter(field, value):
    with pytest.raises(ParameterError) as info:
        RunConfig(**{field: value})
    assert info.value.param == field and str(info.value).endswith(f"Received: {field}={value!r}")


@pytest.mark.parametrize(("field", "value", "flag"), [("data", "nfs", "--ray-data"), ("cpus", 0.0, "--ray-cpus"),
                                                      ("gpus", 2.0, "--ray-gpus"),
                                                      ("models_per_unit", 0, "--models-per-unit")])
def test_a_bad_ray_option_names_its_field_and_the_cli_its_flag(field, value, flag):
    with pytest.raises(ParameterError) as info:
        RayOptions(**{field: value})
    assert info.value.param == f"RayOptions.{field}"
    assert option_name(info.value.param) == flag


@pytest.mark.parametrize(("flag", "default"), [("--time-per-model", TIME_PER_MODEL), ("--memory-mb", MEMORY_MB),
                                               ("--max-threads", MAX_THREADS)])
def test_every_command_takes_its_limit_defaults_from_the_run_config(flag, default):
    assert (RunConfig().time_per_model, RunConfig().memory_mb, RunConfig().max_threads) == \
        (TIME_PER_MODEL, MEMORY_MB, MAX_THREADS)
    for name in ("check", "score", "predict", "leaderboard", "pack", "official"):
        option = next(p for p in cli.commands[name].params if isinstance(p, click.Option) and flag in p.opts)
        assert option.default == default, name


def test_the_executor_is_chosen_by_name_from_the_registry():
    assert sorted(EXECUTORS) == ["local", "ray"]
    assert RunConfig().executor == "local" and RunConfig(ray=RayOptions()).executor == "ray"


def test_an_unknown_executor_names_the_parameter():
    with pytest.raises(ParameterError, match=r"^executor must be one of local, ray. Received: executor='gpu'$"):
        make_executor("gpu", None)


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_every_executor_offers_the_protocol(name):
    for method in ("__enter__", "__exit__", "run", "skip_pending"):
        mine = inspect.signature(getattr(EXECUTORS[name], method))
        assert list(mine.parameters) == list(inspect.signature(getattr(Executor, method)).parameters), method


@pytest.mark.parametrize("module", ["harness", "harness.run.config", "harness.run.executors"])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
