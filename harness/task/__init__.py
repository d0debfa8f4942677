"""Tasks on disk (SPEC §1): the layout, the reference side, the one rule of what a submission may see, records.

* `harness.task.layout`: `Task`, `find_tasks` (split and combined layouts);
* `harness.task.reference`: ``model_configs.json`` as a validated `Reference`;
* `harness.task.visible`: `visible_paths`, exactly what a submission may see of a task;
* `harness.task.records`: `RunRecord`, ``run.jsonl`` and ``<task>.predict`` files;
* `harness.task.subset`: `covering_subset`, the models of ``--limit``.

Never imports TensorFlow.
"""

from harness.task.layout import Task, find_tasks
from harness.task.records import (PREDICT_SUFFIX, RUN_LOG, STATUSES, FailureReason, RunLog, RunRecord,
                                  atomic_write_text, failure_reasons, predictions, prepare_out_dir, read_run_log,
                                  record_order, write_predict, write_run_log)
from harness.task.reference import (MODEL_CONFIGS, ModelRecord, Reference, bare_model_id, natural_key, read_json,
                                    read_model_configs)
from harness.task.subset import covering_subset
from harness.task.visible import VisiblePath, visible_paths

__all__ = ["Task", "find_tasks", "PREDICT_SUFFIX", "RUN_LOG", "STATUSES", "FailureReason", "RunLog", "RunRecord",
           "atomic_write_text", "failure_reasons", "predictions", "prepare_out_dir", "read_run_log", "record_order",
           "write_predict", "write_run_log", "MODEL_CONFIGS", "ModelRecord", "Reference", "bare_model_id",
           "natural_key", "read_json", "read_model_configs", "covering_subset", "VisiblePath", "visible_paths"]
