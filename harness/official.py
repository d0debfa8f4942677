"""The official run: each submission's two halves in two containers, then the leaderboard.

As in the 2020 competition, a submission is run by an *ingestion* container
and scored by a separate *scoring* container, both from the image of the
repository's ``Dockerfile``:

* prediction: no network; mounted read-only the tasks' input side at
  ``/data/input_data`` and the submission at ``/submission``, writable only
  ``/output``; no reference data anywhere. It runs ``pgdl predict --no-sandbox``:
  the container is the sandbox, and the harness still enforces the per-model
  time and memory limits.
* scoring: no network; mounted read-only the predictions at ``/predictions``
  and the reference side at ``/data/reference_data``, writable only
  ``/scores``. It runs ``pgdl evaluate``.

The data root must be in the split layout (``ROOT/input_data`` and
``ROOT/reference_data``): in the combined layout the reference would sit
inside the prediction container's mount. Results land where
`harness.leaderboard` puts them (``OUT/<name>/``), each container's output in
``OUT/<name>/container-{predict,evaluate}.log``, and the leaderboard, Markdown
and report are written as by ``pgdl leaderboard``.

Seeding: the official run seeds every model (``--seeding model``, the
default): each model's generators get `harness.runner.model_seed` of its task
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
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from harness.errors import HarnessError
from harness.evaluate import SCORES_JSON, SCORES_TXT
from harness.tables import MODELS_CSV
from harness.leaderboard import Leaderboard, Log, build_leaderboard, reference_data
from harness.runner import RunConfig, input_tasks

INPUT_DATA = "/data/input_data"
REFERENCE_DATA = "/data/reference_data"
SUBMISSION = "/submission"
OUTPUT = "/output"
PREDICTIONS = "/predictions"
SCORES = "/scores"
#: The image's virtual environment first (container-check does not apply the image's ENV).
IMAGE_PATH = "/opt/pgdl/bin:/usr/local/bin:/usr/bin:/bin"
SCORING_DIR = "scoring"
STAGING_DIR = ".staging"


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


def prediction_step(submission: Path, input_root: Path, out_dir: Path, config: RunConfig) -> ContainerStep:
    """The ingestion container: ``pgdl predict --no-sandbox`` on ``/data`` (input side only).

    ``submission`` is a folder (mounted as ``/submission``) or a zip alone in
    its folder (that folder is mounted, so nothing else may lie in it).
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
    return ContainerStep("predict", (Mount(input_root, INPUT_DATA), Mount(source, SUBMISSION),
                                     Mount(out_dir, OUTPUT, read_only=False)), tuple(command))


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
    input_root, reference_root = split_roots(data_root)
    tasks = input_tasks(data_root)
    references = reference_data(tasks)

    def produce(path: Path, dest: Path, reused: bool) -> None:
        _run_containers(path, dest, input_root, reference_root, engine, config, reused=reused,
                        bootstrap=bootstrap, seed=seed, say=say)

    return build_leaderboard(submissions, tasks, references, out_dir, config, produce, seed=seed,
                             isolation="container", rerun=rerun, log=log, progress=progress)


def _run_containers(path: Path, dest: Path, input_root: Path, reference_root: Path, engine: Engine,
                    config: RunConfig, *, reused: bool, bootstrap: int, seed: int, say: Log) -> None:
    """The prediction container (unless ``reused``), then the scoring one; scores moved into ``dest``."""
    staging = dest.parent / STAGING_DIR / dest.name
    try:
        if not reused:
            say("    prediction container")
            _run(engine, prediction_step(_staged(path, staging), input_root, dest, config), dest)
        scores_dir = dest / SCORING_DIR
        shutil.rmtree(scores_dir, ignore_errors=True)
        scores_dir.mkdir()
        say("    scoring container")
        # `pgdl evaluate` exits with 1 for flagged tasks (scores written), 2 for bad input (none written).
        log_path = _run(engine, scoring_step(dest, reference_root, scores_dir, bootstrap=bootstrap, seed=seed),
                        dest, accept=(0, 1))
        if not (scores_dir / SCORES_JSON).is_file():
            raise HarnessError(f"the evaluate container wrote no scores: {_last_line(log_path)} "
                               f"(full output: {log_path})")
        for fname in (MODELS_CSV, SCORES_TXT, SCORES_JSON):   # scores.json, the mark of a finished run, last
            os.replace(scores_dir / fname, dest / fname)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(dest / SCORING_DIR, ignore_errors=True)


def _staged(path: Path, staging: Path) -> Path:
    """The submission for `prediction_step`: a folder as it is; a zip copied alone into the
    ``staging`` folder (mounting the zip's own folder would show the container whatever lies beside it)."""
    if path.is_dir():
        return path
    if not path.is_file():
        raise HarnessError(f"{path}: no such file or folder")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return Path(shutil.copy2(path, staging / f"{path.stem}.zip"))


def _run(engine: Engine, step: ContainerStep, dest: Path, accept: tuple[int, ...] = (0,)) -> Path:
    """Run ``step``, its output to ``dest/container-<name>.log`` (returned). `HarnessError` with the
    output's last line when the exit status is not in ``accept``."""
    log_path = dest / f"container-{step.name}.log"
    argv = engine.argv(step)
    with open(log_path, "wb") as log:
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
