"""Where a submission runs: the bubblewrap sandbox, its system-call filter, the watched worker process.

* `harness.sandbox.layout`: `SandboxLayout` (what one worker sees), `worker_command`, `python_command`;
* `harness.sandbox.process`: `WorkerProcess` (start, talk, watch, kill), `Limits`, `Reply`, capped logs;
* `harness.sandbox.memory`: memory accounting (a delegated cgroup, or ``/proc``);
* `harness.sandbox.seccomp`: the system-call filter;
* `harness.sandbox.protocol`: the typed messages between harness and worker;
* `harness.sandbox.worker`: the program inside the sandbox (``python -m harness.sandbox.worker``; not
  imported here, so that running it as a program does not import it twice);
* `harness.sandbox.tracebacks`: one-line descriptions of a submission's exceptions.

Never imports TensorFlow (only the worker does, inside the sandbox).
"""

import harness.sandbox.protocol as protocol
from harness.sandbox.layout import (DATA_DIR, LIB_DIR, SOURCE_DIR, SUBMISSION_DIR, TMPFS_MOUNTS, SandboxLayout,
                                    TaskMount, UidPool, find_bwrap, gpu_device_nodes, python_command, python_dirs,
                                    require_bwrap, sandbox_task_dir, uids_in_use, worker_command)
from harness.sandbox.memory import (CGROUP_ENV, MemoryUsage, ProcMemoryWatch, WorkerCgroup,
                                    find_delegated_cgroup)
from harness.sandbox.process import (Limits, LogBudget, Reply, TreeUsage, WorkerLog, WorkerProcess, kill_tree,
                                     proc_stat, tree_pids, tree_usage)
from harness.sandbox.seccomp import compile_filter, filter_fd
from harness.sandbox.tracebacks import describe_exception

__all__ = ["protocol", "DATA_DIR", "LIB_DIR", "SOURCE_DIR", "SUBMISSION_DIR", "TMPFS_MOUNTS", "SandboxLayout",
           "TaskMount", "UidPool", "find_bwrap", "gpu_device_nodes", "python_command", "python_dirs",
           "require_bwrap", "sandbox_task_dir", "uids_in_use", "worker_command", "CGROUP_ENV", "MemoryUsage",
           "ProcMemoryWatch", "WorkerCgroup", "find_delegated_cgroup", "Limits", "LogBudget", "Reply", "TreeUsage",
           "WorkerLog", "WorkerProcess", "kill_tree", "proc_stat", "tree_pids", "tree_usage", "compile_filter",
           "filter_fd", "describe_exception"]
