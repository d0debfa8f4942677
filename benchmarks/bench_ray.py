"""Ray executor benchmark: what running on Ray costs per model, compared with a local run.

Starts a throwaway Ray cluster on loopback (`tests.helpers.loopback.LoopbackCluster`:
``--nodes`` nodes of ``--cpus`` CPUs each, all on this machine), builds a task of
``--models`` small MLPs, and runs a trivial measure (``return 1.0``) through the
real sandboxed runner:

* locally, with as many workers as the cluster has CPUs (the same parallelism);
* on the cluster, once per ``--models-per-unit`` value (0 means the automatic size).

Per-model overhead = (wall time on Ray - wall time locally) / models. Cost
per extra unit = (wall time on Ray - wall time locally) x slots / (units -
slots): a local run starts one worker per slot, a Ray run one per unit. It is
compared with the start of one sandboxed worker (Python, TensorFlow, the
submission's import; from `check_submission`) and with Ray's own cost per
task (empty Ray tasks). Cluster start and the driver's connection are
one-off costs, reported apart.

    .venv/bin/python benchmarks/bench_ray.py [--models 24] [--nodes 2] [--cpus 1] [--models-per-unit 1 4 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.run import RayOptions
from harness.run.ray_executor import connect
from harness.run import RunConfig, RunResult, check_submission, run_submission
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers
from tests.helpers import make_tiny_task  # noqa: E402
from tests.helpers.loopback import LoopbackCluster  # noqa: E402

TRIVIAL = "def complexity(model, dataset):\n    return 1.0\n"


def timed_run(submission: Path, data: Path, out: Path, config: RunConfig) -> tuple[float, RunResult]:
    start = time.perf_counter()
    result = run_submission(submission, data, out, config)
    seconds = time.perf_counter() - start
    if result.failed:
        sys.exit(f"{result.failed} model(s) failed: {result.records[0].message}")
    return seconds, result


def ray_task_latency(n: int = 200) -> float:
    """Milliseconds per empty Ray task (submitted together, waited for together)."""
    import ray

    @ray.remote(num_cpus=0.01)
    def empty() -> None:
        return None

    ray.get([empty.remote() for _ in range(10)])  # warm the workers
    start = time.perf_counter()
    ray.get([empty.remote() for _ in range(n)])
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=24)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs per node")
    parser.add_argument("--models-per-unit", type=int, nargs="+", default=[1, 4, 0])
    args = parser.parse_args()
    slots = args.nodes * args.cpus
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        root = Path(scratch)
        tiny = make_tiny_task(root / "data", layout="split", n_models=args.models)
        submission = root / "trivial"
        submission.mkdir()
        (submission / "complexity.py").write_text(TRIVIAL)

        local, _ = timed_run(submission, tiny.root, root / "local", RunConfig(workers=slots))
        check = check_submission(submission, tiny.root)
        worker_start = check.tensorflow_seconds + check.import_seconds
        start = time.perf_counter()
        with LoopbackCluster(root / "cluster", nodes=args.nodes, cpus_per_node=args.cpus) as cluster:
            started = time.perf_counter() - start
            os.environ.update(cluster.env)
            start = time.perf_counter()
            connect(cluster.address)
            connected = time.perf_counter() - start
            latency = ray_task_latency()
            rows = []
            for size in args.models_per_unit:
                options = RayOptions(address=cluster.address, models_per_unit=size or None)
                seconds, result = timed_run(submission, tiny.root, root / f"ray-{size}",
                                            RunConfig(ray=options))
                units = len({r.worker for r in result.records})
                per_unit = (seconds - local) * slots / (units - slots) if units > slots else float("nan")
                rows.append((size or "auto", units, seconds, (seconds - local) / args.models, per_unit,
                             statistics.median(r.seconds for r in result.records)))

    print(f"{args.models} models; cluster of {args.nodes} node(s) x {args.cpus} CPU(s) on loopback; "
          f"local run with {slots} worker(s)")
    print(f"cluster start {started:.1f} s, driver connect {connected:.1f} s, "
          f"empty Ray task {latency:.2f} ms")
    print(f"local: {local:.1f} s ({local / args.models * 1000:.0f} ms/model); one sandboxed worker's "
          f"start (Python, TensorFlow, import): {worker_start:.1f} s")
    print("| models/unit | units | wall (s) | overhead vs local (ms/model) | cost per extra unit (s) "
          "| median model (s) |")
    print("|---|---|---|---|---|---|")
    for size, units, seconds, overhead, per_unit, median in rows:
        print(f"| {size} | {units} | {seconds:.1f} | {overhead * 1000:+.0f} | {per_unit:.1f} | {median:.3f} |")


if __name__ == "__main__":
    main()
