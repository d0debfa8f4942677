"""Training a zoo from a spec: `build_zoo` writes the split layout of SPEC §1.

For every task ``T`` of the spec, under ``out``::

    input_data/T/dataset_1/train/shard_*.tfrecord   the training subset (float32 HWC images)
    input_data/T/model_<id>/config.json             `model_zoo.architectures` layer list
    input_data/T/model_<id>/weights_init.hdf5       weights at initialization (Keras 2 layout)
    input_data/T/model_<id>/weights.hdf5            trained weights (Keras 2 layout)
    reference_data/T/model_configs.json             hparams, train/test accuracy, training facts
    reference_data/T/zoo_task.json                  the task's spec, to refuse a mismatched resume

Data. The stored training split is a seeded random subset of the dataset's
training images, of the largest ``train_size`` of the grid; a model with
``train_size = n`` is trained on its first ``n`` examples (so the subsets are
nested), and where the grid varies ``train_size`` its ``config.json`` says so
(``"train_examples": n``, SPEC §1): a submission is served exactly those
examples. A replicate task (``replicate_of``) uses the training subset of the
task it replicates. The test set is the dataset's test split (`model_zoo.datasets`), or a
fixed seeded subset of ``test_size`` images of it; it is not stored.

Protocol (Jiang et al., "Fantastic Generalization Measures and Where to Find
Them", ICLR 2020, §A): SGD with momentum on the mean cross-entropy from logits
plus ``weight_decay * sum_W ||W||_2^2`` over the Conv2D/Dense kernels, shuffled
mini-batches; after each epoch the cross-entropy on the model's whole training
subset (inference mode, no penalty) is measured, and training stops when it is
below ``loss_threshold`` and the training accuracy is at least
``min_train_accuracy`` (``stop_reason = "loss_threshold"``), when it is not
finite (``"diverged"``) or after ``max_epochs`` (``"max_epochs"``). Then
``train_acc`` (the training subset) and ``test_acc`` (the test set) are measured
with `harness.io.evaluate_accuracy`, so re-evaluating the stored weights
gives the stored numbers.

Seeds. Each model's seed derives from the spec's ``seed``, the task name and
the model id (`model_seed`); it seeds the initialization, dropout and the batch
order. On CPU, TensorFlow's kernels give bit-identical results for a fixed
thread count; a different number of intra-op threads (``--jobs`` changes it)
may change the order of floating-point sums inside convolutions and so the
last bits of the weights.

Resume. ``model_configs.json`` is rewritten (atomically) after every model; a
model is done when it has an entry there and its three files exist. Any other
``model_<id>`` folder is half-written: it is deleted and the model trained
again. ``--jobs N`` trains N models at once in spawned processes, each with
``cpu_count // N`` TensorFlow threads.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import click
import numpy as np

from harness.errors import HarnessError
from harness.task.records import atomic_write_text
from harness.task import MODEL_CONFIGS, natural_key, read_json
from model_zoo.architectures import build_config
from model_zoo.datasets import Dataset, downsample, load_dataset
from model_zoo.spec import TaskSpec, ZooSpec

TASK_FINGERPRINT = "zoo_task.json"
MODEL_FILES = ("config.json", "weights_init.hdf5", "weights.hdf5")


@dataclass(frozen=True)
class FitResult:
    """How training ended: epochs run, the last whole-subset cross-entropy, and why."""

    epochs: int
    final_loss: float
    stop_reason: str


@dataclass(frozen=True)
class ModelResult:
    """One trained model: its accuracies and training facts."""

    task: str
    model_id: str
    hparams: dict[str, Any]
    train_acc: float
    test_acc: float
    fit: FitResult
    seed: int
    seconds: float
    num_params: int
    train_examples: int
    test_examples: int
    cpu_seconds: float = float("nan")

    @property
    def gap(self) -> float:
        return self.train_acc - self.test_acc


@dataclass(frozen=True)
class ModelJob:
    """What a worker needs to train one model."""

    task: TaskSpec
    model_id: str
    hparams: dict[str, Any]
    input_dir: Path


@dataclass
class BuildReport:
    """What `build_zoo` did: models trained now, models found done, models left."""

    trained: list[ModelResult] = field(default_factory=list)
    skipped: int = 0
    left: int = 0
    seconds: float = 0.0


# --- data ----------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def prepare_task_data(task: TaskSpec) -> Dataset:
    """The task's training subset (largest ``train_size``) and test set, deterministic in the spec.

    Cached per process (a worker trains many models of one task).
    """
    data = load_dataset(task.dataset, path=task.dataset_path, split_seed=task.split_seed)
    x_train, x_test = data.x_train, data.x_test
    if task.image_size is not None:
        x_train, x_test = downsample(x_train, task.image_size), downsample(x_test, task.image_size)
    n = task.max_train_size
    if n > len(x_train):
        raise HarnessError(f"task {task.name}: train_size {n} exceeds the {len(x_train)} "
                           f"training images of {task.dataset}")
    data_seed, data_name = task.data_key
    train_seq, test_seq = np.random.SeedSequence([data_seed, _crc(data_name)]).spawn(2)
    train_idx = np.random.default_rng(train_seq).permutation(len(x_train))[:n]
    y_test, test_split = data.y_test, data.test_split
    if 0 < task.test_size < len(x_test):
        test_idx = np.sort(np.random.default_rng(test_seq).permutation(len(x_test))[:task.test_size])
        x_test, y_test = x_test[test_idx], y_test[test_idx]
        test_split = f"{data.test_split}, seeded subset of {task.test_size}"
    return Dataset(data.name, np.ascontiguousarray(x_train[train_idx]), data.y_train[train_idx],
                   np.ascontiguousarray(x_test), y_test, data.num_classes, test_split)


def model_seed(task: TaskSpec, model_id: str) -> int:
    """The seed of one model: from the task's seed, the task name and the model id.

    A replicate (``replicate_of``) uses the replicated task's name with its own
    seed, so each of its models differs from its twin only in the seed.
    """
    return int(np.random.SeedSequence([task.seed, _crc(task.data_name), int(model_id)]).generate_state(1)[0])


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf8"))


# --- training one model --------------------------------------------------------


def fit_model(model: Any, x: np.ndarray, y: np.ndarray, *, learning_rate: float, batch_size: int,
              weight_decay: float, momentum: float, loss_threshold: float, max_epochs: int,
              seed: int, min_train_accuracy: float = 0.0) -> FitResult:
    """Train ``model`` in place by the protocol of the module docstring.

    Objective per batch ``B``: ``mean_{i in B} CE(f(x_i), y_i) + weight_decay * sum_W ||W||^2``
    (``W`` the Conv2D/Dense kernels, as Keras' ``L2(weight_decay)`` regularizer).
    """
    import keras
    import tensorflow as tf

    from harness.io import evaluate_accuracy

    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    kernels = [layer.kernel for layer in model.layers if type(layer).__name__ in ("Conv2D", "Dense")]
    variables = model.trainable_variables
    signature = [tf.TensorSpec([None, *x.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int32)]

    @tf.function(input_signature=signature)
    def train_step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
            if weight_decay:
                loss += weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function(input_signature=signature)
    def loss_sum(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        logits = model(xb, training=False)
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))

    rng = np.random.default_rng(seed)
    loss, epoch, reason = float("nan"), 0, "max_epochs"
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            train_step(x[batch], y[batch])
        loss = sum(float(loss_sum(x[s:s + 1024], y[s:s + 1024])) for s in range(0, len(x), 1024)) / len(x)
        if not np.isfinite(loss):
            reason = "diverged"
            break
        if loss < loss_threshold and (not min_train_accuracy
                                      or evaluate_accuracy(model, x, y) >= min_train_accuracy):
            reason = "loss_threshold"
            break
    return FitResult(epoch, loss, reason)


def train_model(job: ModelJob) -> ModelResult:
    """Train one model of a task and write its folder; returns its accuracies and facts."""
    import keras

    from harness.io import build_model, evaluate_accuracy, save_weights_hdf5

    start, cpu_start = time.perf_counter(), time.process_time()
    task, hp = job.task, job.hparams
    data = prepare_task_data(task)
    n = hp["train_size"]
    x, y = data.x_train[:n], data.y_train[:n]
    config = build_config(task.family, width=hp["width"], depth=hp["depth"], dropout=hp["dropout"],
                          input_shape=data.image_shape, num_classes=data.num_classes)
    seed = model_seed(task, job.model_id)
    keras.backend.clear_session()  # layer names restart at "conv2d", "dense": same file bytes in any worker
    keras.utils.set_random_seed(seed)
    model = build_model(config)
    model_dir = job.input_dir / f"model_{job.model_id}"
    if "train_size" in task.axes:
        config["train_examples"] = n  # served exactly these (SPEC §1)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_weights_hdf5(model, model_dir / "weights_init.hdf5")
    fit = fit_model(model, x, y, learning_rate=hp["learning_rate"], batch_size=hp["batch_size"],
                    weight_decay=hp["weight_decay"], momentum=task.training.momentum,
                    loss_threshold=task.training.loss_threshold, max_epochs=task.training.max_epochs,
                    seed=seed, min_train_accuracy=task.training.min_train_accuracy)
    save_weights_hdf5(model, model_dir / "weights.hdf5")
    train_acc = evaluate_accuracy(model, x, y)
    test_acc = evaluate_accuracy(model, data.x_test, data.y_test)
    return ModelResult(task.name, job.model_id, hp, train_acc, test_acc, fit, seed,
                       time.perf_counter() - start, int(model.count_params()), len(x), len(data.x_test),
                       time.process_time() - cpu_start)


# --- the zoo -------------------------------------------------------------------


def build_zoo(spec: ZooSpec, out: str | Path, *, jobs: int = 1, tasks: list[str] | None = None,
              max_models: int | None = None, progress: bool = False) -> BuildReport:
    """Train every model of ``spec`` (or of the named ``tasks``) not already done under ``out``.

    ``jobs``: models trained at once (1: in this process; more: spawned
    processes). ``max_models``: train at most this many now and leave the rest
    for a later run (for trying a spec out). ``progress``: a progress bar on
    stderr. Returns a `BuildReport`.
    """
    if jobs < 1:
        raise HarnessError(f"--jobs must be at least 1 (got {jobs})")
    started = time.perf_counter()
    out = Path(out)
    selected = spec.select(tasks)
    report = BuildReport()
    pending: list[ModelJob] = []
    records: dict[str, dict[str, Any]] = {}
    for task in selected:
        input_dir, ref_dir = out / "input_data" / task.name, out / "reference_data" / task.name
        _prepare_task_dir(task, input_dir, ref_dir)
        records[task.name] = _read_entries(ref_dir / MODEL_CONFIGS)
        for model_id, hparams in task.models():
            model_dir = input_dir / f"model_{model_id}"
            if model_id in records[task.name] and all((model_dir / f).is_file() for f in MODEL_FILES):
                report.skipped += 1
                continue
            records[task.name].pop(model_id, None)
            if model_dir.exists():
                shutil.rmtree(model_dir)
            pending.append(ModelJob(task, model_id, hparams, input_dir))
    if max_models is not None:
        report.left = max(0, len(pending) - max_models)
        pending = pending[:max_models]
    by_name = {task.name: task for task in selected}
    for result in _run(pending, jobs, progress):
        entries = records[result.task]
        entries[result.model_id] = model_entry(by_name[result.task], result)
        _write_entries(out / "reference_data" / result.task / MODEL_CONFIGS, entries)
        report.trained.append(result)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class TaskEstimate:
    """Measured seconds per model on a sample of a task's models, extrapolated to the grid."""

    task: str
    n_models: int
    sampled: tuple[ModelResult, ...]

    @property
    def seconds_per_model(self) -> float:
        return float(np.mean([r.seconds for r in self.sampled]))

    @property
    def cpu_seconds_per_model(self) -> float:
        """Mean CPU time (all threads of the worker) per sampled model: what a busy machine does not inflate."""
        return float(np.mean([r.cpu_seconds for r in self.sampled]))

    @property
    def total_seconds(self) -> float:
        """Extrapolated: mean seconds per sampled model x models in the grid."""
        return self.seconds_per_model * self.n_models


def estimate_build(spec: ZooSpec, *, sample: int = 4, jobs: int = 1, seed: int = 0,
                   tasks: list[str] | None = None, progress: bool = False) -> list[TaskEstimate]:
    """Train ``sample`` seeded-random models of each task (in a temporary folder) and time them.

    The build time of the whole spec with ``jobs`` processes is then about
    ``sum(e.total_seconds for e in estimates) / jobs`` (plus process start-up
    and data preparation, a few seconds per task and worker). With ``jobs > 1``
    the sampled models train side by side, so the timings include the contention,
    and any other load on the machine; the CPU seconds per model do not.
    """
    import tempfile

    selected = spec.select(tasks)
    with tempfile.TemporaryDirectory(prefix="pgdl-zoo-estimate-") as tmp:
        pending = []
        for task in selected:
            models = task.models()
            picks = np.random.default_rng(seed).choice(len(models), min(sample, len(models)), replace=False)
            pending += [ModelJob(task, *models[i], Path(tmp) / task.name) for i in sorted(picks)]
        results = list(_run(pending, jobs, progress))
    return [TaskEstimate(t.name, t.n_models, tuple(r for r in results if r.task == t.name)) for t in selected]


def model_entry(task: TaskSpec, result: ModelResult) -> dict[str, Any]:
    """The ``model_configs.json`` entry of a trained model (SPEC §1, plus ``training``)."""
    axes = task.axes
    return {
        "hparams": {name: {"possible_values": values, "current_value": result.hparams[name]}
                    for name, values in axes.items()},
        "metrics": {"train_acc": result.train_acc, "test_acc": result.test_acc},
        "training": {
            "epochs": result.fit.epochs, "final_loss": result.fit.final_loss,
            "stop_reason": result.fit.stop_reason, "seed": result.seed,
            "seconds": round(result.seconds, 2), "num_params": result.num_params,
            "train_examples": result.train_examples, "test_examples": result.test_examples,
            "fixed_hparams": {k: v for k, v in result.hparams.items() if k not in axes},
        },
    }


def _prepare_task_dir(task: TaskSpec, input_dir: Path, ref_dir: Path) -> None:
    """Check a resumed task was built from the same spec, or start it: training split, fingerprint."""
    fingerprint = ref_dir / TASK_FINGERPRINT
    wanted = {"spec": task.to_dict()}
    if fingerprint.is_file():
        found = read_json(fingerprint)
        if found.get("spec") != json.loads(json.dumps(wanted["spec"])):
            raise HarnessError(f"{fingerprint}: task {task.name} here was built from a different spec; "
                               "build into a new --out folder (or delete this task's folders)")
        return
    from harness.io import write_split

    data = prepare_task_data(task)
    write_split(input_dir / "dataset_1" / "train", data.x_train, data.y_train, n_shards=task.train_shards)
    wanted["test_split"] = data.test_split
    wanted["test_examples"] = len(data.x_test)
    ref_dir.mkdir(parents=True, exist_ok=True)
    _write_json(fingerprint, wanted)


def _read_entries(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        entries = read_json(path)
    except HarnessError as exc:
        raise HarnessError(f"{exc}; delete it to rebuild the task") from None
    if not isinstance(entries, dict):
        raise HarnessError(f"{path}: expected a JSON object of model entries")
    return entries


def _write_entries(path: Path, entries: dict[str, Any]) -> None:
    _write_json(path, {k: entries[k] for k in sorted(entries, key=natural_key)})


def _write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=1) + "\n")


