"""The checked-in systemd units: systemd accepts them, they are hardened, they say why.

systemd need not run here: `systemd-analyze verify` and `security --offline`
read unit files on their own. The helpers at the top are shared with
test_install.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from nemowatch import service
from nemowatch.config import JobSettings

UNITS = Path(__file__).resolve().parents[2] / "systemd"
#: the highest exposure systemd-analyze still rates "OK"
SYSTEM_MAX = 2.0
#: 1.5 when root analyses it (a user unit cannot set User=, so "runs as root"
#: costs 0.4); 1.1 for anyone else
USER_MAX = 1.5 + 0.1


def analyze(tmp: Path, *args: str, user: bool = False) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze; a user manager's tools want a private XDG_RUNTIME_DIR."""
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.fail(
            "systemd-analyze is missing: these tests check the units with it "
            "(on Debian or Ubuntu: apt-get install -y systemd)"
        )
    env = dict(os.environ)
    command = [program, *(["--user"] if user else []), *args]
    if not user:
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=30, check=False
        )
    # Short, in /tmp: the user units it reads put sockets there, and a socket
    # path stops at 107 bytes (a parallel test run's tmp_path is longer).
    with tempfile.TemporaryDirectory(prefix="xdg-") as runtime:
        os.chmod(runtime, 0o700)
        env["XDG_RUNTIME_DIR"] = runtime
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=30, check=False
        )


def verify(tmp: Path, unit: Path, *, user: bool) -> None:
    """systemd-analyze verify: exit 0 and nothing on stderr (unknown keys only warn)."""
    done = analyze(tmp, "verify", str(unit), user=user)
    assert (done.returncode, done.stderr) == (0, ""), f"{unit}:\n{done.stderr}"


def uncommented(text: str) -> list[str]:
    """Directive lines without a comment on the line above them."""
    lines = text.splitlines()
    return [
        line
        for above, line in zip(["#"] + lines, lines, strict=False)
        if line.strip() and not line.startswith(("#", "[")) and not above.startswith("#")
    ]


def instance_copy(tmp: Path, name: str) -> Path:
    """A checked-in unit as systemd would load it, for verify and security.

    verify insists that ExecStart's program exists; the checked-in defaults
    (~/.local/bin/nemowatch, /usr/local/bin/nemowatch) need not, so the copy
    runs what `nemowatch service install` writes: this interpreter.
    """
    text = (UNITS / name).read_text(encoding="utf-8")
    text = re.sub(r"^ExecStart=.*$", f"ExecStart={service.exec_start(None)}", text, flags=re.M)
    folder = tmp / "units"
    folder.mkdir(exist_ok=True)
    copy = folder / name.replace("@.", "@alice.")
    copy.write_text(text, encoding="utf-8")
    return copy


def exposure(tmp: Path, unit: Path, *, user: bool) -> float:
    """The score on security's last line: `→ Overall exposure level for X: 1.2 OK 🙂`."""
    done = analyze(tmp, "security", "--offline=true", str(unit), user=user)
    last = done.stdout.strip().splitlines()[-1]
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", last)
    assert found, f"no score in systemd-analyze security's output:\n{done.stdout}{done.stderr}"
    return float(found.group(1))


def directives(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


UNIT_NAMES = ["nemowatch.service", "nemowatch@.service"]


def test_the_user_unit_passes_verify(tmp_path: Path) -> None:
    verify(tmp_path, instance_copy(tmp_path, "nemowatch.service"), user=True)


def test_the_system_template_passes_verify_as_an_instance(tmp_path: Path) -> None:
    verify(tmp_path, instance_copy(tmp_path, "nemowatch@.service"), user=False)


def test_the_system_template_is_rated_ok(tmp_path: Path) -> None:
    unit = instance_copy(tmp_path, "nemowatch@.service")
    assert exposure(tmp_path, unit, user=False) <= SYSTEM_MAX


def test_the_user_unit_is_as_hardened_as_a_user_unit_gets(tmp_path: Path) -> None:
    unit = instance_copy(tmp_path, "nemowatch.service")
    assert exposure(tmp_path, unit, user=True) <= USER_MAX


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_every_directive_has_a_comment_saying_why(name: str) -> None:
    assert uncommented((UNITS / name).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_the_units_speak_the_daemons_notify_protocol_and_restart_it(name: str) -> None:
    found = directives(name)
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "60s",
        "Restart": "on-failure",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "UMask": "0077",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "MemoryDenyWriteExecute": "yes",
    }
    assert {key: found.get(key, ["(missing)"])[0] for key in expected} == expected
    assert {"RestartSec", "StartLimitIntervalSec", "StartLimitBurst"} <= found.keys()
    assert "PrivateNetwork" not in found and "IPAddressDeny" not in found


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_systemd_waits_longer_than_the_daemons_stop_grace(name: str) -> None:
    timeout = directives(name)["TimeoutStopSec"][0]
    assert timeout.endswith("s")
    assert float(timeout[:-1]) >= JobSettings().stop_grace_seconds + 5


def test_the_template_runs_as_the_instances_account() -> None:
    found = directives("nemowatch@.service")
    assert found["User"] == ["%i"]
    assert all("/home/%i/" in path for path in found["ReadWritePaths"][0].split())


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_the_loader_finds_the_checked_in_units(name: str) -> None:
    assert service.template(name) == (UNITS / name).read_text(encoding="utf-8")
