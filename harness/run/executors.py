"""The executors, registered by name: `EXECUTORS` maps a `harness.run.config.RunConfig.executor` to its class.

    >>> sorted(EXECUTORS)
    ['local', 'ray']
"""

from __future__ import annotations

from typing import Callable, Mapping

from harness.errors import ParameterError
from harness.run.context import RunContext
from harness.run.executor import Executor
from harness.run.local import LocalExecutor
from harness.run.ray_executor import RayExecutor

EXECUTORS: Mapping[str, Callable[[RunContext], Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, context: RunContext) -> Executor:
    """The executor registered as ``name``, for the run of ``context``."""
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise ParameterError("executor", f"must be one of {', '.join(sorted(EXECUTORS))}", name) from None
    return factory(context)
