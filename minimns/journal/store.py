"""A data directory: the lock, the snapshot and journal files, group commit, compaction.

Layout of ``DIR``::

    LOCK                 flock()ed while a broker has the directory open
    snapshot-<g>.msgpack the whole state when generation g began (absent for g = 0)
    journal-<g>.log      every change since, framed (see log.py)

Recovery loads the newest snapshot and replays its journal. Compaction
starts generation g+1: the state is exported (in the event loop, so it is one
consistent moment), written to ``snapshot-<g+1>.msgpack.tmp``, fsynced and
renamed into place; from then on changes go to ``journal-<g+1>.log`` and the
files of generation g are deleted. A crash at any point leaves either the
old generation or the new one complete.

fsync policies: ``always`` acknowledges a change once it is on disk; one
writer task writes and fsyncs in a worker thread, and every change that
arrived during an fsync shares the next one (group commit). ``interval``
acknowledges at once and writes and fsyncs what came in every
``interval_ms``: a crash (of the process or the machine) may lose that
much. ``never`` writes every ``interval_ms`` too, without fsync, and leaves
the rest to the OS. A clean shutdown loses nothing under any policy.
"""

from __future__ import annotations

import errno
import gc
import fcntl
import logging
import os
import queue
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgpack
import outcome
import trio

from .log import TailDamage, frame, read_frames, records_after

__all__ = ["FSYNC_POLICIES", "DataDirLocked", "JournalDamaged", "Recovered", "RecoveryReport",
           "Store", "recover_data_dir"]

log = logging.getLogger("minimns.journal")

FSYNC_POLICIES = ("always", "interval", "never")
FORMAT = 1
COMPACT_MIN_BYTES = 64 * 1024 * 1024  # a journal this big (and 4x the snapshot) is compacted
_FILE_RE = re.compile(r"(snapshot|journal)-(\d+)\.(msgpack|log)\Z")


class DataDirLocked(RuntimeError):
    """Another broker has this data directory open."""


