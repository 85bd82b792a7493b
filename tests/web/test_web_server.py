"""The local API on a real Unix socket: every route's JSON, errors, the socket itself, TCP."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import httpx
import pytest

from nemowatch.errors import AlreadyRunningError, UsageError
from nemowatch.web.server import ApiServer
from tests.web.webfakes import ENTRY, served


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


async def test_status_and_jobs_answer_the_daemons_json_with_schema_1(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        status = (await http.get("/api/status")).json()
        jobs = (await http.get("/api/jobs")).json()
    assert status["schema"] == 1
    assert {"running", "pid", "conditions", "jobs", "waiting", "credits"} <= status.keys()
    assert status["conditions"][0] == {
        "name": "paused",
        "reason": "paused by the user",
        "since": 1.0,
    }
    assert jobs == {"schema": 1, "jobs": status["jobs"]}
    assert {"id", "name", "stage", "doing", "since", "progress"} <= jobs["jobs"][0].keys()


async def test_history_passes_its_filters_and_answers_the_entries(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        plain = await http.get("/api/history")
        query = {"failed": "1", "since": "2.5", "limit": "3", "offset": "6", "q": "cat"}
        filtered = await http.get("/api/history", params=query)
    assert plain.json() == {"schema": 1, "jobs": [ENTRY]}
    assert filtered.status_code == 200
    assert api.control.calls == [
        ("history", False, None, None, 0, None),
        ("history", True, 2.5, 3, 6, "cat"),
    ]


@pytest.mark.parametrize("query", ["limit=ten", "since=-1", "offset=1.5", "since=nan"])
async def test_a_bad_history_query_is_a_400_in_json(state: Path, query: str) -> None:
    async with served(state) as api, api.client() as http:
        response = await http.get(f"/api/history?{query}")
    assert response.status_code == 400
    assert response.json()["schema"] == 1
    assert response.json()["ids"] == []
    assert api.control.calls == []


async def test_actions_answer_a_sentence(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        paused = (await http.post("/api/pause")).json()
        resumed = (await http.post("/api/resume")).json()
        cancelled = (await http.post("/api/jobs/holiday/cancel")).json()
        retried = (await http.post("/api/failed/holiday/retry", json={"how": "resend"})).json()
        plain = (await http.post("/api/failed/holiday/retry")).json()
        everything = (await http.post("/api/retry-all")).json()
    assert paused == {
        "schema": 1,
        "message": "Paused: running steps stop at their next checkpoint.",
    }
    assert resumed["message"].startswith("Resumed")
    assert cancelled["message"] == "Cancelling holiday at its next checkpoint."
    assert retried["message"] == plain["message"] == "holiday is back in line."
    assert everything["message"] == "2 failed jobs are back in line."
    assert api.control.calls == [
        ("pause",),
        ("resume",),
        ("cancel", "holiday"),
        ("retry", "holiday", "resend"),
        ("retry", "holiday", ""),
        ("retry_all",),
    ]


async def test_errors_are_json_404_409_and_400(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        missing = await http.post("/api/jobs/nothing/cancel")
        ambiguous = await http.post("/api/jobs/twins/cancel")
        bad_how = await http.post("/api/failed/holiday/retry", json={"how": "twice"})
        not_json = await http.post("/api/failed/holiday/retry", content=b"{nope")
        no_route = await http.get("/api/nothing-here")
        wrong_method = await http.get("/api/pause")
    assert (missing.status_code, missing.json()) == (
        404,
        {"schema": 1, "error": "no job named nothing", "ids": []},
    )
    assert ambiguous.status_code == 409
    assert ambiguous.json()["ids"] == ["t1", "t2"]
    assert bad_how.status_code == not_json.status_code == 400
    assert "start-over" in bad_how.json()["error"]
    assert no_route.status_code == 404 and no_route.json()["schema"] == 1
    assert wrong_method.status_code == 405 and wrong_method.json()["schema"] == 1
    assert ("retry", "holiday", "twice") not in api.control.calls


async def test_tokens_in_answers_are_masked(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        api.control.status = lambda: {"jobs": [], "why": "token nmv_usr_abcdef123456 refused"}  # type: ignore[method-assign]
        text = (await http.get("/api/status")).text
    assert "nmv_usr_abcdef123456" not in text and "***" in text


async def test_the_socket_is_mode_0600_and_removed_at_stop(state: Path) -> None:
    async with served(state) as api:
        mode = os.stat(api.socket).st_mode
        assert api.socket == state / "nemowatch.sock"
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert sorted(p.name for p in state.iterdir()) == ["nemowatch.sock"]  # no staging left
    assert not api.socket.exists()


async def test_a_long_state_path_puts_the_socket_in_the_runtime_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    async with served(deep) as api, api.client() as http:
        assert api.socket.parent != deep and api.socket.name.startswith("nemowatch-")
        assert stat.S_IMODE(os.stat(api.socket).st_mode) == 0o600
        assert (await http.get("/api/status")).json()["pid"] == 1234


async def test_a_stale_socket_file_is_replaced(state: Path) -> None:
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(state / "nemowatch.sock"))
    dead.close()  # the file stays, nobody listens
    async with served(state) as api, api.client() as http:
        assert (await http.get("/api/status")).status_code == 200


async def test_a_socket_something_answers_on_is_left_alone(state: Path) -> None:
    async with served(state) as api:
        other = ApiServer(api.server.app)
        with pytest.raises(AlreadyRunningError):
            await other.start_unix(api.socket)
        await other.stop(1)
        assert api.socket.exists()


async def test_a_file_in_the_way_is_not_removed(state: Path) -> None:
    (state / "nemowatch.sock").write_text("mine")
    with pytest.raises(UsageError, match="not a socket"):
        async with served(state):
            pass
    assert (state / "nemowatch.sock").read_text() == "mine"


async def test_metrics_over_tcp_need_the_bearer_token(state: Path) -> None:
    token = "s3cret-metrics-token"
    async with served(state, metrics_token=token) as api:
        host, port = await api.server.start_tcp("127.0.0.1", 0)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5) as tcp:
            without = await tcp.get("/metrics")
            wrong = await tcp.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await tcp.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            api_over_tcp = await tcp.get(
                "/api/status", headers={"Authorization": f"Bearer {token}"}
            )
        async with api.client() as local:
            over_socket = await local.get("/metrics")
    assert without.status_code == wrong.status_code == 401
    assert token not in without.text + wrong.text
    assert right.status_code == 200 and "nemowatch_jobs_total" in right.text
    assert over_socket.status_code == 200 and "nemowatch_queue_length" in over_socket.text
    assert api_over_tcp.status_code == 403 and api_over_tcp.json()["schema"] == 1


async def test_without_a_metrics_token_tcp_gets_no_metrics(state: Path) -> None:
    async with served(state, metrics_token=None) as api:
        host, port = await api.server.start_tcp("127.0.0.1", 0)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5) as tcp:
            response = await tcp.get("/metrics", headers={"Authorization": "Bearer None"})
    assert response.status_code == 401
    assert "metrics_token" in response.text
