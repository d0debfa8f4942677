"""The worker: the process that runs a submission, inside the sandbox.

Started by the harness with ``--fd-in R --fd-out W`` by an isolated
interpreter (``python -I``, see `harness.sandbox.python_command`; inside
bubblewrap, already without privileges), it exchanges `harness.sandbox.protocol`
messages over those two pipes; stdout and stderr are left to the submission
and TensorFlow.

1. It reads `Init` (the submission folder, the tasks' input folders, thread
   count, Keras flavour), imports TensorFlow and everything else it needs
   once and answers `Hello`.
2. It adds the submission's folder to the end of ``sys.path`` (nothing of the
   submission could run before), imports ``complexity.py`` once and answers
   `Ready` (with the call plan) or `ImportFailed`; after an import error it exits.
3. For each `Run` it clears the Keras session, loads the model, seeds every
   generator with the job's seed (unless ``seeding`` is ``kit``), calls the submission and answers `Result` with a status of ``ok``,
   ``error`` or ``invalid``. Each task's training split is decoded once and
   served from memory to every later model of the task.

Time, memory and thread limits are enforced from outside, by the harness.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import math
import os
import resource
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import harness.sandbox.protocol as protocol
from harness.submission.keras_mode import is_keras3_attribute_error
from harness.submission import ENTRY_FILE, ENTRY_FUNCTION, CallPlan, call_submission, plan_call
from harness.task import Task
from harness.sandbox.tracebacks import describe_exception

_KEPT_DATASETS = 2


class Channel:
    """`harness.sandbox.protocol` messages over two file descriptors."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self._in = os.fdopen(fd_in, "rb")
        self._out = os.fdopen(fd_out, "wb", buffering=0)

    def receive(self) -> protocol.Message | None:
        """The next message, or None when the harness closed the pipe."""
        line = self._in.readline(protocol.MAX_LINE + 1)
        return protocol.decode(line.rstrip(b"\n")) if line else None

    def send(self, message: protocol.Message) -> None:
        self._out.write(protocol.encode(message))


def as_value(result: Any) -> tuple[float | None, str]:
    """``(value, "")`` for a finite number, else ``(None, why it is not one)``.

    Accepted: Python and numpy numbers, 0-d arrays and scalar tensors
    (anything ``float()`` takes that is not a string, bytes or a bool).
    Whatever ``float()`` raises (an integer too big for a float, a
    ``__float__`` that fails or returns something else) makes it invalid.
    """
    if result is None:
        return None, "returned None, not a number"
    if isinstance(result, (str, bytes, bool)):
        return None, f"returned a {type(result).__name__} ({result!r:.40}), not a number"
    try:
        value = float(result)
    except OverflowError:
        return None, f"returned a {type(result).__name__} too large for a float"
    except Exception as exc:  # noqa: BLE001 - a submission's own __float__ may raise anything
        return None, f"returned a {type(result).__name__}, not a number ({type(exc).__name__} from float())"
    if type(value) is not float:  # a float subclass: its methods are the submission's code
        value = float.__float__(value)
    if not math.isfinite(value):
        return None, f"returned {value}, not a finite number"
    return value, ""


