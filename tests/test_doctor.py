"""`nemowatch doctor`: real temporary folders, fake /proc files and disk sizes,
the emulator on loopback for the token check."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pydantic import SecretStr

from nemowatch.config import FolderSettings, Loaded, Settings
from nemowatch.doctor import (
    Check,
    System,
    check_api,
    check_notifications,
    command,
    render,
    run_checks,
)
from nemowatch.doctor_checks import (
    GB,
    check_config_file,
    check_disk_space,
    check_folder,
    check_inbox_filesystem,
    check_inotify,
    check_same_filesystem,
    count_folders,
    parse_mounts,
    read_mounts,
)
from nemowatch.emulator import EmulatorServer, EmulatorSettings, UserTokenSpec

UNREACHABLE = "http://127.0.0.1:9"
LINE = "{id} {parent} 0:{id} / {point} rw,relatime shared:{id} - {fstype} {source} rw"
LIMITS = "/proc/sys/fs/inotify/"


class Usage(NamedTuple):
    total: int
    used: int
    free: int


def mountinfo(*mounts: tuple[str, str, str]) -> str:
    """Fake /proc/self/mountinfo text; `mounts` are (point, fstype, source)."""
    lines = [
        LINE.format(id=20 + i, parent=1, point=point, fstype=fstype, source=source)
        for i, (point, fstype, source) in enumerate(mounts)
    ]
    return "\n".join(lines) + "\n"


def proc(files: Mapping[str, str]) -> Callable[[str], str]:
    """A fake reader of /proc files: missing ones raise as the real ones would."""

    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path]

    return read


def fake_system(
    *,
    mounts: str | None = None,
    watches: int = 524288,
    instances: int = 128,
    free: int = 100 * GB,
    **more: Any,
) -> System:
    files = {
        LIMITS + "max_user_watches": f"{watches}\n",
        LIMITS + "max_user_instances": f"{instances}\n",
    }
    files["/proc/self/mountinfo"] = mounts or mountinfo(("/", "ext4", "/dev/sda1"))
    return System(read_text=proc(files), disk_usage=lambda path: Usage(200 * GB, 0, free), **more)


def make_settings(root: Path, **api: Any) -> Settings:
    folders = FolderSettings(
        inbox=root / "inbox",
        outbox=root / "outbox",
        failed=root / "failed",
        state=root / "state",
    )
    return Settings(folders=folders, api={"base_url": UNREACHABLE, **api})


# -- folders ---------------------------------------------------------------


def test_existing_writable_folders_are_ok_and_missing_ones_will_be_created(
    tmp_path: Path,
) -> None:
    (tmp_path / "inbox").mkdir()
    assert check_folder("inbox", tmp_path / "inbox") == Check(
        "ok", "folder inbox", f"{tmp_path / 'inbox'} is writable"
    )
    missing = check_folder("outbox", tmp_path / "a" / "b" / "outbox")
    assert missing.level == "ok"
    assert "does not exist yet; nemowatch will create it" in missing.detail


def test_a_folder_under_a_regular_file_cannot_be_created(tmp_path: Path) -> None:
    # Works as root too: no permission bit lets anyone create a folder in a file.
    (tmp_path / "notes.txt").write_text("x")
    found = check_folder("outbox", tmp_path / "notes.txt" / "outbox")
    assert found.level == "problem"
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in found.detail
    assert "folders.outbox" in found.advice


def test_a_file_where_a_folder_should_be_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "failed").write_text("x")
    found = check_folder("failed", tmp_path / "failed")
    assert (found.level, found.detail) == (
        "problem",
        f"{tmp_path / 'failed'} exists but is not a folder",
    )


def test_a_read_only_folder_is_a_problem(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        found = [check_folder("inbox", locked), check_folder("outbox", locked / "outbox")]
    finally:
        locked.chmod(0o700)
    if os.geteuid() == 0:
        # root passes every permission check, so the mode bits cannot fail here;
        # the injected `access` below covers the same paths for root.
        assert [c.level for c in found] == ["ok", "ok"]
    else:
        assert [c.level for c in found] == ["problem", "problem"]
    denied = [check_folder("inbox", locked, lambda p, m: False)]
    denied.append(check_folder("outbox", locked / "outbox", lambda p, m: False))
    assert [c.level for c in denied] == ["problem", "problem"]
    assert "is not writable by" in denied[0].detail
    assert f"cannot be created: {locked} is not writable" in denied[1].detail
    assert "sudo mkdir -p" in denied[1].advice


# -- one filesystem ----------------------------------------------------------


def test_a_work_folder_on_another_filesystem_is_a_problem(tmp_path: Path) -> None:
    inbox, work = tmp_path / "inbox", tmp_path / "elsewhere" / "work"
    inbox.mkdir()
    (tmp_path / "elsewhere").mkdir()

    def device_of(path: Path) -> int:
        return 2 if path.is_relative_to(tmp_path / "elsewhere") else 1

    found = check_same_filesystem(inbox, work, device_of, None)
    assert found.level == "problem"
    assert "different filesystems" in found.detail and "atomic rename" in found.detail
    assert "folders.work" in found.advice
    assert check_same_filesystem(inbox, inbox / ".nemowatch", device_of, None).level == "ok"


def test_a_bind_mount_of_the_same_filesystem_is_still_a_problem(tmp_path: Path) -> None:
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    work.mkdir()
    real = os.path.realpath
    mounts = parse_mounts(mountinfo(("/", "ext4", "/dev/sda1"), (real(work), "ext4", "/dev/sda1")))
    found = check_same_filesystem(inbox, work, lambda p: 1, mounts)
    assert found.level == "problem" and "different mounts" in found.detail


# -- the inbox's filesystem --------------------------------------------------


@pytest.mark.parametrize("fstype", ["nfs4", "cifs", "fuse.sshfs", "fuse.somethingnew", "fuse"])
def test_a_network_inbox_suggests_polling(tmp_path: Path, fstype: str) -> None:
    inbox = tmp_path / "share" / "inbox"  # not there yet: its parent, the mount, decides
    inbox.parent.mkdir()
    text = mountinfo(
        ("/", "ext4", "/dev/sda1"), (os.path.realpath(tmp_path / "share"), fstype, "srv:/x")
    )
    found = check_inbox_filesystem(inbox, False, parse_mounts(text))
    assert found.level == "warning"
    assert fstype in found.detail and "network" in found.detail
    assert "polling = true" in found.advice
    polled = check_inbox_filesystem(inbox, True, parse_mounts(text))
    assert polled.level == "ok" and "watch.polling is on" in polled.detail


def test_a_local_inbox_is_ok_by_the_longest_mount_point(tmp_path: Path) -> None:
    real = os.path.realpath(tmp_path)
    text = mountinfo(("/", "nfs4", "srv:/"), (real, "ext4", "/dev/sdb1"))
    found = check_inbox_filesystem(tmp_path / "inbox", False, parse_mounts(text))
    assert found.level == "ok" and "ext4 (/dev/sdb1" in found.detail


@pytest.mark.parametrize("fstype", ["fuseblk", "fuse.mergerfs"])
def test_a_fuse_filesystem_over_a_local_disk_is_local(tmp_path: Path, fstype: str) -> None:
    text = mountinfo(("/", "nfs4", "srv:/"), (os.path.realpath(tmp_path), fstype, "/dev/sdb1"))
    assert check_inbox_filesystem(tmp_path / "inbox", False, parse_mounts(text)).level == "ok"


def test_mount_tables_unescape_paths_and_fall_back_to_proc_mounts() -> None:
    mounts = parse_mounts(mountinfo(("/mnt/my\\040share", "cifs", "//nas/x")))
    assert mounts[0].point == "/mnt/my share"
    plain = "srv:/export /mnt/nfs nfs4 rw,relatime 0 0\n"
    read = proc({"/proc/mounts": plain})
    assert read_mounts(read) == [("/mnt/nfs", "nfs4", "srv:/export")]
    assert read_mounts(proc({})) is None
    unread = check_inbox_filesystem(Path("/x"), False, None)
    assert unread.level == "ok" and "not checked" in unread.detail


# -- inotify -----------------------------------------------------------------


def limits(watches: int, instances: int = 128) -> Callable[[str], str]:
    return proc(
        {LIMITS + "max_user_watches": str(watches), LIMITS + "max_user_instances": str(instances)}
    )


def test_inotify_watches_against_the_limit(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for name in ("a", "b", "c/d", ".nemowatch/job1"):
        (inbox / name).mkdir(parents=True)
    (inbox / "clip.mp4").write_bytes(b"")
    assert count_folders(inbox, 1000) == 7  # inbox, a, b, c, c/d, .nemowatch, job1

    assert check_inotify(inbox, False, limits(100)).level == "ok"
    warned = check_inotify(inbox, False, limits(12))
    assert warned.level == "warning" and "7 folders" in warned.detail
    assert "more than half of fs.inotify.max_user_watches" in warned.detail
    assert "fs.inotify.max_user_watches=" in warned.advice and "/etc/sysctl.d/" in warned.advice
    over = check_inotify(inbox, False, limits(5))
    assert over.level == "problem" and "more than 5 folders" in over.detail
    no_instance = check_inotify(inbox, False, limits(100, instances=0))
    assert no_instance.level == "problem" and "max_user_instances" in no_instance.advice
    both = check_inotify(inbox, False, limits(5, instances=0))
    assert both.level == "problem" and "max_user_watches" in both.advice  # the first of two


def test_inotify_is_not_checked_when_polling_or_unreadable(tmp_path: Path) -> None:
    polled = check_inotify(tmp_path, True, limits(1))
    assert polled.level == "ok" and "watch.polling is on" in polled.detail
    assert check_inotify(tmp_path, False, proc({})).level == "ok"


# -- the configuration file ----------------------------------------------------


@pytest.mark.parametrize(("mode", "level"), [(0o644, "problem"), (0o640, "problem"), (0o600, "ok")])
def test_a_config_file_holding_a_token_must_be_private(
    tmp_path: Path, mode: int, level: str
) -> None:
    path = tmp_path / "nemowatch.toml"
    path.write_text('[api]\ntoken = "nmv_usr_secret0000000000"\n')
    path.chmod(mode)
    found = check_config_file(path)
    assert found.level == level
    assert "nmv_usr_secret" not in found.detail + found.advice
    if level == "problem":
        assert found.advice == f"chmod 600 {path}"
        assert f"mode 0{mode:o}" in found.detail


def test_a_config_file_without_a_token_may_be_readable(tmp_path: Path) -> None:
    path = tmp_path / "nemowatch.toml"
    path.write_text('[api]\ntoken = ""\n[jobs]\nretries = 1\n')
    path.chmod(0o644)
    assert check_config_file(path).level == "ok"
    assert check_config_file(None).level == "ok"


# -- token and credits ---------------------------------------------------------


def api_check(tmp_path: Path, url: str, **api: Any) -> Check:
    import asyncio

    return asyncio.run(check_api(make_settings(tmp_path, base_url=url, **api), timeout=15))


def test_the_token_check_reports_the_balance_of_an_anonymous_token(tmp_path: Path) -> None:
    with EmulatorServer() as emu:
        found = api_check(tmp_path, emu.url)
    assert found.level == "ok"
    assert "100 credits available" in found.detail
    assert "anonymous token" in found.detail


def test_a_balance_under_min_credits_is_a_warning(tmp_path: Path) -> None:
    user = "nmv_usr_poor00000000000000"
    settings = EmulatorSettings(user_tokens={user: UserTokenSpec(credits=10)})
    with EmulatorServer(settings=settings) as emu:
        found = api_check(tmp_path, emu.url, token=user)
    assert found.level == "warning"
    assert "10 credits available, under jobs.min_credits (50)" in found.detail
    assert "configured token" in found.detail and user not in found.detail


def test_a_token_the_service_refuses_is_a_problem(tmp_path: Path) -> None:
    secret = "nmv_usr_unknown0000000000"
    with EmulatorServer() as emu:
        found = api_check(tmp_path, emu.url, token=secret)
    assert found.level == "problem"
    assert "refused the configured token" in found.detail and "api.token" in found.advice
    assert secret not in found.detail + found.advice


def test_a_spent_anonymous_token_quota_is_a_warning(tmp_path: Path) -> None:
    with EmulatorServer(settings=EmulatorSettings(anon_token_quota=0)) as emu:
        found = api_check(tmp_path, emu.url)
    assert found.level == "warning" and "NEMO_TOKEN" in found.advice


def test_an_unreachable_api_is_a_warning(tmp_path: Path) -> None:
    found = api_check(tmp_path, UNREACHABLE)
    assert found.level == "warning"
    assert f"{UNREACHABLE} is not reachable" in found.detail
    assert "api.base_url" in found.advice


# -- disk space --------------------------------------------------------------


@pytest.mark.parametrize(
    ("free_gb", "max_file_mb", "level"),
    [(0.5, 500, "problem"), (3, 500, "warning"), (3, 2000, "problem"), (10, 500, "ok")],
)
def test_free_disk_space_in_the_outbox(
    tmp_path: Path, free_gb: float, max_file_mb: float, level: str
) -> None:
    seen: list[Path] = []

    def disk_usage(path: Path) -> Usage:
        seen.append(path)
        return Usage(100 * GB, 0, int(free_gb * GB))

    found = check_disk_space(tmp_path / "missing" / "outbox", max_file_mb, disk_usage)
    assert found.level == level
    assert f"{free_gb:.1f} GB free" in found.detail
    assert seen == [tmp_path]  # the nearest folder that exists


# -- the whole command -------------------------------------------------------


def test_warnings_alone_exit_0_and_print_one_line_per_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = Loaded(make_settings(tmp_path), None, "built-in defaults")
    assert command(argparse.Namespace(), loaded, system=fake_system()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 14  # six folders, six checks, the token, the summary
    assert lines[-1] == "1 warning found"
    names = [line[9:].split("  ")[0].strip() for line in lines[:-1]]
    assert names[:6] == [
        f"folder {k}" for k in ("inbox", "outbox", "failed", "work", "state", "archive")
    ]
    assert names[6:] == [
        "same filesystem",
        "inbox filesystem",
        "inotify limits",
        "config file",
        "token and credits",
        "disk space",
        "notifications",
    ]
    warning = next(line for line in lines if line.startswith("warning  "))
    assert " -> check the network and api.base_url" in warning


def test_a_problem_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nemowatch.toml"
    path.write_text('[api]\ntoken = "nmv_usr_secret0000000000"\n')
    path.chmod(0o644)
    loaded = Loaded(make_settings(tmp_path), path, "--config")
    assert command(argparse.Namespace(), loaded, system=fake_system(free=3 * GB)) == 1
    out = capsys.readouterr().out
    assert f"-> chmod 600 {path}" in out
    assert out.splitlines()[-1] == "1 problem and 2 warnings found"
    assert "nmv_usr_secret" not in out


def test_run_checks_uses_the_injected_system(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    system = fake_system(mounts=mountinfo(("/", "nfs4", "srv:/")), watches=1, free=GB // 2)
    checks = {c.name: c for c in run_checks(settings, None, system=system)}
    assert checks["inbox filesystem"].level == "warning"
    assert checks["inotify limits"].level == "warning"  # 1 folder of 1: at the limit, not over
    assert checks["disk space"].level == "problem"


def test_render_aligns_names_and_shows_advice_only_when_not_ok() -> None:
    text = render(
        [
            Check("ok", "disk", "plenty", "ignored"),
            Check("problem", "config file", "open to others", "chmod 600 /x"),
        ]
    )
    assert text.splitlines() == [
        "ok       disk         plenty",
        "problem  config file  open to others -> chmod 600 /x",
        "1 problem found",
    ]
    assert render([Check("ok", "a", "b")]).splitlines()[-1] == "all checks passed"


def test_notification_urls_apprise_does_not_know_are_a_warning_with_the_secret_masked(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    assert check_notifications(settings).detail == "none configured"
    settings.notify.urls = [SecretStr("nosuchservice://user:hunter2@example.com")]
    settings.notify.command = "/bin/true"
    found = check_notifications(settings)
    assert found.level == "warning", found
    assert "hunter2" not in found.detail and "nosuchservice" in found.detail
    settings.notify.urls = []
    assert check_notifications(settings).detail == "a command"
