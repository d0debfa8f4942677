"""Submissions (SPEC §2): a folder or a ``.zip`` holding ``complexity.py``.

`open_submission` turns what the user named into a folder the runner can copy
into each worker's sandbox (a zip is unpacked safely into a scratch folder);
`plan_call` reads the signature of the submission's ``complexity`` function and
decides what to pass it. Neither imports TensorFlow: `plan_call` also runs
inside the sandboxed worker.

What ``complexity`` is called with
----------------------------------
The first two parameters, whatever their names, get the model and the
training dataset, positionally (``complexity(model, dataset)`` as in 2020).
Every further parameter is matched by name against `OFFERED` and passed by
keyword when asked for:

``program_dir``  the submission's own folder (a writable private copy), as the
                 original ingestion program passed it;
``num_classes``  the number of classes (the model's output units);
``seed``         an integer fixed per task and model (the global Python, numpy
                 and TensorFlow generators are seeded with it before the call,
                 unless the run uses ``--seeding kit``);
``time_budget``  the seconds this call may take before it is stopped;
``task_name``    the task's name; ``model_id`` the model's bare id (``"0"``).

A further parameter with a default that is not offered keeps its default; one
without a default makes the submission unusable (`SubmissionError`).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from harness.errors import HarnessError

ENTRY_FILE = "complexity.py"
ENTRY_FUNCTION = "complexity"
OFFERED = ("program_dir", "num_classes", "seed", "time_budget", "task_name", "model_id")

MAX_UNPACKED_BYTES = 4 << 30
MAX_MEMBERS = 100_000
_SKIPPED = frozenset({"__MACOSX", "__pycache__", ".DS_Store", ".git"})


class SubmissionError(HarnessError):
    """The submission cannot be run: no ``complexity.py``, an unsafe zip, a bad signature."""


@dataclass(frozen=True)
class Submission:
    """A submission ready to copy into a sandbox.

    ``root`` is the folder that holds ``complexity.py`` (the folder the user
    named, or the unpacked zip);
    ``digest`` a SHA-256 over its files' relative paths and contents, used to
    tell whether an output folder holds results of this same submission.
    """

    root: Path
    name: str
    digest: str

    def copy_to(self, dest: str | Path) -> Path:
        """Copy the submission's files into a new folder ``dest`` (symlinks stay links)."""
        dest = Path(dest)
        shutil.copytree(self.root, dest, symlinks=True,
                        ignore=lambda _dir, names: [n for n in names if n in _SKIPPED])
        return dest


@dataclass(frozen=True)
class CallPlan:
    """How to call a submission's ``complexity``: two positional arguments, then ``extras`` by keyword."""

    signature: str
    extras: tuple[str, ...]

    def describe(self) -> str:
        passed = ", ".join(("model", "dataset") + self.extras)
        return f"complexity{self.signature} receives: {passed}"


def open_submission(path: str | Path, scratch: str | Path) -> Submission:
    """Check and open the submission at ``path``; a zip is unpacked under ``scratch``.

    ``complexity.py`` must sit at the top of the folder or zip, or inside its
    single top-level folder (what zipping a folder produces). Raises
    `SubmissionError` naming the path otherwise.
    """
    source = Path(path)
    if source.is_dir():
        root = source
    elif source.is_file() and zipfile.is_zipfile(source):
        root = Path(scratch) / "unpacked"
        safe_unzip(source, root)
    elif source.exists():
        raise SubmissionError(f"{source}: a submission is a folder or a .zip holding {ENTRY_FILE}")
    else:
        raise SubmissionError(f"{source}: no such file or folder")
    root = _entry_folder(source, root)
    return Submission(root, default_name(source), tree_digest(root))


def default_name(source: str | Path) -> str:
    """A submission's name when nothing else names it: the folder's name, or the zip's stem."""
    source = Path(source)
    return source.stem if source.is_file() else source.resolve().name


def safe_unzip(archive: str | Path, dest: str | Path, *, max_bytes: int = MAX_UNPACKED_BYTES) -> None:
    """Unpack ``archive`` into ``dest``, refusing anything that could escape it or blow up.

    Rejected: absolute member paths and ``..`` components, symbolic links and
    other special files, more than `MAX_MEMBERS` members, and more than
    ``max_bytes`` bytes in all (counted while writing, so a member that lies
    about its size is caught too). File modes keep only the owner's execute bit.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                raise SubmissionError(f"{archive}: more than {MAX_MEMBERS} files")
            dest.mkdir(parents=True, exist_ok=True)
            written = 0
            for info in members:
                written += _extract_member(zf, info, dest, archive, max_bytes - written, max_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise SubmissionError(f"{archive}: cannot unpack ({exc})") from None


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, archive: Path,
                    allowance: int, limit: int) -> int:
    """Extract one member, at most ``allowance`` bytes of it; the number of bytes written."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and parts[0].endswith(":")) or ".." in parts:
        raise SubmissionError(f"{archive}: member {info.filename!r} points outside the submission")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise SubmissionError(f"{archive}: member {info.filename!r} is a link or special file")
    if not parts or parts[0] in _SKIPPED:
        return 0
    target = dest.joinpath(*parts)
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > allowance:
                raise SubmissionError(f"{archive}: unpacks to more than {limit} bytes")
            out.write(chunk)
    target.chmod(0o755 if (info.external_attr >> 16) & stat.S_IXUSR else 0o644)
    return written


def _entry_folder(source: Path, root: Path) -> Path:
    if (root / ENTRY_FILE).is_file():
        return root
    inner = [p for p in root.iterdir() if p.name not in _SKIPPED and not p.name.startswith(".")]
    if len(inner) == 1 and inner[0].is_dir() and (inner[0] / ENTRY_FILE).is_file():
        return inner[0]
    raise SubmissionError(f"{source}: no {ENTRY_FILE} at its top level (nor in a single top-level folder)")


def tree_digest(root: str | Path) -> str:
    """SHA-256 over the sorted relative paths and contents of the files under ``root``."""
    root = Path(root)
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED)
        for fname in sorted(f for f in filenames if f not in _SKIPPED):
            path = Path(dirpath) / fname
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


def plan_call(func: Any) -> CallPlan:
    """Decide how to call ``func`` (see the module docstring); raise `SubmissionError` if it can't be."""
    if not callable(func):
        raise SubmissionError(f"{ENTRY_FILE}: '{ENTRY_FUNCTION}' is not a function")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise SubmissionError(f"{ENTRY_FILE}: cannot read the signature of {ENTRY_FUNCTION}() ({exc})") from None
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(positional) < 2 and not has_varargs:
        raise SubmissionError(f"{ENTRY_FILE}: {ENTRY_FUNCTION}{sig} must take (model, dataset, ...)")
    extras = []
    for p in params:
        if p in positional[:2] or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in OFFERED and p.kind is not p.POSITIONAL_ONLY:
            extras.append(p.name)
        elif p.default is p.empty:
            raise SubmissionError(f"{ENTRY_FILE}: {ENTRY_FUNCTION}{sig} asks for {p.name!r}, which the "
                                  f"harness does not offer (offered: {', '.join(OFFERED)})")
    return CallPlan(str(sig), tuple(extras))


def call_submission(func: Callable[..., Any], plan: CallPlan, model: Any, dataset: Any,
                    offered: dict[str, Any]) -> Any:
    """Call ``func(model, dataset, **extras)`` with the extras ``plan`` asks for."""
    return func(model, dataset, **{name: offered[name] for name in plan.extras})
