"""Who we are to NemoVideo: the client id, and the token with its 0600 cache.

A token comes from the configuration (`api.token` / `NEMO_TOKEN`, the user's
own) or is an anonymous one obtained with the client id. Anonymous tokens are
cached in the state folder, keyed by API address, with their expiry, in a file
only the owner can read. The client id is shared with the official NemoVideo
skill through `~/.config/nemovideo/client_id`.
"""

from __future__ import annotations

import json
import logging
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemowatch.fsutil import write_atomic
from nemowatch.redact import redact

log = logging.getLogger("nemowatch.api")

TOKEN_FILE = "token.json"
#: renew an anonymous token this long before it expires
EXPIRY_MARGIN_SECONDS = 3600


def _valid_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class ClientIdSource:
    """The anonymous identity: from the configuration, else a file created when missing."""

    def __init__(self, configured: str, path: Path) -> None:
        self._configured = configured.strip()
        self._path = path

    def get(self) -> str:
        if self._configured:
            return self._configured
        try:
            value = self._path.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            value = ""
        if _valid_uuid(value):
            return value
        return self.regenerate()

    def regenerate(self) -> str:
        """A new client id, written to the file (the server refused the old one)."""
        value = str(uuid.uuid4())
        if self._configured:
            log.warning("the configured client id was refused; using a new one for this run")
            self._configured = value
            return value
        try:
            write_atomic(self._path, (value + "\n").encode())
        except OSError as exc:  # kept for this run: a new id per call would spend the quota
            log.warning("cannot save the client id in %s (%s)", self._path, exc.strerror or exc)
            self._configured = value
            return value
        log.info("created client id file %s", self._path)
        return value


@dataclass(frozen=True)
class CachedToken:
    token: str
    client_id: str
    expires_at: float

    def usable(self, now: float) -> bool:
        return self.expires_at - EXPIRY_MARGIN_SECONDS > now


class TokenCache:
    """Anonymous tokens in `<state>/token.json`, mode 0600, one per API address."""

    def __init__(self, state_dir: Path, base_url: str) -> None:
        self.path = state_dir / TOKEN_FILE
        self._base_url = base_url

    def _read_all(self) -> dict[str, Any]:
        try:
            info = self.path.stat()
            if stat.S_IMODE(info.st_mode) & 0o077:
                log.warning("token cache %s was readable by others; it is ignored", self.path)
                return {}
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("token cache %s unreadable (%s); it is ignored", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def load(self) -> CachedToken | None:
        entry = self._read_all().get(self._base_url)
        if not isinstance(entry, dict):
            return None
        try:
            cached = CachedToken(
                str(entry["token"]), str(entry["client_id"]), float(entry["expires_at"])
            )
        except (KeyError, TypeError, ValueError):
            return None
        redact.register(cached.token)
        return cached

    def save(self, cached: CachedToken) -> None:
        data = self._read_all()
        data[self._base_url] = {
            "token": cached.token,
            "client_id": cached.client_id,
            "expires_at": cached.expires_at,
            "saved_at": time.time(),
        }
        write_atomic(self.path, json.dumps(data, indent=2).encode(), mode=0o600)

    def forget(self) -> None:
        data = self._read_all()
        if data.pop(self._base_url, None) is not None:
            write_atomic(self.path, json.dumps(data, indent=2).encode(), mode=0o600)
