"""`nemowatch service install / uninstall`, into the private home of each test.

systemctl is a recording fake wherever systemd would be asked to do something;
the written units are checked with the real systemd-analyze.
"""

from __future__ import annotations

import argparse
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_units import uncommented, verify

from nemowatch import config, service


class Systemctl:
    """Records the commands it is given; answers with `returncode`."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        return subprocess.CompletedProcess(command, self.returncode, "", "Failed to connect")


def write_config(tmp: Path, extra: str = "") -> config.Loaded:
    path = tmp / "nemowatch.toml"
    path.write_text(
        f'[folders]\ninbox = "{tmp}/in"\noutbox = "{tmp}/out"\nfailed = "{tmp}/failed"\n'
        f'state = "{tmp}/state"\n{extra}',
        encoding="utf-8",
    )
    return config.load(path)


def unit_lines(unit: Path, key: str) -> list[str]:
    prefix = f"{key}="
    lines = unit.read_text(encoding="utf-8").splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


def as_instance(unit: Path, account: str) -> Path:
    """verify checks a template through one of its instances."""
    copy = unit.with_name(f"nemowatch@{account}.service")
    copy.write_text(unit.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


def test_a_user_unit_runs_this_python_with_the_config_in_force(
    tmp_path: Path, isolated_env: Path
) -> None:
    loaded = write_config(tmp_path)
    text = service.install(loaded.settings, loaded.path, system=False, user=None, booted=False)

    unit = isolated_env / ".config" / "systemd" / "user" / "nemowatch.service"
    assert unit_lines(unit, "ExecStart") == [
        f"{sys.executable} -m nemowatch --config {tmp_path}/nemowatch.toml run"
    ]
    folders = ["in", "out", "failed", "state"]
    expected = [f"-{tmp_path}/{name}" for name in folders]
    assert unit_lines(unit, "ReadWritePaths") == [*expected, f"-{isolated_env}/.config/nemovideo"]
    assert all((tmp_path / name).is_dir() for name in folders)
    assert unit_lines(unit, "TimeoutStopSec") == ["30s"]
    assert uncommented(unit.read_text(encoding="utf-8")) == []
    verify(tmp_path, unit, user=True)
    assert f"wrote {unit}" in text
    assert text.endswith(
        "systemctl --user daemon-reload\n  systemctl --user enable --now nemowatch"
    )


def test_a_system_unit_runs_as_the_named_account(tmp_path: Path) -> None:
    loaded = write_config(tmp_path, "[jobs]\nstop_grace_seconds = 45.5\n")
    account = pwd.getpwuid(os.getuid()).pw_name
    text = service.install(
        loaded.settings,
        loaded.path,
        system=True,
        user=account,
        unit_dir=tmp_path / "system",
        booted=False,
    )

    unit = tmp_path / "system" / "nemowatch@.service"
    assert unit_lines(unit, "User") == ["%i"]
    assert unit_lines(unit, "ExecStart")[0].startswith(f"{sys.executable} -m nemowatch --config ")
    assert f"-{tmp_path}/in" in unit_lines(unit, "ReadWritePaths")
    assert unit_lines(unit, "TimeoutStopSec") == ["56s"]
    verify(tmp_path, as_instance(unit, account), user=False)
    assert text.endswith(f"systemctl daemon-reload\n  systemctl enable --now nemowatch@{account}")


def test_without_a_config_file_the_daemon_looks_it_up_itself(tmp_path: Path) -> None:
    loaded = config.load(None)
    assert loaded.path is None
    service.install(loaded.settings, None, system=False, user=None, booted=False)

    unit = tmp_path / "home" / ".config" / "systemd" / "user" / "nemowatch.service"
    assert unit_lines(unit, "ExecStart") == [f"{sys.executable} -m nemowatch run"]
    assert (tmp_path / "home" / "NemoInbox").is_dir()


def test_work_and_archive_elsewhere_get_their_own_paths(tmp_path: Path) -> None:
    loaded = write_config(tmp_path, f'work = "{tmp_path}/work"\narchive = "{tmp_path}/kept"\n')
    service.install(loaded.settings, loaded.path, system=False, user=None, booted=False)

    unit = tmp_path / "home" / ".config" / "systemd" / "user" / "nemowatch.service"
    paths = unit_lines(unit, "ReadWritePaths")
    assert f"-{tmp_path}/work" in paths and f"-{tmp_path}/kept" in paths


def test_odd_folder_names_are_quoted_for_systemd(tmp_path: Path) -> None:
    odd = tmp_path / "My Videos 100% $HOME"
    odd.mkdir()
    loaded = write_config(odd)
    service.install(loaded.settings, loaded.path, system=False, user=None, booted=False)

    unit = tmp_path / "home" / ".config" / "systemd" / "user" / "nemowatch.service"
    escaped = str(odd).replace("%", "%%")
    assert f'-"{escaped}/in"' in unit_lines(unit, "ReadWritePaths")
    assert f'"{escaped.replace("$", "$$")}/nemowatch.toml"' in unit_lines(unit, "ExecStart")[0]
    verify(tmp_path, unit, user=True)


def test_with_systemd_running_it_reloads_the_units(tmp_path: Path) -> None:
    loaded = write_config(tmp_path)
    systemctl = Systemctl()
    text = service.install(
        loaded.settings, loaded.path, system=False, user=None, run=systemctl, booted=True
    )

    assert systemctl.calls == [["systemctl", "--user", "daemon-reload"]]
    assert "daemon-reload" not in text.splitlines()[-1]
    assert text.endswith("\n  systemctl --user enable --now nemowatch")


def test_a_failed_reload_is_reported(tmp_path: Path) -> None:
    loaded = write_config(tmp_path)
    with pytest.raises(service.ServiceError, match="daemon-reload` failed") as caught:
        service.install(
            loaded.settings, None, system=False, user=None, run=Systemctl(1), booted=True
        )
    assert not caught.value.usage


def test_uninstall_stops_removes_and_is_idempotent(tmp_path: Path) -> None:
    loaded = write_config(tmp_path)
    service.install(loaded.settings, loaded.path, system=False, user=None, booted=False)
    unit = tmp_path / "home" / ".config" / "systemd" / "user" / "nemowatch.service"
    systemctl = Systemctl()

    text = service.uninstall(system=False, user=None, run=systemctl, booted=True)
    assert not unit.exists()
    assert systemctl.calls == [
        ["systemctl", "--user", "disable", "--now", "nemowatch"],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert text.startswith(f"stopped, disabled and removed {unit}")

    again = service.uninstall(system=False, user=None, run=systemctl, booted=True)
    assert again == f"no unit at {unit}: nothing to remove"
    assert len(systemctl.calls) == 2


def test_uninstall_without_systemd_says_what_to_run(tmp_path: Path) -> None:
    loaded = write_config(tmp_path)
    system_dir, account = tmp_path / "system", pwd.getpwuid(os.getuid()).pw_name
    service.install(
        loaded.settings, None, system=True, user=account, unit_dir=system_dir, booted=False
    )
    systemctl = Systemctl()

    text = service.uninstall(
        system=True, user=account, unit_dir=system_dir, run=systemctl, booted=False
    )
    assert not (system_dir / "nemowatch@.service").exists()
    assert systemctl.calls == [["systemctl", "disable", f"nemowatch@{account}"]]  # works offline
    assert text.endswith("where it runs, do:\n  systemctl daemon-reload")


def test_another_accounts_unit_uses_that_accounts_home(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_home = tmp_path / "alice"
    alice = pwd.struct_passwd(("alice", "x", 4242, 4242, "", str(alice_home), "/bin/sh"))
    monkeypatch.setattr(service.pwd, "getpwnam", lambda name: alice)
    loaded = config.load(None)
    text = service.install(
        loaded.settings, None, system=True, user="alice", unit_dir=tmp_path / "sys", booted=False
    )

    paths = unit_lines(tmp_path / "sys" / "nemowatch@.service", "ReadWritePaths")
    assert paths[0] == f"-{alice_home}/NemoInbox"
    assert all(not path.startswith(f"-{isolated_env}") for path in paths)
    assert (alice_home / ".local" / "state" / "nemowatch").is_dir()
    if os.getuid() == 0:
        assert (alice_home / "NemoInbox").stat().st_uid == 4242
        assert alice_home.stat().st_uid == 4242
    assert f"became alice's ({alice_home})" in text


def test_python_kind_names_the_environment() -> None:
    assert service.python_kind("/usr", "/usr") == "the Python in /usr (no virtual environment)"
    assert "virtual environment /srv/venv" in service.python_kind("/srv/venv", "/usr")
    pipx = "/home/a/.local/share/pipx/venvs/nemowatch"
    assert service.python_kind(pipx, "/usr") == f"the pipx environment {pipx}"


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nemowatch")
    service.add_parser(parser.add_subparsers(dest="command", required=True))
    return service.command(parser.parse_args(argv), config.load(None))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["install", "--system"], "--system needs --as USER"),
        (["uninstall", "--system"], "--system needs --as USER"),
        (["install", "--as", "root"], "--as USER goes with --system"),
        (["install", "--system", "--as", "no-such-account-here"], "no account"),
    ],
)
def test_usage_errors_exit_2_and_say_why(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command(["service", *argv]) == 2
    assert message in capsys.readouterr().err


def test_user_and_system_cannot_be_combined(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_command(["service", "install", "--user", "--system"])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_command_installs_a_user_unit_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], isolated_env: Path
) -> None:
    monkeypatch.setattr(service, "_is_booted", lambda booted: False)
    assert run_command(["service", "install"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("systemctl --user enable --now nemowatch\n")
    assert (isolated_env / ".config" / "systemd" / "user" / "nemowatch.service").is_file()
