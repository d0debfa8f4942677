"""pgdl-harness: run complexity measures on a zoo of trained networks and score them.

The public API, importable from here (each name is imported on first use, so
``import harness`` stays cheap and never imports TensorFlow)::

    >>> import harness
    >>> harness.RunConfig(workers=2).time_per_model
    300.0

Running (`harness.run`): `run_submission`, `check_submission`,
`pack_submission`, `RunConfig`, `RayOptions`, `RunResult`. Scoring:
`score_submission`, `evaluate_dir`, `evaluate_predictions`, `ScoreReport`,
`run_leaderboard`, `run_official`. Tasks and models (`harness.task`,
`harness.io`): `find_tasks`, `Task`, `load_model`, `training_dataset`,
`build_model`. Submissions: `open_submission`. Errors: `HarnessError`,
`ParameterError`. The scoring half (`harness.metrics`, `harness.evaluate`,
`harness.task`) never imports TensorFlow; only model and data loading do.
"""

from harness.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "run_submission": "harness.run.runner",
    "check_submission": "harness.run.runner",
    "RunResult": "harness.run.runner",
    "RunConfig": "harness.run.config",
    "RayOptions": "harness.run.config",
    "pack_submission": "harness.run.pack",
    "score_submission": "harness.score",
    "evaluate_dir": "harness.evaluate",
    "evaluate_predictions": "harness.evaluate",
    "ScoreReport": "harness.evaluate",
    "run_leaderboard": "harness.leaderboard",
    "run_official": "harness.official",
    "find_tasks": "harness.task.layout",
    "Task": "harness.task.layout",
    "load_model": "harness.io.models",
    "build_model": "harness.io.models",
    "training_dataset": "harness.io.data",
    "open_submission": "harness.submission.package",
    "HarnessError": "harness.errors",
    "ParameterError": "harness.errors",
})
