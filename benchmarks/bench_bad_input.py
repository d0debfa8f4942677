"""How fast bad input is refused: an 80 MB ``.predict`` of unknown ids, and deeply nested JSON.

    python benchmarks/bench_bad_input.py

Runs ``pgdl evaluate`` against the default zoo's reference data and prints,
until the one-line error: the wall time in-process (imports done; a warm-up
call first), the peak traced memory (a second call under tracemalloc), and
the wall time of a whole ``pgdl`` process (interpreter start and imports
included).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from harness.cli import main
from harness.cli.options import default_zoo

TASK = "animal_mnist_mlp"


def command(pred_dir: Path, out: Path) -> list[str]:
    return ["evaluate", str(pred_dir), "--data", str(default_zoo()), "--task", TASK, "--out", str(out)]


def in_process(args: list[str]) -> tuple[float, str]:
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
        main(args)
    return time.perf_counter() - start, err.getvalue().strip()


def refuse(pred_dir: Path, out: Path) -> tuple[float, float, float, str]:
    """In-process seconds, peak traced MiB, whole-process seconds and the error line of
    ``pgdl evaluate pred_dir``."""
    args = command(pred_dir, out)
    in_process(args)   # warm-up: imports
    seconds, line = in_process(args)
    tracemalloc.start()
    in_process(args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, check=False)
    return seconds, peak, time.perf_counter() - start, line


def main_bench() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = {
            "80 MB .predict of unknown ids": "{" + ", ".join(f'"model_{i}": 0.5' for i in range(100, 4_100_000)) + "}",
            "JSON nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
        }
        for label, text in cases.items():
            pred = root / label.split()[0]
            pred.mkdir()
            (pred / f"{TASK}.predict").write_text(text)
            size = (pred / f"{TASK}.predict").stat().st_size
            seconds, peak, process, line = refuse(pred, root / "out")
            print(f"{label} ({size / 1e6:.1f} MB): refused in {seconds * 1000:.0f} ms in-process, "
                  f"peak traced {peak:.1f} MiB; whole pgdl process {process:.2f} s")
            print(f"    {line[:150]}")


if __name__ == "__main__":
    main_bench()
    sys.exit(0)
