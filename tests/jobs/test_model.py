"""The journal's stages: legal moves only; a lost session starts over."""

from __future__ import annotations

import pytest

from nemowatch.errors import IllegalTransitionError
from nemowatch.jobs.model import Job, JobStage, Turn, TurnState, new_job_id


def job() -> Job:
    return Job(id="j", name="n", kind="pair", media=["n.mp4"], turns=[Turn(text="a")])


def test_stages_move_forward_one_by_one() -> None:
    j = job()
    for stage in ("session", "uploaded", "edited", "rendering", "downloading", "delivered"):
        j.move_to(JobStage(stage))
        assert stage in j.reached
    j.move_to(JobStage.DONE)


def test_an_illegal_transition_raises() -> None:
    j = job()
    with pytest.raises(IllegalTransitionError):
        j.move_to(JobStage.RENDERING)


def test_any_stage_may_fail() -> None:
    j = job()
    j.move_to(JobStage.FAILED)
    assert j.stage is JobStage.FAILED


def test_a_lost_session_resets_turns_and_ids() -> None:
    j = job()
    j.move_to(JobStage.SESSION)
    j.session_id = "s"
    j.move_to(JobStage.UPLOADED)
    j.turns[0].move_to(TurnState.SENT)
    j.turns[0].move_to(TurnState.ANSWERED)
    j.restart_session()
    assert (j.stage, j.session_id, j.sessions_lost) == (JobStage.CLAIMED, None, 1)
    assert j.turns[0].state == "pending" and j.turns[0].text == "a"
    with pytest.raises(IllegalTransitionError):
        j.restart_session()  # nothing to restart from `claimed`


def test_next_turn_is_the_first_not_answered() -> None:
    j = job()
    j.turns.append(Turn(text="b"))
    j.turns[0].move_to(TurnState.SENT)
    j.turns[0].move_to(TurnState.ANSWERED)
    assert j.next_turn == 1
    j.turns[1].move_to(TurnState.SENT)
    assert j.next_turn == 1


def test_job_ids_sort_by_time_and_are_safe_names() -> None:
    a, b = new_job_id("my clip/../x", 1_000_000), new_job_id("z", 2_000_000)
    assert a < b
    assert "/" not in a and " " not in a


def test_turn_states_move_by_their_table() -> None:
    turn = Turn(text="a")
    with pytest.raises(IllegalTransitionError):
        turn.move_to(TurnState.ANSWERED)  # never answered without being sent
    turn.move_to(TurnState.SENT)
    turn.move_to(TurnState.PENDING)  # refused before any work: not charged, may go again
    turn.move_to(TurnState.SENT)
    turn.move_to(TurnState.ANSWERED)
    with pytest.raises(IllegalTransitionError):
        turn.move_to(TurnState.SENT)  # an answered turn is never sent again
