"""`pgdl pack`: check a submission, then write the clean zip the official run accepts.

    >>> result = pack_submission("my_measure/", "my_measure.zip", data_root="zoo/")  # doctest: +SKIP
    >>> result.size, result.files                                                     # doctest: +SKIP

The zip holds ``complexity.py`` at its root and the files beside it, minus
what never belongs in a submission: ``__pycache__`` folders, ``*.pyc``/``*.pyo``,
``.DS_Store``, ``__MACOSX``, and hidden files and folders (names starting with
a dot: ``.git``, ``.ipynb_checkpoints``, editor swap files). A symbolic link is
refused, as when the harness opens a submission (`harness.submission.open_submission`:
it never follows a submission's links). The zip is reproducible: members in sorted order, with a
fixed timestamp and permissions, so the same files always give the same bytes.

Before the zip is kept, `harness.run.check_submission` imports it in a
worker and runs it on one model (the same check as ``pgdl check``); a failed
check leaves no zip behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, ParameterError
from harness.run.config import RunConfig
from harness.run.runner import CheckReport, check_submission
from harness.submission.package import ENTRY_FILE, open_submission, walk_files

#: Names skipped wherever they appear.
SKIPPED_NAMES = frozenset({"__pycache__", "__MACOSX", ".DS_Store", "Thumbs.db"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
#: 1980-01-01 00:00:00, the earliest time a zip can hold.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PackResult:
    """The zip written: its path, its members (sorted) and its size in bytes, and the check's report."""

    path: Path
    files: tuple[str, ...]
    size: int
    check: CheckReport | None


def submission_files(root: str | Path) -> list[tuple[str, Path]]:
    """The files of the (checked: links refused) submission folder ``root`` that belong in its zip,
    as (member name, path), sorted."""
    return sorted((rel, path) for rel, path in walk_files(root, keep=_kept)
                  if path.is_file() and not path.is_symlink())


def _kept(name: str) -> bool:
    return name not in SKIPPED_NAMES and not name.startswith(".") and not name.endswith(SKIPPED_SUFFIXES)


def write_zip(files: list[tuple[str, Path]], dest: str | Path) -> int:
    """Write ``files`` (member name, path) to the zip ``dest``, reproducibly; returns its size in bytes."""
    dest = Path(dest)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
            with open(path, "rb") as src, zf.open(info, "w") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
    return dest.stat().st_size


def default_zip_path(submission: str | Path) -> Path:
    """``<name>.zip`` in the current folder, ``<name>`` the submission's (`harness.submission.naming.submission_name`)."""
    from harness.submission.naming import slug, submission_name

    return Path(f"{slug(submission_name(submission))}.zip")


def pack_submission(submission: str | Path, out: str | Path | None = None, *,
                    data_root: str | Path | None = None, config: RunConfig = RunConfig(time_per_model=60.0),
                    check: bool = True) -> PackResult:
    """Check ``submission`` (a folder or a zip) and write its clean zip to ``out``.

    ``out`` defaults to `default_zip_path`. The check runs on the zip as
    written, on the first model of ``data_root`` (needed unless ``check=False``,
    which skips it; the CLI passes the shipped zoo by default). Raises `HarnessError` for a submission that
    cannot be opened (no ``complexity.py`` at its top, an unsafe zip), a
    check that fails (its message), or an ``out`` that is not a ``.zip``.
    """
    if check and data_root is None:
        raise ParameterError("data_root", "is needed to check the submission (or pass check=False)", data_root)
    source = Path(submission)
    dest = Path(out) if out is not None else default_zip_path(source)
    if dest.suffix.lower() != ".zip":
        raise HarnessError(f"{dest}: the output must be a .zip file")
    with tempfile.TemporaryDirectory(prefix="pgdl-pack-") as scratch:
        opened = open_submission(source, scratch)
        files = [(name, path) for name, path in submission_files(opened.root)
                 if path.resolve() != dest.resolve()]  # an earlier zip written into the folder itself
        if ENTRY_FILE not in {name for name, _ in files}:
            raise HarnessError(f"{source}: {ENTRY_FILE} is not a regular file at its top level")
        staged = Path(scratch) / dest.name
        write_zip(files, staged)
        report = _check(staged, data_root, config) if check else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(staged, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    return PackResult(dest, tuple(name for name, _ in files), dest.stat().st_size, report)


def _check(archive: Path, data_root: str | Path, config: RunConfig) -> CheckReport:
    report = check_submission(archive, data_root, config)
    if not report.ok:
        record = report.record
        raise HarnessError(f"{archive.name}: check failed on {record.task}/model_{record.model} "
                           f"({record.status}: {record.message}); no zip written")
    return report


def human_size(size: int) -> str:
    """A byte count for people: ``512`` -> ``"512 B"``, ``1536`` -> ``"1.5 KiB"``."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
