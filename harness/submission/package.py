"""Submissions (SPEC §2): a folder or a ``.zip`` holding ``complexity.py``.

`open_submission` turns what the user named into a folder the runner can copy
into each worker's sandbox (a zip is unpacked safely into a scratch folder);
`tree_digest` names its content; `walk_entries` is the one walk over a
submission's folder (the checked copy, the digest, the zip, the Keras scan). Never imports TensorFlow.
How ``complexity`` is called is `harness.submission.calling`'s.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from harness.errors import HarnessError

ENTRY_FILE = "complexity.py"
CHECKED_COPY = "submission"
_SKIPPED = frozenset({"__MACOSX", "__pycache__", ".DS_Store", ".git"})


class SubmissionError(HarnessError):
    """The submission cannot be run: no ``complexity.py``, an unsafe zip, a bad signature."""


@dataclass(frozen=True)
class IntakeLimits:
    """What a submission (folder or zip) may hold: bytes in all (a zip's declared and actual expanded
    size), files and folders, folder depth, bytes of a member's relative path and of one name."""

    max_bytes: int = 512 << 20
    max_files: int = 20_000
    max_depth: int = 32
    max_path: int = 1024
    max_name: int = 255

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_files", "max_depth", "max_path", "max_name"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive. Received: {getattr(self, name)!r}")


@dataclass(frozen=True)
class Submission:
    """A submission ready to copy into a sandbox.

    ``root`` is the folder that holds ``complexity.py``, in the run's checked
    copy (regular files and folders only, within `IntakeLimits`: see
    `open_submission`); ``digest`` a SHA-256 over its files' relative paths
    and contents, used to tell whether an output folder holds results of this
    same submission.
    """

    root: Path
    name: str
    digest: str

    def copy_to(self, dest: str | Path) -> Path:
        """Copy the submission's files into a new folder ``dest``."""
        dest = Path(dest)
        shutil.copytree(self.root, dest, symlinks=True,
                        ignore=lambda _dir, names: [n for n in names if n in _SKIPPED])
        return dest


def open_submission(path: str | Path, scratch: str | Path, limits: IntakeLimits = IntakeLimits()) -> Submission:
    """Check the submission at ``path`` and copy it (a zip: unpack it) into ``scratch/submission``.

    The copy holds regular files and folders only: a folder's symbolic links,
    devices and pipes are refused, never followed (the folder is read with
    ``lstat`` and ``O_NOFOLLOW``), and so are a zip's links and special
    members; names must be UTF-8, and the limits of ``limits`` hold.
    ``complexity.py`` must sit at the top of the folder or zip, or inside its
    single top-level folder (what zipping a folder produces). Every problem
    is a one-line `SubmissionError` naming the path.
    """
    source = Path(path)
    dest = Path(scratch) / CHECKED_COPY
    try:
        is_dir, is_file = source.is_dir(), source.is_file()
    except OSError as exc:
        raise SubmissionError(f"{source}: cannot read it ({exc.strerror})") from None
    if is_dir:
        copy_checked(source, dest, limits)
    elif is_file and _is_zip(source):
        safe_unzip(source, dest, limits=limits)
    elif source.exists():
        raise SubmissionError(f"{source}: a submission is a folder or a .zip holding {ENTRY_FILE}")
    else:
        raise SubmissionError(f"{source}: no such file or folder")
    root = _entry_folder(source, dest)
    return Submission(root, default_name(source), tree_digest(root))


def _is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def default_name(source: str | Path) -> str:
    """A submission's name when nothing else names it: the folder's name, or the zip's stem."""
    source = Path(source)
    return source.stem if source.is_file() else source.resolve().name


class _Budget:
    """Counts a submission's members and bytes against `IntakeLimits`; names and depth are checked too."""

    def __init__(self, source: Path, limits: IntakeLimits) -> None:
        self.source, self.limits = source, limits
        self.files = 0
        self.bytes_left = limits.max_bytes

    def member(self, parts: tuple[str, ...], shown: str) -> None:
        """Check one member's relative path (``parts``), counting it."""
        limits = self.limits
        self.files += 1
        if self.files > limits.max_files:
            raise SubmissionError(f"{self.source}: more than {limits.max_files} files and folders")
        if len(parts) > limits.max_depth:
            raise SubmissionError(f"{self.source}: {shown[:80]!r} is nested more than {limits.max_depth} folders deep")
        for part in parts:
            try:
                encoded = part.encode("utf-8")
            except UnicodeEncodeError:
                raise SubmissionError(f"{self.source}: the name {part[:80]!r} is not UTF-8") from None
            if len(encoded) > limits.max_name or not part or "\0" in part:
                raise SubmissionError(f"{self.source}: the name {part[:80]!r}... is longer than "
                                      f"{limits.max_name} bytes or empty")
        if len("/".join(parts).encode("utf-8")) > limits.max_path:
            raise SubmissionError(f"{self.source}: the path {shown[:80]!r}... is longer than {limits.max_path} bytes")

    def take(self, count: int) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise SubmissionError(f"{self.source}: holds more than {_size(self.limits.max_bytes)} "
                                  f"(the limit for a submission)")


