"""The journal carries a version; an older journal is migrated, a newer one left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemowatch.errors import InputError
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import JOURNAL_VERSION, JobStage, TurnState

#: a journal as nemowatch wrote it before `version` existed, mid-job (turn 1 sent)
V0_JOURNAL = {
    "id": "20261122-011300-holiday-3f9a",
    "name": "holiday",
    "kind": "pair",
    "media": ["holiday.mp4"],
    "instructions_file": "holiday.txt",
    "origins": {"holiday.mp4": "/in/holiday.mp4", "holiday.txt": "/in/holiday.txt"},
    "stage": "uploaded",
    "turns": [{"text": "trim", "state": "sent", "fingerprint_before": "abc"}],
    "task_id": "t1",
    "session_id": "s1",
    "created_at": 1795000000.0,
    "reached": {"session": 1795000001.0, "uploaded": 1795000002.0},
}


def test_a_journal_without_a_version_resumes_where_it_stood(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path / V0_JOURNAL["id"])
    folder.path.mkdir()
    folder.journal.write_text(json.dumps(V0_JOURNAL))
    job = folder.load()
    assert job.version == JOURNAL_VERSION
    assert job.stage is JobStage.UPLOADED and job.session_id == "s1"
    assert job.turns[0].state is TurnState.SENT, "a sent turn stays sent: never paid twice"
    folder.save(job)
    assert json.loads(folder.journal.read_text())["version"] == JOURNAL_VERSION


def test_a_journal_from_a_newer_nemowatch_is_refused_and_left_untouched(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path / "job")
    folder.path.mkdir()
    newer = json.dumps({**V0_JOURNAL, "version": JOURNAL_VERSION + 1})
    folder.journal.write_text(newer)
    with pytest.raises(InputError, match="upgrade nemowatch"):
        folder.load()
    assert folder.journal.read_text() == newer
