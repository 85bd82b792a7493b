"""Whole-or-nothing file writes: `write_atomic` and the journal's `rewrite`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from nemowatch import fsutil
from nemowatch.fsutil import rewrite, write_atomic


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder of its own (tmp_path holds the test's HOME)."""
    path = tmp_path / "folder"
    path.mkdir()
    return path


def test_rewrite_replaces_the_file_and_keeps_the_old_version_as_its_spare(
    folder: Path,
) -> None:
    path = folder / "job.json"
    rewrite(path, b'{"v": 1}')
    assert json.loads(path.read_bytes()) == {"v": 1}
    rewrite(path, b'{"v": 2}')
    rewrite(path, b'{"v": 3}')
    assert json.loads(path.read_bytes()) == {"v": 3}
    spare = folder / ".job.json.spare"
    assert json.loads(spare.read_bytes()) == {"v": 2}
    assert sorted(p.name for p in folder.iterdir()) == [".job.json.spare", "job.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_rewrite_makes_no_new_file_once_both_exist(folder: Path) -> None:
    path = folder / "job.json"
    rewrite(path, b"1")
    rewrite(path, b"2")
    inodes = {path.stat().st_ino, (folder / ".job.json.spare").stat().st_ino}
    for i in range(3, 20):
        rewrite(path, str(i).encode())
        assert path.read_bytes() == str(i).encode()
    assert {path.stat().st_ino, (folder / ".job.json.spare").stat().st_ino} == inodes


def test_rewrite_overwrites_the_spare_in_place_and_cuts_it_to_length(folder: Path) -> None:
    path = folder / "job.json"
    long, short = b'{"answer": "' + b"x" * 3000 + b'"}', b'{"v": 1}'
    for data in (long, long, short, short, long):
        rewrite(path, data)
        assert path.read_bytes() == data  # no tail of a longer version before it
    # the two files are the same two throughout: written over, never made anew
    inodes = {path.stat().st_ino, (folder / ".job.json.spare").stat().st_ino}
    for data in (short, long, short):
        rewrite(path, data)
    assert {path.stat().st_ino, (folder / ".job.json.spare").stat().st_ino} == inodes
    assert (folder / ".job.json.spare").read_bytes() == long


def test_rewrite_where_the_swap_is_unsupported_renames_the_spare(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fsutil, "_renameat2", None)
    path = folder / "job.json"
    rewrite(path, b"1")
    rewrite(path, b"2")
    assert path.read_bytes() == b"2"
    assert [p.name for p in folder.iterdir()] == ["job.json"]


def test_rewrite_into_a_removed_folder_fails_and_makes_nothing(folder: Path) -> None:
    gone = folder / "gone"
    with pytest.raises(FileNotFoundError):
        rewrite(gone / "job.json", b"1")
    assert not gone.exists()


def test_a_reader_that_opened_the_file_reads_one_version_whole(folder: Path) -> None:
    """A reader that opened the file before a rewrite still reads the version it opened
    (its file became the spare, rewritten in place only at the rewrite after)."""
    path = folder / "job.json"
    versions = [json.dumps({"n": n, "pad": "x" * 50_000}).encode() for n in range(10)]
    rewrite(path, versions[0])
    seen = []
    for data in versions[1:]:
        with path.open("rb") as f:
            rewrite(path, data)
            seen.append(json.loads(f.read())["n"])
        assert json.loads(path.read_bytes())["n"] == versions.index(data)
    assert seen == list(range(9))


def test_write_atomic_sets_the_mode_from_the_start(folder: Path) -> None:
    old = os.umask(0)
    try:
        write_atomic(folder / "secret", b"x", mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / "secret").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["secret"]


def test_rename_new_never_replaces_even_an_empty_folder(tmp_path: Path) -> None:
    """`os.rename` would put a folder over an empty one; a result or a failed folder is
    never put over anything."""
    src, dest = tmp_path / ".filling", tmp_path / "clip"
    src.mkdir()
    (src / "error.txt").write_text("why")
    dest.mkdir()
    assert fsutil.rename_new(src, dest) is False
    assert (src / "error.txt").exists() and list(dest.iterdir()) == []
    dest.rmdir()
    assert fsutil.rename_new(src, dest) is True
    assert (dest / "error.txt").read_text() == "why" and not src.exists()
