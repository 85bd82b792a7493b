"""`nemowatch submit --resume`: which unfinished job it takes, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemowatch.cli import main
from nemowatch.config import load
from nemowatch.errors import AmbiguousError, NotFoundError
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage
from nemowatch.status import SUBMIT_DIR, submit_lines
from nemowatch.submit import find_unfinished


def config(tmp_path: Path) -> Path:
    path = tmp_path / "nemowatch.toml"
    folders = {name: tmp_path / name for name in ("inbox", "outbox", "failed", "state")}
    path.write_text("[folders]\n" + "".join(f'{k} = "{v}"\n' for k, v in folders.items()))
    return path


def unfinished(tmp_path: Path, job_id: str, name: str = "clip", stage: str = "uploaded") -> Job:
    folder = JobFolder(tmp_path / "state" / SUBMIT_DIR / job_id)
    folder.path.mkdir(parents=True)
    job = Job(id=job_id, name=name, kind="submit", media=["/x/clip.mp4"], stage=JobStage(stage))
    folder.save(job)
    return job


def test_resume_with_nothing_unfinished_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config(tmp_path)), "submit", "--resume"]) == 2
    assert "no unfinished `submit` job to resume" in capsys.readouterr().err


def test_resume_with_files_or_text_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config(tmp_path)), "submit", "clip.mp4", "--resume"]) == 2
    assert "give no files or text" in capsys.readouterr().err


def test_submit_without_a_file_says_what_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config(tmp_path)), "submit", "-i", "edit"]) == 2
    assert "name the video" in capsys.readouterr().err


def test_the_only_unfinished_job_is_taken_by_id_name_or_alone(tmp_path: Path) -> None:
    settings = load(config(tmp_path), {}).settings
    job = unfinished(tmp_path, "20260101-000000-clip-aaaaaa")
    unfinished(tmp_path, "20260101-000001-old-bbbbbb", name="old", stage="done")
    for wanted in (None, job.id, "clip"):
        assert find_unfinished(settings, wanted).path.name == job.id
    with pytest.raises(NotFoundError):
        find_unfinished(settings, "old")  # finished: nothing to resume
    assert submit_lines(settings.folders.state_dir) == [
        "submit jobs not finished: 1 (nemowatch submit --resume ID)",
        f"  {job.id}: uploaded",
    ]


def test_several_unfinished_jobs_are_listed_to_pick_one(tmp_path: Path) -> None:
    settings = load(config(tmp_path), {}).settings
    first = unfinished(tmp_path, "20260101-000000-clip-aaaaaa")
    second = unfinished(tmp_path, "20260101-000002-clip-cccccc")
    for wanted in (None, "clip"):
        with pytest.raises(AmbiguousError) as raised:
            find_unfinished(settings, wanted)
        assert raised.value.ids == [first.id, second.id]
        assert f"nemowatch submit --resume {second.id}" in str(raised.value)
