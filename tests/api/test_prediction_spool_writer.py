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
