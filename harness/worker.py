"""The worker: the process that runs a submission, inside the sandbox.

Started by the harness as ``python -m harness.worker --fd-in R --fd-out W``
(inside bubblewrap, see `harness.sandbox`), it speaks JSON lines over those
two pipes; stdout and stderr are left to the submission and TensorFlow.

1. It reads ``init`` (the submission folder, the tasks' input folders, thread
   count, Keras flavour), imports TensorFlow once and answers ``hello``.
2. It imports ``complexity.py`` once and answers ``ready`` (with the call
   plan) or ``import_error``; after an import error it exits.
3. For each ``run`` message it clears the Keras session, loads the model,
   seeds every generator with the job's seed (unless ``seeding`` is
   ``kit``), calls the submission and answers ``result`` with a status
   of ``ok``, ``error`` or ``invalid``. Each task's training split is decoded
   once and served from memory to every later model of the task.

Time, memory and thread limits are enforced from outside, by the harness.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import json
import math
import os
import resource
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from harness.keras_mode import is_keras3_attribute_error
from harness.submission import ENTRY_FILE, ENTRY_FUNCTION, CallPlan, call_submission, plan_call
from harness.task import Task
from harness.tracebacks import describe_exception

_KEPT_DATASETS = 2


class Channel:
    """JSON-line messages over two file descriptors."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self._in = os.fdopen(fd_in, "rb")
        self._out = os.fdopen(fd_out, "wb", buffering=0)

    def receive(self) -> dict[str, Any] | None:
        line = self._in.readline()
        return json.loads(line) if line else None

    def send(self, op: str, **fields: Any) -> None:
        self._out.write((json.dumps({"op": op, **fields}) + "\n").encode())


def drop_privileges(uid: int, max_threads: int) -> None:
    """Become user ``uid`` (group ``uid``, no supplementary groups) with a thread cap.

    Called first thing when the harness runs as root: afterwards the process
    has no capabilities, and ``RLIMIT_NPROC`` (which the kernel ignores for
    root) caps the threads and processes this user may have.
    """
    resource.setrlimit(resource.RLIMIT_NPROC, (max_threads, max_threads))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def as_value(result: Any) -> tuple[float | None, str]:
    """``(value, "")`` for a finite number, else ``(None, why it is not one)``.

    Accepted: Python and numpy numbers, 0-d arrays and scalar tensors
    (anything ``float()`` takes that is not a string, bytes or a bool).
    """
    if result is None:
        return None, "returned None, not a number"
    if isinstance(result, (str, bytes, bool)):
        return None, f"returned a {type(result).__name__} ({result!r:.40}), not a number"
    try:
        value = float(result)
    except (TypeError, ValueError):
        return None, f"returned a {type(result).__name__}, not a number"
    if not math.isfinite(value):
        return None, f"returned {value}, not a finite number"
    return value, ""


