"""The official run in Docker: the image builds from the Dockerfile, and both halves run in it.

No Docker engine runs on these machines: ``../shared/tools/container-check``
builds the Dockerfile with podman and runs each container's command in the
image's filesystem under bubblewrap, with no network and only the given binds.
`harness.report.official` drives it exactly as it drives ``docker run``: one
container predicts (input side and submission read-only, no reference data),
another scores (predictions and reference only).

Slow: container-check builds the image for every container and exports its
2 GB filesystem (TensorFlow), so this module takes minutes; where podman and
container-check's base image are already there, one tagged build beforehand
lets both containers' builds reuse its layers. It is skipped, saying
why, only where container-check or its tools (podman, debootstrap) are
missing and cannot be installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness import __version__
from harness.report.official import ContainerCheckEngine, DockerEngine, prediction_step, run_official, scoring_step
from harness.scoring.evaluate import evaluate_dir
from harness.scoring.scores_file import ScoresFile
from harness.run import RunConfig
from harness.task import find_tasks
from tests.helpers import expected_sum_of_squares, write_submission

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO.parent / "shared" / "tools" / "container-check"

#: Fails the model if it can see reference data or reach the network; else the sum of squared weights.
SPY = '''\
import glob
import os
import socket

import numpy as np


def complexity(model, dataset):
    visible = [p for top in ("/data", "/submission", "/output", "/tmp", "/root", "/home")
               for p in glob.glob(os.path.join(top, "**", "model_configs.json"), recursive=True)]
    if visible or os.listdir("/data") != ["input_data"]:
        raise RuntimeError(f"reference data visible: {visible}, /data holds {os.listdir('/data')}")
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=2).close()
        raise RuntimeError("the network is reachable")
    except OSError:
        pass
    return float(sum(np.sum(np.square(w)) for w in model.get_weights()))
'''


def _missing_tools() -> str | None:
    """Why container-check cannot run here, or None."""
    if not TOOL.is_file():
        return f"container-check not found at {TOOL}"
    need = [pkg for cmd, pkg in (("podman", "podman"), ("debootstrap", "debootstrap"), ("bwrap", "bubblewrap"))
            if shutil.which(cmd) is None]
    if need:
        done = subprocess.run(["sh", "-c", f"apt-get update -qq && apt-get install -y -qq {' '.join(need)}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return f"container-check needs {', '.join(need)}, which could not be installed: {done.stderr[-300:]}"
    return None


@contextlib.contextmanager
def held_build_cache() -> Iterator[None]:
    """Keep the image's layers for the duration, so that container-check's builds reuse them.

    container-check builds the Dockerfile for every container and removes the
    image afterwards, layers included; a tagged build of the same Dockerfile,
    with the same arguments, keeps them. Only where container-check has
    already made its base image (else the first build is as slow either way).
    """
    base = "localhost/bookworm-py:latest"
    if shutil.which("podman") is None or subprocess.run(["podman", "image", "exists", base]).returncode != 0:
        yield
        return
    tag = f"localhost/pgdl-test-cache:{os.getpid()}"
    subprocess.run(["podman", "build", "--isolation", "chroot", "--network", "host",
                    "-v", "/etc/ssl/certs:/etc/ssl/certs:ro", "--build-arg", f"BASE={base}", "-t", tag, str(REPO)],
                   capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["podman", "rmi", tag], capture_output=True)


@pytest.fixture(scope="module")
def official_run(tmp_path_factory: pytest.TempPathFactory, tiny_split_task):
    reason = _missing_tools()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("official")
    spy = write_submission(tmp / "spy", SPY)
    (spy / "metadata").write_text("name: spy\n")
    started = time.monotonic()
    with held_build_cache():
        board = run_official([spy], tiny_split_task.root, tmp / "out", ContainerCheckEngine(TOOL, REPO),
                             RunConfig(time_per_model=120.0, memory_mb=4096, sandbox=False), bootstrap=20)
    print(f"\nofficial run in two containers: {time.monotonic() - started:.0f} s")
    return board, tiny_split_task


@pytest.mark.slow
def test_both_containers_ran_and_the_prediction_saw_no_reference_data(official_run) -> None:
    board, tiny = official_run
    (entry,) = board.entries
    assert entry.error is None, entry.error
    assert [(r.model, r.status, r.message) for r in entry.records] == [(m, "ok", "") for m in tiny.task.model_ids()]
    predicted = json.loads((entry.out_dir / "tiny_task.predict").read_text())
    expected = expected_sum_of_squares(find_tasks(tiny.root)[0])
    assert predicted == pytest.approx(expected, rel=1e-5)
    assert (entry.out_dir / "container-predict.log").is_file() and (entry.out_dir / "container-evaluate.log").is_file()


@pytest.mark.slow
def test_the_scoring_container_agrees_with_scoring_on_the_host(official_run, tmp_path: Path) -> None:
    board, tiny = official_run
    (entry,) = board.entries
    container_scores = json.loads((entry.out_dir / "scores.json").read_text())
    host = tmp_path / "host"
    shutil.copytree(entry.out_dir, host, ignore=shutil.ignore_patterns("scores.*"))
    report = evaluate_dir(host, tiny.root, host, bootstrap=20)
    host_scores = json.loads(ScoresFile.of(report).to_json())
    environment = container_scores.pop("environment")   # the image's Python and platform, not the host's
    host_scores.pop("environment")
    assert container_scores == host_scores
    assert environment["harness"] == {"version": __version__, "commit": None}   # no checkout inside
    assert (entry.out_dir / "models.csv").read_text() == (host / "models.csv").read_text()
    assert entry.provenance.sandbox == "container"
    assert (board.out_dir / "leaderboard.csv").read_text().splitlines()[1].startswith("1,spy,")


def test_docker_containers_are_locked_down_and_see_only_their_half(tmp_path: Path) -> None:
    engine = DockerEngine("pgdl:test")
    sub = tmp_path / "sub.zip"
    sub.write_bytes(b"")
    predict = engine.argv(prediction_step(sub, [], tmp_path / "out", RunConfig(workers=2)))
    for flag in (["--network", "none"], ["--read-only"], ["--cap-drop", "ALL"]):
        assert any(predict[i:i + len(flag)] == flag for i in range(len(predict))), flag
    mounts = [predict[i + 1] for i, a in enumerate(predict) if a == "--mount"]
    # (each task's visible paths are mounted too: tests/test_official_staging.py checks which)
    assert mounts == [f"type=bind,source={tmp_path},target=/submission,readonly",
                      f"type=bind,source={tmp_path / 'out'},target=/output"]
    assert predict[predict.index("pgdl:test") + 1:] == [
        "pgdl", "predict", "/submission/sub.zip", "--data", "/data", "--out", "/output", "--no-sandbox",
        "--workers", "2", "--time-per-model", "300", "--memory-mb", "8192", "--max-threads", "1024",
        "--keras", "auto", "--seeding", "model"]
    score = engine.argv(scoring_step(tmp_path / "out", tmp_path / "reference_data", tmp_path / "scores"))
    mounts = [score[i + 1] for i, a in enumerate(score) if a == "--mount"]
    assert mounts == [f"type=bind,source={tmp_path / 'out'},target=/predictions,readonly",
                      f"type=bind,source={tmp_path / 'reference_data'},target=/data/reference_data,readonly",
                      f"type=bind,source={tmp_path / 'scores'},target=/scores"]


def test_the_prediction_container_runs_with_the_runs_keras_and_seeding(tmp_path: Path) -> None:
    config = RunConfig(keras="2", seeding="kit", keep_going=True)
    command = list(prediction_step(tmp_path, [], tmp_path / "out", config).command)
    assert command[-5:] == ["--keras", "2", "--seeding", "kit", "--keep-going"]