def copy_checked(source: str | Path, dest: str | Path, limits: IntakeLimits = IntakeLimits()) -> None:
    """Copy the folder ``source`` to the new folder ``dest``: regular files and folders only, within ``limits``.

    Iterative (any depth is refused past ``limits.max_depth`` without
    recursion), never following a link: every entry is ``lstat``-ed, every
    file opened with ``O_NOFOLLOW`` and checked again with ``fstat``.
    `SubmissionError` for a link, a special file, anything unreadable or too big.
    """
    source, dest = Path(source), Path(dest)
    budget = _Budget(source, limits)
    dest.mkdir(mode=0o755, parents=True)
    for child, entry in walk_entries(source, listing=_listing):
        shown = "/".join(child)
        budget.member(child, shown)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            raise SubmissionError(f"{source}: cannot read {shown[:80]!r} ({exc.strerror})") from None
        if stat.S_ISDIR(info.st_mode):
            os.mkdir(dest.joinpath(*child), 0o755)
        elif stat.S_ISREG(info.st_mode):
            _copy_file(source.joinpath(*child), dest.joinpath(*child), info, budget, shown)
        else:
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a special file"
            raise SubmissionError(f"{source}: {shown[:80]!r} is {what}; a submission holds regular "
                                  f"files and folders only (copy the file in instead)")


def _listing(source: Path, parts: tuple[str, ...]) -> list[os.DirEntry]:
    try:
        with os.scandir(source.joinpath(*parts)) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        raise SubmissionError(f"{source}: cannot read the folder {'/'.join(parts)[:80] or '.'!r} "
                              f"({exc.strerror})") from None


def _copy_file(src: Path, dst: Path, info: os.stat_result, budget: _Budget, shown: str) -> None:
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        reason = "it became a link" if exc.errno == errno.ELOOP else exc.strerror
        raise SubmissionError(f"{budget.source}: cannot read {shown[:80]!r} ({reason})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SubmissionError(f"{budget.source}: {shown[:80]!r} is not a regular file")
        with open(dst, "xb") as out:
            try:
                while chunk := fh.read(1 << 20):
                    budget.take(len(chunk))
                    out.write(chunk)
            except OSError as exc:
                raise SubmissionError(f"{budget.source}: cannot read {shown[:80]!r} ({exc.strerror})") from None
    os.chmod(dst, 0o755 if info.st_mode & stat.S_IXUSR else 0o644)


def safe_unzip(archive: str | Path, dest: str | Path, *, max_bytes: int | None = None,
               limits: IntakeLimits = IntakeLimits()) -> None:
    """Unpack ``archive`` into the new folder ``dest``, refusing anything that could escape it or blow up.

    Checked before anything is written: absolute member paths and ``..``
    components, symbolic links and other special members, names that are
    not UTF-8 or too long, a name that is both a file and a folder (or
    appears twice), more members than ``limits.max_files`` and a declared
    expanded size over ``limits.max_bytes`` (``max_bytes`` overrides it).
    While writing, the bytes actually expanded are counted against the same
    limit (a member that lies about its size is caught too). A corrupt
    archive is a `SubmissionError`, like every other problem.
    """
    archive, dest = Path(archive), Path(dest)
    if max_bytes is not None:
        limits = IntakeLimits(max_bytes=max_bytes, max_files=limits.max_files, max_depth=limits.max_depth,
                              max_path=limits.max_path, max_name=limits.max_name)
    budget = _Budget(archive, limits)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _checked_members(zf.infolist(), archive, budget)
            dest.mkdir(mode=0o755, parents=True)
            for info, parts in members:
                _extract_member(zf, info, dest.joinpath(*parts), budget)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError,
            zlib.error, ValueError, OSError) as exc:
        raise SubmissionError(f"{archive}: cannot unpack ({_one_line(exc)})") from None