class Worker:
    """State kept between jobs: TensorFlow, the submission, decoded training splits."""

    def __init__(self, channel: Channel, init: protocol.Init, program_dir: str | None = None) -> None:
        self.channel = channel
        self.program_dir = program_dir or init.submission_dir
        self.tasks = {name: Path(path) for name, path in init.tasks.items()}
        self.keras2 = init.keras2
        self.seeding = init.seeding
        self.threads = init.threads
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
        from harness import io as loading

        self.keras, self.loading = keras_module, loading

    def import_submission(self) -> None:
        """Import ``complexity.py`` from its folder (the current folder), and plan the call.

        The folder goes to the end of ``sys.path``, after everything the
        worker imports: a module of the submission named like one of Python's
        or the harness's cannot take its place.
        """
        os.chdir(self.program_dir)
        sys.path.append(self.program_dir)
        # After the submission's own folder: the 2020 kit's helper modules (model_utils, data_manager,
        # data_io), which submissions imported from the ingestion program's folder.
        sys.path.append(str(Path(__file__).resolve().parents[1] / "kit_compat"))
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

    def run(self, job: protocol.Run) -> protocol.Result:
        """Evaluate one model."""
        task = Task(job.task, self.tasks[job.task], None)
        seed = job.seed
        started = time.perf_counter()
        try:
            # A fresh Keras session per model (as the original did) keeps layer names
            # and random state independent of which models this worker ran before.
            self.keras.backend.clear_session()
            self._seed(seed)
            model = self.loading.load_model(task, job.model, keras_module=self.keras)
            dataset = self.dataset(task, job.model)
        except Exception as exc:  # noqa: BLE001 - a broken model file is reported, not fatal
            return protocol.Result(job.job, protocol.Status.ERROR,
                                   message=f"could not load the model or data: {exc}"[:protocol.MAX_TEXT])
        load_seconds = time.perf_counter() - started
        offered = {"program_dir": self.program_dir, "seed": seed, "time_budget": job.time_budget,
                   "task_name": task.name, "model_id": job.model}
        if "num_classes" in self.plan.extras:
            # Imported only for submissions that ask; a submodule of the already imported `harness`
            # package, so that no module of the submission (on sys.path) can stand in for it.
            from harness.measures.data import num_classes

            offered["num_classes"] = num_classes(model)
        self._seed(seed)  # the same state whatever loading consumed
        started = time.perf_counter()
        try:
            result = call_submission(self.function, self.plan, model, dataset, offered)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
            _print_traceback()
            return protocol.Result(job.job, protocol.Status.ERROR, message=_describe(exc, self.program_dir),
                                   load_seconds=load_seconds, measure_seconds=time.perf_counter() - started,
                                   keras3_attribute_error=_keras3_attribute_error(self, exc))
        measure_seconds = time.perf_counter() - started
        value, problem = _safely(as_value, result)
        status = protocol.Status.OK if problem == "" else protocol.Status.INVALID
        return protocol.Result(job.job, status, value, problem, load_seconds, measure_seconds)

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
            if not isinstance(job, protocol.Run):
                continue
            reply = self.run(job)
            sys.stdout.flush()
            sys.stderr.flush()
            self.channel.send(reply)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.sandbox.worker")
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, help="exit if this process dies (no-sandbox mode)")
    parser.add_argument("--submission-dir", help="the submission's folder (no-sandbox mode)")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        _die_with_parent(args.parent_pid)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _close_other_fds(args.fd_in, args.fd_out)
    faulthandler.enable()
    channel = Channel(args.fd_in, args.fd_out)
    init = channel.receive()
    if not isinstance(init, protocol.Init):
        sys.exit("harness.sandbox.worker: expected an init message")
    worker = Worker(channel, init, args.submission_dir)
    started = time.perf_counter()
    worker.import_tensorflow()
    channel.send(protocol.Hello(time.perf_counter() - started))
    started = time.perf_counter()
    try:
        worker.import_submission()
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit, ...
        _print_traceback()
        channel.send(protocol.ImportFailed(_describe(exc, worker.program_dir),
                                           keras3_attribute_error=_keras3_attribute_error(worker, exc)))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    # Everything imported so far lives as long as the worker: keep it out of the
    # garbage collector's way, so that the collection clear_session() runs before
    # each model scans only what later models allocate (~1 ms instead of ~300 ms).
    gc.collect()
    gc.freeze()
    channel.send(protocol.Ready(time.perf_counter() - started, worker.plan.describe()[:protocol.MAX_TEXT]))
    worker.serve()


def _safely(function: Callable[..., tuple[float | None, str]], *args: Any) -> tuple[float | None, str]:
    """``function(*args)``, or ``(None, why)`` when it raises (it may run the submission's code)."""
    try:
        return function(*args)
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a __repr__ included
        return None, f"its result could not be read ({type(exc).__name__})"


def _describe(exc: BaseException, program_dir: str) -> str:
    """`describe_exception`, bounded, even for an exception whose ``__str__`` raises."""
    try:
        return describe_exception(exc, program_dir)[:protocol.MAX_TEXT]
    except BaseException:  # noqa: BLE001 - its __str__ is the submission's code
        return f"{type(exc).__name__} (its message could not be read)"


def _keras3_attribute_error(worker: Worker, exc: BaseException) -> bool:
    """Whether ``exc`` is an AttributeError of a Keras 3 object (the cue to retry under tf_keras); never raises."""
    try:
        return not worker.keras2 and is_keras3_attribute_error(exc)
    except Exception:  # noqa: BLE001 - the exception is the submission's object
        return False


def _print_traceback() -> None:
    try:
        traceback.print_exc()
    except BaseException:  # noqa: BLE001 - formatting runs the exception's own __str__
        pass


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
