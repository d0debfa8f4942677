"""Running a submission over tasks: the ingestion half of the harness.

* `harness.run.config`: `RunConfig`, `RayOptions` and the limit defaults (one place);
* `harness.run.runner`: `run_submission`, `check_submission`, `input_tasks`;
* `harness.run.context` / `harness.run.session`: what a run's workers share; one worker slot;
* `harness.run.executor`: the `Executor` protocol; `harness.run.executors`: the executors by name
  (`harness.run.local`, `harness.run.ray_executor`);
* `harness.run.pack`: check a submission, then write its zip;
* `harness.run.progress`, `harness.run.scratch`: progress lines, scratch folders.

Never imports TensorFlow (the workers do, in their sandboxes).
"""

from harness.run.config import MAX_THREADS, MEMORY_MB, TIME_PER_MODEL, TIMEOUT_STREAK, RayOptions, RunConfig
from harness.run.context import LOG_DIR, SUBMISSION_INFO, ImportFailure, Job, RunContext, model_seed
from harness.run.executor import Executor
from harness.run.executors import EXECUTORS, make_executor
from harness.run.local import LocalExecutor
from harness.run.pack import PackResult, default_zip_path, human_size, pack_submission, submission_files, write_zip
from harness.run.progress import RunProgress, format_duration
from harness.run.ray_executor import RayExecutor
from harness.run.runner import (CheckReport, RunResult, SubmissionImportError, TaskSummary, TimeoutStreak,
                                check_submission, input_tasks, run_submission)
from harness.run.scratch import remove_tree, scratch_dir
from harness.run.session import Session, usable_value

__all__ = ["MAX_THREADS", "MEMORY_MB", "TIME_PER_MODEL", "TIMEOUT_STREAK", "RayOptions", "RunConfig", "LOG_DIR",
           "SUBMISSION_INFO", "ImportFailure", "Job", "RunContext", "model_seed", "Executor", "EXECUTORS",
           "make_executor", "LocalExecutor", "PackResult", "default_zip_path", "human_size", "pack_submission",
           "submission_files", "write_zip", "RunProgress", "format_duration", "RayExecutor", "CheckReport",
           "RunResult", "SubmissionImportError", "TaskSummary", "TimeoutStreak", "check_submission", "input_tasks",
           "run_submission", "remove_tree", "scratch_dir", "Session", "usable_value"]
