"""How a submission's ``complexity`` is called (SPEC §2): `plan_call` reads its signature, `call_submission` calls it.

Runs inside the sandboxed worker too; never imports TensorFlow.

What ``complexity`` is called with
----------------------------------
The first two parameters, whatever their names, get the model and the
training dataset, positionally (``complexity(model, dataset)`` as in 2020).
Every further parameter is matched by name against `OFFERED` and passed by
keyword when asked for:

``program_dir``  the submission's own folder (a writable private copy), as the
                 original ingestion program passed it;
``num_classes``  the number of classes (the model's output units);
``seed``         an integer fixed per task and model (the global Python, numpy
                 and TensorFlow generators are seeded with it before the call,
                 unless the run uses ``--seeding kit``);
``time_budget``  the seconds this call may take before it is stopped;
``task_name``    the task's name; ``model_id`` the model's bare id (``"0"``).

A further parameter with a default that is not offered keeps its default; one
without a default makes the submission unusable (`SubmissionError`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from harness.submission.package import ENTRY_FILE, SubmissionError

ENTRY_FUNCTION = "complexity"
OFFERED = ("program_dir", "num_classes", "seed", "time_budget", "task_name", "model_id")


@dataclass(frozen=True)
class CallPlan:
    """How to call a submission's ``complexity``: two positional arguments, then ``extras`` by keyword."""

    signature: str
    extras: tuple[str, ...]

    def describe(self) -> str:
        passed = ", ".join(("model", "dataset") + self.extras)
        return f"complexity{self.signature} receives: {passed}"



def plan_call(func: Any) -> CallPlan:
    """Decide how to call ``func`` (see the module docstring); raise `SubmissionError` if it can't be."""
    if not callable(func):
        raise SubmissionError(f"{ENTRY_FILE}: '{ENTRY_FUNCTION}' is not a function")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise SubmissionError(f"{ENTRY_FILE}: cannot read the signature of {ENTRY_FUNCTION}() ({exc})") from None
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(positional) < 2 and not has_varargs:
        raise SubmissionError(f"{ENTRY_FILE}: {ENTRY_FUNCTION}{sig} must take (model, dataset, ...)")
    extras = []
    for p in params:
        if p in positional[:2] or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in OFFERED and p.kind is not p.POSITIONAL_ONLY:
            extras.append(p.name)
        elif p.default is p.empty:
            raise SubmissionError(f"{ENTRY_FILE}: {ENTRY_FUNCTION}{sig} asks for {p.name!r}, which the "
                                  f"harness does not offer (offered: {', '.join(OFFERED)})")
    return CallPlan(str(sig), tuple(extras))


def call_submission(func: Callable[..., Any], plan: CallPlan, model: Any, dataset: Any,
                    offered: dict[str, Any]) -> Any:
    """Call ``func(model, dataset, **extras)`` with the extras ``plan`` asks for."""
    return func(model, dataset, **{name: offered[name] for name in plan.extras})
