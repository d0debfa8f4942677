"""The official run: each submission's two halves in two containers, then the leaderboard.

As in the 2020 competition, a submission is run by an *ingestion* container
and scored by a separate *scoring* container, both from the image of the
repository's ``Dockerfile``:

* prediction: no network; mounted read-only what a submission may see of
  each task (`harness.task.visible`: its model folders and training split, path
  by path, under ``/data/input_data``) and the submission at
  ``/submission``, writable only ``/output``; no reference data anywhere. It
  runs ``pgdl predict --no-sandbox``: the container is the sandbox, and the
  harness still enforces the per-model time and memory limits.
* scoring: no network; mounted read-only the predictions at ``/predictions``
  and the reference side at ``/data/reference_data``, writable only
  ``/scores``. It runs ``pgdl evaluate``.

The host never opens anything a container made where the container could
have placed it: each container writes into an empty staging folder of its
own (``OUT/.staging/<name>/``, removed afterwards), and the host copies back
only regular files with the names it expects (`PREDICTION_FILES`,
``<task>.predict``, the scores), of bounded size, opened with ``O_NOFOLLOW``
(`copy_back`). The containers' output logs are written by the host into
``OUT/<name>/``, which no container mounts.

The data root must be in the split layout (``ROOT/input_data`` and
``ROOT/reference_data``): in the combined layout the reference would sit
inside the prediction container's mount. Results land where
`harness.report.leaderboard` puts them (``OUT/<name>/``), each container's output in
``OUT/<name>/container-{predict,evaluate}.log``, and the leaderboard, Markdown
and report are written as by ``pgdl leaderboard``.

Seeding: the official run seeds every model (``--seeding model``, the
default): each model's generators get `harness.run.model_seed` of its task
and id, so the same submission on the same data always gets the same
predictions and scores, whichever machine or worker runs it. ``pgdl official
--seeding kit`` instead runs as the 2020 ingestion program did (no seed; the
Keras session cleared before each model), to reproduce a 2020 score of a
submission whose op-seeded draws (``tf.random.shuffle(x, seed=1)``) the
per-model seeds would change. The leaderboard's provenance records which was
used, and the Keras choice (``--keras``, default ``auto``), like the limits.

Engines: `DockerEngine` (``docker run``; ``binary="podman"`` for podman) runs
a built image; `ContainerCheckEngine` builds the Dockerfile and runs each
container with ``container-check`` (podman build + bubblewrap), for machines
without a container engine, such as CI.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from harness.errors import HarnessError
from harness.task.records import PREDICT_SUFFIX, RUN_LOG
from harness.report.leaderboard import Leaderboard, Log, build_leaderboard, reference_data
from harness.run import LOG_DIR, SUBMISSION_INFO, RunConfig, input_tasks
from harness.params import validate_params
from harness.scoring.evaluate import OPTION_CONSTRAINTS, SCORES_TXT
from harness.scoring.models_csv import MODELS_CSV
from harness.scoring.scores_file import SCORES_JSON
from harness.run.scratch import remove_tree
from harness.task import Task
from harness.task.visible import visible_paths

INPUT_DATA = "/data/input_data"
REFERENCE_DATA = "/data/reference_data"
SUBMISSION = "/submission"
OUTPUT = "/output"
PREDICTIONS = "/predictions"
SCORES = "/scores"
#: The image's virtual environment first (container-check does not apply the image's ENV).
IMAGE_PATH = "/opt/pgdl/bin:/usr/local/bin:/usr/bin:/bin"
STAGING_DIR = ".staging"
#: The most bytes the host copies back of one file a container wrote.
MAX_COPIED_BYTES = 256 << 20
#: What the host copies back from the prediction container's /output, besides ``<task>.predict``.
PREDICTION_FILES = (RUN_LOG, SUBMISSION_INFO)
_WORKER_LOG = re.compile(r"^worker-[0-9]{1,6}\.log$")


@dataclass(frozen=True)
class Mount:
    """A host path seen inside a container at ``target``."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerStep:
    """One container: its name (``predict`` or ``evaluate``), what it sees, and its command."""

    name: str
    mounts: tuple[Mount, ...]
    command: tuple[str, ...]


class Engine(Protocol):
    """Turns a `ContainerStep` into the command line that runs it."""

    def argv(self, step: ContainerStep) -> list[str]: ...


