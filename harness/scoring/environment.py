"""What produced a set of scores: the versions of Python, TensorFlow, Keras, numpy and the harness.

`environment` reads package versions from their installed metadata
(`importlib.metadata`), so the scoring process never imports TensorFlow, and
the harness's git commit from the checkout it runs from, where there is one.

    >>> sorted(environment())
    ['harness', 'keras', 'numpy', 'platform', 'python', 'tensorflow', 'tf_keras']
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from harness import __version__

#: Distributions that provide ``import tensorflow``, in the order they are looked for.
_TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos",
                             "tf-nightly", "tf-nightly-cpu")
_PACKAGE_DIR = Path(__file__).resolve().parent


def environment() -> dict[str, Any]:
    """``{python, tensorflow, keras, tf_keras, numpy, harness: {version, commit}, platform}``; a package that is
    not installed has version None, and ``commit`` is None outside a git checkout."""
    return {
        "python": platform.python_version(),
        "tensorflow": _first_version(_TENSORFLOW_DISTRIBUTIONS),
        "keras": _first_version(("keras",)),
        "tf_keras": _first_version(("tf_keras", "tf-keras")),
        "numpy": _first_version(("numpy",)),
        "harness": {"version": __version__, "commit": git_commit()},
        "platform": platform.platform(),
    }


def _first_version(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def git_commit() -> str | None:
    """The commit of the git checkout the harness package runs from (``+dirty`` when tracked files
    differ from it); None for an installed copy, or where git is absent."""
    try:
        top = _git("rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() != _PACKAGE_DIR.parent:
            return None  # the package sits inside some other repository, or none
        commit = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if commit is None:
        return None
    return commit + ("+dirty" if dirty else "")


def _git(*args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(_PACKAGE_DIR), *args], capture_output=True, text=True, timeout=10)
    return done.stdout.strip() if done.returncode == 0 else None
