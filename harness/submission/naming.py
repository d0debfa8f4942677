"""A submission's names: its display name (``name:`` in its ``metadata`` file, else the folder or zip's),
a ``key: value`` field of that file, and the folder name a result is kept under.

Reads at most 64 KiB of ``metadata``, never follows a link and never fails on a
broken or hostile zip (opening the submission itself says what is wrong).
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

from harness.submission.package import default_name
from harness.submission.template import METADATA


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