@dataclass(frozen=True)
class DockerEngine:
    """``docker run`` (or ``podman run``) of a built image, locked down.

    Every container: ``--network none``, a read-only root with a ``/tmp``
    tmpfs, no capabilities, no privilege gain, and the invoking user's ids
    (so that results belong to whoever runs the driver). ``gpus`` is passed
    as ``--gpus`` to the prediction container (e.g. ``"all"``; then give
    ``RunConfig.gpus`` to use them).
    """

    image: str = "pgdl"
    binary: str = "docker"
    gpus: str | None = None

    def argv(self, step: ContainerStep) -> list[str]:
        args = [self.binary, "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp:exec",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--user", f"{os.getuid()}:{os.getgid()}", "--env", "HOME=/tmp"]
        for m in step.mounts:
            args += ["--mount", f"type=bind,source={m.source.resolve()},target={m.target}"
                     + (",readonly" if m.read_only else "")]
        if self.gpus and step.name == "predict":
            args += ["--gpus", self.gpus]
        return args + [self.image, *step.command]


@dataclass(frozen=True)
class ContainerCheckEngine:
    """``container-check``: build ``context``'s Dockerfile, run the step in the image under bubblewrap.

    The image is built anew for every step (container-check keeps no image),
    so this engine suits checks, not big runs.
    """

    tool: Path
    context: Path

    def argv(self, step: ContainerStep) -> list[str]:
        args = [str(self.tool), "--context", str(self.context)]
        for m in step.mounts:
            args += ["--bind", f"{m.source.resolve()}:{m.target}" + (":ro" if m.read_only else "")]
        return args + ["--", "env", f"PATH={IMAGE_PATH}", "HOME=/tmp", "TF_CPP_MIN_LOG_LEVEL=2",
                       "PYTHONDONTWRITEBYTECODE=1", *step.command]


def prediction_step(submission: Path, tasks: Sequence[Task], out_dir: Path, config: RunConfig) -> ContainerStep:
    """The ingestion container: ``pgdl predict --no-sandbox`` on ``/data`` (what a submission may see).

    ``submission`` is a folder (mounted as ``/submission``) or a zip alone in
    its folder (that folder is mounted, so nothing else may lie in it); each
    of ``tasks`` is mounted path by path as `harness.task.visible` lists it.
    """
    source, target = (submission, SUBMISSION) if submission.is_dir() else \
        (submission.parent, f"{SUBMISSION}/{submission.name}")
    command = ["pgdl", "predict", target, "--data", "/data", "--out", OUTPUT, "--no-sandbox",
               "--workers", str(config.workers), "--time-per-model", f"{config.time_per_model:g}",
               "--memory-mb", str(config.memory_mb), "--max-threads", str(config.max_threads)]
    if config.gpus:
        command += ["--gpus", ",".join(map(str, config.gpus))]
    command += ["--keras", config.keras, "--seeding", config.seeding]
    if config.keep_going:
        command.append("--keep-going")
    inputs = tuple(Mount(p.host, f"{INPUT_DATA}/{task.name}/{p.inside}") for task in tasks for p in visible_paths(task))
    return ContainerStep("predict", inputs + (Mount(source, SUBMISSION), Mount(out_dir, OUTPUT, read_only=False)),
                         tuple(command))


def scoring_step(pred_dir: Path, reference_root: Path, scores_dir: Path, *, bootstrap: int = 200,
                 seed: int = 0) -> ContainerStep:
    """The scoring container: ``pgdl evaluate`` of ``/predictions`` against ``/data`` (reference side only)."""
    command = ("pgdl", "evaluate", PREDICTIONS, "--data", "/data", "--out", SCORES,
               "--bootstrap", str(bootstrap), "--seed", str(seed))
    return ContainerStep("evaluate", (Mount(pred_dir, PREDICTIONS), Mount(reference_root, REFERENCE_DATA),
                                      Mount(scores_dir, SCORES, read_only=False)), command)


def split_roots(data_root: str | Path) -> tuple[Path, Path]:
    """``(ROOT/input_data, ROOT/reference_data)``; `HarnessError` unless both are folders."""
    root = Path(data_root)
    inp, ref = root / "input_data", root / "reference_data"
    if not (inp.is_dir() and ref.is_dir()):
        raise HarnessError(f"{root}: the official run needs the split layout (input_data/ and reference_data/ "
                           f"side by side), so that the prediction container never sees reference data")
    return inp, ref


@validate_params({name: OPTION_CONSTRAINTS[name] for name in ("bootstrap", "seed")})
def run_official(submissions: Sequence[str | Path], data_root: str | Path, out_dir: str | Path,
                 engine: Engine, config: RunConfig = RunConfig(), *, bootstrap: int = 200, seed: int = 0,
                 rerun: bool = False, log: Log | None = None, progress: object = None) -> Leaderboard:
    """Run every submission's two containers with ``engine``, then rank and write the leaderboard.

    A result whose provenance matches (same submission, data, harness
    version and limits) is not predicted again unless ``rerun``; scoring
    always runs. Raises `HarnessError` for problems that concern every
    submission (no split layout, no tasks, a task without reference data).
    """
    if not submissions:
        raise HarnessError("give at least one submission")
    say = log or (lambda _msg: None)
    _input_root, reference_root = split_roots(data_root)
    tasks = input_tasks(data_root)
    references = reference_data(tasks)

    def produce(path: Path, dest: Path, reused: bool) -> None:
        _run_containers(path, dest, tasks, reference_root, engine, config, reused=reused,
                        bootstrap=bootstrap, seed=seed, say=say)

    return build_leaderboard(submissions, tasks, references, out_dir, config, produce, seed=seed,
                             isolation="container", rerun=rerun, log=log, progress=progress)


def _run_containers(path: Path, dest: Path, tasks: Sequence[Task], reference_root: Path, engine: Engine,
                    config: RunConfig, *, reused: bool, bootstrap: int, seed: int, say: Log) -> None:
    """The prediction container (unless ``reused``), then the scoring one, each writing into an empty
    staging folder; what they wrote is copied into ``dest`` by `copy_back`."""
    staging = dest.parent / STAGING_DIR / dest.name
    remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        if not reused:
            say("    prediction container")
            output = _fresh(staging / "output")
            copy_back(dest, output, PREDICTION_FILES)  # lets an interrupted run resume (our own files)
            _run(engine, prediction_step(_staged(path, staging / "submission"), tasks, output, config), dest)
            predicted = PREDICTION_FILES + tuple(f"{t.name}{PREDICT_SUFFIX}" for t in tasks)
            copy_back(output, dest, predicted)
            copy_back(output / LOG_DIR, _fresh(dest / LOG_DIR, keep=True), _worker_logs(output / LOG_DIR))
        predictions = _fresh(staging / "predictions")
        copy_back(dest, predictions, (RUN_LOG,) + tuple(f"{t.name}{PREDICT_SUFFIX}" for t in tasks))
        scores = _fresh(staging / "scores")
        say("    scoring container")
        # `pgdl evaluate` exits with 1 for flagged tasks (scores written), 2 for bad input (none written).
        log_path = _run(engine, scoring_step(predictions, reference_root, scores, bootstrap=bootstrap, seed=seed),
                        dest, accept=(0, 1))
        for name in (SCORES_JSON, SCORES_TXT, MODELS_CSV):
            (dest / name).unlink(missing_ok=True)
        copy_back(scores, dest, (MODELS_CSV, SCORES_TXT, SCORES_JSON))   # scores.json, the mark of a finished run, last
        if not (dest / SCORES_JSON).is_file():
            raise HarnessError(f"the evaluate container wrote no scores: {_last_line(log_path)} "
                               f"(full output: {log_path})")
    finally:
        remove_tree(staging)


def _fresh(folder: Path, keep: bool = False) -> Path:
    """``folder``, made (empty unless ``keep``)."""
    if not keep:
        remove_tree(folder)
    folder.mkdir(parents=True, exist_ok=keep)
    return folder


def _worker_logs(folder: Path) -> tuple[str, ...]:
    """The names in ``folder`` that look like a worker's log (the listing itself follows nothing)."""
    try:
        return tuple(sorted(n for n in os.listdir(folder) if _WORKER_LOG.match(n)))
    except OSError:
        return ()


def copy_back(source: Path, dest: Path, names: Sequence[str], max_bytes: int = MAX_COPIED_BYTES) -> list[str]:
    """Copy ``source/<name>`` to ``dest/<name>`` for each of ``names`` that is a regular file there.

    Whatever else ``source`` holds is ignored: links (never followed: the
    folder is opened with ``O_NOFOLLOW | O_DIRECTORY`` and each file with
    ``O_NOFOLLOW``), special files, folders, other names. At most
    ``max_bytes`` of a file are copied; a longer file is left out. Each copy
    replaces ``dest/<name>`` atomically (a new file renamed into place, so
    that nothing already at that name is opened or followed). Returns the
    names copied.
    """
    try:
        dir_fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return []
    copied = []
    try:
        for name in names:
            data = _read_regular(dir_fd, name, max_bytes)
            if data is None:
                continue
            handle, temp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temp, 0o644)
            os.replace(temp, dest / name)
            copied.append(name)
    finally:
        os.close(dir_fd)
    return copied


