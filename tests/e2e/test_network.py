"""The network goes away under a running daemon and comes back: nothing fails, nothing paid twice.

The daemon reaches the emulator through `devkit.proxy.Proxy`. `cut()` resets
the open connections and every new one, as a dead route does; `restore()`
brings the route back. The daemon must hold every job where it stands, say
so in `status`, probe by itself (5 s, growing to 60 s) and carry on; a turn
whose stream the outage broke is recovered by reading the project.

The credit check (which also probes every condition) runs every 10 minutes
here, as by default: what releases the jobs is the network's own probe.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit.daemon import Daemon, unwrap
from devkit.processes import clean_env
from devkit.proxy import Proxy
from devkit.waits import wait_for
from nemowatch.emulator import EmulatorServer

NETWORK_REASON = "waiting for the network since "


@pytest.fixture
def proxy(emulator: EmulatorServer) -> Iterator[Proxy]:
    with Proxy(emulator.url) as running:
        yield running


@pytest.fixture
def behind_proxy(make_daemon: Callable[..., Daemon], proxy: Proxy) -> Daemon:
    """A daemon whose API address is the proxy; three jobs at once."""
    return make_daemon(
        api={"base_url": proxy.url},
        jobs={"max_parallel": 3, "max_parallel_uploads": 3, "credit_check_minutes": 10},
    )


def held_on_network(daemon: Daemon) -> list[str]:
    return [j["name"] for j in daemon.work_jobs() if j.get("held") == "network"]


def held_in_status(daemon: Daemon) -> list[str]:
    """Why each job is held, as the status file says (written within a second)."""
    return [j["held"] for j in daemon.status().get("jobs", []) if j.get("held")]


def paused(daemon: Daemon) -> str:
    return str(daemon.status().get("paused") or "")


def first_move_after(daemon: Daemon, since: float) -> float | None:
    """When the first call of a job reached the service (not the probe's: its balance
    read, and the token it may need first)."""
    moves = [
        r["started_at"]
        for r in daemon.emulator.control.journal()
        if r["started_at"] > since and r["endpoint"] not in ("credits", "anonymous_token")
    ]
    return min(moves) if moves else None


def report(what: str, seconds: float) -> None:
    print(f"\n{what}: {seconds:.2f} s")  # noqa: T201 - the measurement the test reports


@pytest.mark.timeout(150)
def test_an_outage_at_every_stage_holds_the_jobs_and_each_is_delivered_after(
    behind_proxy: Daemon, proxy: Proxy, sample_video: Path
) -> None:
    daemon = behind_proxy
    control = daemon.emulator.control
    control.set(turn_seconds=3, render_seconds=6, credits=1000)  # three paid turns
    daemon.start()

    daemon.drop_pair(sample_video, "rendering")
    wait_for(lambda: control.journal("render_poll"), 40, "the first job to render")
    daemon.drop_pair(sample_video, "editing")
    wait_for(lambda: len(control.journal("run_sse")) == 2, 30, "the second job's turn")
    proxy.cut()  # the first job polls its render, the second waits for its edit
    cut_at = time.monotonic()
    daemon.drop_pair(sample_video, "starting")  # claimed with no network: nothing uploaded yet

    wait_for(lambda: len(held_on_network(daemon)) == 3, 30, "every job held for the network")
    stages = {j["name"]: j["stage"] for j in daemon.work_jobs()}
    assert stages == {"rendering": "rendering", "editing": "uploaded", "starting": "claimed"}
    wait_for(lambda: len(held_in_status(daemon)) == 3, 10, "status to show every job held")
    assert all(r.startswith(NETWORK_REASON) for r in held_in_status(daemon))
    assert NETWORK_REASON in paused(daemon) and "(last error: " in paused(daemon)
    shown = daemon.cli("status")
    text = unwrap(shown.stdout)
    assert f"PAUSED: {NETWORK_REASON}" in text, text
    assert "  editing: held: waiting for the network since" in text
    assert daemon.failures() == []

    # 15 s away in all: the probe 5 s after the hold fails; the next, 10 s later, finds
    # the network back if it comes after the return (else the one 20 s after that)
    wait_for(lambda: time.monotonic() - cut_at > 15, 30, "the outage", step=0.2)
    assert daemon.failures() == [] and len(held_on_network(daemon)) == 3
    back = time.time()
    proxy.restore()
    moved = wait_for(lambda: first_move_after(daemon, back), 70, "a held job to move again")
    report("network back -> first held job moving", moved - back)
    assert moved - back < 60, "within the longest probe interval"

    wait_for(lambda: len(daemon.outputs()) == 3, 60, "the three results")
    assert daemon.stop() == 0
    assert daemon.failures() == []
    turns = daemon.calls("run_sse")
    assert len(turns) == 3, "each turn sent once"
    assert len({t["body"]["session_id"] for t in turns}) == 3
    renders = {c["body"]["id"] for c in daemon.calls("render_submit")}
    assert len(renders) == 3, "the render polled before the outage was not submitted again"
    log = daemon.log_text()
    assert "verified in the project" in log, "the broken turn was recovered by reading"
    assert "NemoVideo answers again" in log


@pytest.mark.timeout(90)
def test_with_no_network_at_the_start_nothing_fails_and_the_job_is_delivered_after(
    behind_proxy: Daemon, proxy: Proxy, sample_video: Path
) -> None:
    daemon = behind_proxy
    proxy.cut()
    daemon.start()
    daemon.drop_pair(sample_video, "offline")
    wait_for(lambda: held_on_network(daemon) == ["offline"], 30, "the job held for the network")
    wait_for(lambda: NETWORK_REASON in paused(daemon), 10, "status to say why")
    assert daemon.emulator.control.journal() == [], "nothing reached the service"
    probed = "NemoVideo still cannot be reached (probe 1)"
    wait_for(lambda: probed in daemon.log_text(), 30, "the first probe")
    assert daemon.failures() == []

    back = time.time()
    proxy.restore()
    moved = wait_for(lambda: first_move_after(daemon, back), 70, "the job to move")
    report("network back -> held job moving (start without network)", moved - back)
    wait_for(lambda: len(daemon.outputs()) == 1, 60, "the result")
    assert daemon.stop() == 0
    assert daemon.failures() == []
    assert len(daemon.calls("run_sse")) == 1


@pytest.mark.timeout(90)
def test_submit_waits_for_the_network_and_finishes_the_job_after(
    behind_proxy: Daemon, proxy: Proxy, sample_video: Path
) -> None:
    """`submit` rides out an outage as the daemon does: nothing fails, nothing paid twice."""
    daemon = behind_proxy  # its config only: `submit` runs alone, in the foreground
    daemon.emulator.control.set(turn_seconds=2)
    note = daemon.root / "note.txt"
    note.write_text("Trim the silences")
    command = [sys.executable, "-m", "nemowatch", "--config", str(daemon.config), "submit"]
    with subprocess.Popen(
        [*command, str(sample_video), "-f", str(note)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(None),
    ) as proc:
        wait_for(lambda: daemon.calls("run_sse"), 30, "the turn to be sent")
        proxy.cut()  # the turn's stream breaks: it must be read back, not sent again
        wait_for(lambda: proc.poll() is None and len(daemon.calls("run_sse")) == 1, 5, "running")
        time.sleep(3)  # away for a while: the first probe (5 s) fails or finds it back
        assert proc.poll() is None, "submit waits; it does not fail for the network"
        proxy.restore()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "result:" in out
    assert NETWORK_REASON in err
    assert len(daemon.calls("run_sse")) == 1, "the turn was sent once"
    assert len(daemon.outputs()) == 1
