"""The frame journal: round trip, resume positions, and torn tails after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixity.errors import DataIntegrityError
from pixity.feeds.journal import MAGIC, JournalWriter, read_journal, valid_length

payloads = st.lists(st.binary(max_size=300), max_size=40)


@given(payloads, st.data())
@settings(max_examples=50)
def test_round_trip_and_resume_from_any_record(
    tmp_path_factory: pytest.TempPathFactory, frames: list[bytes], data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("j") / "day.journal"
    ends = []
    with JournalWriter(path) as journal:
        for i, frame in enumerate(frames):
            ends.append(journal.append(frame, received_ns=i))
    records = list(read_journal(path))
    assert [r.payload for r in records] == frames
    assert [r.received_ns for r in records] == list(range(len(frames)))
    assert [r.end for r in records] == ends
    if frames:
        k = data.draw(st.integers(0, len(frames) - 1))
        resumed = list(read_journal(path, records[k].end))
        assert [r.payload for r in resumed] == frames[k + 1 :]


def test_reopening_appends_after_existing_records(tmp_path: Path) -> None:
    path = tmp_path / "day.journal"
    with JournalWriter(path) as journal:
        journal.append(b"one", 1)
    with JournalWriter(path) as journal:
        assert journal.position == valid_length(path)
        journal.append(b"two", 2)
    assert [r.payload for r in read_journal(path)] == [b"one", b"two"]


@pytest.mark.parametrize("cut", [1, 5, 12, 16, 18])
def test_torn_tail_is_ignored_by_readers_and_truncated_by_the_writer(
    tmp_path: Path, cut: int
) -> None:
    path = tmp_path / "day.journal"
    with JournalWriter(path) as journal:
        journal.append(b"kept", 1)
        whole = journal.append(b"cut short by a crash", 2)
    with path.open("r+b") as handle:
        handle.truncate(whole - cut)
    assert [r.payload for r in read_journal(path)] == [b"kept"]
    with JournalWriter(path) as journal:
        journal.append(b"after restart", 3)
    assert [r.payload for r in read_journal(path)] == [b"kept", b"after restart"]


def test_corrupted_record_ends_the_readable_part(tmp_path: Path) -> None:
    path = tmp_path / "day.journal"
    with JournalWriter(path) as journal:
        first = journal.append(b"good", 1)
        journal.append(b"flipped", 2)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert [r.payload for r in read_journal(path)] == [b"good"]
    assert valid_length(path) == first


def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "day.journal"
    path.write_bytes(b"not a journal")
    with pytest.raises(DataIntegrityError, match="not a pixity journal"):
        list(read_journal(path))
    assert MAGIC == b"PXJ1"
