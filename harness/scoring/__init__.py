"""Scoring a complexity measure: every metric of SPEC §3, their nulls and intervals, and the score files.

Modules, in the order the data flows through them:

* `grid` — the `Grid` record of a task's hyperparameters; `inputs` — measure and gap checked
  once, `round_gaps`, `finite_number`; `groups` — seeds, configurations, one-out pairs.
* `counting` — ordered pairs counted by bin and type, one pass feeding every consumer;
  `pairs` — the same counts on the product of levels, for many measures at once.
* `official` — the 2020 competition's score and the grids it accepts; `cmi` — robust CMI;
  `ranking` — Kendall's τ, Ψ, sign-error; `metrics` — all of them at once (`score_all`).
* `null` — permutation nulls; `intervals` — percentile intervals where they are valid.
* `evaluate` — predictions scored against reference data (`predictions` reads them), giving
  `results` (`TaskScore`, `ScoreReport`) written as ``scores.json`` (`scores_file`: one schema,
  read back by the same records), ``scores.txt`` and ``models.csv`` (`models_csv`), with the
  `environment` that produced them; `formatting` shows them as text.

Pure numpy; never imports TensorFlow or scipy.
"""

from harness.scoring.cmi import RobustCMI, robust_cmi
from harness.scoring.evaluate import SCORE_FILES, evaluate_dir, evaluate_predictions, score_task
from harness.scoring.grid import Grid
from harness.scoring.groups import SEED_NAMES, configurations, one_out_pairs, seed_axes
from harness.scoring.inputs import GAP_DECIMALS, finite_number, round_gaps
from harness.scoring.intervals import Interval, has_replicates, resampled_intervals
from harness.scoring.metrics import Metrics, pair_counts_for, score_all
from harness.scoring.null import NULL_METRICS, NullSummary, TaskNull, auto_permutations, permutation_null
from harness.scoring.official import InvalidGrid, check_complete, grid_problem, official_pair_scores, official_score
from harness.scoring.results import ScoreReport, TaskScore
from harness.scoring.scores_file import SCORES_JSON, ScoresFile, TaskEntry
from harness.scoring.ranking import (GranulatedKendall, SignError, SignErrorSummary, granulated_kendall,
                                     kendall_tau, sign_error)

#: Every metric of a task, by name: each takes ``(measure, gap, grid)`` (`kendall_tau` no grid).
METRIC_FUNCTIONS = {"official_score": official_score, "official_pair_scores": official_pair_scores,
                    "robust_cmi": robust_cmi, "kendall_tau": kendall_tau, "granulated_kendall": granulated_kendall,
                    "sign_error": sign_error, "score_all": score_all}

__all__ = ["METRIC_FUNCTIONS", "SCORE_FILES", "SCORES_JSON", "ScoreReport", "ScoresFile", "TaskEntry", "TaskScore",
           "evaluate_dir", "evaluate_predictions", "score_task", "GAP_DECIMALS", "NULL_METRICS", "SEED_NAMES", "GranulatedKendall", "Grid", "Interval", "InvalidGrid",
           "Metrics", "NullSummary", "RobustCMI", "SignError", "SignErrorSummary", "TaskNull", "auto_permutations",
           "check_complete", "configurations", "finite_number", "granulated_kendall", "grid_problem",
           "has_replicates", "kendall_tau", "official_pair_scores", "official_score", "one_out_pairs",
           "pair_counts_for", "permutation_null", "resampled_intervals", "robust_cmi", "round_gaps", "score_all",
           "seed_axes", "sign_error"]
