"""The journal file: msgpack records, each framed with its length and a CRC.

A frame is ``<u32 length><u32 crc32(payload)><payload>`` (little endian), the
payload one msgpack value. Reading stops at the first frame that is short,
fails its CRC or does not unpack: that is a torn or damaged tail, and
everything before it is intact. ``JournalWriter`` appends frames and makes
them durable per the fsync policy, sharing one fsync among every record that
arrived while the previous one ran (group commit).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import msgpack
import trio

__all__ = ["FSYNC_POLICIES", "JournalWriter", "TailDamage", "frame", "read_frames"]

log = logging.getLogger("minimns.journal")

FSYNC_POLICIES = ("always", "interval", "never")
_HEADER = struct.Struct("<II")
RECORD_MAX = 64 * 1024 * 1024  # a frame claiming more is damage, not a record


def frame(record: object) -> bytes:
    payload = msgpack.packb(record, use_bin_type=True)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class TailDamage:
    """Where a journal stopped being readable, and why."""

    offset: int  # bytes kept: every record before this offset is intact
    size: int  # the file's size
    reason: str


def read_frames(data: bytes) -> tuple[list[object], TailDamage | None]:
    """Every intact record of a journal's bytes, and the damage after them if any."""
    records: list[object] = []
    offset, size = 0, len(data)
    unpack = _HEADER.unpack_from
    while offset < size:
        if size - offset < _HEADER.size:
            return records, TailDamage(offset, size, "a frame header cut short")
        length, crc = unpack(data, offset)
        start = offset + _HEADER.size
        if length > RECORD_MAX:
            return records, TailDamage(offset, size, f"a frame claiming {length} bytes")
        if start + length > size:
            return records, TailDamage(offset, size, "a record cut short")
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return records, TailDamage(offset, size, "a record failing its CRC")
        try:
            records.append(msgpack.unpackb(payload, raw=False, strict_map_key=False))
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return records, TailDamage(offset, size, "a record that does not unpack")
        offset = start + length
    return records, None


def iter_file_frames(path: str) -> Iterator[object]:  # pragma: no cover - convenience
    with open(path, "rb") as f:
        records, _ = read_frames(f.read())
    yield from records


class JournalWriter:
    """Appends records to one journal file.

    ``append`` frames a record and returns its sequence number; ``durable``
    waits until that record is as safe as the policy promises:

    - ``always``: on disk (fsync) before the operation is acknowledged; a
      writer task fsyncs in a worker thread, one fsync for every record that
      arrived meanwhile;
    - ``interval``: written to the OS at once, fsynced every ``interval_ms``
      (a machine crash may lose the last interval; a killed process loses nothing);
    - ``never``: written to the OS at once, never fsynced.
    """

    def __init__(self, path: str, policy: str = "always", interval_ms: int = 100) -> None:
        if policy not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy should be one of {FSYNC_POLICIES}, not {policy!r}")
        self.path = path
        self.policy = policy
        self.interval_ms = interval_ms
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size
        self._pending: list[bytes] = []
        self._appended = 0  # sequence number of the last record appended
        self._durable = 0  # ... and of the last one as safe as the policy says
        self._lot = trio.lowlevel.ParkingLot()  # operations waiting for durability
        self._work = trio.Event()
        self._failed: BaseException | None = None
        self.fsyncs = 0

    # -- appending -------------------------------------------------------------------------

    def append(self, record: object) -> int:
        data = frame(record)
        self._appended += 1
        self.size += len(data)
        if self.policy == "always":
            self._pending.append(data)
            self._work.set()
        else:
            os.write(self._fd, data)  # the page cache: survives a killed process
            self._durable = self._appended
        return self._appended

    async def durable(self, seq: int) -> None:
        """Wait (shielded: an acknowledged operation must not be cut off) until
        record ``seq`` is as safe as the policy promises."""
        with trio.CancelScope(shield=True):
            while self._durable < seq:
                if self._failed is not None:
                    raise RuntimeError("the journal cannot be written") from self._failed
                await self._lot.park()

    # -- the writer task -------------------------------------------------------------------

    async def run(self) -> None:
        """Write and fsync (``always``) or fsync periodically (``interval``); run it
        in the broker's nursery."""
        if self.policy == "never":
            await trio.sleep_forever()
        if self.policy == "interval":
            while True:
                await trio.sleep(self.interval_ms / 1000)
                await trio.to_thread.run_sync(os.fsync, self._fd)
                self.fsyncs += 1
        while True:
            await self._work.wait()
            self._work = trio.Event()
            batch, self._pending = self._pending, []
            upto = self._appended
            try:
                await trio.to_thread.run_sync(self._write_and_sync, b"".join(batch))
            except OSError as error:  # the disk failed us: refuse to acknowledge anything more
                log.critical("journal %s: write failed: %s", self.path, error)
                self._failed = error
                self._lot.unpark_all()
                raise
            self._durable = upto
            self._lot.unpark_all()

    def _write_and_sync(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self.fsyncs += 1

    def flush(self) -> None:
        """Write what is pending and fsync, synchronously (at shutdown or rotation)."""
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            self._write_and_sync(data)
        elif self.policy != "never":
            os.fsync(self._fd)
        self._durable = self._appended
        self._lot.unpark_all()

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = -1
