"""The journal: what the emulator received, so tests can assert what was sent.

Records are plain JSON-ready dicts. They are created when a request arrives and
completed when its answer is done, so a record of a dropped connection still
shows how far the request got. Secrets never enter a record: the bearer token
is masked, and so is any header that carries one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

MASKED = "Bearer ***"
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
_MAX_RECORDS = 50_000


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy the headers with every secret value replaced."""
    masked: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower == "authorization":
            masked[name] = MASKED if value.lower().startswith("bearer") else "***"
        elif lower in _SECRET_HEADERS:
            masked[name] = "***"
        else:
            masked[name] = value
    return masked


class Journal:
    """The received API requests, in arrival order, capped to the newest 50 000."""

    def __init__(self) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=_MAX_RECORDS)
        self._seq = 0

    def start(
        self,
        *,
        method: str,
        path: str,
        query: str,
        endpoint: str | None,
        headers: Mapping[str, str],
    ) -> dict[str, Any]:
        """Open a record for a request that just arrived; the caller fills it in."""
        self._seq += 1
        record: dict[str, Any] = {
            "seq": self._seq,
            "started_at": time.time(),
            "finished_at": None,
            "method": method,
            "path": path,
            "query": query,
            "endpoint": endpoint,
            "headers": mask_headers(headers),
            "status": None,
            "code": None,
            "body": None,
            "fault": None,
            "aborted": False,
        }
        self._records.append(record)
        return record

    def records(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Every record, or those of one endpoint."""
        return [r for r in self._records if endpoint is None or r["endpoint"] == endpoint]

    def clear(self) -> None:
        """Forget every record (the sequence numbers keep counting)."""
        self._records.clear()