def _size(count: int) -> str:
    return f"{count >> 20} MiB" if count >= 1 << 20 else f"{count} bytes"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _checked_members(members: list[zipfile.ZipInfo], archive: Path,
                     budget: _Budget) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The members to extract with their path parts, after every check that needs no writing."""
    if len(members) > budget.limits.max_files:
        raise SubmissionError(f"{archive}: more than {budget.limits.max_files} files")
    declared = sum(info.file_size for info in members)
    if declared > budget.limits.max_bytes:
        raise SubmissionError(f"{archive}: unpacks to {_size(declared)}, more than the "
                              f"{_size(budget.limits.max_bytes)} limit for a submission")
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    chosen = []
    for info in members:
        name = info.filename.replace("\\", "/")
        parts = tuple(p for p in PurePosixPath(name).parts if p != "/")
        if name.startswith("/") or (parts and parts[0].endswith(":")) or ".." in parts:
            raise SubmissionError(f"{archive}: member {info.filename[:80]!r} points outside the submission")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise SubmissionError(f"{archive}: member {info.filename[:80]!r} is a link or special file")
        if not parts or parts[0] in _SKIPPED:
            continue
        budget.member(parts, name)
        is_folder = info.is_dir()
        for depth in range(1, len(parts) + (1 if is_folder else 0)):
            folders.add(parts[:depth])
        if not is_folder:
            if parts in files:
                raise SubmissionError(f"{archive}: member {name[:80]!r} appears twice")
            files.add(parts)
        chosen.append((info, parts))
    clash = files & folders
    if clash:
        raise SubmissionError(f"{archive}: {'/'.join(min(clash))[:80]!r} is both a file and a folder")
    return chosen


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: _Budget) -> None:
    """Extract one checked member, counting the bytes actually written."""
    if info.is_dir():
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with zf.open(info) as src, open(target, "xb") as out:
        while chunk := src.read(1 << 20):
            budget.take(len(chunk))
            out.write(chunk)
    target.chmod(0o755 if (info.external_attr >> 16) & stat.S_IXUSR else 0o644)


def _entry_folder(source: Path, root: Path) -> Path:
    if (root / ENTRY_FILE).is_file():
        return root
    inner = [p for p in root.iterdir() if p.name not in _SKIPPED and not p.name.startswith(".")]
    if len(inner) == 1 and inner[0].is_dir() and (inner[0] / ENTRY_FILE).is_file():
        return inner[0]
    raise SubmissionError(f"{source}: no {ENTRY_FILE} at its top level (nor in a single top-level folder)")


def tree_digest(root: str | Path) -> str:
    """SHA-256 over the sorted relative paths and contents of the files under ``root`` (links: name only)."""
    root = Path(root)
    digest = hashlib.sha256()
    for rel, path in walk_files(root):
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def walk_entries(root: str | Path, keep: Callable[[str], bool] | None = None,
                 listing: Callable[[Path, tuple[str, ...]], list[os.DirEntry]] | None = None
                 ) -> Iterator[tuple[tuple[str, ...], os.DirEntry]]:
    """The one walk over a submission's folder: every entry under ``root``, folders included, as
    (its path's parts relative to ``root``, its ``os.DirEntry``).

    Each folder's entries in name order, then its subfolders', depth first;
    iterative, never following a link. ``keep`` filters entries by name (a
    folder it refuses is not entered; default: all but ``__pycache__``,
    ``__MACOSX``, ``.DS_Store``, ``.git``); ``listing(root, parts)`` lists one
    folder, sorted by name (default: ``os.scandir``). A folder is entered
    only after its own entry was handed out, so a caller that raises on it
    stops the walk there.
    """
    root = Path(root)
    keep = keep or _kept_by_default
    listing = listing or _sorted_listing
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        folders = []
        for entry in listing(root, parts):
            if not keep(entry.name):
                continue
            child = parts + (entry.name,)
            yield child, entry
            if entry.is_dir(follow_symlinks=False):
                folders.append(child)
        stack.extend(reversed(folders))


def walk_files(root: str | Path, keep: Callable[[str], bool] | None = None) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, path) of every non-folder `walk_entries` finds under ``root``, in its order."""
    for parts, entry in walk_entries(root, keep):
        if not entry.is_dir(follow_symlinks=False):
            yield "/".join(parts), Path(entry.path)


def _kept_by_default(name: str) -> bool:
    return name not in _SKIPPED


def _sorted_listing(root: Path, parts: tuple[str, ...]) -> list[os.DirEntry]:
    with os.scandir(root.joinpath(*parts)) as entries:
        return sorted(entries, key=lambda e: e.name)
