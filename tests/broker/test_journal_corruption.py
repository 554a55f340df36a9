"""A damaged data directory: torn and corrupt journal tails, half-written snapshots.

A journal is written through a broker, then copies of it are cut at every byte
offset inside its last records, or have single bytes flipped. A torn tail (no
whole record after the damage, what a crash mid-write leaves) must be cut:
recovery keeps exactly the records before the damaged one, reports the cut (the
Recovered.damage, a WARNING), never crashes, and truncates the file there so new
changes append cleanly and a second restart sees them. Damage with whole records
after it is refused (JournalDamaged), the directory untouched, until
``minimns recover`` keeps a copy, cuts, and reports what it dropped.

Record boundaries are found here by reading the frame headers directly, not
with read_frames, which is itself under test.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import sys
import zlib

import msgpack
import pytest
import trio
import trio.testing

import minimns
from minimns import errors
from minimns.journal import Store, TailDamage, frame, read_frames
from minimns.journal.store import JournalDamaged, recover_data_dir
from minimns.journal.log import RECORD_MAX
from tests.conftest import EPOCH_MS

HEADER = struct.Struct("<II")
JOURNAL = "journal-0.log"
REASONS = {
    "a frame header cut short",
    "a record cut short",
    "a record failing its CRC",
    "a record that does not unpack",
}


def run(afn, *args):
    return trio.run(afn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


def boundaries(data: bytes) -> list[int]:
    """The offset of every frame, and the end: parsed from the headers alone."""
    out, offset = [0], 0
    while offset < len(data):
        length, _ = HEADER.unpack_from(data, offset)
        offset += HEADER.size + length
        out.append(offset)
    assert offset == len(data)
    return out


async def _write_workload(path) -> None:
    """meta, cq, 6 sends, then the last three: a receive, a delete, a send."""
    async with minimns.open_broker(data_dir=str(path), fsync="never", epoch_ms=EPOCH_MS,
                                   seed=1) as broker:
        queue = await broker.create_queue("q", visibility_timeout=30)
        for i in range(6):
            await queue.send_message(f"m{i}", priority=1 if i == 0 else 8)
            await trio.sleep(1)
        got = await queue.receive_message()
        await trio.sleep(1)
        await queue.delete_message(got.receipt_handle)
        await trio.sleep(1)
        await queue.send_message("last")


async def _recover(path, append: str | None = None) -> tuple[dict, list[str]]:
    """Open a broker on ``path``: its state (without "now") and the bodies of its messages;
    then send ``append`` to its queue."""
    async with minimns.open_broker(data_dir=str(path), fsync="never", epoch_ms=EPOCH_MS,
                                   seed=2) as broker:
        state = broker.export()
        del state["now"]
        queue = broker.account.queues.get("q")
        bodies = sorted(r.body for r in queue.records()) if queue is not None else []
        if append is not None:
            await broker.get_queue("q").send_message(append)
    return state, bodies


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A data dir with the workload's journal; its bytes, records and frame boundaries,
    and the state (and bodies) recovered from each clean prefix of k records."""
    path = tmp_path_factory.mktemp("written") / "data"
    run(_write_workload, path)
    data = (path / JOURNAL).read_bytes()
    records, damage = read_frames(data)
    assert records[-1][0] == "clock"  # a clean close records the time reached ...
    data = data[: boundaries(data)[-2]]  # ... dropped here: the last records are the workload's
    (path / JOURNAL).write_bytes(data)
    records, damage = read_frames(data)
    assert damage is None
    bounds = boundaries(data)
    assert len(bounds) == len(records) + 1 == 12
    assert [r[0] for r in records] == ["meta", "cq", "s", "s", "s", "s", "s", "s", "r", "d", "s"]
    prefixes = {}
    for k in range(len(records) - 3, len(records) + 1):
        copy = tmp_path_factory.mktemp(f"prefix{k}")
        shutil.copy(path / JOURNAL, copy / JOURNAL)
        os.truncate(copy / JOURNAL, bounds[k])
        prefixes[k] = run(_recover, copy)
    return path, data, records, bounds, prefixes


def test_the_prefixes_are_the_states_expected(written):
    _, _, _, _, prefixes = written
    everything = [f"m{i}" for i in range(6)]
    assert prefixes[8][1] == everything  # no receive: m0 active
    assert prefixes[9][1] == everything  # m0 received (inactive)
    assert prefixes[10][1] == everything[1:]  # m0 deleted
    assert prefixes[11][1] == sorted(everything[1:] + ["last"])
    assert len({repr(state) for state, _ in prefixes.values()}) == 4


