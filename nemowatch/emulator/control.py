"""A synchronous client for the control surface, usable against any emulator URL.

Tests drive an emulator in a thread or in another process the same way:
``EmulatorControl(url).add_faults([...])``. It holds one httpx client; close
it (or use it as a context manager) when done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from nemowatch.emulator.faults import FaultRule


class EmulatorControlError(Exception):
    """The emulator refused a control request; the message says why."""


class EmulatorControl:
    """Read the journal, arm faults, change knobs and trigger actions."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        """Args:
        url: the emulator's base URL, e.g. ``http://127.0.0.1:8123``.
        timeout: seconds to wait for each control answer.
        """
        self.url = url.rstrip("/")
        # Certificate loading costs ~50 ms per client and plain http never uses it.
        self._http = httpx.Client(
            base_url=self.url + "/_emulator",
            timeout=timeout,
            verify=not self.url.startswith("http://"),
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = self._http.request(method, path, json=body, params=params or None)
        if response.status_code != 200:
            raise EmulatorControlError(f"{method} {path}: {response.text}")
        return response.json()

    def journal(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The recorded API requests, oldest first, optionally of one endpoint."""
        params = {"endpoint": endpoint} if endpoint else {}
        requests: list[dict[str, Any]] = self._call("GET", "/journal", **params)["requests"]
        return requests

    def clear_journal(self) -> None:
        """Forget the recorded requests."""
        self._call("DELETE", "/journal")

    def faults(self) -> list[dict[str, Any]]:
        """The armed rules with ``seen`` and ``fired`` counters."""
        rules: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return rules

    def add_faults(self, rules: Sequence[FaultRule | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Arm more rules (validated here and by the emulator); returns all rules."""
        payload = [
            r.model_dump(exclude_none=True) if isinstance(r, FaultRule) else dict(r) for r in rules
        ]
        armed: list[dict[str, Any]] = self._call("POST", "/faults", {"faults": payload})["faults"]
        return armed

    def clear_faults(self) -> None:
        """Disarm every rule."""
        self._call("DELETE", "/faults")

    def settings(self) -> dict[str, Any]:
        """The knobs in force."""
        settings: dict[str, Any] = self._call("GET", "/settings")
        return settings

    def set(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs live; returns the knobs now in force."""
        settings: dict[str, Any] = self._call("POST", "/settings", knobs)
        return settings

    def action(
        self,
        name: str,
        value: Any = None,
        *,
        client_id: str | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Run an immediate action.

        Args:
            name: ``expire_tokens``, ``lose_sessions``, ``set_credits`` or
                ``advance_clock``.
            value: credits for ``set_credits``, seconds for ``advance_clock``.
            client_id: limit ``set_credits`` to that anonymous account.
            token: limit ``set_credits`` to that token's account.
        """
        body: dict[str, Any] = {"action": name}
        if value is not None:
            body["value"] = value
        if client_id is not None:
            body["client_id"] = client_id
        if token is not None:
            body["token"] = token
        result: dict[str, Any] = self._call("POST", "/actions", body)
        return result

    def renders(self) -> list[dict[str, Any]]:
        """Every render: id, session, status, progress, completed_at (wall time)."""
        shown: list[dict[str, Any]] = self._call("GET", "/renders")["renders"]
        return shown
