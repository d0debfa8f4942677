"""pgdl-harness: run complexity measures on a zoo of trained networks and score them.

The public API, importable from here (each name is imported on first use, so
``import harness`` stays cheap and never imports TensorFlow)::

    >>> import harness
    >>> harness.RunConfig(workers=2).time_per_model
    300.0

Running (`harness.run`): `run_submission`, `check_submission`,
`pack_submission`, `RunConfig`, `RayOptions`, `RunResult`. Scoring
(`harness.scoring`): `evaluate_dir`, `evaluate_predictions`, `ScoreReport`,
`TaskScore`, `ScoresFile`, `score_all`, `Metrics`, `Grid`, `official_score`,
`robust_cmi`, `kendall_tau`, `granulated_kendall`, `sign_error`,
`permutation_null`, `resampled_intervals`. Reports (`harness.report`):
`score_submission`, `ScoreResult`, `run_leaderboard`, `Leaderboard`, `Entry`,
`run_official`. Tasks and models (`harness.task`, `harness.io`): `find_tasks`,
`Task`, `load_model`, `training_dataset`, `build_model`. Submissions:
`open_submission`. Errors: `HarnessError`, `ParameterError`. `harness.task`,
`harness.scoring` and `harness.report` never import TensorFlow; only model and
data loading (`harness.io`) and the sandboxed workers do.
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
    "score_submission": "harness.report.score",
    "evaluate_dir": "harness.scoring.evaluate",
    "evaluate_predictions": "harness.scoring.evaluate",
    "ScoreReport": "harness.scoring.results",
    "TaskScore": "harness.scoring.results",
    "ScoresFile": "harness.scoring.scores_file",
    "score_all": "harness.scoring.metrics",
    "Metrics": "harness.scoring.metrics",
    "Grid": "harness.scoring.grid",
    "official_score": "harness.scoring.official",
    "robust_cmi": "harness.scoring.cmi",
    "kendall_tau": "harness.scoring.ranking",
    "granulated_kendall": "harness.scoring.ranking",
    "sign_error": "harness.scoring.ranking",
    "permutation_null": "harness.scoring.null",
    "resampled_intervals": "harness.scoring.intervals",
    "Leaderboard": "harness.report.entries",
    "Entry": "harness.report.entries",
    "ScoreResult": "harness.report.score",
    "run_leaderboard": "harness.report.leaderboard",
    "run_official": "harness.report.official",
    "find_tasks": "harness.task.layout",
    "Task": "harness.task.layout",
    "load_model": "harness.io.models",
    "build_model": "harness.io.models",
    "training_dataset": "harness.io.data",
    "open_submission": "harness.submission.package",
    "HarnessError": "harness.errors",
    "ParameterError": "harness.errors",
})
