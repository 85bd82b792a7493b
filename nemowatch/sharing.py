"""The modes of what nemowatch hands to people: results, reports, archived originals.

A result is created by `open()`, so it gets the umask's mode (0600 under the
unit's `UMask=0077`); its report is given the same mode. With
`folders.group_writable` both become 0664, and the archive's folders 2775
(setgid: what is added later keeps the folder's group), so a team can share
the outbox whatever the daemon's umask.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("nemowatch")

GROUP_FILE = 0o664
GROUP_FOLDER = 0o2775


def result_mode(result: Path, group_writable: bool) -> int:
    """Give `result` the shared mode when asked; the mode its companions should get."""
    if group_writable:
        _chmod(result, GROUP_FILE)
        return GROUP_FILE
    return stat.S_IMODE(result.stat().st_mode)


def share_tree(folder: Path, group_writable: bool) -> None:
    """The archived originals under `folder` (and `folder` itself), for the group."""
    if not group_writable:
        return
    _chmod(folder, GROUP_FOLDER)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            _chmod(Path(root, name), GROUP_FOLDER)
        for name in files:
            _chmod(Path(root, name), GROUP_FILE)


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except NotImplementedError:  # a link: its mode means nothing
        pass
    except OSError as exc:  # not ours (a shared folder made by someone else): leave it
        log.warning("cannot share %s with the group: %s", path, exc.strerror or exc)