def _copy(dest, data: bytes):
    """A data dir at ``dest`` holding ``data`` as its generation-0 journal."""
    os.makedirs(dest)
    (dest / JOURNAL).write_bytes(data)
    return dest


def test_a_cut_at_every_offset_of_the_last_three_records_keeps_what_precedes_it(
    written, tmp_path, caplog
):
    path, data, records, bounds, prefixes = written
    first = bounds[len(records) - 3]
    for cut in range(first, len(data) + 1):
        kept = max(k for k, b in enumerate(bounds) if b <= cut)
        clean = cut == bounds[kept]

        # the store: exactly the records before the damaged one, and the damage
        store_dir = _copy(tmp_path / f"store-{cut}", data[:cut])
        store = Store(str(store_dir), fsync="never")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="minimns.journal"):
            recovered = store.open()
        store.close()
        assert recovered.changes == records[:kept], cut
        assert recovered.generation == 0 and recovered.snapshot is None
        if clean:
            assert recovered.damage is None, cut
            assert not caplog.records
        else:
            assert recovered.damage == TailDamage(bounds[kept], cut, recovered.damage.reason)
            assert recovered.damage.reason in REASONS
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            text = warnings[0].getMessage()
            assert f"cut at byte {bounds[kept]} of {cut}" in text and JOURNAL in text
        assert os.path.getsize(store_dir / JOURNAL) == bounds[kept]  # cut off at the damage

        # a broker: the state of the clean prefix; new changes append after the cut
        broker_dir = _copy(tmp_path / f"broker-{cut}", data[:cut])
        state, bodies = run(_recover, broker_dir, f"after {cut}")
        assert (state, bodies) == prefixes[kept], cut
        again = (broker_dir / JOURNAL).read_bytes()
        assert again[: bounds[kept]] == data[: bounds[kept]]
        changes, damage = read_frames(again)
        assert damage is None
        assert changes[:kept] == records[:kept]
        # the new send after the cut (and the time reached, recorded at the clean close)
        assert [c[0] for c in changes[kept:]] == ["s", "clock"]
        assert changes[kept][3] == f"after {cut}"
        _, bodies_again = run(_recover, broker_dir)  # the second restart sees it
        assert bodies_again == sorted(prefixes[kept][1] + [f"after {cut}"])


def test_cuts_in_the_first_records_keep_what_precedes_them(written, tmp_path):
    path, data, records, bounds, _ = written
    for cut in range(0, bounds[3] + 1):
        kept = max(k for k, b in enumerate(bounds) if b <= cut)
        store = Store(str(_copy(tmp_path / f"c{cut}", data[:cut])), fsync="never")
        recovered = store.open()
        store.close()
        assert recovered.changes == records[:kept]
        assert (recovered.damage is None) == (cut == bounds[kept])


def _flip(data: bytes, at: int, mask: int = 0xFF) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


def test_a_flipped_byte_in_the_last_record_is_a_torn_tail_cut_at_it(written, tmp_path):
    path, data, records, bounds, _ = written
    index = len(records) - 1
    start, end = bounds[index], bounds[index + 1]
    for at in range(start, end):
        for mask in (0x01, 0x80, 0xFF):
            store_dir = _copy(tmp_path / f"{at}-{mask}", _flip(data, at, mask))
            store = Store(str(store_dir), fsync="never")
            recovered = store.open()
            store.close()
            assert recovered.changes == records[:index], (at, mask)
            assert recovered.damage is not None and recovered.damage.offset == start
            assert recovered.damage.size == len(data)
            assert os.path.getsize(store_dir / JOURNAL) == start


