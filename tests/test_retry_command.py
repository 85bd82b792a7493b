"""`nemowatch retry`, in process: real folders, journals written with the real models.

A plain retry never pays again: a job that sent a turn keeps its session and
its turns; only a job that never sent one starts over from its files. Paying
again (`--resend`, `--start-over`) says what it costs and needs a yes. A name
that is not a folder directly inside the failed folder touches nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nemowatch.config import FolderSettings, Settings
from nemowatch.errors import InputError, UsageError
from nemowatch.jobs.claim import resumable
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Failure, Job, JobStage, Turn, TurnState
from nemowatch.retry import Mode, retry

NOTE = "Trim the silences\n---\nAdd a title saying Hello"
SESSION = "ses_kept"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The user's folders, with a file of theirs beside them that nothing may touch."""
    base = tmp_path / "nw"
    for name in ("inbox", "outbox", "failed"):
        (base / name).mkdir(parents=True)
    (base / "precious.txt").write_text("the user's own file")
    return base


@pytest.fixture
def settings(root: Path) -> Settings:
    return Settings(
        folders=FolderSettings(
            inbox=root / "inbox",
            outbox=root / "outbox",
            failed=root / "failed",
            state=root / "state",
        )
    )


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: a file's text, a link's target, or "/" for a folder."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[key] = "/"
        else:
            found[key] = path.read_text(errors="replace")
    return found


def turns(*states: TurnState) -> list[Turn]:
    texts = ["Trim the silences", "Add a title saying Hello", "Make it black and white"]
    return [
        Turn(
            text=text,
            state=state,
            fingerprint_before="fp" if state is not TurnState.PENDING else None,
        )
        for text, state in zip(texts, states, strict=False)
    ]


def failed_job(
    folder: Path,
    name: str = "clip",
    *,
    at: JobStage = JobStage.UPLOADED,
    states: tuple[TurnState, ...] = (TurnState.SENT, TurnState.PENDING),
    code: int | None = None,
    note: str = NOTE,
) -> Path:
    """A failed job's folder as the daemon leaves it: originals, error.txt, job.log, job.json."""
    path = folder / name
    path.mkdir(parents=True)
    (path / f"{name}.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom video")
    (path / f"{name}.txt").write_text(note)
    (path / "error.txt").write_text("The editor did not apply the instructions.\n")
    (path / "job.log").write_text("2026-01-01 00:00:00 ERROR   failed\n")
    job = Job(
        id=f"20260101-000000-{name}-abcdef",
        name=name,
        kind="pair",
        media=[f"{name}.mp4"],
        instructions_file=f"{name}.txt",
        stage=JobStage.FAILED,
        turns=turns(*states),
        session_id=SESSION if at is not JobStage.CLAIMED else None,
        task_id="task_kept" if at is not JobStage.CLAIMED else None,
        render_id="render_old" if at in (JobStage.RENDERING, JobStage.DOWNLOADING) else None,
        render_attempts=2 if at is JobStage.RENDERING else 0,
        held="network",
        failure=Failure(message="it failed", stage=at.value, code=code, advice="retry"),
    )
    JobFolder(path).save(job)
    return path


def put_back(settings: Settings) -> tuple[JobFolder, Job]:
    """The one job folder in the work folder, and its journal."""
    (folder,) = resumable(settings.folders.work_dir, set())  # what the daemon adopts
    return folder, folder.load()


# -- names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["..", "", ".", "a/b", "clip/..", "clip\0", "missing"])
def test_a_name_that_is_not_a_failed_jobs_folder_is_refused_and_nothing_moves(
    settings: Settings, root: Path, name: str
) -> None:
    failed_job(settings.folders.failed)
    failed_job(settings.folders.failed / "a")  # `a/b` would name a real job folder
    before = tree(root)
    with pytest.raises(UsageError):
        retry(settings, name)
    assert tree(root) == before


def test_an_absolute_path_is_refused_even_to_a_job_folder(settings: Settings, root: Path) -> None:
    elsewhere = failed_job(root / "elsewhere")
    before = tree(root)
    with pytest.raises(UsageError, match="not a path"):
        retry(settings, str(elsewhere))
    assert tree(root) == before


def test_a_link_in_the_failed_folder_to_a_folder_outside_is_refused(
    settings: Settings, root: Path
) -> None:
    outside = failed_job(root / "outside")
    (settings.folders.failed / "clip").symlink_to(outside, target_is_directory=True)
    before = tree(root)
    with pytest.raises(UsageError, match="is a link"):
        retry(settings, "clip")
    assert tree(root) == before


