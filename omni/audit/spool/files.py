"""The local write-ahead spool: one append-only file per process under
``var/audit-spool/<database>/`` (the embedded default, and the fallback while Redis is down).

Each line is ``<crc32 hex> <event JSON>\\n``, appended with one ``write()`` on an ``O_APPEND``
descriptor before ``record_later`` returns. The process holds an exclusive ``flock`` on its file
for its whole life; a file whose lock can be taken belongs to a process that is gone, and any
process of the same database on this machine takes it over, writes its events and deletes it.

Durability (``AUDIT_SPOOL_FSYNC``): a ``write()`` that returned survives the death of the process
(``kill -9``: the data is in the kernel's page cache). Surviving a crash of the machine needs
``fsync``: ``always`` before ``record_later`` returns (slowest), ``everysec`` by the writer thread at
most a second later (the default: a power loss can cost up to a second of events), ``never``.

Once everything in its own file is written, the process truncates it (above 1 MiB) so that it
does not grow for ever; a fully written file is deleted when the process exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from omni.audit.spool.events import BadEvent, SpooledEvent, decode, peek_number

logger = logging.getLogger(__name__)

TRUNCATE_ABOVE = 1024 * 1024
SUFFIX = ".wal"


def database_fingerprint(database: dict) -> str:
    """A short, stable name of the database the events belong to (engine, host, port, name)."""
    identity = "|".join(str(database.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def spool_dir(var_dir: Path, database: dict) -> Path:
    """One directory per database: a process never writes another database's events."""
    return Path(var_dir) / "audit-spool" / database_fingerprint(database)


def _line(payload: str) -> bytes:
    data = payload.encode("utf-8")
    return b"%08x " % zlib.crc32(data) + data + b"\n"


@dataclass
class Entry:
    """One line read back: an event, or a payload that is not one (``error`` says why)."""

    spool_id: str
    payload: str
    event: SpooledEvent | None = None
    error: str = ""
    end: int = 0  # a file entry: the offset just past its line


def parse(raw: bytes, name: str, base: int, *, complete: bool) -> tuple[list[Entry], int]:
    """The entries in ``raw`` (read from offset ``base`` of file ``name``) and how many bytes
    they span. Without ``complete``, a last line with no newline is left for later (being
    written); with it, it is a torn write and comes back as a bad entry."""
    entries: list[Entry] = []
    used = 0
    while used < len(raw):
        end = raw.find(b"\n", used)
        if end < 0:
            if not complete:
                break
            end = len(raw)
        line = raw[used:end]
        spool_id = f"{name}:{base + used}"
        used = min(end + 1, len(raw))
        if not line.strip():
            continue
        payload = line[9:].decode("utf-8", "replace")
        match = re.match(rb"^([0-9a-f]{8}) ", line)
        if match is None or int(match.group(1), 16) != zlib.crc32(line[9:]):
            text = line.decode("utf-8", "replace")
            entries.append(Entry(spool_id, text, error="torn or corrupt spool line", end=base + used))
            continue
        try:
            entries.append(Entry(spool_id, payload, decode(payload, spool_id), end=base + used))
        except BadEvent as exc:
            entries.append(Entry(spool_id, payload, error=str(exc), end=base + used))
    return entries, used


@dataclass
class _Claimed:
    path: Path
    fd: int
    offset: int = 0
    done: bool = False


