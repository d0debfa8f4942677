"""``pgdl init NAME``: a template submission to start from.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "my_measure"
    >>> [p.name for p in write_template(folder)]
    ['complexity.py', 'metadata']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from harness.errors import HarnessError
from harness.submission.package import ENTRY_FILE

METADATA = "metadata"


def template_text(name: str) -> str:
    """The commented ``complexity.py`` of a new submission called ``name``."""
    text = resources.files("harness").joinpath("templates", "complexity.py.txt").read_text(encoding="utf-8")
    return text.replace("{name}", name)


def write_template(folder: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write ``folder/complexity.py`` (`template_text`) and ``folder/metadata``; the paths written.

    Raises `HarnessError` when ``folder`` is a file, or already holds a
    ``complexity.py`` and ``overwrite`` is false.
    """
    folder = Path(folder)
    entry = folder / ENTRY_FILE
    if folder.exists() and not folder.is_dir():
        raise HarnessError(f"{folder}: a file is in the way (the submission is a folder)")
    if entry.exists() and not overwrite:
        raise HarnessError(f"{entry}: already exists (pass overwrite=True to overwrite it)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entry.write_text(template_text(folder.resolve().name), encoding="utf-8")
        written = [entry]
        meta = folder / METADATA
        if overwrite or not meta.exists():
            meta.write_text(f"name: {folder.resolve().name}\ndescription: minus the mean training margin "
                            f"(the pgdl init template)\n", encoding="utf-8")
            written.append(meta)
    except OSError as exc:
        raise HarnessError(f"{folder}: cannot write the template ({exc.strerror or exc})") from None
    return written
