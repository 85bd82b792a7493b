"""The status board's file: the waiting list, kept encoded while it stays the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nemowatch import status
from nemowatch.board import StatusBoard
from nemowatch.conditions import Conditions
from nemowatch.systemd import Notifier
from nemowatch.watch.rules import Waiting


def waiting_in(state: Path) -> list[dict[str, str]]:
    found: list[dict[str, str]] = json.loads((state / status.STATUS_FILE).read_text())["waiting"]
    return found


async def test_the_waiting_list_is_encoded_once_and_again_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = StatusBoard(tmp_path, Conditions(), Notifier(None), lambda: 0)
    encoded: list[int] = []
    encode = status.encode_waiting

    def counted(rows: list[dict[str, str]]) -> str:
        encoded.append(len(rows))
        return encode(rows)

    monkeypatch.setattr(status, "encode_waiting", counted)
    first = [Waiting(tmp_path / f"notes{i}.txt", "waiting for its video") for i in range(3)]
    board.set_waiting(first)
    for _ in range(3):  # the heartbeat: the same list, written again
        board.write(force=True)
    assert encoded == [3]
    assert waiting_in(tmp_path) == [
        {"path": str(w.path), "reason": "waiting for its video"} for w in first
    ]
    board.set_waiting([*first[:1], Waiting(tmp_path / "clip.mp4", "settling")])
    board.write(force=True)
    assert encoded == [3, 2]
    assert [w["reason"] for w in waiting_in(tmp_path)] == ["waiting for its video", "settling"]
    data = json.loads((tmp_path / status.STATUS_FILE).read_text())
    assert data["pid"] > 0 and data["jobs"] == [] and data["stopped"] is False


async def test_a_token_in_a_waiting_file_name_is_not_written(tmp_path: Path) -> None:
    board = StatusBoard(tmp_path, Conditions(), Notifier(None), lambda: 0)
    token = "nmv_usr_0123456789abcdefABCDEF"  # the shape of a NemoVideo token
    board.set_waiting([Waiting(tmp_path / f"{token}.txt", "waiting for its video")])
    board.write(force=True)
    assert token not in (tmp_path / status.STATUS_FILE).read_text()


async def test_the_status_file_is_rewritten_in_the_same_two_files_and_its_folder_made_again(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    board = StatusBoard(state, Conditions(), Notifier(None), lambda: 0)
    board.write(force=True)  # the folder is missing: made
    board.set_credits(12.0)
    board.write(force=True)
    files = {p.name: p.stat().st_ino for p in state.iterdir()}
    assert sorted(files) == [".status.json.spare", "status.json"]
    for credits in (11.0, 10.0, 9.0):
        board.set_credits(credits)
        board.write(force=True)
    assert {p.name: p.stat().st_ino for p in state.iterdir()}.keys() == files.keys()
    assert set(files.values()) == {p.stat().st_ino for p in state.iterdir()}, "no new file"
    assert json.loads((state / status.STATUS_FILE).read_text())["credits"] == 9.0


def test_a_status_file_read_torn_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader can find the file it opened written over in place (it became the spare):
    the next read opens the name again and gets the whole last version."""
    (tmp_path / status.STATUS_FILE).write_text('{"pid": 7, "credits": 3}')
    torn = ['{"pid": 7, "cre']
    read_text = Path.read_text

    def first_torn(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.name == status.STATUS_FILE and torn:
            return torn.pop()
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", first_torn)
    assert status.read(tmp_path) == {"pid": 7, "credits": 3}
    assert torn == [], "the torn read came first"