@dataclass
class FileSpool:
    directory: Path
    fsync: str = "everysec"
    own_name: str = ""
    _fd: int = -1
    _path: Path | None = None
    _pid: int = -1
    _offset: int = 0  # how much of the own file is written to the database
    _dirty: bool = False
    _last_sync: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    _claimed: dict[str, _Claimed] = field(default_factory=dict)

    # ------------------------------------------------------------------ producing
    def _open_own(self, source: str) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", source)
        path = self.directory / f"{safe}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new name: nobody else holds it
        self._fd, self._path, self._pid, self._offset, self.own_name = fd, path, os.getpid(), 0, path.name

    def put(self, source: str, payload: str) -> None:
        """Append one event (call with the numbering lock held: lines stay in number order)."""
        with self.lock:
            self._open_own(source)
            data = _line(payload)
            written = os.write(self._fd, data)
            if written != len(data):  # a full disk: undo the partial line's effect on readers
                raise OSError(f"short write to the audit spool ({written} of {len(data)} bytes)")
            if self.fsync == "always":
                os.fsync(self._fd)
            else:
                self._dirty = True

    def sync(self, *, force: bool = False) -> None:
        """The ``everysec`` policy's fsync (the writer thread calls it every turn)."""
        if self.fsync == "never" or not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._last_sync < 1.0:
            return
        with self.lock:
            if self._fd >= 0:
                os.fsync(self._fd)
            self._dirty, self._last_sync = False, now

    # ------------------------------------------------------------------ the own file
    def read_own(self, limit: int) -> list[Entry]:
        with self.lock:
            if self._fd < 0 or self._pid != os.getpid() or self._path is None:
                return []
            path, offset = self._path, self._offset
        with path.open("rb") as fh:
            fh.seek(offset)
            raw = fh.read(_chunk(limit))
        entries, _used = parse(raw, path.name, offset, complete=False)
        return entries[:limit]

    def done_own(self, entries: list[Entry]) -> None:
        """Everything up to the last of ``entries`` is in the database."""
        if not entries:
            return
        end = max(entry.end for entry in entries)
        with self.lock:
            self._offset = max(self._offset, end)
            if self._fd >= 0 and self._offset >= TRUNCATE_ABOVE:
                size = os.fstat(self._fd).st_size
                if size == self._offset:  # nothing appended meanwhile (the lock holds producers)
                    os.ftruncate(self._fd, 0)
                    self._offset = 0

    def own_pending(self) -> bool:
        with self.lock:
            if self._fd < 0:
                return False
            return os.fstat(self._fd).st_size > self._offset

    def close(self) -> None:
        """At exit: delete the own file when everything in it is written."""
        with self.lock:
            if self._fd < 0 or self._pid != os.getpid():
                return
            with contextlib.suppress(OSError):
                if os.fstat(self._fd).st_size <= self._offset and self._path is not None:
                    self._path.unlink()
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    # ------------------------------------------------------------------ files of dead processes
    def read_orphans(self, limit: int) -> list[Entry]:
        """Entries of files whose process is gone (their lock could be taken), oldest file first."""
        if not self.directory.is_dir():
            return []
        entries: list[Entry] = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}"), key=_mtime):
            if path.name == self.own_name and self._pid == os.getpid():
                continue
            claimed = self._claimed.get(path.name) or self._claim(path)
            if claimed is None:
                continue
            with path.open("rb") as fh:
                fh.seek(claimed.offset)
                raw = fh.read(_chunk(limit - len(entries)))
            at_end = claimed.offset + len(raw) >= _size(path)
            found, used = parse(raw, path.name, claimed.offset, complete=at_end)
            found = found[: limit - len(entries)]
            if not found and used == 0:
                claimed.done = True
            entries.extend(found)
            if len(entries) >= limit:
                break
        return entries

    def _claim(self, path: Path) -> _Claimed | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None  # its process (or another claimer) is alive
        if not path.exists():  # deleted by the previous claimer between listing and locking
            os.close(fd)
            return None
        logger.info("taking over the audit spool file %s of a process that is gone", path.name)
        claimed = self._claimed[path.name] = _Claimed(path, fd)
        return claimed

    def done_orphans(self, entries: list[Entry]) -> None:
        ends: dict[str, int] = {}
        for entry in entries:
            name = entry.spool_id.rsplit(":", 1)[0]
            ends[name] = max(ends.get(name, 0), entry.end)
        for name, end in ends.items():
            claimed = self._claimed.get(name)
            if claimed is None:
                continue
            claimed.offset = max(claimed.offset, end)
            if claimed.offset >= _size(claimed.path):
                self._release(name, delete=True)

    def finish_orphans(self) -> None:
        """Delete taken-over files that are fully written (including empty ones)."""
        for name, claimed in list(self._claimed.items()):
            if claimed.done or claimed.offset >= _size(claimed.path):
                self._release(name, delete=True)

    def release_orphans(self) -> None:
        for name in list(self._claimed):
            self._release(name, delete=False)

    def _release(self, name: str, *, delete: bool) -> None:
        claimed = self._claimed.pop(name, None)
        if claimed is None:
            return
        if delete:
            with contextlib.suppress(OSError):
                claimed.path.unlink()
        with contextlib.suppress(OSError):
            os.close(claimed.fd)

    # ------------------------------------------------------------------ for verify_audit
    def pending_numbers(self) -> dict[str, set[int]]:
        """(source → numbers) of every event in every spool file of this database here."""
        found: dict[str, set[int]] = {}
        if not self.directory.is_dir():
            return found
        for path in self.directory.glob(f"*{SUFFIX}"):
            with contextlib.suppress(OSError), path.open("rb") as fh:
                for line in fh:
                    number = peek_number(line[9:])
                    if number is not None:
                        found.setdefault(number[0], set()).add(number[1])
        return found


def _chunk(limit: int) -> int:
    return max(limit * 2048, 256 * 1024)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