def test_a_file_in_the_failed_folder_is_not_a_job(settings: Settings, root: Path) -> None:
    (settings.folders.failed / "clip.txt").write_text("not a job")
    before = tree(root)
    with pytest.raises(UsageError, match="no failed job 'clip.txt'"):
        retry(settings, "clip.txt")
    assert tree(root) == before


# -- plain retry: never pays again ---------------------------------------------------


def test_a_job_with_a_sent_turn_keeps_its_session_and_the_turn_stays_sent(
    settings: Settings,
) -> None:
    failed_job(settings.folders.failed, states=(TurnState.SENT, TurnState.PENDING))

    said = retry(settings, "clip")

    assert said is not None
    assert "resumes at turn 1 of 2 in its session" in said, said
    assert "not sent again" in said and "nothing already paid is paid again" in said, said
    folder, job = put_back(settings)
    assert job.stage is JobStage.UPLOADED
    assert job.session_id == SESSION and job.task_id == "task_kept"
    assert [t.state for t in job.turns] == [TurnState.SENT, TurnState.PENDING]
    assert job.turns[0].fingerprint_before == "fp", "what recovery compares the project with"
    assert job.failure is None and job.held is None
    assert sorted(p.name for p in folder.files.iterdir()) == ["clip.mp4", "clip.txt"]
    log = folder.log_file.read_text()
    assert log.startswith("2026-01-01 00:00:00 ERROR   failed\n")
    assert "put back in line by `nemowatch retry`" in log
    assert not (settings.folders.failed / "clip").exists()


def test_a_job_with_answered_turns_resumes_at_the_next_turn(settings: Settings) -> None:
    failed_job(settings.folders.failed, states=(TurnState.ANSWERED, TurnState.PENDING))
    said = retry(settings, "clip")
    assert said is not None and "resumes at turn 2 of 2 in its session" in said, said
    _, job = put_back(settings)
    assert job.stage is JobStage.UPLOADED and job.session_id == SESSION
    assert [t.state for t in job.turns] == [TurnState.ANSWERED, TurnState.PENDING]


def test_a_job_that_never_sent_a_turn_starts_over_from_the_files_now_there(
    settings: Settings,
) -> None:
    path = failed_job(settings.folders.failed, states=(TurnState.PENDING,))
    (path / "clip.txt").write_text("Add a title saying Hello")  # fixed by the user

    said = retry(settings, "clip")

    assert said is not None and "starts over from the files" in said, said
    assert "nothing is paid twice" in said, said
    folder, job = put_back(settings)
    assert job.stage is JobStage.CLAIMED
    assert job.session_id is None and job.turns == [], "the instructions are read afresh"
    assert job.instructions_file == "clip.txt" and job.media == ["clip.mp4"]
    assert job.problem is None and job.failure is None
    assert (folder.files / "clip.txt").read_text() == "Add a title saying Hello"


def test_a_folder_without_a_journal_starts_over(settings: Settings) -> None:
    path = failed_job(settings.folders.failed, name="handmade")
    (path / "job.json").unlink()
    said = retry(settings, "handmade")
    assert said is not None and "starts over" in said
    _, job = put_back(settings)
    assert job.name == "handmade" and job.stage is JobStage.CLAIMED


@pytest.mark.parametrize("at", [JobStage.EDITED, JobStage.RENDERING, JobStage.DOWNLOADING])
def test_a_failure_after_the_paid_edit_resumes_at_export_in_its_session(
    settings: Settings, at: JobStage
) -> None:
    failed_job(settings.folders.failed, at=at, states=(TurnState.ANSWERED, TurnState.ANSWERED))

    said = retry(settings, "clip")

    assert said is not None and "resumes at export in its session" in said, said
    _, job = put_back(settings)
    assert job.stage is JobStage.EDITED and job.session_id == SESSION
    assert job.render_id is None and job.render_attempts == 0 and not job.render_submitted
    assert all(t.state is TurnState.ANSWERED for t in job.turns)


def test_a_lost_session_after_a_sent_turn_is_not_resumed_but_points_to_start_over(
    settings: Settings, root: Path
) -> None:
    failed_job(settings.folders.failed, at=JobStage.EDITED, code=1002, states=(TurnState.ANSWERED,))
    before = tree(root)
    with pytest.raises(UsageError, match="--start-over"):
        retry(settings, "clip")
    assert tree(root) == before


