"""JSON lines, one record per line, to stdout or appended to a file.

Writes run in a worker thread (a slow disk never stalls the event loop), one batch per
`write` call. A file is opened with `O_APPEND`, so concurrent appenders (another process)
never overwrite each other, and it is rotation-safe: before each batch the path is checked,
and when it no longer names the open file (`logrotate` moved it away, or it was deleted)
the file is reopened at the path. With `copytruncate` rotation, `O_APPEND` writes go to the
new end of the truncated file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from gateway.governance.interfaces import BatchWriter, SinkError
from gateway.governance.record import AuditRecord

STDOUT = ("stdout", "-")


class JsonlWriter(BatchWriter):
    """`path` None writes to `stream` (default: the process's stdout)."""

    def __init__(self, path: Path | None, *, stream: BinaryIO | None = None) -> None:
        self._path = path
        self._stream = stream
        self._fd: int | None = None

    @classmethod
    def for_target(cls, target: str) -> JsonlWriter:
        return cls(None if target in STDOUT else Path(target))

    @property
    def name(self) -> str:
        return "jsonl"

    async def write(self, records: Sequence[AuditRecord]) -> None:
        try:
            await asyncio.to_thread(self._write, records)
        except (OSError, ValueError) as exc:  # ValueError: a closed stream
            raise SinkError(f"cannot write {self._path or 'stdout'}") from exc

    async def aclose(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _write(self, records: Sequence[AuditRecord]) -> None:
        data = b"".join([record.to_json() + b"\n" for record in records])
        if self._path is None:
            stream = self._stream or sys.stdout.buffer
            stream.write(data)
            stream.flush()
            return
        fd = self._open()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _open(self) -> int:
        """The open file for `path`, reopened when the path names another file (rotation)."""
        assert self._path is not None
        fd = self._fd
        if fd is not None:
            try:
                now, held = os.stat(self._path), os.fstat(fd)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
            os.close(fd)
            self._fd = None
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._fd
