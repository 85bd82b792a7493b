"""Test processes forked from a server that has imported nemowatch once.

A `python -m nemowatch run` spends about half a second of CPU importing its
modules (pydantic, httpx, aiohttp, ...) before it does anything, and the suite
starts well over a hundred daemons and commands. The tests start them from
this server instead: it imports the modules once, then forks a child per
request. The child is a real process running the real command line (its own
argv, environment, working folder, standard streams and exit code, and
signals as usual); only the interpreter's start-up is shared.

Benchmarks never use it: they measure a daemon's whole CPU, imports included.

    server = ForkServer.start()
    proc = server.spawn("nemowatch", ["--config", "c.toml", "run"], env, stdout=log_fd)
    proc.send_signal(signal.SIGTERM); proc.wait(10)   # as with subprocess.Popen
"""

from __future__ import annotations

import array
import atexit
import contextlib
import importlib
import json
import os
import runpy
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

#: imported by the server before it forks (what `run` and the commands load)
PRELOAD = (
    "nemowatch.cli",
    "nemowatch.commands.daemon",
    "nemowatch.daemon",
    "nemowatch.localapi",
    "nemowatch.web.server",
    "devkit.crash",
)
_MAX_FDS = 3
_REPO = Path(__file__).resolve().parent.parent


class Forked:
    """A forked child, used as a `subprocess.Popen` is: `pid`, `poll`, `wait`, signals.

    Its exit status comes over the connection it was asked on: a line with the
    code (negative: the signal that killed it, as `Popen.returncode`).
    """

    def __init__(self, conn: socket.socket, pid: int, args: list[str]) -> None:
        self._conn = conn
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def _collect(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            return None
        line = b""
        while chunk := self._conn.recv(64):  # the server closes it after the code
            line += chunk
        self._conn.close()
        # no line: the server itself died; the child died with it
        self.returncode = int(line) if line.strip() else -signal.SIGKILL
        return self.returncode

    def poll(self) -> int | None:
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client's side: the server process and its socket."""

    def __init__(self, proc: subprocess.Popen[bytes], path: str) -> None:
        self.proc = proc
        self.path = path

    @classmethod
    def start(cls) -> ForkServer:
        """Start a server and wait until it has imported `PRELOAD` and listens."""
        path = os.path.join(tempfile.mkdtemp(prefix="nw-fork-"), "s")
        proc = subprocess.Popen(
            [sys.executable, "-m", "devkit.forkserver", path],
            stdin=subprocess.PIPE,  # closed by us (or our death): the server ends
            stdout=subprocess.PIPE,
            cwd=_REPO,  # devkit is found there, not installed
        )
        assert proc.stdout is not None
        if proc.stdout.readline() != b"ready\n":
            proc.kill()
            proc.wait()
            raise RuntimeError("the fork server did not start")
        proc.stdout.close()
        server = cls(proc, path)
        atexit.register(server.close)
        return server

    def spawn(
        self,
        module: str,
        args: list[str],
        env: dict[str, str],
        *,
        stdout: int,
        stderr: int | None = None,
        cwd: str | None = None,
    ) -> Forked:
        """`python -m MODULE ARGS...` with `env` in `cwd`, its output to the given fds."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        umask = os.umask(0o022)
        os.umask(umask)  # a process state a child inherits, as are its folder and streams
        request = {
            "module": module,
            "args": args,
            "env": env,
            "cwd": cwd or os.getcwd(),
            "umask": umask,
        }
        fds = array.array("i", [stdout, stdout if stderr is None else stderr])
        payload = json.dumps(request).encode() + b"\n"
        conn.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        line = b""
        while not line.endswith(b"\n") and (byte := conn.recv(1)):  # not a byte further
            line += byte
        if not line.strip():
            conn.close()
            raise RuntimeError(f"the fork server could not start {module}")
        return Forked(conn, int(line), [module, *args])

    def run(
        self, module: str, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """`subprocess.run(..., capture_output=True, text=True, timeout=timeout)`, forked."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = self.spawn(module, args, env, stdout=out_w, stderr=err_w)
        finally:
            os.close(out_w)
            os.close(err_w)
        output = {out_r: bytearray(), err_r: bytearray()}
        reading = set(output)
        deadline = time.monotonic() + timeout
        try:
            while reading:
                left = deadline - time.monotonic()
                ready, _, _ = select.select(list(reading), [], [], max(left, 0))
                if not ready:
                    proc.kill()
                    proc.wait(10)
                    raise subprocess.TimeoutExpired(proc.args, timeout)
                for fd in ready:
                    data = os.read(fd, 1 << 16)
                    output[fd] += data
                    if not data:
                        reading.discard(fd)
            code = proc.wait(max(deadline - time.monotonic(), 0.1))
        finally:
            os.close(out_r)
            os.close(err_r)
        out, err = (output[fd].decode(errors="replace") for fd in (out_r, err_r))
        return subprocess.CompletedProcess(proc.args, code, out, err)

    def children(self) -> set[int]:
        """The server's live children (the processes it started and that still run)."""
        found: set[int] = set()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    found.update(int(p) for p in (task / "children").read_text().split())
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(os.path.dirname(self.path))


# -- the server ------------------------------------------------------------------


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    fds = array.array("i")
    data, ancillary, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(_MAX_FDS * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        data += more
    return json.loads(data), list(fds)


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become `python -m MODULE ARGS...`; never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's sockets and pipes
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        sys.argv = [request["module"], *request["args"]]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                sys.stderr.write(f"{exc.code}\n")  # as the interpreter does
    except BaseException:  # noqa: BLE001 - the child must never return into the server
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def serve(path: str) -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd: (pid, connection)
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":  # the test process has gone: so do its children
                for pid, _conn in running.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                return
            if key.data == "listen":
                conn, _ = listener.accept()
                request, fds = _receive(conn)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request, fds)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ, "child")
                conn.sendall(f"{pid}\n".encode())
                continue
            pid, conn = running.pop(key.fd)
            selector.unregister(key.fd)
            os.close(key.fd)
            _, status = os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