class Worker:
    """State kept between jobs: TensorFlow, the submission, decoded training splits."""

    def __init__(self, channel: Channel, init: dict[str, Any]) -> None:
        self.channel = channel
        self.program_dir = init["submission_dir"]
        self.tasks = {name: Path(path) for name, path in init["tasks"].items()}
        self.keras2 = bool(init.get("keras2"))
        self.seeding = str(init.get("seeding", "model"))
        self.threads = int(init["threads"])
        self.datasets: OrderedDict[str, Any] = OrderedDict()
        self.function: Callable[..., Any] | None = None
        self.plan: CallPlan | None = None

    def import_tensorflow(self) -> None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(self.threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, self.threads))
        if self.keras2:
            import tf_keras as keras_module
        else:
            import keras as keras_module
        from harness import loading

        self.keras, self.loading = keras_module, loading

    def import_submission(self) -> None:
        """Import ``complexity.py`` the way the original ingestion program did, and plan the call."""
        os.chdir(self.program_dir)
        sys.path.insert(0, self.program_dir)
        # After the submission's own folder: the 2020 kit's helper modules (model_utils, data_manager,
        # data_io), which submissions imported from the ingestion program's folder.
        sys.path.append(str(Path(__file__).resolve().parent / "kit_compat"))
        module = importlib.import_module(ENTRY_FILE[:-3])
        self.function = getattr(module, ENTRY_FUNCTION, None)
        if self.function is None:
            raise AttributeError(f"{ENTRY_FILE} defines no function '{ENTRY_FUNCTION}'")
        self.plan = plan_call(self.function)

    def dataset(self, task: Task, model_id: str) -> Any:
        """What model ``model_id`` was trained on: the task's training split (decoded from
        TFRecords on first use only), or its first ``train_examples`` (SPEC §1)."""
        if task.name not in self.datasets:
            x, y = self.loading.read_split(task.train_dir)
            self.datasets[task.name] = (len(x), self.loading.dataset_from_arrays(x, y))
            while len(self.datasets) > _KEPT_DATASETS:
                self.datasets.popitem(last=False)
        self.datasets.move_to_end(task.name)
        size, dataset = self.datasets[task.name]
        n = self.loading.train_examples(task, model_id)
        if n is None:
            return dataset
        self.loading.check_train_examples(n, size, task.model_dir(model_id))
        return dataset.take(n)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Evaluate one model; the reply's fields besides ``op``."""
        task = Task(job["task"], self.tasks[job["task"]], None)
        seed = int(job["seed"])
        started = time.perf_counter()
        try:
            # A fresh Keras session per model (as the original did) keeps layer names
            # and random state independent of which models this worker ran before.
            self.keras.backend.clear_session()
            self._seed(seed)
            model = self.loading.load_model(task, job["model"], keras_module=self.keras)
            dataset = self.dataset(task, job["model"])
        except Exception as exc:  # noqa: BLE001 - a broken model file is reported, not fatal
            return {"status": "error", "message": f"could not load the model or data: {exc}"}
        load_seconds = time.perf_counter() - started
        offered = {"program_dir": self.program_dir, "seed": seed, "time_budget": float(job["time_budget"]),
                   "task_name": task.name, "model_id": job["model"]}
        if "num_classes" in self.plan.extras:
            from harness.measures.data import num_classes  # only for submissions that ask

            offered["num_classes"] = num_classes(model)
        self._seed(seed)  # the same state whatever loading consumed
        started = time.perf_counter()
        try:
            result = call_submission(self.function, self.plan, model, dataset, offered)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
            traceback.print_exc()
            return {"status": "error", "message": describe_exception(exc, self.program_dir),
                    "load_seconds": load_seconds, "measure_seconds": time.perf_counter() - started,
                    "keras3_attribute_error": not self.keras2 and is_keras3_attribute_error(exc)}
        measure_seconds = time.perf_counter() - started
        value, problem = as_value(result)
        return {"status": "ok" if problem == "" else "invalid", "value": value, "message": problem,
                "load_seconds": load_seconds, "measure_seconds": measure_seconds}

    def _seed(self, seed: int) -> None:
        """Seed Python's, numpy's and TensorFlow's generators with ``seed`` (``--seeding model``).

        ``--seeding kit`` seeds nothing: as in the 2020 ingestion program, only the
        Keras session is cleared before each model, which also resets what
        op-seeded TensorFlow calls (``tf.random.shuffle(x, seed=1)``) draw.
        """
        if self.seeding == "model":
            self.keras.utils.set_random_seed(seed)

    def serve(self) -> None:
        while (job := self.channel.receive()) is not None:
            if job.get("op") != "run":
                continue
            reply = self.run(job)
            sys.stdout.flush()
            sys.stderr.flush()
            self.channel.send("result", job=job["job"], **reply)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.worker")
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--max-threads", type=int, default=1024)
    parser.add_argument("--parent-pid", type=int, help="exit if this process dies (no-sandbox mode)")
    args = parser.parse_args(argv)
    if args.uid is not None:
        drop_privileges(args.uid, args.max_threads)
    if args.parent_pid is not None:
        _die_with_parent(args.parent_pid)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _close_other_fds(args.fd_in, args.fd_out)
    faulthandler.enable()
    channel = Channel(args.fd_in, args.fd_out)
    init = channel.receive()
    if not init or init.get("op") != "init":
        sys.exit("harness.worker: expected an init message")
    worker = Worker(channel, init)
    started = time.perf_counter()
    worker.import_tensorflow()
    channel.send("hello", seconds=time.perf_counter() - started)
    started = time.perf_counter()
    try:
        worker.import_submission()
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit, ...
        traceback.print_exc()
        channel.send("import_error", message=describe_exception(exc, worker.program_dir),
                     keras3_attribute_error=not worker.keras2 and is_keras3_attribute_error(exc))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    # Everything imported so far lives as long as the worker: keep it out of the
    # garbage collector's way, so that the collection clear_session() runs before
    # each model scans only what later models allocate (~1 ms instead of ~300 ms).
    gc.collect()
    gc.freeze()
    channel.send("ready", seconds=time.perf_counter() - started, plan=worker.plan.describe())
    worker.serve()


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def _close_other_fds(*keep: int) -> None:
    """Close every inherited descriptor but stdio and ``keep`` (bwrap's --args memfd, for one)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


if __name__ == "__main__":
    main()