class JournalDamaged(RuntimeError):
    """A journal damaged in the middle: whole records follow the damage, so cutting it
    would drop changes that were acknowledged. Nothing is changed until
    ``minimns recover`` (``recover_data_dir``) is asked to cut it."""

    def __init__(self, path: str, damage: TailDamage, kept: int, later: int) -> None:
        super().__init__(
            f"the journal {path} is damaged at byte {damage.offset} of {damage.size} "
            f"({damage.reason}), and {later} intact records follow the damage. The data "
            f"directory is untouched. `minimns recover --data-dir {os.path.dirname(path)}` "
            f"keeps a copy of the file, cuts it at the damage (keeping the {kept} records "
            f"before it, dropping the {later} after it) and reports what it did.")
        self.path = path
        self.damage = damage
        self.kept = kept
        self.later = later


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover_data_dir`` did to a damaged journal (``damage`` None: nothing)."""

    journal_path: str
    damage: TailDamage | None
    kept: int  # records before the damage, kept
    dropped: int  # whole records after it, dropped
    copy_path: str | None  # the damaged file as it was


@dataclass
class Recovered:
    """What a data directory held: the snapshot (or None) and the changes after it."""

    snapshot: dict | None
    changes: list[list]
    damage: TailDamage | None = None
    generation: int = 0
    journal_path: str = ""
    meta: dict = field(default_factory=dict)


class Store:
    def __init__(
        self,
        path: str,
        fsync: str = "always",
        interval_ms: int = 100,
        compact_bytes: int = COMPACT_MIN_BYTES,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"--fsync should be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        self.path = os.path.abspath(path)
        self.policy = fsync
        self.interval_ms = interval_ms
        self.compact_bytes = compact_bytes
        self.generation = 0
        self.size = 0  # bytes in the current journal
        self.snapshot_size = 0
        self.fsyncs = 0
        self.compactions = 0
        self._on_disk = 0
        self._lock_fd = -1
        self.cut_damage = False  # recover_data_dir: cut a damaged journal, as for a torn tail
        self._fd = -1
        self._pending: list[bytes] = []
        self._appended = 0  # sequence number of the last change appended
        self._durable = 0  # ... and of the last one as safe as the policy promises
        self._waiters: deque[tuple[int, trio.lowlevel.Task]] = deque()  # in seq order
        self._wake = trio.Event()
        self._failed: BaseException | None = None
        self._export: Callable[[], dict] | None = None
        self._disk: _DiskThread | None = None  # writes and fsyncs off the event loop

    # -- opening -----------------------------------------------------------------------------

    def open(self) -> Recovered:
        """Lock the directory and read what it holds (cutting off a damaged journal tail)."""
        os.makedirs(self.path, exist_ok=True)
        self._lock()
        generations = self._generations()
        generation = max(generations, default=0)
        snapshot = None
        snapshot_path = self._file("snapshot", generation)
        if os.path.exists(snapshot_path):
            with open(snapshot_path, "rb") as f:
                data = f.read()
            self.snapshot_size = len(data)
            snapshot = msgpack.unpackb(data, raw=False, strict_map_key=False)
            if snapshot.get("format") != FORMAT:
                raise RuntimeError(f"{snapshot_path}: unknown snapshot format {snapshot.get('format')!r}")
        journal_path = self._file("journal", generation)
        changes: list[list] = []
        damage = None
        if os.path.exists(journal_path):
            with open(journal_path, "rb") as f:
                data = f.read()
            changes, damage = read_frames(data)  # type: ignore[assignment]
            if damage is not None and not self.cut_damage:
                later = records_after(data, damage)
                if later:  # not a torn tail: refuse, and touch nothing
                    self._unlock()
                    raise JournalDamaged(journal_path, damage, len(changes), later)
            if damage is not None:
                log.warning(
                    "journal %s: cut at byte %d of %d (%s); %d changes before it kept",
                    journal_path, damage.offset, damage.size, damage.reason, len(changes),
                )
                with open(journal_path, "r+b") as f:
                    f.truncate(damage.offset)
                    os.fsync(f.fileno())
        self.generation = generation
        self._fd = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size
        self._on_disk = self.size  # bytes written whole: a failed write is cut back to it
        self._fsync_dir()
        for old in generations:
            if old < generation:
                self._remove_generation(old)
        return Recovered(snapshot, changes, damage, generation, journal_path,
                         snapshot.get("meta", {}) if snapshot else {})

    def _lock(self) -> None:
        fd = os.open(os.path.join(self.path, "LOCK"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DataDirLocked(
                    f"the data directory {self.path} is in use by another minimns ({holder})"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _generations(self) -> set[int]:
        found: dict[int, set[str]] = {}
        for name in os.listdir(self.path):
            match = _FILE_RE.match(name)
            if match:
                found.setdefault(int(match.group(2)), set()).add(match.group(1))
        return {g for g, kinds in found.items() if g == 0 or "snapshot" in kinds}

    def _file(self, kind: str, generation: int) -> str:
        suffix = "msgpack" if kind == "snapshot" else "log"
        return os.path.join(self.path, f"{kind}-{generation}.{suffix}")

    def _remove_generation(self, generation: int) -> None:
        for kind in ("snapshot", "journal"):
            try:
                os.unlink(self._file(kind, generation))
            except FileNotFoundError:
                pass

    def _fsync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- appending ---------------------------------------------------------------------------

    def append(self, change: list) -> int:
        """Add a change to the journal; its sequence number for ``durable``."""
        data = frame(change)
        self._appended += 1
        self.size += len(data)
        self._pending.append(data)
        if self.policy != "always":
            self._durable = self._appended  # acknowledged now: the policy allows the window
        self._wake.set()
        return self._appended

    async def durable(self, seq: int) -> bool:
        """Wait until change ``seq`` is as safe as the policy promises; True if it
        waited (a scheduling point). Cancellation cannot cut the wait short: an
        operation whose change is made is acknowledged."""
        if self._durable >= seq:
            return False
        if self._failed is not None:
            raise RuntimeError("the journal cannot be written") from self._failed
        self._waiters.append((seq, trio.lowlevel.current_task()))
        await trio.lowlevel.wait_task_rescheduled(_refuse_abort)
        if self._failed is not None and self._durable < seq:
            raise RuntimeError("the journal cannot be written") from self._failed
        return True

    def _release(self) -> None:
        """Wake the operations whose changes are now durable (or all, on failure)."""
        waiters = self._waiters
        durable = self._durable
        failed = self._failed is not None
        while waiters and (failed or waiters[0][0] <= durable):
            trio.lowlevel.reschedule(waiters.popleft()[1])

    # -- the writer task ---------------------------------------------------------------------

    async def run(self, export: Callable[[], dict]) -> None:
        """Write, fsync and compact; run it in the broker's nursery. ``export``
        returns the broker's whole state for a snapshot."""
        self._export = export
        while True:
            await self._wake.wait()  # no deadline while idle: virtual clocks stay free
            self._wake = trio.Event()
            if self.policy != "always":
                await trio.sleep(self.interval_ms / 1000)  # gather an interval's changes
            if self.size > self._compact_at():
                self.compact()
                continue
            if not self._pending:
                continue
            batch, self._pending = b"".join(self._pending), []
            upto = self._appended
            try:
                if self.policy == "never":
                    self._write(self._fd, batch)
                else:
                    await self._thread().call(self._write_and_sync, self._fd, batch)
            except OSError as error:  # the disk failed: acknowledge nothing more
                log.critical("journal %s: write failed: %s", self.path, error)
                self._failed = error
                self._cut_back()
                self._release()
                raise
            self._on_disk += len(batch)
            self._durable = max(self._durable, upto)
            self._release()

    def _thread(self) -> _DiskThread:
        if self._disk is None:
            self._disk = _DiskThread(trio.lowlevel.current_trio_token())
        return self._disk

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _write_and_sync(self, fd: int, data: bytes) -> None:
        self._write(fd, data)
        os.fsync(fd)
        self.fsyncs += 1

    def _compact_at(self) -> int:
        return max(self.compact_bytes, 4 * self.snapshot_size)

    # -- snapshots ---------------------------------------------------------------------------

    def compact(self) -> None:
        """Start the next generation from a snapshot of the state now (synchronous:
        the export is one consistent moment). Changes still pending are in the
        snapshot, so they are durable with it and are not written again."""
        assert self._export is not None
        state = self._export()
        state["format"] = FORMAT
        enabled = gc.isenabled()
        gc.disable()  # packing makes no garbage: do not let the collector scan it all
        try:
            data = msgpack.packb(state, use_bin_type=True)
        finally:
            if enabled:
                gc.enable()
        generation = self.generation + 1
        final = self._file("snapshot", generation)
        tmp = final + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        new_fd = os.open(self._file("journal", generation), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.rename(tmp, final)
        self._fsync_dir()
        if self.policy != "never":
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = new_fd
        self._remove_generation(self.generation)
        self.generation = generation
        self.size = 0
        self._on_disk = 0
        self.snapshot_size = len(data)
        self._pending = []
        self._durable = self._appended
        self._release()
        self.compactions += 1
        log.info("compacted into generation %d (snapshot %d bytes)", generation, len(data))

    # -- closing -----------------------------------------------------------------------------

    def _cut_back(self) -> None:
        """After a failed write, take its partial frame off the file, so that what
        follows a restart is a journal ending cleanly, not one damaged in the middle."""
        try:
            os.ftruncate(self._fd, self._on_disk)
        except OSError as error:
            log.critical("journal %s: could not cut the failed write back: %s", self.path, error)

    def close(self) -> None:
        """Write what is pending, fsync, release the lock. After a failed write nothing
        more is written: the journal ends where the disk last took a whole batch."""
        if self._disk is not None:
            self._disk.stop()
            self._disk = None
        if self._fd >= 0 and self._failed is not None:
            self._pending = []
            os.close(self._fd)
            self._fd = -1
        if self._fd >= 0:
            try:
                data, self._pending = b"".join(self._pending), []
                self._write(self._fd, data)
                if self.policy != "never":
                    os.fsync(self._fd)
                self._durable = self._appended
                self._release()
            finally:
                os.close(self._fd)
                self._fd = -1
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1


def _refuse_abort(_: object) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED  # a durability wait is never cancelled


class _DiskThread:
    """One long-lived thread for the journal's blocking writes and fsyncs.

    Like ``trio.to_thread.run_sync`` without its per-call set-up, which cost
    about as much as the fsync itself on every group commit. A call waits
    uncancellably: a change being made durable is finished, not abandoned.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="minimns-journal", daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[..., object], *args: object) -> object:
        task = trio.lowlevel.current_task()
        self._calls.put((fn, args, lambda result: trio.lowlevel.reschedule(task, result)))
        return await trio.lowlevel.wait_task_rescheduled(_refuse_abort)

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join()

    def _main(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, args, done = item
            result = outcome.capture(fn, *args)
            try:
                self._token.run_sync_soon(done, result)
            except trio.RunFinishedError:
                return


def recover_data_dir(path: str) -> RecoveryReport:
    """``minimns recover``: cut a journal damaged in the middle at its damage, as a torn
    tail is cut, after keeping a copy of the file as it was (``journal-<g>.log.damaged``,
    or ``.damaged-2`` ...). Takes the directory's lock; the report says what was dropped."""
    store = Store(path, "always", 100, COMPACT_MIN_BYTES)
    os.makedirs(path, exist_ok=True)
    store._lock()
    try:
        generation = max(store._generations(), default=0)
        journal_path = store._file("journal", generation)
        if not os.path.exists(journal_path):
            return RecoveryReport(journal_path, None, 0, 0, None)
        with open(journal_path, "rb") as f:
            data = f.read()
        records, damage = read_frames(data)
        if damage is None:
            return RecoveryReport(journal_path, None, len(records), 0, None)
        dropped = records_after(data, damage)
        copy_path = journal_path + ".damaged"
        number = 1
        while os.path.exists(copy_path):
            number += 1
            copy_path = f"{journal_path}.damaged-{number}"
        with open(copy_path, "wb") as f:
            f.write(data)
            os.fsync(f.fileno())
        with open(journal_path, "r+b") as f:
            f.truncate(damage.offset)
            os.fsync(f.fileno())
        store._fsync_dir()
        log.warning("journal %s: cut at byte %d of %d (%s); %d records kept, %d dropped; "
                    "the damaged file is kept as %s", journal_path, damage.offset, damage.size,
                    damage.reason, len(records), dropped, copy_path)
        return RecoveryReport(journal_path, damage, len(records), dropped, copy_path)
    finally:
        store._unlock()