def test_a_flipped_byte_in_the_middle_refuses_to_start_until_recover_cuts_it(written, tmp_path):
    """Intact records follow the damage: cutting would drop acknowledged changes, so the
    store refuses and touches nothing; recover_data_dir keeps a copy, cuts, reports."""
    path, data, records, bounds, _ = written
    index = len(records) // 2
    start, end = bounds[index], bounds[index + 1]
    for at in range(start, end):
        for mask in (0x01, 0x80, 0xFF):
            damaged = _flip(data, at, mask)
            store_dir = _copy(tmp_path / f"{at}-{mask}", damaged)
            with pytest.raises(JournalDamaged) as refused:
                Store(str(store_dir), fsync="never").open()
            assert f"damaged at byte {start} of {len(data)}" in str(refused.value)
            assert refused.value.later == len(records) - index - 1
            assert (store_dir / JOURNAL).read_bytes() == damaged  # untouched
            report = recover_data_dir(str(store_dir))
            assert (report.kept, report.dropped) == (index, len(records) - index - 1)
            assert report.damage is not None and report.damage.offset == start
            assert open(report.copy_path, "rb").read() == damaged
            store = Store(str(store_dir), fsync="never")
            recovered = store.open()
            store.close()
            assert recovered.changes == records[:index] and recovered.damage is None


