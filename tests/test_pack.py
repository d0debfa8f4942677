"""`pgdl pack`: the clean, reproducible zip, its refusals, and the check it runs first."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run.pack import human_size, pack_submission, submission_files, write_zip
from harness.run import RunConfig
from harness.sandbox import find_bwrap

TESTS = Path(__file__).resolve().parent
MEASURE = "def complexity(model, dataset):\n    return float(len(model.layers))\n"


def make_submission(root: Path) -> Path:
    """complexity.py, a helper package, and the clutter an editor, macOS and Python leave behind."""
    sub = root / "my_measure"
    (sub / "helpers" / "__pycache__").mkdir(parents=True)
    (sub / "complexity.py").write_text(MEASURE)
    (sub / "metadata").write_text("name: layer count\n")
    (sub / "helpers" / "__init__.py").write_text("")
    (sub / "helpers" / "norms.py").write_text("SCALE = 2\n")
    (sub / "helpers" / "__pycache__" / "norms.cpython-311.pyc").write_bytes(b"\0" * 16)
    (sub / "stale.pyc").write_bytes(b"\0" * 16)
    (sub / ".DS_Store").write_bytes(b"\0")
    (sub / ".complexity.py.swp").write_bytes(b"\0")
    (sub / ".git").mkdir()
    (sub / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return sub


def members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return sorted(zf.namelist())


def test_only_the_submission_files_go_into_the_zip(tmp_path: Path) -> None:
    files = [name for name, _ in submission_files(make_submission(tmp_path))]
    assert files == ["complexity.py", "helpers/__init__.py", "helpers/norms.py", "metadata"]


def test_the_zip_has_complexity_py_at_its_root_and_is_named_from_metadata(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sub = make_submission(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = pack_submission(sub, check=False)
    assert result.path == Path("layer_count.zip")
    assert members(tmp_path / "layer_count.zip") == ["complexity.py", "helpers/__init__.py",
                                                     "helpers/norms.py", "metadata"]
    assert result.size == (tmp_path / "layer_count.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "layer_count.zip") as zf:
        assert zf.read("complexity.py").decode() == MEASURE


def test_the_same_files_give_the_same_bytes(tmp_path: Path) -> None:
    sub = make_submission(tmp_path)
    first = pack_submission(sub, tmp_path / "a.zip", check=False)
    os.utime(sub / "complexity.py", (0, 0))  # a new timestamp changes nothing
    second = pack_submission(sub, tmp_path / "b.zip", check=False)
    assert first.path.read_bytes() == second.path.read_bytes()


def test_a_zip_with_one_top_folder_is_repacked_with_complexity_py_at_the_root(tmp_path: Path) -> None:
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr("my_measure/complexity.py", MEASURE)
        zf.writestr("my_measure/__pycache__/complexity.cpython-311.pyc", b"\0")
        zf.writestr("__MACOSX/my_measure/._complexity.py", b"\0")
    result = pack_submission(nested, tmp_path / "clean.zip", check=False)
    assert members(result.path) == ["complexity.py"]


def test_a_folder_without_complexity_py_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty_measure").mkdir()
    (tmp_path / "empty_measure" / "measure.py").write_text(MEASURE)
    with pytest.raises(HarnessError, match=r"empty_measure: no complexity.py at its top level") as info:
        pack_submission(tmp_path / "empty_measure", tmp_path / "out.zip", check=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out.zip").exists()


def test_a_zip_whose_complexity_py_is_buried_deeper_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.zip"
    with zipfile.ZipFile(deep, "w") as zf:
        zf.writestr("a/b/complexity.py", MEASURE)
    with pytest.raises(HarnessError, match=r"deep.zip: no complexity.py at its top level"):
        pack_submission(deep, tmp_path / "out.zip", check=False)


def test_a_zip_with_path_traversal_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("complexity.py", MEASURE)
        zf.writestr("../../etc/cron.d/evil", "* * * * * root true\n")
    with pytest.raises(HarnessError, match=r"evil.zip: member '../../etc/cron.d/evil' points outside"):
        pack_submission(evil, tmp_path / "out.zip", check=False)
    assert not (tmp_path / "out.zip").exists()


def test_a_symlink_out_of_the_submission_is_refused(tmp_path: Path) -> None:
    sub = make_submission(tmp_path)
    (tmp_path / "secret.txt").write_text("not for the zip")
    (sub / "data.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(HarnessError, match=r"'data.txt' is a symbolic link; .*\(copy the file in instead\)"):
        pack_submission(sub, tmp_path / "out.zip", check=False)
    assert not (tmp_path / "out.zip").exists()


def test_a_symlink_inside_the_submission_is_refused_too(tmp_path: Path) -> None:
    # The harness never follows a link of a submission on the host, wherever it points.
    sub = make_submission(tmp_path)
    (sub / "alias.py").symlink_to(sub / "helpers" / "norms.py")
    with pytest.raises(HarnessError, match=r"'alias.py' is a symbolic link"):
        pack_submission(sub, tmp_path / "out.zip", check=False)


def test_the_output_must_be_a_zip(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"out.tar: the output must be a .zip file"):
        pack_submission(make_submission(tmp_path), tmp_path / "out.tar", check=False)


def test_write_zip_stores_a_fixed_timestamp_and_plain_permissions(tmp_path: Path) -> None:
    (tmp_path / "complexity.py").write_text(MEASURE)
    write_zip([("complexity.py", tmp_path / "complexity.py")], tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        (info,) = zf.infolist()
    assert info.date_time == (1980, 1, 1, 0, 0, 0)
    assert info.external_attr >> 16 == 0o100644


@pytest.mark.parametrize("size, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                        (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 3, "3.0 GiB")])
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed")


@pytest.mark.slow
@needs_bwrap
def test_a_failing_check_leaves_no_zip_and_says_why(tmp_path: Path, tiny_split_task) -> None:
    with pytest.raises(HarnessError, match=r"check failed on tiny_task/model_0 \(error: .*SyntaxError"):
        pack_submission(TESTS / "hostile" / "syntax_error", tmp_path / "out.zip", data_root=tiny_split_task.root,
                        config=RunConfig(time_per_model=120.0))
    assert not (tmp_path / "out.zip").exists()


@pytest.mark.slow
@needs_bwrap
def test_pgdl_pack_checks_the_submission_and_shows_the_size_of_the_zip(tmp_path: Path, tiny_split_task) -> None:
    sub = make_submission(tmp_path)
    done = subprocess.run([sys.executable, "-m", "harness.cli", "pack", str(sub), "--out", str(tmp_path / "s.zip"),
                           "--data", str(tiny_split_task.root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    size = (tmp_path / "s.zip").stat().st_size
    assert f"wrote {tmp_path / 's.zip'} (4 file(s), {human_size(size)})" in done.stdout
    assert "check ok: tiny_task/model_0 gave 2 " in done.stdout  # depth 1: a hidden and an output layer
