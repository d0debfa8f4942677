"""Hostile submissions as shipped: folders and zips that must be refused with one line, never crash.

Every problem with what a participant hands in is a `SubmissionError` (one line, naming the
submission), whatever it holds: links (to over-long names, to paths the harness may not stat),
special files, folder chains thousands deep, broken or lying zips, names that are not UTF-8,
a file and a folder of the same name, zip bombs. Nothing is followed on the host.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from harness.run.scratch import remove_tree
from harness.submission import IntakeLimits, SubmissionError, open_submission, safe_unzip

GOOD = "def complexity(model, dataset):\n    return 1.0\n"


def folder(tmp_path: Path) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "complexity.py").write_text(GOOD)
    return sub


def refused(path: Path, scratch: Path, limits: IntakeLimits = IntakeLimits()) -> str:
    with pytest.raises(SubmissionError) as info:
        open_submission(path, scratch, limits)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_clean_folder_is_copied_with_its_files_and_subfolders(tmp_path):
    sub = folder(tmp_path)
    (sub / "lib").mkdir()
    (sub / "lib" / "helper.py").write_text("X = 1\n")
    opened = open_submission(sub, tmp_path / "scratch")
    assert opened.root != sub and (opened.root / "lib" / "helper.py").read_text() == "X = 1\n"


def test_a_symlink_to_an_over_long_name_is_refused_without_following_it(tmp_path):
    sub = folder(tmp_path)
    os.symlink("/".join(["x" * 250] * 16), sub / "long")  # 4,000 bytes: longer than any name
    assert "is a symbolic link" in refused(sub, tmp_path / "scratch")


def test_a_symlink_outside_the_folder_is_refused_and_its_target_untouched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    sub = folder(tmp_path)
    os.symlink(secret, sub / "data.txt")
    refused(sub, tmp_path / "scratch")
    assert secret.read_text() == "host file" and not (tmp_path / "scratch" / "submission" / "data.txt").exists()


def test_a_symlink_into_a_folder_the_harness_may_not_stat_is_refused(tmp_path):
    sub = folder(tmp_path)
    os.symlink("/proc/1/root/etc/shadow", sub / "shadow")
    os.symlink("/root/nowhere/at/all", sub / "nowhere")
    assert "is a symbolic link" in refused(sub, tmp_path / "scratch")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    sub = folder(tmp_path)
    os.mkfifo(sub / "pipe")
    assert "is a special file" in refused(sub, tmp_path / "scratch")


def test_a_folder_chain_5000_deep_is_refused_without_recursion(tmp_path):
    sub = folder(tmp_path)
    fd = os.open(sub, os.O_RDONLY)
    for _ in range(5000):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    try:
        assert "nested more than 32 folders deep" in refused(sub, tmp_path / "scratch")
    finally:
        remove_tree(sub / "d")  # pytest's own clean-up of old temporary folders recurses and would fail on it


def test_a_folder_over_the_size_limit_is_refused(tmp_path):
    sub = folder(tmp_path)
    (sub / "weights.bin").write_bytes(b"\0" * 5000)
    assert "holds more than 4096 bytes" in refused(sub, tmp_path / "scratch", IntakeLimits(max_bytes=4096))


def test_a_name_that_is_not_utf8_is_refused(tmp_path):
    sub = folder(tmp_path)
    with open(os.path.join(os.fsencode(sub), b"bad-\xff.py"), "w") as fh:
        fh.write("")
    assert "is not UTF-8" in refused(sub, tmp_path / "scratch")


def test_an_unreadable_folder_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    sub = folder(tmp_path)
    (sub / "closed").mkdir(mode=0)
    try:
        assert "cannot read" in refused(sub, tmp_path / "scratch")
    finally:
        (sub / "closed").chmod(0o755)


# --- zips ----------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_zip_with_a_corrupt_deflate_stream_is_refused(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"complexity.py": GOOD.encode() * 50})
    data = bytearray(archive.read_bytes())
    start = 30 + len("complexity.py")  # the first member's data follows its local header
    data[start:start + 20] = b"\xff" * 20
    archive.write_bytes(bytes(data))
    assert "cannot unpack" in refused(archive, tmp_path / "scratch")


def test_a_zip_with_a_file_and_a_folder_of_the_same_name_is_refused(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"complexity.py": GOOD.encode(), "lib": b"x", "lib/a.py": b""})
    assert "'lib' is both a file and a folder" in refused(archive, tmp_path / "scratch")


def test_a_zip_naming_a_file_twice_is_refused(tmp_path):
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("complexity.py", GOOD)
        with pytest.warns(UserWarning):
            zf.writestr("complexity.py", "import os\n")
    assert "appears twice" in refused(archive, tmp_path / "scratch")


def test_a_zip_member_with_an_over_long_name_is_refused(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"complexity.py": GOOD.encode(), "a" * 300 + ".py": b""})
    assert "longer than 255 bytes" in refused(archive, tmp_path / "scratch")


def test_a_zip_member_with_an_over_long_path_is_refused(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"complexity.py": GOOD.encode(), "/".join(["d" * 200] * 6) + "/x": b""})
    assert "longer than 1024 bytes" in refused(archive, tmp_path / "scratch")


def test_a_zip_with_bad_utf8_under_the_utf8_flag_is_refused(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"complexity.py": GOOD.encode(), "bad-xx.py": b""})
    data = archive.read_bytes().replace(b"bad-xx.py", b"bad-\xff\xfe.py")
    archive.write_bytes(data.replace(b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x00\x08")
                        .replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x00\x08"))
    assert "cannot unpack" in refused(archive, tmp_path / "scratch")


def test_a_zip_bomb_is_refused_by_its_declared_size_before_writing(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"complexity.py": GOOD.encode(), "zeros": b"\0" * (64 << 20)})
    assert archive.stat().st_size < 1 << 20
    message = refused(archive, tmp_path / "scratch", IntakeLimits(max_bytes=16 << 20))
    assert "unpacks to 64 MiB, more than the 16 MiB limit" in message
    assert not (tmp_path / "scratch" / "submission").exists()


def test_a_zip_bomb_that_lies_about_its_size_is_stopped_at_the_limit(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", {"complexity.py": GOOD.encode(), "zeros": b"\0" * (8 << 20)})
    data = bytearray(archive.read_bytes())
    # Declare 100 bytes for 'zeros' in both its local and central headers (uncompressed size field).
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = -1
        while (at := data.find(signature, at + 1)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + 5] == b"zeros":
                data[at + offset:at + offset + 4] = struct.pack("<I", 100)
    archive.write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match="more than 1 MiB|cannot unpack") as info:
        safe_unzip(archive, tmp_path / "out", limits=IntakeLimits(max_bytes=1 << 20))
    assert "\n" not in str(info.value)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 1 << 20


def test_the_default_zip_limit_is_far_below_4_gib():
    assert IntakeLimits().max_bytes <= 1 << 30


def test_a_garbage_file_named_zip_is_refused(tmp_path):
    archive = tmp_path / "s.zip"
    archive.write_bytes(b"PK\x05\x06" + os.urandom(200))
    refused(archive, tmp_path / "scratch")


def test_a_stored_member_with_a_wrong_crc_is_refused(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"complexity.py": GOOD.encode()}, compression=zipfile.ZIP_STORED)
    data = archive.read_bytes().replace(b"return 1.0", b"return 2.0")
    archive.write_bytes(data)
    assert zlib.crc32(GOOD.encode()) != zlib.crc32(GOOD.replace("1.0", "2.0").encode())
    assert "cannot unpack" in refused(archive, tmp_path / "scratch")
