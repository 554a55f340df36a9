"""The journal file: msgpack records, each framed with its length and a CRC.

A frame is ``<u32 length><u32 crc32(payload)><payload>`` (little endian), the
payload one msgpack value. Reading stops at the first frame that is short,
fails its CRC or does not unpack: everything before it is intact. If nothing
readable follows, that is a torn tail, what a crash mid-write leaves; if whole
records follow (``records_after``), the file was damaged in the middle.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import msgpack

__all__ = ["TailDamage", "frame", "read_frames", "records_after"]

_HEADER = struct.Struct("<II")
RECORD_MAX = 64 * 1024 * 1024  # a frame claiming more is damage, not a record


_pack = msgpack.Packer(use_bin_type=True).pack  # one packer: frames are made in the event loop


def frame(record: object) -> bytes:
    payload = _pack(record)
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


def records_after(data: bytes, damage: TailDamage) -> int:
    """How many whole records lie after ``damage``: 0 for a torn tail. A record is
    found wherever a frame's CRC holds and its payload unpacks to ``[op, now, ...]``;
    from the first one found, the rest of the file is read frame by frame."""
    unpack = _HEADER.unpack_from
    size = len(data)
    view = memoryview(data)
    header = _HEADER.size
    for start in range(damage.offset + 1, size - header - 1):
        # Cheap tests first, so a long tail of noise costs a pass, not a CRC per byte:
        # a record is a msgpack array (0x92-0x9f, 0xdc, 0xdd) whose first item, its op,
        # is a short string (0xa1-0xbf).
        first = data[start + header]
        if 0x92 <= first <= 0x9F:  # a fixarray: its op follows at once
            if not 0xA1 <= data[start + header + 1] <= 0xBF:
                continue
        elif first not in (0xDC, 0xDD):  # nor an array16 / array32
            continue
        length, crc = unpack(data, start)
        end = start + header + length
        if length < 2 or length > RECORD_MAX or end > size:
            continue
        payload = view[start + header:end]
        if zlib.crc32(payload) != crc or not _is_record(bytes(payload)):
            continue
        records, _ = read_frames(data[start:])
        return len(records)
    return 0


def _is_record(payload: bytes) -> bool:
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return False
    return isinstance(value, list) and len(value) >= 2 and isinstance(value[0], str)
