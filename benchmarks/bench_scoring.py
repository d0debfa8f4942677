"""Benchmark of the scoring metrics on synthetic complete grids (issue 2's performance targets).

    .venv/bin/python benchmarks/bench_scoring.py [--sizes 96,1000,10000] [--repeat 5]

For each grid size it builds a complete grid (96 = 4x4x3x2, 1,000 = 10x10x10,
10,000 = 10x10x10x10; each model once), gaps with hyperparameter effects plus
noise, and a noisy measure, then times the official score, robust CMI,
Kendall's tau, granulated Psi and sign-error one by one, and all of them
together as `score_all` computes them (official and robust CMI sharing one
count of the pairs). Times are the median of ``--repeat`` runs (one run at
10,000 models), wall and CPU seconds. Peak memory is traced with
``tracemalloc`` (numpy reports its buffers to it) in a separate run of
`score_all`, so tracing does not slow the timed runs. The bootstrap (which
reruns robust CMI, tau and Psi per resample) is timed at sizes up to
``--bootstrap-max`` models. Targets: 10,000 models, all metrics but the
bootstrap, <= 10 s and <= 2 GB; 96 models <= 50 ms.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import time
import tracemalloc
from typing import Callable

import numpy as np

from harness.metrics import (Grid, bootstrap_ci, granulated_kendall, kendall_tau, official_score,
                             robust_cmi, score_all, sign_error)

SHAPES = {96: (4, 4, 3, 2), 1000: (10, 10, 10), 10000: (10, 10, 10, 10)}


def synthetic_task(n_models: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Grid]:
    """Measure, gap and grid of a complete synthetic grid of ``n_models`` models."""
    shape = SHAPES.get(n_models)
    if shape is None:
        raise SystemExit(f"no grid shape for {n_models} models; choose from {sorted(SHAPES)}")
    rng = np.random.default_rng(seed)
    levels = np.array(list(itertools.product(*map(range, shape))))
    effects = [rng.normal(size=k) for k in shape]
    gap = sum(e[levels[:, h]] for h, e in enumerate(effects)) + 0.5 * rng.normal(size=n_models)
    measure = gap + rng.normal(size=n_models)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="96,1000,10000", help="comma-separated model counts")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (1 at 10,000 models)")
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples for the bootstrap timing")
    parser.add_argument("--bootstrap-max", type=int, default=96,
                        help="time the bootstrap at sizes up to this many models")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"{'models':>7} {'metric':<12} {'wall s':>9} {'cpu s':>9}")
    for n in sizes:
        m, g, grid = synthetic_task(n)
        repeat = 1 if n >= 10000 else args.repeat
        score_all(m, g, grid)   # warm up (first calls pay numpy's one-time costs)
        runs = {
            "official": lambda: official_score(m, g, grid),
            "robust CMI": lambda: robust_cmi(m, g, grid),
            "tau": lambda: kendall_tau(m, g),
            "Psi": lambda: granulated_kendall(m, g, grid),
            "sign-error": lambda: sign_error(m, g, grid),
            "all": lambda: score_all(m, g, grid),
        }
        for name, fn in runs.items():
            wall, cpu = timed(fn, repeat)
            print(f"{n:>7} {name:<12} {wall:>9.4f} {cpu:>9.4f}", flush=True)
        peak = peak_bytes(runs["all"]) / 2**20
        print(f"{n:>7} {'all: peak traced memory':<32} {peak:>8.1f} MiB", flush=True)
        if n <= args.bootstrap_max:
            wall, cpu = timed(lambda: bootstrap_ci(m, g, grid, n_resamples=args.bootstrap), 1)
            print(f"{n:>7} {f'bootstrap x{args.bootstrap}':<12} {wall:>9.4f} {cpu:>9.4f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident set size of the process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
