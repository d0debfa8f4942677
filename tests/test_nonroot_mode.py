"""The same guarantees when the harness runs as an unprivileged user (its user-namespace mode).

As root the harness gives each worker a fresh user id; as any other user bubblewrap makes an
unprivileged user namespace instead. This test runs the harness itself as ``nobody``
(``setpriv``; a bubblewrap view, made as root, shows the Python installation when it sits in a
folder ``nobody`` may not enter, such as ``/root``) on three hostile cases: code shipped to run
before the privilege drop, forbidden system calls, and memory hidden in tmpfs files. Where the
machine does not allow it (not root, no ``setpriv``, no user namespaces), it is skipped saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.sandbox import find_bwrap, python_dirs

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534
SCRIPT = r"""
import json, sys
from pathlib import Path
from harness.run import RunConfig, run_submission
from tests.helpers import make_tiny_task
root, hostile = Path(sys.argv[1]), Path(sys.argv[2])
make_tiny_task(root / "data", layout="split", n_models=4)
cases = {"shadows_modules": {}, "forbidden_syscalls": {},
         "hidden_memory": {"memory_mb": 1500, "tmp_mb": 4096}}
report = {}
for case, limits in cases.items():
    result = run_submission(hostile / case, root / "data", root / case, RunConfig(time_per_model=60.0, **limits))
    report[case] = {r.model: [r.status, r.value, r.message] for r in result.records}
print("REPORT " + json.dumps(report))
"""

pytestmark = [pytest.mark.slow, pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")]


def _hidden_ancestor(path: Path) -> Path | None:
    """The highest folder above ``path`` that others may not enter, or None."""
    hidden = None
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & stat.S_IXOTH:
            hidden = parent
            break
    return hidden


def _view_for_nobody() -> list[str]:
    """bwrap options (run as root) that show the host as it is, plus the Python installation
    through any folder on its way that ``nobody`` may not enter."""
    args = ["--dev-bind", "/", "/"]
    hidden: dict[Path, list[Path]] = {}
    for path in [*python_dirs(), REPO]:
        ancestor = _hidden_ancestor(path)
        if ancestor is not None:
            hidden.setdefault(ancestor, []).append(path)
    for ancestor, paths in hidden.items():
        args += ["--perms", "0755", "--tmpfs", str(ancestor)]
        for path in paths:
            between = [p for p in reversed(path.parents) if ancestor in p.parents]
            for folder in between:  # bwrap would make them 0700
                args += ["--perms", "0755", "--dir", str(folder)]
            args += ["--ro-bind", str(path), str(path)]
    return args


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "the harness already runs unprivileged here: the whole suite tests the user-namespace mode"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "bwrap",
                            "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"this machine refuses unprivileged user namespaces: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def nonroot_report() -> dict:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="pgdl-nonroot-"))
    root.chmod(0o777)
    try:
        proc = subprocess.run(["bwrap", *_view_for_nobody(), "--", "setpriv", f"--reuid={NOBODY}",
                               f"--regid={NOBODY}", "--clear-groups", "--", "env", "HOME=/tmp",
                               sys.executable, "-c", SCRIPT, str(root), str(REPO / "tests" / "hostile")],
                              capture_output=True, text=True, timeout=900, cwd=REPO)
    finally:
        subprocess.run(["rm", "-rf", "--", str(root)])
    line = next((line for line in proc.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert line is not None, proc.stderr[-3000:]
    return json.loads(line[len("REPORT "):])


def test_unprivileged_harness_runs_nothing_of_the_submission_with_privileges(nonroot_report):
    # 256 (no process limit) is allowed here: the per-user count would be the harness user's own.
    outcomes = nonroot_report["shadows_modules"].values()
    assert all(status == "ok" and value in (0.0, 256.0) for status, value, _ in outcomes), outcomes


def test_unprivileged_harness_applies_the_system_call_filter(nonroot_report):
    assert nonroot_report["forbidden_syscalls"]["1"][:2] == ["ok", 0.0]


def test_unprivileged_harness_counts_tmpfs_memory(nonroot_report):
    for status, _, message in nonroot_report["hidden_memory"].values():
        assert status == "memory" and "in tmpfs files), over the 1500 MiB limit" in message