def test_an_unreadable_journal_is_not_guessed_at(settings: Settings, root: Path) -> None:
    (failed_job(settings.folders.failed) / "job.json").write_text("{not json")
    before = tree(root)
    with pytest.raises(InputError, match="--start-over"):
        retry(settings, "clip")
    assert tree(root) == before


# -- paying again, only when asked --------------------------------------------------


class Answer:
    """A `confirm` that records the cost lines it was shown."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes
        self.shown: list[str] = []

    def __call__(self, cost: str) -> bool:
        self.shown.append(cost)
        return self.yes


def test_resend_sets_the_sent_turn_pending_in_the_same_session(settings: Settings) -> None:
    failed_job(settings.folders.failed, states=(TurnState.ANSWERED, TurnState.SENT))
    answer = Answer(yes=True)

    said = retry(settings, "clip", Mode.RESEND, answer)

    assert answer.shown == [
        "clip: --resend sends turn 2 of 2 once more: 1 turn will be sent, about 50 credits."
    ]
    assert said is not None and "sends turn 2 of 2 once more" in said, said
    _, job = put_back(settings)
    assert job.stage is JobStage.UPLOADED and job.session_id == SESSION
    assert [t.state for t in job.turns] == [TurnState.ANSWERED, TurnState.PENDING]
    assert job.turns[1].fingerprint_before is None


def test_resend_counts_the_turns_not_sent_yet_too(settings: Settings) -> None:
    states = (TurnState.SENT, TurnState.PENDING, TurnState.PENDING)
    failed_job(settings.folders.failed, states=states)
    answer = Answer(yes=True)
    retry(settings, "clip", Mode.RESEND, answer)
    assert answer.shown == [
        "clip: --resend sends turn 1 of 3 once more: 3 turns will be sent, about 150 credits."
    ]


@pytest.mark.parametrize("mode", [Mode.RESEND, Mode.START_OVER])
def test_paying_again_without_a_yes_changes_nothing(
    settings: Settings, root: Path, mode: Mode
) -> None:
    failed_job(settings.folders.failed)
    before = tree(root)
    answer = Answer(yes=False)
    assert retry(settings, "clip", mode, answer) is None
    assert len(answer.shown) == 1
    assert retry(settings, "clip", mode) is None, "no confirm given: never pays"
    assert tree(root) == before


@pytest.mark.parametrize("states", [(TurnState.PENDING,), (TurnState.ANSWERED, TurnState.ANSWERED)])
def test_resend_without_a_sent_turn_has_nothing_to_resend(
    settings: Settings, root: Path, states: tuple[TurnState, ...]
) -> None:
    at = JobStage.UPLOADED if TurnState.PENDING in states else JobStage.RENDERING
    failed_job(settings.folders.failed, at=at, states=states)
    before = tree(root)
    answer = Answer(yes=True)
    with pytest.raises(UsageError, match="nothing to resend"):
        retry(settings, "clip", Mode.RESEND, answer)
    assert answer.shown == [], "asked nothing"
    assert tree(root) == before


def test_start_over_gives_a_fresh_journal_and_counts_every_turn(settings: Settings) -> None:
    failed_job(settings.folders.failed, at=JobStage.RENDERING, states=(TurnState.ANSWERED,) * 2)
    answer = Answer(yes=True)

    said = retry(settings, "clip", Mode.START_OVER, answer)

    assert answer.shown == [
        "clip: --start-over starts a new session and sends every turn again: "
        "2 turns will be sent, about 100 credits."
    ]
    assert said is not None and "starts over in a new session" in said, said
    _, job = put_back(settings)
    assert job.stage is JobStage.CLAIMED and job.turns == []
    assert job.session_id is None and job.render_id is None and job.failure is None


def test_start_over_with_broken_instructions_asks_for_a_fix_first(
    settings: Settings, root: Path
) -> None:
    failed_job(settings.folders.failed, note="  \n")
    before = tree(root)
    answer = Answer(yes=True)
    with pytest.raises(InputError, match="clip.txt is empty"):
        retry(settings, "clip", Mode.START_OVER, answer)
    assert answer.shown == [] and tree(root) == before


def test_start_over_works_with_an_unreadable_journal(settings: Settings) -> None:
    (failed_job(settings.folders.failed) / "job.json").write_text("{not json")
    said = retry(settings, "clip", Mode.START_OVER, Answer(yes=True))
    assert said is not None
    _, job = put_back(settings)
    assert job.stage is JobStage.CLAIMED and job.name == "clip"