def _read_regular(dir_fd: int, name: str, max_bytes: int) -> bytes | None:
    if "/" in name or name in (".", ".."):
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks) if size <= max_bytes else None


def _staged(path: Path, staging: Path) -> Path:
    """The submission for `prediction_step`: a folder as it is; a zip copied alone into the
    ``staging`` folder (mounting the zip's own folder would show the container whatever lies beside it)."""
    if path.is_dir():
        return path
    if not path.is_file():
        raise HarnessError(f"{path}: no such file or folder")
    staging.mkdir(parents=True)
    return Path(shutil.copy2(path, staging / f"{path.stem}.zip"))


def _run(engine: Engine, step: ContainerStep, dest: Path, accept: tuple[int, ...] = (0,)) -> Path:
    """Run ``step``, its output to ``dest/container-<name>.log`` (returned; no container mounts ``dest``).
    `HarnessError` with the output's last line when the exit status is not in ``accept``."""
    log_path = dest / f"container-{step.name}.log"
    argv = engine.argv(step)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        try:
            status = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT).returncode
        except OSError as exc:
            raise HarnessError(f"cannot start the {step.name} container ({argv[0]}: {exc})") from None
    if status not in accept:
        raise HarnessError(f"the {step.name} container exited with status {status}: {_last_line(log_path)} "
                           f"(full output: {log_path})")
    return log_path


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 else "no output"
