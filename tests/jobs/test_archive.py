"""Putting the originals away: one rename of the folder where it can be, file by file where not."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from nemowatch.jobs.results import move_all, move_folder


def folder_of(root: Path, *names: str) -> Path:
    root.mkdir(parents=True)
    for name in names:
        (root / name).write_text(name)
    return root


def test_the_folder_is_renamed_whole(tmp_path: Path) -> None:
    src = folder_of(tmp_path / "job" / "files", "clip.mp4", "clip.txt")
    inode = src.stat().st_ino
    dest = tmp_path / "outbox" / "originals" / "job"
    assert move_folder(src, dest)
    assert not src.exists()
    assert sorted(p.name for p in dest.iterdir()) == ["clip.mp4", "clip.txt"]
    assert dest.stat().st_ino == inode, "renamed, not copied"


def test_an_empty_target_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    src = folder_of(tmp_path / "files", "clip.mp4")
    dest = tmp_path / "originals" / "job"
    dest.mkdir(parents=True)
    assert move_folder(src, dest)
    assert [p.name for p in dest.iterdir()] == ["clip.mp4"]


def test_a_target_with_files_in_it_is_left_to_the_file_by_file_move(tmp_path: Path) -> None:
    src = folder_of(tmp_path / "files", "clip.txt")
    dest = folder_of(tmp_path / "originals" / "job", "clip.mp4")  # moved before a crash
    assert not move_folder(src, dest)
    move_all(sorted(src.iterdir()), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["clip.mp4", "clip.txt"]


def test_another_filesystem_is_left_to_the_file_by_file_move(tmp_path: Path) -> None:
    if not Path("/dev/shm").is_dir() or Path("/dev/shm").stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem at /dev/shm here")
    src = folder_of(tmp_path / "files", "clip.mp4")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        dest = Path(other) / "originals" / "job"
        assert not move_folder(src, dest)
        move_all(sorted(src.iterdir()), dest)
        assert [p.name for p in dest.iterdir()] == ["clip.mp4"]
    assert src.is_dir()  # emptied by the moves; the job folder goes with the job
