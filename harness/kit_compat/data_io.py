"""The 2020 kit's ``data_io``: the small file and printing helpers its ingestion program used."""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import sys
from typing import Any, Iterable


def vprint(mode: bool, text: Any) -> None:
    """Print ``text`` when ``mode`` (verbose) is true."""
    if mode:
        print(text)


def swrite(*args: Any) -> None:
    """Write to stderr."""
    sys.stderr.write(" ".join(str(a) for a in args))


def write_list(items: Iterable[Any]) -> None:
    """Print one item per line."""
    for item in items:
        print(item)


def print_dict(d: dict[str, Any]) -> None:
    for key, value in d.items():
        print(f"{key} = {value}")


def ls(pattern: str) -> list[str]:
    """Paths matching a glob ``pattern``, sorted."""
    return sorted(glob.glob(pattern))


def pwd() -> str:
    return os.getcwd()


def mkdir(path: str) -> None:
    """Create ``path`` (and parents) if missing."""
    os.makedirs(path, exist_ok=True)


def mvdir(source: str, dest: str) -> None:
    """Rename ``source`` to ``dest`` if ``source`` exists."""
    if os.path.exists(source):
        shutil.move(source, dest)


def rmdir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def save_json(filename: str, obj: Any) -> None:
    with open(filename, "w") as fh:
        json.dump(obj, fh)


def load_json(filename: str) -> Any:
    with open(filename) as fh:
        return json.load(fh)


def list_files(startpath: str) -> None:
    """Print the tree under ``startpath``."""
    for root, _dirs, files in os.walk(startpath):
        depth = root[len(startpath):].count(os.sep)
        print(f"{'    ' * depth}{os.path.basename(root)}/")
        for name in files:
            print(f"{'    ' * (depth + 1)}{name}")


def show_dir(run_dir: str) -> None:
    print("\n=== Listing run dir ===")
    for depth in range(5):
        write_list(ls(os.path.join(run_dir, *["*"] * depth)))


def show_io(input_dir: str, output_dir: str) -> None:
    swrite("\n=== DIRECTORIES ===\n\n")
    swrite(f"-- Current directory {pwd()}:\n")
    write_list(ls("./*"))
    swrite(f"\n-- Input directory {input_dir}:\n")
    write_list(ls(os.path.join(input_dir, "*")))
    swrite(f"\n-- Output directory {output_dir}:\n")
    write_list(ls(os.path.join(output_dir, "*")))


def show_version() -> None:
    swrite(f"\n=== VERSIONS ===\n\nPython: {sys.version}\nPlatform: {platform.platform()}\n")
