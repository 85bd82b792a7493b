"""The draft: the human summary, readiness for export, and the state fingerprint."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import respx
from apifakes import envelope

from nemowatch.api import Draft, NemoClient, SessionState

DOCUMENTED_SUMMARY = (
    "Timeline (3 tracks): 1. Video: city timelapse (0-10s) "
    '2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)'
)


def documented_draft() -> dict[str, Any]:
    return {
        "t": [
            {"tt": 0, "sg": [{"s": 0, "d": 10000, "m": {"name": "city timelapse"}}]},
            {
                "tt": 1,
                "m": {"kind": "bgm"},
                "sg": [{"s": 0, "d": 10000, "m": {"name": "Lo-fi", "volume": 0.35}}],
            },
            {"tt": 7, "sg": [{"d": 3000, "m": {"text": "Urban Dreams"}}]},
        ],
        "d": 10000,
        "canvas": {"w": 1080, "h": 1920},
    }


def reversed_keys(value: Any) -> Any:
    """The same content with every object's keys in the opposite order."""
    if isinstance(value, dict):
        return {k: reversed_keys(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def state_data(draft: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"state": {"draft": draft, "video_infos": [], "generated_media": []} | extra}


def test_summary_reproduces_the_documented_example() -> None:
    assert Draft.parse(documented_draft()).summary() == DOCUMENTED_SUMMARY


def test_summary_of_one_track_says_track_and_shows_fractions_of_seconds() -> None:
    draft = Draft.parse({"t": [{"tt": 0, "sg": [{"st": 1500, "d": 2000, "m": {}}]}]})
    assert draft.summary() == "Timeline (1 track): 1. Video: 1 segment(s) (1.5-3.5s)"


def test_summary_of_plain_audio_and_an_unknown_track_type() -> None:
    draft = Draft.parse(
        {"t": [{"tt": 1, "sg": [{"d": 4000, "m": {"volume": 80}}]}, {"tt": 3, "sg": []}]}
    )
    assert draft.summary() == (
        "Timeline (2 tracks): 1. Audio: 1 segment(s) (0-4s, 80%) "
        "2. Track type 3: 0 segment(s) (empty)"
    )


def test_summary_of_no_tracks_says_empty() -> None:
    assert Draft.parse({}).summary() == "Timeline (empty)"


@pytest.mark.parametrize(
    "raw",
    [None, {}, {"t": []}, {"t": [{"tt": 0, "sg": []}]}, {"t": [{"tt": 0}, {"tt": 7, "sg": []}]}],
    ids=["none", "no-t", "no-tracks", "empty-sg", "only-empty-tracks"],
)
def test_draft_without_segments_is_not_ready_for_export(raw: Any) -> None:
    assert Draft.parse(raw).is_ready_for_export is False


def test_draft_with_one_segment_is_ready_for_export() -> None:
    draft = Draft.parse({"t": [{"tt": 7, "sg": []}, {"tt": 0, "sg": [{"d": 1}]}]})
    assert draft.is_ready_for_export is True


def test_draft_duration_is_the_end_of_the_last_segment() -> None:
    assert Draft.parse(documented_draft()).duration_ms == 10000


def test_malformed_draft_parts_are_tolerated() -> None:
    draft = Draft.parse({"t": ["junk", {"tt": "0", "sg": ["junk", {"d": "10"}]}]})
    assert len(draft.tracks) == 2
    assert draft.duration_ms == 0


def test_fingerprint_is_stable_across_key_order() -> None:
    draft = documented_draft()
    reordered = reversed_keys(draft)
    assert json.dumps(reordered) != json.dumps(draft)
    assert reordered == draft
    assert (
        SessionState.parse(state_data(draft)).fingerprint()
        == SessionState.parse(state_data(reordered)).fingerprint()
    )


def test_fingerprint_changes_with_the_draft() -> None:
    draft = documented_draft()
    edited = copy.deepcopy(draft)
    edited["t"][2]["sg"][0]["m"]["text"] = "Urban Dreams II"
    assert (
        SessionState.parse(state_data(draft)).fingerprint()
        != SessionState.parse(state_data(edited)).fingerprint()
    )


def test_fingerprint_changes_with_generated_media() -> None:
    draft = documented_draft()
    assert (
        SessionState.parse(state_data(draft)).fingerprint()
        != SessionState.parse(state_data(draft, generated_media=[{"id": "g1"}])).fingerprint()
    )


def test_fingerprint_ignores_video_infos() -> None:
    draft = documented_draft()
    assert (
        SessionState.parse(state_data(draft)).fingerprint()
        == SessionState.parse(state_data(draft, video_infos=[{"id": "v1", "d": 5}])).fingerprint()
    )


def test_session_state_reads_fields_without_the_state_wrapper() -> None:
    parsed = SessionState.parse({"draft": documented_draft(), "video_infos": [{"id": 1}]})
    assert parsed.draft.summary() == DOCUMENTED_SUMMARY
    assert parsed.video_infos == [{"id": 1}]


async def test_get_state_reads_the_latest_state_of_the_session(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.get("/api/state/nemo_agent/me/sess-1/latest").respond(
        200, json=envelope(state_data(documented_draft(), canvas_config={"r": "9:16"}))
    )
    state = await client.get_state("sess-1")
    assert route.call_count == 1
    assert state.draft.summary() == DOCUMENTED_SUMMARY
    assert state.draft.is_ready_for_export
    assert state.raw["canvas_config"] == {"r": "9:16"}
