"""Runner benchmark: per-model harness overhead, and one pass over the training data from memory.

Builds a task of ``--models`` small MLPs (default 32) with ``--train``
training examples, then runs three measures through the real sandboxed runner
with 1 and 2 workers:

* ``trivial``: ``return 1.0``. Harness overhead per model = the harness-side
  wall time of a model minus the measure's own time (the worker's model
  loading, seeding, the pipe round trip, writing the record). Worker start-up
  (Python, TensorFlow, the submission's import) is reported separately.
* ``one_pass``: one full pass over the dataset the harness serves (decoded
  once per task per worker, then from memory).
* ``tfrecords``: the same pass, but reading and parsing the task's TFRecord
  shards itself on every call, as measures had to when the data was not cached.

Targets (issue 3): overhead <= 50 ms per model (median); ``one_pass`` at least
2x faster than ``tfrecords``.

    .venv/bin/python benchmarks/bench_runner.py [--models 32] [--train 20000] [--workers 1 2] [--measures trivial]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.run import RunConfig, RunResult, run_submission
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers
from tests.helpers import make_tiny_task  # noqa: E402

MEASURES = {
    "trivial": """
def complexity(model, dataset):
    return 1.0
""",
    "one_pass": """
import tensorflow as tf


def complexity(model, dataset):
    total = 0.0
    for x, y in dataset.batch(512):
        total += float(tf.reduce_sum(x)) + float(tf.reduce_sum(y))
    return total
""",
    "tfrecords": """
import glob

import tensorflow as tf


def _parse(record):
    features = tf.io.parse_single_example(record, {"inputs": tf.io.FixedLenFeature([], tf.string),
                                                   "output": tf.io.FixedLenFeature([], tf.string)})
    return (tf.io.parse_tensor(features["inputs"], tf.float32),
            tf.io.parse_tensor(features["output"], tf.int32))


def complexity(model, dataset, task_name):
    shards = sorted(glob.glob(f"/pgdl/data/{task_name}/dataset_1/train/shard_*.tfrecord"))
    total = 0.0
    for x, y in tf.data.TFRecordDataset(shards).map(_parse).batch(512):
        total += float(tf.reduce_sum(x)) + float(tf.reduce_sum(y))
    return total
""",
}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(name: str, workers: int, result: RunResult, wall: float) -> dict[str, float]:
    records = [r for r in result.records if r.status == "ok"]
    if len(records) != len(result.records):
        bad = next(r for r in result.records if r.status != "ok")
        raise SystemExit(f"{name}: model {bad.model} {bad.status}: {bad.message}")
    later = sorted(records, key=lambda r: r.model)[workers:]  # first model of each worker decodes the data
    return {
        "measure": name, "workers": workers, "models": len(records), "wall_s": wall,
        "overhead_ms": 1000 * median([r.seconds - (r.measure_seconds or 0.0) for r in later]),
        "load_ms": 1000 * median([r.load_seconds or 0.0 for r in later]),
        "measure_ms": 1000 * median([r.measure_seconds or 0.0 for r in later]),
        "model_ms": 1000 * median([r.seconds for r in later]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--train", type=int, default=20000, help="training examples")
    parser.add_argument("--dim", type=int, default=32, help="input dimension")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--measures", nargs="+", choices=list(MEASURES), default=list(MEASURES),
                        help="which measures to run (the speed-up line needs one_pass and tfrecords)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pgdl-bench-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        make_tiny_task(tmp / "data", layout="split", n_models=args.models, n_train=args.train,
                       n_test=100, input_dim=args.dim, n_classes=10, n_shards=4)
        print(f"task: {args.models} models, {args.train} x {args.dim} training examples "
              f"(built in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        rows = []
        for name in args.measures:
            code = MEASURES[name]
            sub = tmp / name
            sub.mkdir()
            (sub / "complexity.py").write_text(code)
            for workers in args.workers:
                started = time.perf_counter()
                result = run_submission(sub, tmp / "data", tmp / f"out-{name}-{workers}",
                                        RunConfig(workers=workers, sandbox=not args.no_sandbox))
                rows.append(summarize(name, workers, result, time.perf_counter() - started))
                print(f"  {name} x{workers}: {rows[-1]['wall_s']:.1f} s", file=sys.stderr)
    print(f"{'measure':<10} {'workers':>7} {'wall s':>7} {'per model ms':>12} {'measure ms':>10} "
          f"{'overhead ms':>11} {'of which load ms':>16}")
    for row in rows:
        print(f"{row['measure']:<10} {row['workers']:>7} {row['wall_s']:>7.1f} {row['model_ms']:>12.1f} "
              f"{row['measure_ms']:>10.1f} {row['overhead_ms']:>11.1f} {row['load_ms']:>16.1f}")
    by = {(r["measure"], r["workers"]): r for r in rows}
    for workers in args.workers if {"one_pass", "tfrecords", "trivial"} <= set(args.measures) else ():
        ratio = by[("tfrecords", workers)]["measure_ms"] / by[("one_pass", workers)]["measure_ms"]
        print(f"one pass from memory vs re-reading TFRecords, {workers} worker(s): {ratio:.1f}x faster "
              f"(target >= 2x); trivial-measure overhead {by[('trivial', workers)]['overhead_ms']:.1f} ms "
              f"(target <= 50 ms)")


if __name__ == "__main__":
    main()
