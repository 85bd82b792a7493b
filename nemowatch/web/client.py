"""`DaemonClient`: the commands' side of the local API (`status`, `pause`, `cancel`, ...).

Synchronous, over the Unix socket, with short timeouts: a command answers at
once or says why not. The answers' errors come back as the package's:

    nothing answers on the socket        DaemonNotRunningError
    404                                  NotFoundError
    409                                  AmbiguousError (`ids`: the jobs to choose from)
    400                                  UsageError
    anything else                        NemoError
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from nemowatch.errors import (
    AmbiguousError,
    DaemonNotRunningError,
    NemoError,
    NotFoundError,
    UsageError,
)
from nemowatch.web.control import RetryHow

#: connecting to a Unix socket is immediate, or it is not there
CONNECT_SECONDS = 2.0
#: an action answers once the daemon has taken it in, not when it is carried out
ANSWER_SECONDS = 10.0


class DaemonClient:
    """The running daemon's API, for one command.

    Args:
        path: the socket (`socket_path(state_dir, runtime_dir)`).
        transport: for tests; the Unix socket at `path` when None.
    """

    def __init__(self, path: Path, *, transport: httpx.BaseTransport | None = None) -> None:
        self.path = path
        #: whether something was found listening (only checked on the real socket)
        self._found = transport is not None
        self._http = httpx.Client(
            # a Unix socket carries no TLS: no certificate store to load (90 ms per command)
            transport=transport or httpx.HTTPTransport(uds=str(path), verify=False),
            base_url="http://nemowatch",
            timeout=httpx.Timeout(ANSWER_SECONDS, connect=CONNECT_SECONDS),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reads --------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status JSON (`schema`, `running`, `pid`, `conditions`, `jobs`, ...)."""
        return self._call("GET", "/api/status")

    def jobs(self) -> list[dict[str, Any]]:
        """The jobs in progress."""
        jobs: list[dict[str, Any]] = self._call("GET", "/api/jobs")["jobs"]
        return jobs

    def history(
        self,
        *,
        failed: bool = False,
        since_days: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        """Finished jobs, newest first (`Entry.to_json()` each)."""
        params: dict[str, str] = {"failed": "1"} if failed else {}
        if since_days is not None:
            params["since"] = repr(since_days)
        if limit is not None:
            params["limit"] = str(limit)
        if offset:
            params["offset"] = str(offset)
        if search:
            params["q"] = search
        jobs: list[dict[str, Any]] = self._call("GET", "/api/history", params=params)["jobs"]
        return jobs

    def metrics(self) -> str:
        """The Prometheus text (no token needed over the socket)."""
        with self._translated():
            response = self._http.get("/metrics")
        _raise_for(response)
        return response.text

    # -- actions: each answers with a sentence for the person -----------------

    def pause(self) -> str:
        return self._message("/api/pause")

    def resume(self) -> str:
        return self._message("/api/resume")

    def cancel(self, id_or_name: str) -> str:
        return self._message(f"/api/jobs/{quote(id_or_name, safe='')}/cancel")

    def retry(self, name: str, how: RetryHow = "") -> str:
        return self._message(f"/api/failed/{quote(name, safe='')}/retry", {"how": how})

    def retry_all(self) -> str:
        return self._message("/api/retry-all")

    def login_address(self) -> str:
        """The web page's address with a one-time login token (`nemowatch web`)."""
        return str(self._call("POST", "/api/web/login-token")["url"])

    # -- the wire -------------------------------------------------------------

    def _message(self, path: str, body: dict[str, Any] | None = None) -> str:
        return str(self._call("POST", path, json=body)["message"])

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        with self._translated():
            response = self._http.request(method, path, **options)
        _raise_for(response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise NemoError(f"the daemon's answer to {path} is not the JSON expected")
        return data

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """httpx's errors as the package's, in one place."""
        if not self._found:
            self._find()
        try:
            yield
        except httpx.ConnectError as exc:
            raise self._not_running() from exc
        except httpx.TimeoutException as exc:
            raise DaemonNotRunningError(
                f"the nemowatch daemon did not answer on {self.path} in time; "
                "it may be overloaded or stuck: see its log"
            ) from exc
        except httpx.TransportError as exc:
            raise DaemonNotRunningError(
                f"the nemowatch daemon on {self.path} broke off the answer ({exc}); "
                "it may be stopping: try again"
            ) from exc

    def _find(self) -> None:
        """Connect once with a socket of our own: httpx's Unix transport leaves its socket
        open when the connection fails, and "not running" is the common answer here."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(CONNECT_SECONDS)
        try:
            probe.connect(os.fspath(self.path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise self._not_running() from exc
        except TimeoutError as exc:
            raise DaemonNotRunningError(
                f"the nemowatch daemon did not accept a connection on {self.path} in time; "
                "it may be overloaded or stuck: see its log"
            ) from exc
        except OSError as exc:
            raise DaemonNotRunningError(
                f"cannot connect to the nemowatch daemon on {self.path}: {exc.strerror or exc}"
            ) from exc
        finally:
            probe.close()
        self._found = True

    def _not_running(self) -> DaemonNotRunningError:
        return DaemonNotRunningError(
            f"nemowatch is not running (nothing answers on {self.path}); "
            "start it with `nemowatch run`, or start its systemd service"
        )


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        data = response.json()
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    message = str(data.get("error") or f"the daemon answered {response.status_code}")
    if response.status_code == 404:
        raise NotFoundError(message)
    if response.status_code == 409:
        raise AmbiguousError(message, [str(i) for i in data.get("ids") or []])
    if response.status_code == 400:
        raise UsageError(message)
    raise NemoError(f"the daemon answered {response.status_code}: {message}")
