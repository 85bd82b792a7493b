"""Where the local API's socket is: in the state folder, or under the runtime folder.

A Unix socket's path holds at most 107 bytes (108 with the final NUL). A state
folder deep enough to pass that puts the socket under `$XDG_RUNTIME_DIR`
instead, named after a hash of the state folder, so that each state folder
(each daemon) still has a socket of its own and the commands find it again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nemowatch.errors import UsageError

SOCKET_NAME = "nemowatch.sock"
#: sun_path is 108 bytes on Linux, the final NUL included
MAX_BYTES = 107


def socket_path(state_dir: Path, runtime_dir: str | None) -> Path:
    """The socket of the daemon that uses `state_dir`.

    Args:
        state_dir: the state folder (`folders.state_dir`).
        runtime_dir: `$XDG_RUNTIME_DIR` as the caller read it ("" or None: unset).

    Raises:
        UsageError: the path would be too long in the state folder, and there is no
            runtime folder (or that is too long as well).
    """
    state_dir = state_dir.absolute()
    inside = state_dir / SOCKET_NAME
    if _fits(inside):
        return inside
    if runtime_dir:
        digest = hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:16]
        outside = Path(runtime_dir).absolute() / f"nemowatch-{digest}.sock"
        if _fits(outside):
            return outside
        where = f"nor under $XDG_RUNTIME_DIR ({outside})"
    else:
        where = "and $XDG_RUNTIME_DIR is not set"
    raise UsageError(
        f"the local API's socket cannot go in the state folder ({inside} is over "
        f"{MAX_BYTES} bytes, the limit of a Unix socket's path) {where}; "
        "choose a shorter folders.state_dir, or set XDG_RUNTIME_DIR"
    )


def _fits(path: Path) -> bool:
    return len(os.fsencode(path)) <= MAX_BYTES
