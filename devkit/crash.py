"""`nemowatch` with a crash injected: SIGKILL right after a chosen write.

    python -m devkit.crash SAVES -- ARGS...   killed right after its SAVES-th journal write
    python -m devkit.crash link -- ARGS...    killed right after a result is linked into place
    python -m devkit.crash taken -- ARGS...   killed right after a claim wrote its journal
                                              into a folder it took to use again

Only for the crash tests: the daemon runs unchanged until that instant, then
dies as `kill -9` or a power cut would leave it (no handler, no clean-up).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from nemowatch import cli
from nemowatch.api import transfer
from nemowatch.jobs import reuse
from nemowatch.jobs.journal import JobFolder


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_after_link() -> None:
    link = transfer._link_no_replace

    def link_then_die(src: Path, dest: Path) -> None:
        link(src, dest)
        _die()

    transfer._link_no_replace = link_then_die  # type: ignore[assignment]


def crash_after_saves(limit: int) -> None:
    save = JobFolder.save
    count = 0

    def save_then_die(self: JobFolder, job: Any) -> None:
        nonlocal count
        save(self, job)
        count += 1
        if count >= limit:
            _die()

    JobFolder.save = save_then_die  # type: ignore[method-assign]


def crash_in_a_taken_folder() -> None:
    save = JobFolder.save

    def save_then_die(self: JobFolder, job: Any) -> None:
        save(self, job)
        if self.path.name.endswith(reuse.TAKEN):
            _die()

    JobFolder.save = save_then_die  # type: ignore[method-assign]


def main() -> int:
    point, args = sys.argv[1], sys.argv[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if point == "link":
        crash_after_link()
    elif point == "taken":
        crash_in_a_taken_folder()
    else:
        crash_after_saves(int(point))
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
