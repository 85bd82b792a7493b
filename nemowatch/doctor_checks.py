"""The machine-side checks of `nemowatch doctor`, one small function each.

Each check takes what it needs (paths, a setting or two, and readers for the
system's files) and returns a `Check`; nothing here prints or reads the
environment, so tests feed fake mount tables, inotify limits and disk sizes
through `System`.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import stat
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from nemowatch.media import GB, MB
from nemowatch.watch.lease import leases_work_in

Level = Literal["ok", "warning", "problem"]

MIN_FREE, LOW_FREE = 1 * GB, 5 * GB

INOTIFY = "/proc/sys/fs/inotify/"
MOUNT_TABLES = ("/proc/self/mountinfo", "/proc/mounts")
#: filesystem types where changes made elsewhere raise no inotify event
NETWORK_FILESYSTEMS = frozenset(
    "nfs nfs4 cifs smb3 smb2 smbfs ncpfs 9p afs ceph glusterfs fuse.glusterfs fuse.sshfs sshfs "
    "fuse.rclone davfs fuse.davfs2 fuse.s3fs fuse.gcsfuse lustre gpfs beegfs virtiofs "
    "drvfs vboxsf vmhgfs fuse.vmhgfs-fuse afpfs".split()
)
#: FUSE filesystems backed by a local disk: their files change only through the mount
LOCAL_FUSE = frozenset({"fuseblk", "fuse.ntfs-3g", "fuse.mergerfs", "fuse.bindfs"})


def watchable(fstype: str) -> bool:
    """Whether inotify sees every change on a filesystem of this type (as far as known).

    Network filesystems and FUSE filesystems (other than those over a local disk)
    change behind the kernel's back: a file written from elsewhere raises no event.
    """
    fuse = fstype == "fuse" or fstype.startswith("fuse.")
    return fstype not in NETWORK_FILESYSTEMS and not (fuse and fstype not in LOCAL_FUSE)


@dataclass(frozen=True)
class Check:
    """One finding: how bad, about what, what was found, and (unless ok) what to do."""

    level: Level
    name: str
    detail: str
    advice: str = ""


class DiskUsage(Protocol):
    @property
    def free(self) -> int: ...


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _device_of(path: Path) -> int:
    return os.stat(path).st_dev


@dataclass(frozen=True)
class System:
    """The seams to the machine; tests replace them with fakes."""

    read_text: Callable[[str], str] = _read_text
    device_of: Callable[[Path], int] = _device_of
    disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage
    access: Callable[[Path, int], bool] = os.access
    #: whether kernel leases work in a folder (None: no file could be made there)
    leases: Callable[[Path], bool | None] = leases_work_in


def nearest_existing(path: Path) -> Path:
    """`path` itself when it exists, else its closest existing ancestor."""
    path = Path(os.path.abspath(path))
    while not os.path.exists(path) and path != path.parent:
        path = path.parent
    return path


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def check_folder(key: str, path: Path, access: Callable[[Path, int], bool] = os.access) -> Check:
    """The folder `folders.<key>` exists, or can be created, and this user may write in it."""
    name, can = f"folder {key}", os.W_OK | os.X_OK
    elsewhere = f"or set folders.{key} to a folder you own"
    if os.path.islink(path) and not os.path.exists(path):
        return Check(
            "problem", name, f"{path} is a broken symbolic link", f"fix the link, {elsewhere}"
        )
    if os.path.exists(path):
        if not os.path.isdir(path):
            return Check(
                "problem", name, f"{path} exists but is not a folder", f"move it away, {elsewhere}"
            )
        if access(path, can):
            return Check("ok", name, f"{path} is writable")
        return Check(
            "problem",
            name,
            f"{path} is not writable by {_user()}",
            f"give {_user()} write access to it (chown/chmod), {elsewhere}",
        )
    parent = nearest_existing(path)
    if not os.path.isdir(parent):
        return Check(
            "problem",
            name,
            f"{path} cannot be created: {parent} is a file, not a folder",
            f"move {parent} away, {elsewhere}",
        )
    if access(parent, can):
        return Check("ok", name, f"{path} does not exist yet; nemowatch will create it")
    return Check(
        "problem",
        name,
        f"{path} does not exist and cannot be created: {parent} is not writable",
        f"create it: sudo mkdir -p {shlex.quote(str(path))} && "
        f"sudo chown {_user()} {shlex.quote(str(path))}, {elsewhere}",
    )


class Mount(NamedTuple):
    point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """Mount tables write space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    """The mounts of `/proc/self/mountinfo` or `/proc/mounts` text, in table order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 10 and fields[0].isdigit() and "-" in fields[6:]:
            sep = fields.index("-", 6)  # mountinfo: optional fields end at "-"
            point, fstype, source = fields[4], fields[sep + 1], fields[sep + 2]
        elif len(fields) >= 3:  # /proc/mounts
            source, point, fstype = fields[:3]
        else:
            continue
        mounts.append(Mount(os.path.normpath(_unescape(point)), fstype, _unescape(source)))
    return mounts


def read_mounts(read_text: Callable[[str], str]) -> list[Mount] | None:
    """The mount table, or None when neither /proc file can be read."""
    for path in MOUNT_TABLES:
        try:
            return parse_mounts(read_text(path))
        except OSError:
            continue
    return None


def mount_of(path: Path, mounts: Iterable[Mount]) -> Mount | None:
    """The mount holding `path` (a real path): the longest mount point prefix, last one wins."""
    best: Mount | None = None
    for mount in mounts:
        prefix = mount.point.rstrip("/") + "/"
        inside = str(path) == mount.point or str(path).startswith(prefix)
        if inside and (best is None or len(mount.point) >= len(best.point)):
            best = mount
    return best


def check_same_filesystem(
    inbox: Path, work: Path, device_of: Callable[[Path], int], mounts: list[Mount] | None
) -> Check:
    """Claiming renames files from the inbox into the work folder: one filesystem, one mount."""
    name = "same filesystem"
    here, there = nearest_existing(inbox), nearest_existing(work)
    advice = "set folders.work to a folder on the inbox's filesystem, or remove it (the default "
    advice += "is <inbox>/.nemowatch)"
    try:
        apart = device_of(here) != device_of(there)
    except OSError as exc:
        return Check("warning", name, f"could not compare them: {exc}", "check both folders exist")
    if apart:
        found = f"{inbox} and {work} are on different filesystems, so claiming a job "
        return Check("problem", name, found + "cannot be an atomic rename", advice)
    if mounts:
        one = mount_of(Path(os.path.realpath(here)), mounts)
        other = mount_of(Path(os.path.realpath(there)), mounts)
        if one and other and one.point != other.point:
            found = f"{inbox} and {work} are on different mounts ({one.point}, {other.point}); "
            return Check("problem", name, found + "a rename cannot cross mount points", advice)
    return Check("ok", name, f"{inbox} and {work} share one filesystem")


#: the doctor's words for what `System.leases` found in the inbox
LEASES_WORK = "files still being written are detected (kernel leases)"
NO_LEASES = "leases not available here: the settle time alone decides when a file is complete"
NO_LEASES_ADVICE = "set watch.settle_seconds longer than the longest pause of a copy into the inbox"


def check_inbox_filesystem(
    inbox: Path,
    polling: bool,
    mounts: list[Mount] | None,
    leases: Callable[[Path], bool | None] | None = None,
) -> Check:
    """A network inbox raises no inotify events for files written on other machines;
    with `leases`, also whether a file still open for writing can be told apart.

    Both findings share one line: they are two sides of "when is a file complete".
    """
    found = _inbox_filesystem(inbox, polling, mounts)
    if leases is None:
        return found
    works = leases(inbox) if os.path.isdir(inbox) else None
    if works is None:
        return replace(
            found,
            detail=f"{found.detail}; write detection not checked (no file can be made in it)",
        )
    if works:
        return replace(found, detail=f"{found.detail}; {LEASES_WORK}")
    advice = "; ".join(a for a in (found.advice, NO_LEASES_ADVICE) if a)
    return Check("warning", found.name, f"{found.detail}; {NO_LEASES}", advice)


def _inbox_filesystem(inbox: Path, polling: bool, mounts: list[Mount] | None) -> Check:
    name = "inbox filesystem"
    if mounts is None:
        return Check(
            "ok", name, "not checked: the mount table (/proc/self/mountinfo) is unreadable"
        )
    mount = mount_of(Path(os.path.realpath(nearest_existing(inbox))), mounts)
    if mount is None:
        return Check("ok", name, f"not checked: no mount in the mount table holds {inbox}")
    kind = f"{mount.fstype} ({mount.source} on {mount.point})"
    if watchable(mount.fstype):
        return Check("ok", name, f"{inbox} is on {kind}, a local filesystem")
    found = f"{inbox} is on {kind}, a network, shared or FUSE filesystem"
    if polling:
        return Check("ok", name, f"{found}; watch.polling is on")
    return Check(
        "warning",
        name,
        f"{found}: files written from other machines raise no inotify events",
        "set polling = true in the [watch] section of the configuration",
    )


def count_folders(root: Path, limit: int) -> int:
    """`root` and its sub-folders (symlinks not followed); counting stops past `limit`."""
    count, stack = 1, [str(root)]
    while stack and count <= limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        count += 1
                        stack.append(entry.path)
        except OSError:
            continue  # unreadable or vanished: the observer cannot watch it either
    return count


def _level(needed: int, limit: int) -> Level:
    # Other programs of the same user (editors, sync clients) share the limit.
    return "problem" if needed > limit else "warning" if needed > limit / 2 else "ok"


def check_inotify(inbox: Path, polling: bool, read_text: Callable[[str], str]) -> Check:
    """The inbox is watched recursively: one inotify watch per folder, one instance."""
    name = "inotify limits"
    if polling:
        return Check("ok", name, "not needed: watch.polling is on")
    try:
        watches = int(read_text(INOTIFY + "max_user_watches"))
        instances = int(read_text(INOTIFY + "max_user_instances"))
    except (OSError, ValueError):
        return Check("ok", name, f"not checked: {INOTIFY}max_user_* could not be read")
    needed = count_folders(inbox, watches)
    shown = f"more than {watches}" if needed > watches else str(needed)
    found = f"{shown} folder{'s' if needed > 1 else ''} to watch in {inbox}; per-user limits: "
    found += f"{watches} watches, {instances} instances"
    limits = [  # (what the limit is, its level, the value to suggest)
        ("max_user_watches", _level(needed, watches), max(524288, 4 * needed)),
        ("max_user_instances", _level(1, instances), 1024),  # one observer: one instance
    ]
    for level in ("problem", "warning"):
        for key, got, value in limits:
            if got != level:
                continue
            verdict = "over" if level == "problem" else "more than half of"
            return Check(
                level,
                name,
                f"{found}: {verdict} fs.inotify.{key}",
                f"raise it: echo fs.inotify.{key}={value} | sudo tee "
                "/etc/sysctl.d/60-nemowatch.conf && sudo sysctl --system "
                "(or set watch.polling = true)",
            )
    return Check("ok", name, found)


def check_config_file(path: Path | None) -> Check:
    """A file holding the API token must be readable by its owner only."""
    name = "config file"
    if path is None:
        return Check("ok", name, "none in use (built-in defaults), so no token stored in a file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Check(
            "warning", name, f"{path} could not be read: {exc}", "run nemowatch doctor again"
        )
    api = data.get("api")
    token = api.get("token") if isinstance(api, dict) else None
    if not (isinstance(token, str) and token.strip()):
        return Check("ok", name, f"{path} holds no API token (mode {mode:04o})")
    if mode & 0o077:
        return Check(
            "problem",
            name,
            f"{path} holds the API token and group or others have access (mode {mode:04o})",
            f"chmod 600 {shlex.quote(str(path))}",
        )
    return Check("ok", name, f"{path} holds the API token; only its owner can read it")


def check_disk_space(
    outbox: Path, max_file_mb: float, disk_usage: Callable[[Path], DiskUsage]
) -> Check:
    """Results are downloaded into the outbox's filesystem: room for two of the largest."""
    name = "disk space"
    where = nearest_existing(outbox)
    try:
        free = disk_usage(where).free
    except OSError as exc:
        return Check("warning", name, f"could not measure the free space at {where}: {exc}")
    found = f"{free / GB:.1f} GB free on the outbox's filesystem ({where})"
    needed = max(MIN_FREE, 2 * max_file_mb * MB)
    if free < needed:
        return Check(
            "problem",
            name,
            f"{found}, under {needed / GB:.1f} GB (1 GB, and twice jobs.max_file_mb)",
            "free some space there, or set folders.outbox to a folder on a larger disk",
        )
    if free < LOW_FREE:
        return Check("warning", name, f"{found}, under 5 GB", "free some space there soon")
    return Check("ok", name, found)
