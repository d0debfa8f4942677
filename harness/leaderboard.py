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
``leaderboard.md`` and ``report.html`` (`harness.report`).

Checksums are SHA-256. The *data* checksum covers a task's input side, the
files a submission may see (model folders and ``dataset_1/train``), in sorted
order of ``<task>/<relative path>``; the *reference* checksum covers the
tasks' ``model_configs.json``; the *submission* checksum is
`harness.submission.tree_digest` of the folder holding ``complexity.py``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from harness import __version__
from harness.errors import HarnessError, one_line
from harness.evaluate import SCORES_JSON, SCORES_TXT, ScoreReport, evaluate_references
from harness.task.records import PREDICT_SUFFIX, RUN_LOG, RunRecord, atomic_write_text, read_run_log, record_order
from harness.run import LOG_DIR, SUBMISSION_INFO, RunConfig, input_tasks, run_submission
from harness.submission import default_name, open_submission
from harness.task import MODEL_CONFIGS, Reference, Task, natural_key
from harness.task.visible import visible_paths

LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_MD = "leaderboard.md"
PROVENANCE = "provenance.json"
METADATA = "metadata"
#: What a result folder may hold; only these are removed when a result is redone.
_RESULT_FILES = (RUN_LOG, SCORES_JSON, SCORES_TXT, SUBMISSION_INFO, PROVENANCE)
_SHORT_HASH = 12