@pytest.mark.parametrize("which", ["middle", "last"])
@pytest.mark.parametrize(
    "part, reason",
    [
        ("length-low", None),  # shorter: a CRC failure; longer: a CRC failure or cut short
        ("length-high", "a frame claiming"),
        ("crc", "a record failing its CRC"),
        ("payload", "a record failing its CRC"),
    ],
)
def test_a_flipped_header_or_payload_byte_is_reported_and_recovered_from(
    written, tmp_path, caplog, which, part, reason
):
    path, data, records, bounds, _ = written
    index = len(records) // 2 if which == "middle" else len(records) - 1
    start = bounds[index]
    at = {"length-low": start, "length-high": start + 3, "crc": start + 5,
          "payload": (start + HEADER.size + bounds[index + 1]) // 2}[part]
    broker_dir = _copy(tmp_path / "d", _flip(data, at))
    with caplog.at_level(logging.WARNING, logger="minimns.journal"):
        if which == "middle":  # refused first; recovered on request
            with pytest.raises(JournalDamaged):
                run(_recover, broker_dir, "after")
            recover_data_dir(str(broker_dir))
        run(_recover, broker_dir, "after")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"cut at byte {start} of {len(data)}" in warnings[0]
    if reason is not None:
        assert reason in warnings[0]
    changes, damage = read_frames((broker_dir / JOURNAL).read_bytes())
    assert damage is None
    assert changes[:index] == records[:index]
    assert [c[0] for c in changes[index:]] == ["s", "clock"]  # the new send, the close
    _, bodies = run(_recover, broker_dir)
    assert "after" in bodies


def test_a_cut_journal_after_a_snapshot_keeps_the_snapshot_and_the_changes_before_it(tmp_path):
    async def write(path):
        async with minimns.open_broker(data_dir=str(path), fsync="never",
                                       epoch_ms=EPOCH_MS) as broker:
            queue = await broker.create_queue("q")
            await queue.send_message("in the snapshot")
            broker.journal.compact()
            await queue.send_message("journaled 1")
            await queue.send_message("journaled 2")

    path = tmp_path / "data"
    run(write, path)
    journal = path / "journal-1.log"
    data = journal.read_bytes()
    bounds = boundaries(data)
    assert len(bounds) == 4  # two sends, then the time reached at the clean close
    os.truncate(journal, bounds[2] - 1)  # the second send torn
    state, bodies = run(_recover, path)
    assert bodies == ["in the snapshot", "journaled 1"]
    assert sorted(os.listdir(path)) == ["LOCK", "journal-1.log", "snapshot-1.msgpack"]
    kept, damage = read_frames(journal.read_bytes())  # cut at the torn record, then the close
    assert damage is None and [change[0] for change in kept] == ["s", "clock"]
    assert kept[0][3] == "journaled 1"


# -- half-written snapshots ------------------------------------------------------------------


async def _compacted(path) -> dict:
    async with minimns.open_broker(data_dir=str(path), fsync="never", epoch_ms=EPOCH_MS,
                                   seed=4) as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("before the snapshot")
        broker.journal.compact()
        await queue.send_message("after the snapshot")
        got = await queue.receive_message()
        await queue.change_message_visibility(got.receipt_handle, 100)
        state = broker.export()
        del state["now"]
        return state


@pytest.mark.parametrize("torn", ["half", "whole", "empty"])
def test_a_snapshot_written_as_tmp_and_never_renamed_is_ignored(tmp_path, torn):
    path = tmp_path / "data"
    before = run(_compacted, path)
    snapshot = (path / "snapshot-1.msgpack").read_bytes()
    # a compaction to generation 2 stopped before its rename: the .tmp and the new
    # (empty) journal exist, snapshot-2.msgpack does not
    tmp = {"half": snapshot[: len(snapshot) // 2], "whole": snapshot, "empty": b""}[torn]
    (path / "snapshot-2.msgpack.tmp").write_bytes(tmp)
    (path / "journal-2.log").write_bytes(b"")
    state, bodies = run(_recover, path)
    assert state == before
    assert bodies == ["after the snapshot", "before the snapshot"]
    store = Store(str(path), fsync="never")
    recovered = store.open()
    store.close()
    assert recovered.generation == 1 and recovered.damage is None


def test_a_tmp_snapshot_beside_a_journal_without_snapshot_is_ignored(tmp_path, written):
    path, data, records, _, prefixes = written
    copy = _copy(tmp_path / "d", data)
    (copy / "snapshot-1.msgpack.tmp").write_bytes(b"\x85\xa6format\x01\xa3now")  # torn
    (copy / "journal-1.log").write_bytes(frame(["s", 0, "q", "never", None, None, None]))
    assert run(_recover, copy) == prefixes[len(records)]


# -- read_frames and frame ------------------------------------------------------------------


RECORDS = [
    ["meta", 1, {"push_seed": 2**64 - 1}],
    ["s", EPOCH_MS, "q", "body \u00e9\u4e2d", None, 16, [None, [["k", "v", "STRING"]], []]],
    {1: "int keys", "nested": [1.5, True, None, b"\x00\xff"]},
    "",
    [],
]


def test_frame_is_length_crc_and_msgpack():
    for record in RECORDS:
        framed = frame(record)
        length, crc = HEADER.unpack_from(framed)
        payload = framed[HEADER.size :]
        assert length == len(payload) and crc == zlib.crc32(payload)
        assert msgpack.unpackb(payload, raw=False, strict_map_key=False) == record


def test_read_frames_reads_back_what_was_framed():
    assert read_frames(b"") == ([], None)
    data = b"".join(frame(r) for r in RECORDS)
    assert read_frames(data) == (RECORDS, None)


def test_read_frames_cut_anywhere_keeps_the_whole_frames_before_it():
    frames = [frame(r) for r in RECORDS]
    data = b"".join(frames)
    bounds = boundaries(data)
    for cut in range(len(data) + 1):
        kept = max(k for k, b in enumerate(bounds) if b <= cut)
        records, damage = read_frames(data[:cut])
        assert records == RECORDS[:kept]
        if cut == bounds[kept]:
            assert damage is None
            continue
        into = cut - bounds[kept]
        reason = "a frame header cut short" if into < HEADER.size else "a record cut short"
        assert damage == TailDamage(bounds[kept], cut, reason)


def _raw_frame(payload: bytes, length: int | None = None, crc: int | None = None) -> bytes:
    return HEADER.pack(len(payload) if length is None else length,
                       zlib.crc32(payload) if crc is None else crc) + payload


@pytest.mark.parametrize(
    "bad, reason",
    [
        (_raw_frame(b"\x01", crc=12345), "a record failing its CRC"),
        (_raw_frame(msgpack.packb("x"), length=RECORD_MAX + 1),
         f"a frame claiming {RECORD_MAX + 1} bytes"),
        (_raw_frame(b"\xc1"), "a record that does not unpack"),  # never used in msgpack
        (_raw_frame(b"\x01\x02"), "a record that does not unpack"),  # two values
        (_raw_frame(b"\x92\x01"), "a record that does not unpack"),  # an array cut short
        (_raw_frame(b""), "a record that does not unpack"),  # an empty payload
        (_raw_frame(b"\x01\x02\x03")[:-1], "a record cut short"),  # only at the end
        (b"\x00" * 7, "a frame header cut short"),  # only at the end
    ],
)
def test_read_frames_stops_at_a_bad_frame(bad, reason):
    good = frame(["s", 1]) + frame(["d", 2])
    trailing = b"" if "cut short" in reason else frame(["after", 3])
    records, damage = read_frames(good + bad + trailing)
    assert records == [["s", 1], ["d", 2]]
    assert damage is not None and damage.offset == len(good) and damage.reason == reason
    assert damage.size == len(good) + len(bad) + len(trailing)
    # alone too
    records, damage = read_frames(bad)
    assert records == [] and damage == TailDamage(0, len(bad), reason)


def test_a_zero_filled_tail_is_damage():
    """A file extended by the filesystem but never written (zeros after a crash)."""
    data = frame(["s", 1]) + b"\x00" * 64
    records, damage = read_frames(data)
    assert records == [["s", 1]]
    assert damage is not None and damage.offset == len(frame(["s", 1]))


def test_an_intact_record_that_cannot_be_replayed_is_logged_and_skipped(
    written, tmp_path, caplog
):
    """A record with a valid frame whose change fails (here: a delete with a garbled
    handle) is logged and replayed around, never a crash."""
    path, data, records, _, prefixes = written
    bogus = frame(["d", EPOCH_MS + 9_000, "q", "1-0-1-1"])
    copy = _copy(tmp_path / "d", data + bogus)
    with caplog.at_level(logging.ERROR, logger="minimns.broker"):
        state, bodies = run(_recover, copy)
    assert (state, bodies) == prefixes[len(records)]
    assert any("could not be replayed" in r.getMessage() and errors.ReceiptHandleError.__name__
               in r.getMessage() for r in caplog.records)


def test_a_crash_between_the_rename_and_the_removal_of_the_old_generation(tmp_path):
    """Both generations on disk: the newer one (its snapshot complete) is recovered and
    the older one's files are removed."""

    async def write(path):
        async with minimns.open_broker(data_dir=str(path), fsync="never",
                                       epoch_ms=EPOCH_MS) as broker:
            queue = await broker.create_queue("q")
            await queue.send_message("one")
            await trio.sleep(1)  # (never writes its journal every interval)
            shutil.copy(path / JOURNAL, path.parent / "old-journal")
            broker.journal.compact()
            await queue.send_message("two")
            state = broker.export()
            del state["now"]
            return state

    path = tmp_path / "data"
    before = run(write, path)
    shutil.copy(tmp_path / "old-journal", path / JOURNAL)  # generation 0 left behind
    assert sorted(os.listdir(path)) == ["LOCK", JOURNAL, "journal-1.log", "snapshot-1.msgpack"]
    state, bodies = run(_recover, path)
    assert state == before and bodies == ["one", "two"]
    assert sorted(os.listdir(path)) == ["LOCK", "journal-1.log", "snapshot-1.msgpack"]


def test_minimns_serve_refuses_a_journal_damaged_in_the_middle_and_recover_reports(
        written, tmp_path):
    path, data, records, bounds, _ = written
    index = len(records) // 2
    damaged = _flip(data, bounds[index] + 5)  # the CRC of a record in the middle
    store_dir = _copy(tmp_path / "d", damaged)
    serve = [sys.executable, "-m", "minimns", "serve", "--port", "0", "--data-dir", str(store_dir)]
    refused = subprocess.run(serve, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert f"damaged at byte {bounds[index]} of {len(data)}" in refused.stderr
    assert str(store_dir / JOURNAL) in refused.stderr and "minimns recover" in refused.stderr
    assert (store_dir / JOURNAL).read_bytes() == damaged
    recover = [sys.executable, "-m", "minimns", "recover", "--data-dir", str(store_dir)]
    done = subprocess.run(recover, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"kept:    the {index} records" in done.stdout
    assert f"dropped: {len(records) - index - 1} intact records" in done.stdout
    assert os.path.exists(str(store_dir / JOURNAL) + ".damaged")
    again = subprocess.run(recover, capture_output=True, text=True, timeout=60)
    assert "is intact" in again.stdout


def test_a_write_that_fails_half_way_leaves_a_journal_that_opens_cleanly(tmp_path, monkeypatch):
    """A disk that fills up mid-write: the partial frame is cut back and nothing more
    is written, so the next start sees a clean journal, not damage in the middle."""
    import errno

    from minimns.journal import store as store_module

    real_write = store_module.Store._write
    fail = {"next": False}

    def flaky(fd, data):
        if fail["next"]:
            fail["next"] = False
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(store_module.Store, "_write", staticmethod(flaky))

    async def main():
        async with minimns.open_broker(data_dir=str(tmp_path), fsync="always") as broker:
            queue = await broker.create_queue("q")
            await queue.send_message("acknowledged")
            fail["next"] = True
            await queue.send_message("never acknowledged" * 10)

    with pytest.raises(BaseException):
        trio.run(main)
    monkeypatch.setattr(store_module.Store, "_write", staticmethod(real_write))
    store = Store(str(tmp_path), fsync="never")
    recovered = store.open()
    store.close()
    assert recovered.damage is None
    assert [c[0] for c in recovered.changes] == ["meta", "cq", "s"]
