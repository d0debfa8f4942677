"""Submissions (SPEC §2): what the user hands in, and how its ``complexity`` is called.

* `harness.submission.package`: `open_submission` (folder or zip, checked), `tree_digest`,
  `default_name`, `walk_entries` (the one walk over a submission's folder);
* `harness.submission.calling`: `plan_call` / `call_submission` (runs inside the sandbox too);
* `harness.submission.keras_mode`: which Keras a submission runs under;
* `harness.submission.environment`: the packages a submission may import;
* `harness.submission.naming`: `submission_name`, `metadata_field`, `slug` (a submission's names);
* `harness.submission.template`: ``pgdl init``'s template.

Never imports TensorFlow.
"""

from harness.submission.calling import ENTRY_FUNCTION, OFFERED, CallPlan, call_submission, plan_call
from harness.submission.environment import describe_environment, submission_packages
from harness.submission.keras_mode import (LEGACY_KERAS_ENV, Finding, KerasChoice, KerasMode, KerasState,
                                           choose_keras, detect_keras2, is_keras3_attribute_error)
from harness.submission.package import (CHECKED_COPY, ENTRY_FILE, IntakeLimits, Submission, SubmissionError,
                                        copy_checked, default_name, open_submission, safe_unzip, tree_digest,
                                        walk_entries, walk_files)
from harness.submission.naming import metadata_field, slug, submission_name
from harness.submission.template import write_template

__all__ = ["ENTRY_FUNCTION", "OFFERED", "CallPlan", "call_submission", "plan_call", "describe_environment",
           "submission_packages", "LEGACY_KERAS_ENV", "Finding", "KerasChoice", "KerasMode", "KerasState",
           "choose_keras", "detect_keras2", "is_keras3_attribute_error", "CHECKED_COPY", "ENTRY_FILE",
           "IntakeLimits", "Submission", "SubmissionError", "copy_checked", "default_name", "open_submission",
           "safe_unzip", "tree_digest", "walk_entries", "walk_files", "metadata_field", "slug", "submission_name", "write_template"]
