"""Scoring many submissions, ranking them, and writing the leaderboard (SPEC §4).

    >>> board = run_leaderboard(["subs/a", "subs/b.zip"], "zoo/", "board/")   # doctest: +SKIP
    >>> [(e.rank, e.name, e.overall_official) for e in board.entries]        # doctest: +SKIP

Each submission is run (`harness.run.run_submission`) into ``OUT/<name>/``
and scored there (``scores.json``); its ``provenance.json`` records what the
result depends on. A later call reuses a result whose provenance matches
(same submission, same input data, same harness version, same limits) instead
of running the submission again; ``rerun=True`` starts afresh. Scores are
always recomputed from the stored predictions, which takes milliseconds.
A submission that cannot be run or scored gets a row saying why, and the
others are still ranked. The ranking is by the official score (100 × the mean
over tasks of the 2020 conditional mutual information), ties sharing a rank.

Written to ``OUT``: ``leaderboard.csv`` (every column, full checksums),
``leaderboard.md`` (`harness.report.tables`) and ``report.html`` (`harness.report.html`).

Checksums are SHA-256. The *data* checksum covers a task's input side, the
files a submission may see (model folders and ``dataset_1/train``), in sorted
order of ``<task>/<relative path>``; the *reference* checksum covers the
tasks' ``model_configs.json``; the *submission* checksum is
`harness.submission.tree_digest` of the folder holding ``complexity.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Mapping

from harness import __version__
from harness.errors import HarnessError, one_line
from harness.task.records import PREDICT_SUFFIX, RUN_LOG, atomic_write_text
from harness.report.entries import Entry, Leaderboard, Provenance, load_entry, rank_entries, records
from harness.report.html import REPORT_HTML, write_report
from harness.report.tables import LEADERBOARD_CSV, LEADERBOARD_MD, leaderboard_csv, leaderboard_markdown
from harness.run import LOG_DIR, SUBMISSION_INFO, RunConfig, input_tasks, run_submission
from harness.params import validate_params
from harness.scoring.evaluate import OPTION_CONSTRAINTS, SCORES_TXT, evaluate_dir
from harness.scoring.scores_file import SCORES_JSON
from harness.submission import open_submission
from harness.submission.naming import slug, submission_name
from harness.task import MODEL_CONFIGS, Reference, Task
from harness.task.visible import visible_paths

PROVENANCE = "provenance.json"
#: What a result folder may hold; only these are removed when a result is redone.
_RESULT_FILES = (RUN_LOG, SCORES_JSON, SCORES_TXT, SUBMISSION_INFO, PROVENANCE)

Log = Callable[[str], None]


# ------------------------------------------------------------------ records


# ------------------------------------------------------------------ naming and checksums


def input_files(task: Task) -> list[tuple[str, Path]]:
    """The files of ``task`` a submission may see, as (relative POSIX path, path), sorted by path.

    What `harness.task.visible` defines: the model folders and ``dataset_1/train``;
    never ``model_configs.json`` or a test split, even in the combined layout.
    """
    files = []
    for visible in visible_paths(task):
        for dirpath, _dirs, names in os.walk(visible.host):
            for fname in names:
                path = Path(dirpath) / fname
                files.append((f"{visible.inside}/{path.relative_to(visible.host).as_posix()}", path))
    return sorted(files)


def data_checksum(tasks: Iterable[Task]) -> str:
    """SHA-256 over the input side of ``tasks``: for each file in sorted order of
    ``<task>/<relative path>``, the name, its size and its bytes."""
    listing = sorted((f"{t.name}/{rel}", path) for t in tasks for rel, path in input_files(t))
    return _hash_files(listing)


def reference_checksum(tasks: Iterable[Task]) -> str:
    """SHA-256 over the tasks' ``model_configs.json``, in task order, as `data_checksum` hashes files."""
    listing = sorted((f"{t.name}/{MODEL_CONFIGS}", t.reference_dir / MODEL_CONFIGS)
                     for t in tasks if t.has_reference())
    return _hash_files(listing)


