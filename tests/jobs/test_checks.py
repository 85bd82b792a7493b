"""What is checked before anything is uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemowatch.config import JobSettings
from nemowatch.errors import InputError
from nemowatch.jobs.checks import check_media, read_instructions, split_turns


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_turns_are_split_on_a_line_of_three_dashes() -> None:
    text = "Make a rough cut\n\n---\nAdd music\n  ---  \nAdd a title\n"
    assert split_turns(text) == ["Make a rough cut", "Add music", "Add a title"]
    assert split_turns("a --- b\n") == ["a --- b"], "dashes inside a line are text"


def test_only_separators_is_an_error() -> None:
    with pytest.raises(InputError, match="only separator lines"):
        split_turns("---\n---\n")


def test_instructions_with_a_bom_are_read_without_it(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "\ufeffAdd a title".encode())
    assert read_instructions(path) == "Add a title"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "is empty"),
        (b"  \n\t\n", "is empty"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"x" * (64 * 1024 + 1), "over 64 KB"),
    ],
    ids=["empty", "blank", "not-utf-8", "too-long"],  # short: an id is in each test's env
)
def test_bad_instructions_fail_with_their_own_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(InputError, match=reason) as caught:
        read_instructions(write(tmp_path / "job.txt", data))
    assert "job.txt" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("clip.xyz", b"x", "does not accept"),
        ("clip.mp4", b"", "empty"),
        ("clip.mp4", b"x" * 2_000_000, "over the 1 MB limit"),
    ],
    ids=["kind", "empty", "too-big"],
)
def test_bad_media_fail_before_upload(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        check_media([write(tmp_path / name, data)], JobSettings(max_file_mb=1))


def test_good_media_pass(tmp_path: Path) -> None:
    check_media([write(tmp_path / "a.MP4", b"x"), write(tmp_path / "b.mp3", b"y")], JobSettings())


def test_local_errors_name_the_file_as_the_person_knows_it_and_one_thing_to_do() -> None:
    import errno

    from nemowatch.jobs.policy import explain

    work = "/in/.nemowatch/20261206-x/files/clip.mp4"
    denied = PermissionError(errno.EACCES, "Permission denied", work)
    sentence, advice = explain(denied, "/in/clip.mp4")
    assert sentence == "nemowatch is not allowed to read or write /in/clip.mp4 (permission denied)."
    assert ".nemowatch" not in sentence + advice and "retry NAME" in advice
    long = OSError(errno.ENAMETOOLONG, "File name too long", work)
    assert "too long" in explain(long, "/in/clip.mp4")[0]
    assert "Rename it shorter" in explain(long, "/in/clip.mp4")[1]
    full = OSError(errno.ENOSPC, "No space left on device", "/out/x.mp4")
    assert explain(full)[0] == "The disk holding /out/x.mp4 is full."