Log = Callable[[str], None]


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Provenance:
    """What a leaderboard row depends on, recorded beside it.

    ``sandbox`` is ``bubblewrap``, ``none`` or ``container`` (the official
    run, where the container is the sandbox). ``seed`` seeds the bootstrap of
    the confidence intervals; each model's own seed is derived from its task
    and id (`harness.run.model_seed`), so it needs no record.
    """

    harness_version: str
    data_sha256: str
    reference_sha256: str
    submission_sha256: str
    seed: int
    time_per_model: float
    memory_mb: int
    max_threads: int
    sandbox: str
    keras: str
    seeding: str
    tasks: tuple[str, ...]

    def same_predictions(self, other: "Provenance") -> bool:
        """Whether a run under ``other`` gives the same predictions (sandbox kind and seed aside)."""
        keys = ("harness_version", "data_sha256", "submission_sha256", "time_per_model", "memory_mb",
                "max_threads", "keras", "seeding", "tasks")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    @property
    def limits(self) -> str:
        return f"{self.time_per_model:g} s/model, {self.memory_mb} MB, {self.max_threads} threads"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def read(cls, path: str | Path) -> "Provenance | None":
        """The provenance stored at ``path``; None when absent or unreadable (the result is then redone)."""
        try:
            raw = json.loads(Path(path).read_text())
            return cls(**{**raw, "tasks": tuple(raw["tasks"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class TaskResult:
    """One task's scores, as ``scores.json`` holds them (None where undefined).

    ``sign_error_per_hparam`` maps each hyperparameter to its (mean, worst group).
    ``p_values`` and ``null_q95`` hold the permutation null of each headline metric
    (`harness.scoring.null.NULL_METRICS`); ``official_pairs_q95`` and
    ``psi_per_hparam_q95`` the null's 95th percentiles of score(a, b) and ψ_k.
    """

    task: str
    n_models: int
    n_scored: int
    official: float | None
    official_reason: str | None
    official_pairs: dict[tuple[str, str], float | None]
    robust_cmi: float | None
    kendall_tau: float | None
    psi: float | None
    psi_per_hparam: dict[str, float | None]
    sign_error: float | None
    sign_error_per_hparam: dict[str, tuple[float | None, float | None]]
    p_values: dict[str, float | None] = field(default_factory=dict)
    null_q95: dict[str, float | None] = field(default_factory=dict)
    official_pairs_q95: dict[tuple[str, str], float | None] = field(default_factory=dict)
    psi_per_hparam_q95: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, task: str, raw: Mapping[str, Any]) -> "TaskResult":
        """Parse one entry of ``scores.json``'s ``tasks`` (`harness.evaluate.TaskScore.to_dict`)."""
        robust = raw.get("robust_cmi") or {}
        gran = raw.get("granulated_kendall") or {}
        sign = raw.get("sign_error") or {}
        null = raw.get("null") or {}
        metrics = [k for k, v in null.items() if isinstance(v, dict) and "p_value" in v]
        return cls(task, int(raw["n_models"]), int(raw["n_scored"]), raw.get("official"),
                   raw.get("official_reason"),
                   {tuple(p["hparams"]): p["score"] for p in raw.get("official_pairs", [])},
                   robust.get("headline"), raw.get("kendall_tau"), gran.get("psi"),
                   dict(gran.get("per_hparam", {})), sign.get("mean"),
                   {k: (v.get("mean"), v.get("worst_group")) for k, v in sign.get("per_hparam", {}).items()},
                   {k: null[k]["p_value"] for k in metrics}, {k: null[k]["q95"] for k in metrics},
                   {tuple(p["hparams"]): p["q95"] for p in null.get("official_pairs_q95", [])},
                   dict(null.get("psi_per_hparam_q95", {})))


@dataclass(frozen=True)
class Entry:
    """One submission's row: its scores, or why it has none.

    ``rank`` is None for a submission that was not scored (``error`` says
    why). ``flags`` are the scorer's one-line problems (failed models, ...).
    """

    name: str
    source: str
    out_dir: Path
    error: str | None = None
    overall_official: float | None = None
    overall_p_value: float | None = None
    tasks: tuple[TaskResult, ...] = ()
    records: tuple[RunRecord, ...] = ()
    flags: tuple[str, ...] = ()
    provenance: Provenance | None = None
    reused: bool = False
    rank: int | None = None

    @property
    def status(self) -> str:
        """``ok``, ``N model(s) failed``, or ``not scored: <why>``."""
        if self.error is not None:
            return f"not scored: {self.error}"
        if self.failed_models:
            return f"{self.failed_models} model(s) failed"
        return "ok"

    @property
    def failed_models(self) -> int:
        return sum(r.status != "ok" for r in self.records)

    def mean(self, metric: str) -> float | None:
        """The mean over tasks of a `TaskResult` field, over the tasks where it is defined."""
        values = [getattr(t, metric) for t in self.tasks]
        values = [v for v in values if v is not None and math.isfinite(v)]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Leaderboard:
    """Ranked entries (scored ones first, by official score), and the data they were scored on."""

    entries: tuple[Entry, ...]
    tasks: tuple[str, ...]
    data_sha256: str
    out_dir: Path


# ------------------------------------------------------------------ naming and checksums


def submission_name(path: str | Path) -> str:
    """The submission's display name: the ``name:`` line of its ``metadata`` file if it has
    one, else the folder's name or the zip's stem."""
    path = Path(path)
    name = metadata_field(path, "name")
    return name or default_name(path)


_METADATA_BYTES = 64 << 10


def _read_metadata(path: Path) -> str:
    """The submission's ``metadata`` text (at most 64 KiB of it), or ``""``; never follows a link and
    never fails, whatever the folder or zip holds (the submission itself is checked when it is opened)."""
    try:
        if path.is_dir():
            fd = os.open(path / METADATA, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(_METADATA_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
            return data.decode(errors="replace")
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.rstrip("/").count("/") <= 1 and
                     n.rsplit("/", 1)[-1] == METADATA]
            if not names:
                return ""
            with zf.open(min(names, key=len)) as fh:
                return fh.read(_METADATA_BYTES).decode(errors="replace")
    except Exception:  # noqa: BLE001 - a broken or hostile zip: no metadata (opening it says why)
        return ""


def metadata_field(submission: Path, key: str) -> str | None:
    """The value of the ``key: value`` line of a submission's ``metadata`` file (folder or zip), or None."""
    for line in _read_metadata(submission).splitlines():
        k, sep, value = line.partition(":")
        if sep and k.strip().lower() == key and value.strip():
            return value.strip()
    return None


def slug(name: str) -> str:
    """A folder name for ``name``: runs of characters other than letters, digits, ``._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"


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


def score_results(result_dir: str | Path, references: Mapping[str, Reference], *, bootstrap: int = 200,
                  seed: int = 0, permutations: int | None = None) -> ScoreReport:
    """Score ``result_dir/<task>.predict`` for the tasks of ``references``; write its ``scores.json``.

    `harness.evaluate.evaluate_dir` restricted to the given tasks (a
    leaderboard may run a subset of a root's tasks), reusing references read once.
    """
    return evaluate_references(result_dir, references, result_dir, bootstrap=bootstrap, seed=seed,
                               permutations=permutations)


def load_entry(name: str, source: str | Path, result_dir: str | Path, provenance: Provenance | None = None,
               *, reused: bool = False) -> Entry:
    """An `Entry` from a result folder: ``scores.json`` (required) and ``run.jsonl`` (optional)."""
    result_dir = Path(result_dir)
    path = result_dir / SCORES_JSON
    try:
        raw = json.loads(path.read_text())
        tasks = tuple(TaskResult.from_dict(t, v) for t, v in raw["tasks"].items())
        overall = float(raw["overall_official"])
        overall_p = ((raw.get("null_overall") or {}).get("official") or {}).get("p_value")
        flags = tuple(raw.get("problems", ()))
    except FileNotFoundError:
        raise HarnessError(f"{path}: not found (the submission was not scored)") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise HarnessError(f"{path}: not a scores file ({exc!r})") from None
    return Entry(name, str(source), result_dir, None, overall, overall_p, tasks, _records(result_dir), flags,
                 provenance, reused)


def rank_entries(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Scored entries by official score (highest first; equal scores share a rank, then by name),
    then the unscored ones by name, with rank None."""
    entries = list(entries)
    scored = sorted((e for e in entries if e.error is None),
                    key=lambda e: (-(e.overall_official or 0.0), natural_key(e.name)))
    ranked, previous, rank = [], None, 0
    for position, entry in enumerate(scored, start=1):
        if entry.overall_official != previous:
            rank, previous = position, entry.overall_official
        ranked.append(replace(entry, rank=rank))
    failed = sorted((replace(e, rank=None) for e in entries if e.error is not None),
                    key=lambda e: natural_key(e.name))
    return tuple(ranked + failed)


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

    def produce(path: Path, dest: Path, reused: bool) -> None:
        if not reused:
            run_submission(path, data_root, dest, config)
        score_results(dest, references, bootstrap=bootstrap, seed=seed, permutations=permutations)

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
        return Entry(name, str(path), dest, error=str(exc), records=_records(dest))
    except Exception as exc:  # noqa: BLE001 - one submission's failure must not end the others' board
        return Entry(name, str(path), dest, error=f"internal error ({type(exc).__name__}: {one_line(exc)})",
                     records=_records(dest))


def _records(result_dir: Path) -> tuple[RunRecord, ...]:
    """The run records kept in ``result_dir``, in record order (none when it has no run log)."""
    return tuple(sorted(read_run_log(result_dir / RUN_LOG).values(), key=record_order))


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


# ------------------------------------------------------------------ tables


def summary_table(board: Leaderboard, *, full: bool) -> tuple[list[str], list[list[Any]]]:
    """The leaderboard's header and rows.

    ``full``: every provenance field in its own column with full checksums
    (the CSV); otherwise checksums shortened to 12 hex digits and the limits
    in one column (Markdown and HTML).
    """
    header = ["rank", "submission", "official", "p official", "robust CMI", "Kendall tau", "Psi", "sign-error",
              "models ok"] + [f"official {t}" for t in board.tasks] + ["status"]
    if full:
        header += ["harness version", "data sha256", "reference sha256", "submission sha256", "seed",
                   "time per model s", "memory MB", "max threads", "sandbox", "keras", "seeding", "reused", "source"]
    else:
        header += ["harness", "data sha256", "submission sha256", "seed", "limits"]
    rows = []
    for e in board.entries:
        by_task = {t.task: t for t in e.tasks}
        total = sum(t.n_models for t in e.tasks)
        row: list[Any] = [e.rank if e.rank is not None else "-", e.name, _round(e.overall_official),
                          _p(e.overall_p_value), _round(e.mean("robust_cmi")), _round(e.mean("kendall_tau")), _round(e.mean("psi")),
                          _round(e.mean("sign_error")),
                          f"{sum(t.n_scored for t in e.tasks)}/{total}" if e.tasks else "-"]
        row += [_round(by_task[t].official if by_task[t].official is not None else 0.0)
                if t in by_task else "-" for t in board.tasks]
        row.append(e.status)
        p = e.provenance
        if full:
            row += ([p.harness_version, p.data_sha256, p.reference_sha256, p.submission_sha256, p.seed,
                     p.time_per_model, p.memory_mb, p.max_threads, p.sandbox, p.keras, p.seeding, e.reused,
                     e.source]
                    if p else ["-"] * 12 + [e.source])
        else:
            row += ([p.harness_version, p.data_sha256[:_SHORT_HASH], p.submission_sha256[:_SHORT_HASH], p.seed,
                     p.limits] if p else ["-"] * 5)
        rows.append(row)
    return header, rows


def _p(value: float | None) -> float | str:
    """A p-value for the tables: 3 significant digits, ``-`` for none."""
    return "-" if value is None or not math.isfinite(value) else float(f"{value:.3g}")


def _round(value: float | None) -> float | str:
    return "-" if value is None or not math.isfinite(value) else round(value, 4)


def leaderboard_csv(board: Leaderboard) -> str:
    """``leaderboard.csv``: `summary_table` with every column."""
    header, rows = summary_table(board, full=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def leaderboard_markdown(board: Leaderboard) -> str:
    """``leaderboard.md``: a title, the data checksum and the table (GitHub Markdown)."""
    header, rows = summary_table(board, full=False)

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    parts = ["# PGDL leaderboard", "",
             f"Tasks: {', '.join(board.tasks)}; input data sha256 `{board.data_sha256}`; "
             f"pgdl-harness {__version__}. Ranked by the official score (100 x the mean over tasks "
             "of the 2020 conditional mutual information); `p official` is its one-sided permutation "
             "p-value (the measure's values permuted across each task's models): the chance that an "
             "uninformative measure scores at least as well. Full provenance in `leaderboard.csv`.", "",
             line(header), line(["---"] * len(header))]
    parts += [line(r) for r in rows]
    return "\n".join(parts) + "\n"


def write_leaderboard(board: Leaderboard, references: Mapping[str, Reference], *,
                      progress: Any = None) -> list[Path]:
    """Write ``leaderboard.csv``, ``leaderboard.md`` and ``report.html`` into ``board.out_dir``."""
    from harness.report import REPORT_HTML, write_report

    out = board.out_dir
    atomic_write_text(out / LEADERBOARD_CSV, leaderboard_csv(board))
    atomic_write_text(out / LEADERBOARD_MD, leaderboard_markdown(board))
    write_report(board, references, out / REPORT_HTML, progress=progress)
    written = [out / LEADERBOARD_CSV, out / LEADERBOARD_MD, out / REPORT_HTML]
    for path in written:
        path.chmod(0o644)  # to be published: readable by all, whatever the umask
    return written