def _hash_files(listing: Iterable[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in listing:
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def submission_checksum(path: str | Path) -> str:
    """`harness.submission.tree_digest` of the submission (a zip is unpacked to a scratch folder first).

    Raises `harness.submission.SubmissionError` for a submission that cannot be opened.
    """
    with tempfile.TemporaryDirectory(prefix="pgdl-digest-") as scratch:
        return open_submission(path, scratch).digest


# ------------------------------------------------------------------ scoring


def reference_data(tasks: Sequence[Task]) -> dict[str, Reference]:
    """Every task's reference; `HarnessError` naming the first task that has none."""
    missing = [t.name for t in tasks if not t.has_reference()]
    if missing:
        raise HarnessError(f"task {missing[0]}: no reference data ({MODEL_CONFIGS}) to score against")
    return {t.name: t.read_reference() for t in tasks}


@validate_params(OPTION_CONSTRAINTS)
def run_leaderboard(submissions: Sequence[str | Path], data_root: str | Path, out_dir: str | Path,
                    config: RunConfig = RunConfig(), *, rerun: bool = False, bootstrap: int = 200,
                    seed: int = 0, permutations: int | None = None, log: Log | None = None,
                    progress: Any = None) -> Leaderboard:
    """Run and score every submission on the tasks under ``data_root``; rank them; write ``out_dir``.

    Raises `HarnessError` only for problems that concern every submission (no
    submissions, no tasks, a task without reference data); a submission's own
    failure becomes its row's ``error``. ``log`` receives one line per step;
    ``progress`` wraps the submissions while the report's plots are drawn.
    """
    if not submissions:
        raise HarnessError("give at least one submission")
    tasks = input_tasks(data_root, config.tasks)
    references = reference_data(tasks)

    names = tuple(references)

    def produce(path: Path, dest: Path, reused: bool) -> None:
        if not reused:
            run_submission(path, data_root, dest, config)
        evaluate_dir(dest, data_root, dest, tasks=names, bootstrap=bootstrap, seed=seed, permutations=permutations)

    return build_leaderboard(submissions, tasks, references, out_dir, config, produce, seed=seed,
                             isolation="bubblewrap" if config.sandbox else "none", rerun=rerun, log=log,
                             progress=progress)


Produce = Callable[[Path, Path, bool], None]
"""``produce(submission, dest, reused)`` leaves the submission's ``scores.json`` (and run) in ``dest``;
``reused``: ``dest`` already holds predictions made under the same provenance."""


def build_leaderboard(submissions: Sequence[str | Path], tasks: Sequence[Task],
                      references: Mapping[str, Reference], out_dir: str | Path, config: RunConfig,
                      produce: Produce, *, seed: int, isolation: str, rerun: bool = False,
                      log: Log | None = None, progress: Any = None) -> Leaderboard:
    """The leaderboard of ``submissions``, each scored by ``produce`` in its own folder of ``out_dir``.

    What every way of running submissions shares: checksums and provenance,
    reuse of results made under the same provenance, a failing submission
    becoming its row's ``error``, ranking, and writing ``out_dir``.
    """
    say = log or (lambda _msg: None)
    say(f"checksumming the input data of {len(tasks)} task(s)")
    base = Provenance(__version__, data_checksum(tasks), reference_checksum(tasks), "", seed,
                      config.time_per_model, config.memory_mb, config.max_threads, isolation, config.keras,
                      config.seeding, tuple(t.name for t in tasks))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, (path, name, folder) in enumerate(name_submissions(submissions), start=1):
        say(f"[{index}/{len(submissions)}] {name} ({path})")
        entry = _entry(path, name, out / folder, base, produce, rerun=rerun)
        say(f"    {'reused earlier results' if entry.reused else 'done'}" if entry.error is None
            else f"    failed: {entry.error}")
        entries.append(entry)
    board = Leaderboard(rank_entries(entries), tuple(references), base.data_sha256, out)
    write_leaderboard(board, references, progress=progress)
    return board


def name_submissions(submissions: Sequence[str | Path]) -> list[tuple[Path, str, str]]:
    """(path, display name, result folder name) per submission; repeated names get ``-2``, ``-3``, ..."""
    seen: dict[str, int] = {}
    named = []
    for path in submissions:
        path = Path(path)
        name = submission_name(path) if path.exists() else path.name
        folder = slug(name)
        seen[folder] = seen.get(folder, 0) + 1
        if seen[folder] > 1:
            name, folder = f"{name}-{seen[folder]}", f"{folder}-{seen[folder]}"
        named.append((path, name, folder))
    return named


def _entry(path: Path, name: str, dest: Path, base: Provenance, produce: Produce, *, rerun: bool) -> Entry:
    try:
        provenance = replace(base, submission_sha256=submission_checksum(path))
        reused = prepare_result_dir(dest, provenance, rerun=rerun)
        produce(path, dest, reused)
        atomic_write_text(dest / PROVENANCE, provenance.to_json())
        return load_entry(name, path, dest, provenance, reused=reused)
    except HarnessError as exc:
        return Entry(name, str(path), dest, error=str(exc), records=records(dest))
    except Exception as exc:  # noqa: BLE001 - one submission's failure must not end the others' board
        return Entry(name, str(path), dest, error=f"internal error ({type(exc).__name__}: {one_line(exc)})",
                     records=records(dest))


def prepare_result_dir(dest: Path, provenance: Provenance, *, rerun: bool = False) -> bool:
    """Whether ``dest`` holds a finished result with this provenance (to reuse as it is).

    Otherwise ``dest`` is made ready for a run: emptied of earlier results
    when ``rerun``, when they were made under another provenance, or when
    they belong to another submission; an interrupted run of the same
    submission is left for the runner to resume.
    """
    previous = Provenance.read(dest / PROVENANCE)
    if not rerun and previous is not None and previous.same_predictions(provenance):
        return True
    if rerun or previous is not None or _holds_other_submission(dest, provenance.submission_sha256):
        clear_result_dir(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return False


def _holds_other_submission(dest: Path, digest: str) -> bool:
    try:
        return json.loads((dest / SUBMISSION_INFO).read_text()).get("sha256") != digest
    except (OSError, ValueError, AttributeError):
        return False


def clear_result_dir(dest: str | Path) -> None:
    """Remove what a run and its scoring wrote in ``dest`` (and nothing else)."""
    dest = Path(dest)
    if not dest.is_dir():
        return
    for name in _RESULT_FILES:
        (dest / name).unlink(missing_ok=True)
    for path in dest.glob(f"*{PREDICT_SUFFIX}"):
        path.unlink()
    shutil.rmtree(dest / LOG_DIR, ignore_errors=True)


def write_leaderboard(board: Leaderboard, references: Mapping[str, Reference], *,
                      progress: Any = None) -> list[Path]:
    """Write ``leaderboard.csv``, ``leaderboard.md`` and ``report.html`` into ``board.out_dir``."""
    out = board.out_dir
    atomic_write_text(out / LEADERBOARD_CSV, leaderboard_csv(board))
    atomic_write_text(out / LEADERBOARD_MD, leaderboard_markdown(board))
    write_report(board, references, out / REPORT_HTML, progress=progress)
    written = [out / LEADERBOARD_CSV, out / LEADERBOARD_MD, out / REPORT_HTML]
    for path in written:
        path.chmod(0o644)  # to be published: readable by all, whatever the umask
    return written
