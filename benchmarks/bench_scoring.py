"""Benchmark of scoring on synthetic complete grids: each metric, the null, the intervals, and
`pgdl evaluate` with default options as a whole process.

    .venv/bin/python benchmarks/bench_scoring.py [--sizes 96,243,1000,10000] [--repeat 5]

For each grid size it builds a complete grid (96 = 4x4x3x2, 243 = 3^5, 1,000 = 10^3,
10,000 = 10^4; each model once), gaps with hyperparameter effects plus noise, and a
noisy measure, then times the official score, robust CMI, Kendall's tau, granulated
Psi and sign-error one by one, all of them together (`score_all`), the permutation
null with its default number of permutations, and the intervals with their default
200 resamples. Times are the median of ``--repeat`` runs (one run at 10,000 models),
wall and CPU seconds (CPU of every thread). Peak memory of `score_all` is traced with
``tracemalloc`` in a separate run.

Then, per size, it writes the task as reference data (``model_configs.json``, test
accuracies rounded to 1e-4 as a real test set gives them, so gaps tie) and a
``.predict`` file, and times ``pgdl evaluate`` with default options (null and
intervals included) as a whole process: the figure the targets are about
(10,000 models <= 10 s, 243 models <= 2 s, on this 2-core machine). The load average
is printed with it, since the machine is shared.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np

from harness.scoring import (Grid, granulated_kendall, kendall_tau, official_score, robust_cmi, score_all,
                             sign_error)
from harness.scoring.intervals import resampled_intervals
from harness.scoring.null import auto_permutations, permutation_null

SHAPES = {96: (4, 4, 3, 2), 243: (3, 3, 3, 3, 3), 1000: (10, 10, 10), 10000: (10, 10, 10, 10)}


def synthetic_task(n_models: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Grid]:
    """Measure, gap and grid of a complete synthetic grid of ``n_models`` models."""
    shape = SHAPES.get(n_models)
    if shape is None:
        raise SystemExit(f"no grid shape for {n_models} models; choose from {sorted(SHAPES)}")
    rng = np.random.default_rng(seed)
    levels = np.array(list(itertools.product(*map(range, shape))))
    effects = [rng.normal(size=k) for k in shape]
    gap = sum(e[levels[:, h]] for h, e in enumerate(effects)) + 0.5 * rng.normal(size=n_models)
    gap = 0.05 + 0.02 * gap
    measure = gap + 0.02 * rng.normal(size=n_models)
    return measure, gap, Grid.from_levels(levels)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_task(root: Path, measure: np.ndarray, gap: np.ndarray, grid: Grid) -> tuple[Path, Path]:
    """Reference data and predictions of the synthetic task under ``root``: (reference, predictions)."""
    entries = {}
    # accuracies must lie in [0, 1]: the gaps mapped increasingly into [0, 0.9] (the metrics see only their order)
    scaled = 0.9 * (gap - gap.min()) / max(float(gap.max() - gap.min()), 1e-12)
    for i, row in enumerate(grid.levels):
        hparams = {name: {"possible_values": list(range(len(grid.possible_values[h]))), "current_value": int(row[h])}
                   for h, name in enumerate(grid.names)}
        entries[str(i)] = {"hparams": hparams, "metrics": {"train_acc": 1.0, "test_acc": round(1.0 - scaled[i], 4)}}
    reference = root / "reference" / "task"
    reference.mkdir(parents=True)
    (reference / "model_configs.json").write_text(json.dumps(entries))
    predictions = root / "pred"
    predictions.mkdir()
    (predictions / "task.predict").write_text(json.dumps({f"model_{i}": float(v) for i, v in enumerate(measure)}))
    return reference.parent, predictions


def whole_process(measure: np.ndarray, gap: np.ndarray, grid: Grid) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of ``pgdl evaluate`` with default options."""
    pgdl = Path(sys.executable).with_name("pgdl")
    with tempfile.TemporaryDirectory() as tmp:
        reference, predictions = write_task(Path(tmp), measure, gap, grid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([str(pgdl), "evaluate", str(predictions), "--reference", str(reference),
                        "--out", str(Path(tmp) / "out")], check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="96,243,1000,10000", help="comma-separated model counts")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (1 at 10,000 models)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"{'models':>7} {'what':<34} {'wall s':>9} {'cpu s':>9}")
    for n in sizes:
        m, g, grid = synthetic_task(n)
        repeat = 1 if n >= 10000 else args.repeat
        score_all(m, g, grid)   # warm up (first calls pay numpy's one-time costs)
        perms = auto_permutations(n)
        runs = {
            "official": lambda: official_score(m, g, grid),
            "robust CMI": lambda: robust_cmi(m, g, grid),
            "tau": lambda: kendall_tau(m, g),
            "Psi": lambda: granulated_kendall(m, g, grid),
            "sign-error": lambda: sign_error(m, g, grid),
            "all (score_all)": lambda: score_all(m, g, grid),
            f"null, {perms} permutations": lambda: permutation_null(m, g, grid),
            "intervals, 200 resamples": lambda: resampled_intervals(m, g, grid),
        }
        for name, fn in runs.items():
            wall, cpu = timed(fn, repeat)
            print(f"{n:>7} {name:<34} {wall:>9.4f} {cpu:>9.4f}", flush=True)
        peak = peak_bytes(runs["all (score_all)"]) / 2**20
        print(f"{n:>7} {'all: peak traced memory':<34} {peak:>8.1f} MiB", flush=True)
        wall, cpu = whole_process(m, g, grid)
        load = os.getloadavg()[0]
        print(f"{n:>7} {'pgdl evaluate, whole process':<34} {wall:>9.4f} {cpu:>9.4f}  (load average {load:.1f})",
              flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident set size of the process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