def _run(pending: list[ModelJob], jobs: int, progress: bool) -> Iterator[ModelResult]:
    """Train ``pending`` (in this process or in ``jobs`` workers), yielding results as they end."""
    results = _run_local(pending) if jobs == 1 else _run_pool(pending, jobs)
    if not progress or not pending:
        yield from results
        return
    with click.progressbar(length=len(pending), label=f"training {len(pending)} models",
                           show_eta=True, show_pos=True, file=click.get_text_stream("stderr"),
                           item_show_func=_describe) as bar:
        for result in results:
            bar.update(1, result)
            yield result


def _describe(result: ModelResult | None) -> str | None:
    if result is None:
        return None
    return (f"{result.task}/model_{result.model_id}: {result.seconds:.0f}s, {result.fit.epochs} epochs "
            f"({result.fit.stop_reason}), gap {100 * result.gap:.1f}")


def _run_local(pending: list[ModelJob]) -> Iterator[ModelResult]:
    for job in pending:
        yield train_model(job)


def _run_pool(pending: list[ModelJob], jobs: int) -> Iterator[ModelResult]:
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(train_model, job) for job in pending]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise HarnessError("a training worker died (out of memory, or killed); "
                               "run the same command again to resume") from None
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _init_worker(threads: int) -> None:
    """Give a worker process ``threads`` TensorFlow threads (before TensorFlow starts)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

