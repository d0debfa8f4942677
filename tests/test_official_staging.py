"""The official run's host side never follows anything a container made.

A fake engine plays a hostile prediction container (no Docker needed): it plants links to
host files under every name the host reads or writes, a FIFO, and files it was not asked
for. The host must copy back only regular files with expected names, write its own logs
where no container can write, and leave every host file untouched.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.report.official import ContainerStep, copy_back, prediction_step, run_official
from harness.run import RunConfig
from tests.helpers import write_submission

HOSTILE_CONTAINER = r"""
import json, os, sys
mounts, step, victim = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
if step == "predict":
    out = mounts["/output"]
    for name in ("container-predict.log", "container-evaluate.log", "run.jsonl", "submission.json"):
        os.symlink(victim, os.path.join(out, name))
    os.mkfifo(os.path.join(out, "tiny_task.predict"))
    os.makedirs(os.path.join(out, "logs"))
    os.symlink(victim, os.path.join(out, "logs", "worker-0.log"))
    with open(os.path.join(out, "logs", "worker-1.log"), "w") as fh:
        fh.write("an honest log line\n")
    with open(os.path.join(out, "planted.txt"), "w") as fh:
        fh.write("not asked for\n")
    print("hostile prediction container done")
else:
    scores = mounts["/scores"]
    os.symlink(victim, os.path.join(scores, "scores.json"))
    os.symlink(victim, os.path.join(scores, "scores.txt"))
"""


@dataclass(frozen=True)
class HostileEngine:
    """Runs each step as a script that writes into the step's writable mount sources."""

    victim: Path

    def argv(self, step: ContainerStep) -> list[str]:
        mounts = {m.target: str(m.source) for m in step.mounts}
        return [sys.executable, "-c", HOSTILE_CONTAINER, json.dumps(mounts), step.name, str(self.victim)]


def test_planted_links_in_the_containers_output_are_never_followed(tmp_path, tiny_split_task):
    victim = tmp_path / "victim.txt"
    victim.write_text("host file\n")
    sub = write_submission(tmp_path / "sub")
    out = tmp_path / "board"
    board = run_official([sub], tiny_split_task.root, out, HostileEngine(victim), RunConfig(), bootstrap=0)
    assert victim.read_text() == "host file\n"
    (entry,) = board.entries
    assert entry.error is not None and "wrote no scores" in entry.error
    result = out / "sub"
    links = [p for p in result.rglob("*") if p.is_symlink()]
    assert links == []
    assert sorted(p.name for p in result.iterdir()) == ["container-evaluate.log", "container-predict.log", "logs"]
    assert "hostile prediction container done" in (result / "container-predict.log").read_text()
    assert [p.name for p in (result / "logs").iterdir()] == ["worker-1.log"]
    assert not (out / ".staging" / "sub").exists()


def test_copy_back_takes_only_expected_regular_files_within_the_size_limit(tmp_path):
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    (source / "run.jsonl").write_text("{}\n")
    (source / "big.predict").write_bytes(b"x" * 101)
    os.symlink("/etc/passwd", source / "linked.predict")
    os.mkfifo(source / "fifo.predict")
    (source / "folder.predict").mkdir()
    (source / "other.txt").write_text("not expected")
    (dest / "linked.predict").symlink_to(tmp_path / "elsewhere")  # replaced, never written through
    names = ["run.jsonl", "big.predict", "linked.predict", "fifo.predict", "folder.predict", "../escape", "missing"]
    assert copy_back(source, dest, names, max_bytes=100) == ["run.jsonl"]
    assert sorted(p.name for p in dest.iterdir()) == ["linked.predict", "run.jsonl"]
    assert not (tmp_path / "elsewhere").exists()


def test_copy_back_from_a_folder_that_is_a_link_copies_nothing(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "run.jsonl").write_text("{}\n")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "dest").mkdir()
    assert copy_back(tmp_path / "link", tmp_path / "dest", ["run.jsonl"]) == []


def test_the_prediction_container_mounts_only_what_a_submission_may_see(tmp_path, tiny_combined_task):
    task = tiny_combined_task.task
    step = prediction_step(write_submission(tmp_path / "sub"), [task], tmp_path / "out", RunConfig())
    sources = {m.source for m in step.mounts}
    assert task.input_dir not in sources and task.reference_dir not in sources
    assert all(not (s / "model_configs.json").exists() for s in sources)
    inputs = sorted(m.target for m in step.mounts if m.target.startswith("/data/"))
    assert inputs == sorted([f"/data/input_data/{task.name}/model_{m}" for m in task.model_ids()]
                            + [f"/data/input_data/{task.name}/dataset_1/train"])
