"""Start and stop real local processes on loopback: simulated engines and gateways.

Used by the integration tests, `kvgate-bench up` and the benchmark runner. Every process
binds 127.0.0.1 on a free port, logs to its own file and is stopped (SIGTERM, then SIGKILL)
when the fleet closes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

HOST = "127.0.0.1"


class ProcessStartError(RuntimeError):
    """A managed process exited or never became ready."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, max_chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-max_chars:]
        return ""

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise ProcessStartError(
                        f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + path).status_code == 200:
                        return
                time.sleep(0.05)
        raise ProcessStartError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")


@dataclass
class Fleet:
    """Owns processes and their logs; closing it stops every process it started."""

    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kvgate-fleet-")))
    processes: list[ManagedProcess] = field(default_factory=list)

    def spawn(self, name: str, args: Sequence[str], port: int) -> ManagedProcess:
        log_path = self.log_dir / f"{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(args), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        process = ManagedProcess(name, list(args), port, log_path, popen)
        self.processes.append(process)
        return process

    def start_sim(
        self,
        *,
        profile: str = "tiny",
        model: str = "Qwen/Qwen2.5-7B-Instruct",
        extra_args: Sequence[str] = (),
        name: str | None = None,
        port: int | None = None,
    ) -> ManagedProcess:
        port = port or free_port()
        args = [sys.executable, "-m", "loadtests.sim", "--host", HOST, "--port", str(port)]
        args += ["--profile", profile, "--served-model-name", model, *extra_args]
        process = self.spawn(name or f"sim-{port}", args, port)
        process.wait_ready("/health")
        return process

    def start_gateway(
        self,
        backends: Sequence[str],
        *,
        extra_args: Sequence[str] = (),
        name: str | None = None,
        port: int | None = None,
        ready_path: str = "/readyz",
    ) -> ManagedProcess:
        port = port or free_port()
        args = [sys.executable, "-m", "gateway", "serve", "--host", HOST, "--port", str(port)]
        for url in backends:
            args += ["--backend", url]
        process = self.spawn(name or f"gateway-{port}", [*args, *extra_args], port)
        process.wait_ready(ready_path)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def fleet() -> Iterator[Fleet]:
    with Fleet() as f:
        yield f
