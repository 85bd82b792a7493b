"""`nemowatch demo`, the README's first command, as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_demo_delivers_an_mp4_and_prints_where(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nemowatch", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    video = tmp_path / "demo" / "outbox" / "sample.mp4"
    assert f"video:    {video}" in done.stdout
    assert video.read_bytes()[4:8] == b"ftyp"
    assert "Timeline (" in done.stdout and "Open in the web editor:" in done.stdout
    assert "nmv_usr_" not in done.stdout + done.stderr
