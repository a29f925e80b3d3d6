"""The prediction log's spool writer: what a request hands over (a `Record`: its answer encoded,
its body as received) reaches the segment as one line the shipper decodes, whatever the number
of records in one pass, and a short write by the OS is finished, not torn."""

from __future__ import annotations

import os

import msgspec
import pytest

from retail_api import prediction_spool
from retail_api.prediction_spool import READY, Captured, SpoolWriter, captured, ready_segments


def _records(count: int) -> list[prediction_spool.Record]:
    records = []
    for number in range(count):
        baskets = number % 3 + 1
        body = msgspec.json.encode({"baskets": [{"basket_id": f"B{number}-{i}"} for i in range(baskets)]})
        if number % 7 == 0:  # a pretty-printed body: its line breaks must not split the spool line
            body = body.replace(b",", b",\n")
        records.append(captured(f"r{number}", "v1", True, ["LA"] * baskets, [[0.5, 0.25, 0.25]] * baskets, body))
    return records


def _spooled(directory) -> list[Captured]:
    [segment] = ready_segments(directory)
    decode = msgspec.json.Decoder(Captured).decode
    return [decode(line) for line in segment.read_bytes().splitlines()]


def test_every_record_of_a_pass_becomes_one_line_with_its_body_verbatim(tmp_path):
    records = _records(900)  # 2,700 parts: more than one writev may take (IOV_MAX)
    writer = SpoolWriter(tmp_path, max_bytes=1 << 30, segment_seconds=3600, segment_rows=1 << 30)
    written = writer.append(records)
    writer.seal()
    lines = _spooled(tmp_path)
    assert written == sum(len(r.head) + len(r.body) + len(prediction_spool.RECORD_END) for r in records)
    assert [line.request_id for line in lines] == [f"r{n}" for n in range(900)]
    for line, record in zip(lines, records, strict=True):
        assert bytes(line.body) == record.body and b"\n" not in record.body
        assert msgspec.json.decode(line.body)["baskets"][0]["basket_id"] == f"B{line.request_id[1:]}-0"
        assert len(line.codes) == len(line.probabilities) == record.rows


def test_a_short_write_is_resumed_where_it_stopped(tmp_path, monkeypatch):
    """The OS may write fewer bytes than asked (a regular file does when its disk is nearly full,
    which cannot be arranged here): a double of os.writev writes at most 1,000 bytes a call,
    through the real os.writev, so the writer must resume mid-part until every byte is written."""
    real_writev = os.writev

    def short_writev(fd: int, parts) -> int:
        budget, taken = 1000, []
        for part in parts:
            if budget <= 0:
                break
            taken.append(bytes(part)[:budget])
            budget -= len(taken[-1])
        return real_writev(fd, taken)

    monkeypatch.setattr(prediction_spool.os, "writev", short_writev)
    records = _records(40)
    writer = SpoolWriter(tmp_path, max_bytes=1 << 30, segment_seconds=3600, segment_rows=1 << 30)
    writer.append(records)
    writer.seal()
    assert [bytes(line.body) for line in _spooled(tmp_path)] == [record.body for record in records]


def test_a_disk_that_takes_nothing_more_is_an_error_not_a_silent_loss(tmp_path, monkeypatch):
    monkeypatch.setattr(prediction_spool.os, "writev", lambda fd, parts: 0)
    writer = SpoolWriter(tmp_path, max_bytes=1 << 30, segment_seconds=3600, segment_rows=1 << 30)
    with pytest.raises(OSError, match="accepted no more bytes"):
        writer.append(_records(2))
    writer.seal()
    assert [path.suffix for path in tmp_path.iterdir()] == [READY]


def _resident_pages(path) -> tuple[int, int]:
    """(pages of the file in the page cache, pages of the file), from Linux's mincore(2)."""
    import ctypes
    import mmap

    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype, libc.mmap.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    with path.open("rb") as file:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, file.fileno(), 0)
        assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            vector = ctypes.create_string_buffer(pages)
            assert libc.mincore(address, size, vector) == 0, os.strerror(ctypes.get_errno())
            return sum(byte & 1 for byte in vector.raw), pages
        finally:
            libc.munmap(address, size)


@pytest.mark.skipif(not hasattr(os, "POSIX_FADV_DONTNEED") or os.uname().sysname != "Linux", reason="mincore and fadvise as Linux has them")
def test_a_synced_pass_is_on_disk_and_leaves_the_page_cache(tmp_path):
    """After the writer thread's pass (append, then sync) the segment's bytes are no longer held in
    the page cache: the spool does not grow the API's memory while the shipper or the lake lags.
    Without sync every page written stays cached (the first assertion shows it)."""
    writer = SpoolWriter(tmp_path, max_bytes=1 << 30, segment_seconds=3600, segment_rows=1 << 30)
    body = msgspec.json.encode({"baskets": [{"basket_id": "B" * 2000}]})
    records = [captured(f"r{n}", "v1", True, ["LA"], [[0.5, 0.25, 0.25]], body) for n in range(2000)]  # ~4 MB
    writer.append(records)
    [segment] = tmp_path.glob("*.open")
    cached, pages = _resident_pages(segment)
    assert cached > pages * 0.9  # written, not yet synced: in the cache
    writer.sync()
    cached, pages = _resident_pages(segment)
    assert cached < pages * 0.1
    writer.append(records[:10])  # the next pass: only its own bytes are cached, until its sync
    writer.seal()  # seal syncs too
    cached, _ = _resident_pages(next(iter(ready_segments(tmp_path))))
    assert cached < pages * 0.1
    assert [line.request_id for line in _spooled(tmp_path)] == [f"r{n}" for n in range(2000)] + [f"r{n}" for n in range(10)]


def test_a_failed_sync_at_seal_still_seals_and_keeps_every_row(tmp_path, monkeypatch, caplog):
    """fdatasync can fail (EIO on a failing disk): the bytes are still in the file's cache, so the
    segment is sealed anyway for the shipper and the failure is logged, not counted as a loss."""

    def failing_fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(prediction_spool.os, "fdatasync", failing_fdatasync)
    writer = SpoolWriter(tmp_path, max_bytes=1 << 30, segment_seconds=3600, segment_rows=1 << 30)
    records = _records(30)
    writer.append(records)
    with pytest.raises(OSError):
        writer.sync()  # the writer thread's pass sees it (and logs it)
    writer.seal()
    assert "could not sync" in caplog.text
    assert [bytes(line.body) for line in _spooled(tmp_path)] == [record.body for record in records]


def test_a_system_without_fdatasync_syncs_with_fsync(tmp_path, monkeypatch):
    """macOS's Python has no os.fdatasync: the writer falls back to os.fsync (here the real one)
    rather than failing every pass of the writer thread."""
    monkeypatch.delattr(prediction_spool.os, "fdatasync")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(prediction_spool.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    writer = SpoolWriter(tmp_path, max_bytes=1 << 30, segment_seconds=3600, segment_rows=1 << 30)
    records = _records(5)
    writer.append(records)
    writer.sync()
    writer.seal()
    assert synced
    assert [bytes(line.body) for line in _spooled(tmp_path)] == [record.body for record in records]
