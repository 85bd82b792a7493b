"""Identity: anonymous tokens, bearer auth (1001), scopes (403), attribution (402)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emukit import ATTRIBUTION, Nemo

from nemowatch.emulator import EmulatorServer

WEEK = 7 * 24 * 3600


def anonymous(nemo: Nemo, client_id: str | None) -> httpx.Response:
    headers = {"X-Client-Id": client_id} if client_id is not None else {}
    return nemo.http.post("/api/auth/anonymous-token", headers=headers)


def test_anonymous_token_has_the_documented_shape(nemo: Nemo) -> None:
    body = anonymous(nemo, "c1").json()
    assert body["code"] == 0 and body["message"]
    assert body["data"]["token"].startswith("nmv_usr_")
    assert body["data"]["credits"] == 100
    assert body["data"]["expires_in"] == WEEK


@pytest.mark.parametrize("client_id", [None, ""])
def test_anonymous_token_without_client_id_is_http_400(nemo: Nemo, client_id: str | None) -> None:
    response = anonymous(nemo, client_id)
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_the_same_client_id_gets_the_same_token_without_spending_quota(
    emu: EmulatorServer, nemo: Nemo
) -> None:
    emu.control.set(anon_token_quota=1)
    first = anonymous(nemo, "same").json()["data"]["token"]
    assert anonymous(nemo, "same").json()["data"]["token"] == first
    assert anonymous(nemo, "other").status_code == 429


def test_the_per_ip_quota_of_new_tokens_answers_429(emu: EmulatorServer, nemo: Nemo) -> None:
    emu.control.set(anon_token_quota=2)
    assert anonymous(nemo, "a").json()["code"] == 0
    assert anonymous(nemo, "b").json()["code"] == 0
    response = anonymous(nemo, "c")
    assert response.status_code == 429
    assert response.json()["code"] == 429
    emu.control.action("advance_clock", WEEK + 1)
    assert anonymous(nemo, "c").json()["code"] == 0


def test_an_expired_token_is_replaced_for_the_same_client_keeping_credits(
    emu: EmulatorServer, nemo: Nemo
) -> None:
    old = nemo.token("keeper")
    emu.control.action("set_credits", 42, client_id="keeper")
    emu.control.action("advance_clock", WEEK + 1)
    assert nemo.http.get("/api/credits/balance/simple").json()["code"] == 1001
    data = anonymous(nemo, "keeper").json()["data"]
    assert data["token"] != old
    assert data["credits"] == 42


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nmv_usr_unknown", "Basic abc", "Bearer"], ids=str
)
def test_calls_without_a_valid_token_answer_1001(nemo: Nemo, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = nemo.http.get("/api/credits/balance/simple", headers=headers)
    assert response.status_code == 200
    assert response.json()["code"] == 1001


def test_expire_tokens_makes_every_current_token_answer_1001(
    emu: EmulatorServer, nemo: Nemo
) -> None:
    nemo.token()
    sid = nemo.session()
    emu.control.action("expire_tokens")
    assert nemo.http.get(f"/api/state/nemo_agent/me/{sid}/latest").json()["code"] == 1001
    nemo.token()
    assert nemo.state(sid)["draft"] == {"t": []}  # the session belongs to the account


@pytest.fixture
def knobs(knobs: dict[str, Any]) -> dict[str, Any]:
    return {
        **knobs,
        "user_tokens": {
            "usr_reader": {"credits": 300, "scopes": ["read"]},
            "usr_all": {"credits": 300, "scopes": ["*"]},
        },
    }


def as_user(nemo: Nemo, token: str) -> None:
    nemo.http.headers["Authorization"] = f"Bearer {token}"


def test_a_preset_user_token_has_its_own_credits(nemo: Nemo) -> None:
    as_user(nemo, "usr_all")
    assert nemo.credits() == {"available": 300, "frozen": 0, "total": 300}
    assert nemo.session().startswith("ses_")


def test_a_call_needing_a_missing_scope_is_http_403(nemo: Nemo) -> None:
    as_user(nemo, "usr_reader")
    assert nemo.credits()["available"] == 300
    response = nemo.http.post("/api/tasks/me/with-session/nemo_agent", json={"task_name": "p"})
    assert response.status_code == 403
    assert response.json()["code"] == 403
    render = nemo.http.get("/api/render/proxy/lambda/render_1")
    assert render.status_code == 403


def test_anonymous_scopes_are_a_knob(emu: EmulatorServer, nemo: Nemo) -> None:
    emu.control.set(anonymous_scopes=["read", "write", "upload"])
    nemo.token("narrow")
    sid = nemo.session()
    assert nemo.submit(sid, "render_1", {"t": []}).status_code == 403


def test_export_without_attribution_headers_is_http_402(nemo: Nemo, edited: str) -> None:
    for name in ATTRIBUTION:
        response = nemo.submit(edited, "render_1", headers={name: ""})
        assert response.status_code == 402, name
        assert response.json()["code"] == 402
    assert nemo.submit(edited, "render_1").json()["code"] == 0


def test_attribution_everywhere_refuses_any_call_without_it(
    emu: EmulatorServer, nemo: Nemo
) -> None:
    nemo.token()
    emu.control.set(require_attribution_everywhere=True)
    bare = httpx.get(
        nemo.url + "/api/credits/balance/simple",
        headers={"Authorization": nemo.http.headers["Authorization"]},
    )
    assert bare.status_code == 402
    assert nemo.credits()["available"] == 100
