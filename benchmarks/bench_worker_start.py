"""Worker start benchmark: wall time of a sandboxed run of one model with a trivial measure.

Each repetition starts a fresh worker (bubblewrap, the launchers that drop
privileges, Python, TensorFlow, the submission's import) and runs one model,
so its wall time minus the model's own harness-side time is the worker's
start. Reported: the median over ``--repeat`` runs of both.

    .venv/bin/python benchmarks/bench_worker_start.py [--repeat 5]

Uses only the public runner API, so that the same script measures an older
checkout too (``PYTHONPATH=<checkout> python benchmarks/bench_worker_start.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.run import RunConfig, run_submission
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers
from tests.helpers import make_tiny_task  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pgdl-bench-start-") as tmp:
        tmp = Path(tmp)
        make_tiny_task(tmp / "data", layout="split", n_models=2)
        sub = tmp / "trivial"
        sub.mkdir()
        (sub / "complexity.py").write_text("def complexity(model, dataset):\n    return 1.0\n")
        starts, walls = [], []
        for n in range(args.repeat):
            started = time.perf_counter()
            result = run_submission(sub, tmp / "data", tmp / f"out-{n}", RunConfig(models_per_task=1))
            wall = time.perf_counter() - started
            (record,) = result.records
            if record.status != "ok":
                raise SystemExit(f"model {record.model}: {record.status}: {record.message}")
            walls.append(wall)
            starts.append(wall - record.seconds)
            print(f"  run {n + 1}: {wall:.2f} s (worker start {starts[-1]:.2f} s)", file=sys.stderr)
    print(f"worker start (median of {args.repeat}): {statistics.median(starts):.2f} s; "
          f"whole one-model run: {statistics.median(walls):.2f} s")


if __name__ == "__main__":
    main()
