"""The history lake on real Parquet files in tmp_path, read back with DuckDB."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixity.domain import Bar, Tick
from pixity.errors import InvalidValueError, StoreError
from pixity.frames import BAR_DTYPES, TICK_DTYPES
from pixity.markettime import IST, ist
from pixity.sample import SampleMarket, SymbolProfile
from pixity.stores import lake

A = "NSE_EQ|INE155A01022"
B = "NSE_EQ|INE467B01029"
DAY1, DAY2 = date(2024, 1, 2), date(2024, 1, 3)


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket(
        [A, B], seed=7, profiles={B: SymbolProfile(base_price=640.0, ticks_per_minute=4)}
    )


@pytest.fixture(scope="module")
def two_days(market: SampleMarket) -> list[Bar]:
    return market.bars_1m(DAY1) + market.bars_1m(DAY2)


def bar(minute: int = 0, day: date = DAY1, symbol: str = A, **fields: object) -> Bar:
    values: dict[str, object] = {
        "symbol": symbol,
        "ts": datetime.combine(day, datetime.min.time(), IST)
        + timedelta(hours=9, minutes=15 + minute),
        "minutes": 1,
        "open": 100.0,
        "high": 101.0,
        "low": 99.5,
        "close": 100.5,
        "volume": 1200,
        "tick_count": 7,
        "closed": True,
    }
    values.update(fields)
    return Bar(**values)  # type: ignore[arg-type]


def lake_files(data_dir: Path) -> list[str]:
    root = data_dir / "history"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def shifted(bars: list[Bar], by: float) -> list[Bar]:
    return [
        dataclasses.replace(
            b, open=b.open + by, high=b.high + by, low=b.low + by, close=b.close + by
        )
        for b in bars
    ]


# ---------------------------------------------------------------- round trip and layout


def test_round_trip_keeps_every_column_and_the_timezone(
    tmp_path: Path, two_days: list[Bar]
) -> None:
    lake.write_bars(tmp_path, two_days)
    frame = lake.read_bars(tmp_path)
    assert dict(frame.dtypes) == BAR_DTYPES
    assert str(frame["bar_ts"].dt.tz) == "Asia/Kolkata"
    expected = sorted(two_days, key=lambda b: (b.symbol, b.ts))
    assert lake.bars_from_frame(frame) == expected
    assert frame.equals(lake.frame_from_bars(expected))
    first = frame["bar_ts"].iloc[0].to_pydatetime()
    assert first == ist(2024, 1, 2, 9, 15) and first.utcoffset() == timedelta(hours=5, minutes=30)


def test_files_are_one_per_date_and_symbol_with_safe_names(
    tmp_path: Path, two_days: list[Bar]
) -> None:
    written = lake.write_bars(tmp_path, two_days)
    assert lake_files(tmp_path) == [
        "bars_1m/date=2024-01-02/NSE_EQ%7CINE155A01022.parquet",
        "bars_1m/date=2024-01-02/NSE_EQ%7CINE467B01029.parquet",
        "bars_1m/date=2024-01-03/NSE_EQ%7CINE155A01022.parquet",
        "bars_1m/date=2024-01-03/NSE_EQ%7CINE467B01029.parquet",
    ]
    assert sorted(written) == sorted((tmp_path / "history").rglob("*.parquet"))
    schema = pq.read_schema(written[0])
    assert schema.field("bar_ts").type == pa.timestamp("us", tz="Asia/Kolkata")
    assert [schema.field(c).type for c in ("volume", "tick_count")] == [pa.int64(), pa.int64()]
    assert lake.available_dates(tmp_path) == [DAY1, DAY2]
    assert lake.available_symbols(tmp_path, DAY1) == [A, B]
    # A day folder with nothing finished in it (empty, or a write's temp file) is no date.
    root = tmp_path / "history" / "bars_1m"
    (root / "date=2024-01-04").mkdir()
    (root / "date=2024-01-05").mkdir()
    (root / "date=2024-01-05" / "NSE_EQ%7CINE155A01022.parquet.tmp").write_bytes(b"half")
    (root / "date=2024-01-06").write_bytes(b"a file, not a folder")
    assert lake.available_dates(tmp_path) == [DAY1, DAY2]


def test_an_index_key_with_a_space_round_trips(tmp_path: Path) -> None:
    nifty = "NSE_INDEX|Nifty 50"
    lake.write_bars(tmp_path, [bar(symbol=nifty), bar(1, symbol=nifty)])
    assert lake_files(tmp_path) == ["bars_1m/date=2024-01-02/NSE_INDEX%7CNifty%2050.parquet"]
    assert lake.read_bars(tmp_path, [nifty])["symbol"].tolist() == [nifty, nifty]


def test_rewrite_replaces_the_file_and_is_idempotent(tmp_path: Path, two_days: list[Bar]) -> None:
    lake.write_bars(tmp_path, two_days)
    lake.write_bars(tmp_path, two_days)
    once = lake.read_bars(tmp_path)
    assert len(once) == len(two_days)
    day1_a = [b for b in two_days if b.symbol == A and b.ts.date() == DAY1]
    lake.write_bars(tmp_path, shifted(day1_a[:10], 1.0))
    after = lake.read_bars(tmp_path, [A], DAY1, DAY1)
    assert lake.bars_from_frame(after) == shifted(day1_a[:10], 1.0)
    assert len(lake.read_bars(tmp_path)) == len(two_days) - len(day1_a) + 10


def test_a_frame_can_be_written_too(tmp_path: Path, market: SampleMarket) -> None:
    frame = market.bars_frame([DAY1])
    lake.write_bars(tmp_path, frame.assign(closed=True, minutes=1))
    assert lake.read_bars(tmp_path).equals(frame)


@settings(max_examples=25)
@given(
    prices=st.lists(
        st.floats(min_value=0.01, max_value=1e7, allow_nan=False), min_size=4, max_size=4
    ),
    volume=st.integers(0, 2**62),
)
def test_any_valid_values_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory, prices: list[float], volume: int
) -> None:
    low, open_, close, high = sorted(prices)
    one = bar(open=open_, high=high, low=low, close=close, volume=volume, tick_count=volume)
    data_dir = tmp_path_factory.mktemp("lake")
    lake.write_bars(data_dir, [one])
    assert lake.bars_from_frame(lake.read_bars(data_dir)) == [one]


# ---------------------------------------------------------------- filtering


def test_filter_by_symbol(tmp_path: Path, two_days: list[Bar]) -> None:
    lake.write_bars(tmp_path, two_days)
    only_b = lake.read_bars(tmp_path, [B])
    assert set(only_b["symbol"]) == {B}
    assert len(only_b) == sum(b.symbol == B for b in two_days)
    assert len(lake.read_bars(tmp_path, [A, B])) == len(two_days)


def test_dates_are_whole_days_inclusive(tmp_path: Path, two_days: list[Bar]) -> None:
    lake.write_bars(tmp_path, two_days)
    day2 = lake.read_bars(tmp_path, None, DAY2, DAY2)
    assert set(day2["bar_ts"].dt.date) == {DAY2}
    assert len(lake.read_bars(tmp_path, None, DAY1, DAY2)) == len(two_days)
    assert len(lake.read_bars(tmp_path, None, DAY2)) == len(day2)
    assert len(lake.read_bars(tmp_path, None, None, DAY1)) == len(two_days) - len(day2)


def test_datetimes_are_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    lake.write_bars(tmp_path, [bar(m) for m in range(5)])
    start, end = ist(2024, 1, 2, 9, 16), ist(2024, 1, 2, 9, 18)
    got = lake.read_bars(tmp_path, [A], start, end)
    assert [t.to_pydatetime() for t in got["bar_ts"]] == [start, ist(2024, 1, 2, 9, 17)]
    # The same instant in UTC selects the same bars.
    utc = lake.read_bars(tmp_path, [A], start.astimezone(IST).astimezone(tz=None), end)
    assert utc.equals(got)


def test_naive_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="naive"):
        lake.read_bars(tmp_path, None, datetime(2024, 1, 2, 9, 15))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("symbols", "start", "end"),
    [
        (None, None, None),  # nothing written at all
        (["NSE_EQ|INE000000000"], None, None),
        ([A], date(2023, 1, 2), date(2023, 1, 3)),
        ([A], ist(2024, 1, 2, 15, 30), ist(2024, 1, 2, 16, 0)),
    ],
)
def test_empty_results_keep_columns_and_dtypes(
    tmp_path: Path, symbols: list[str] | None, start: date | None, end: date | None
) -> None:
    if symbols is not None:
        lake.write_bars(tmp_path, [bar(m) for m in range(3)])
    empty = lake.read_bars(tmp_path, symbols, start, end)
    assert empty.empty
    assert dict(empty.dtypes) == BAR_DTYPES


# ---------------------------------------------------------------- rejecting bad bars


def frame_of(bars: list[Bar]) -> pd.DataFrame:
    return lake.frame_from_bars(bars)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([bar(), bar(1, closed=False)], "forming"),
        ([bar(minutes=5)], "5m"),
        ([bar(-30)], "between 09:15 and 15:29"),
        ([bar(375)], "between 09:15 and 15:29"),
        ([bar(day=date(2024, 1, 6))], "not an NSE trading day"),  # a Saturday
        (frame_of([bar(), bar()]), "two bars for the same symbol and time"),
        (frame_of([bar()]).assign(high=99.0), "high 99.0 < low 99.5"),
        (frame_of([bar()]).assign(close=102.0), "close 102.0 outside low 99.5 .. high 101.0"),
        (frame_of([bar(), bar(1)]).assign(low=float("nan")), "missing values"),
        (frame_of([bar()]).assign(open=float("inf"), high=float("inf")), "finite"),
        (frame_of([bar()]).assign(volume=-1), "volume -1 must be >= 0"),
        (frame_of([bar()]).assign(bar_ts=pd.Timestamp("2024-01-02 09:15")), "tz-aware"),
        (frame_of([bar()]).assign(bar_ts=pd.Timestamp("2024-01-02 09:15:30+05:30")), "minute"),
        (frame_of([bar()]).assign(symbol="RELIANCE"), "instrument key"),
        (frame_of([bar()]).assign(closed=False), "closed"),
        (frame_of([bar()]).assign(note="x"), "unknown columns"),
        (frame_of([bar()]).drop(columns="tick_count"), "lacks columns"),
    ],
)
def test_bad_bars_are_rejected_and_nothing_is_written(
    tmp_path: Path, bad: list[Bar] | pd.DataFrame, match: str
) -> None:
    lake.write_bars(tmp_path, [bar(200, day=DAY2)])
    before = lake_files(tmp_path)
    with pytest.raises(InvalidValueError, match=match):
        lake.write_bars(tmp_path, bad)
    assert lake_files(tmp_path) == before


def test_the_message_names_the_first_bad_row_and_counts_the_rest(tmp_path: Path) -> None:
    frame = frame_of([bar(m) for m in range(4)]).assign(volume=[1, -1, -2, -3])
    with pytest.raises(
        InvalidValueError, match=r"NSE_EQ\|INE155A01022 2024-01-02T09:16:00\+05:30.*2 more"
    ):
        lake.write_bars(tmp_path, frame)


# ---------------------------------------------------------------- atomicity


def test_readers_ignore_a_partial_temp_file_and_the_next_write_removes_it(tmp_path: Path) -> None:
    lake.write_bars(tmp_path, [bar(0)])
    final = lake.file_path(tmp_path, lake.BARS, DAY1, A)
    stray = final.with_name(final.name + ".4242.deadbeef.tmp")
    stray.write_bytes(final.read_bytes()[:100])  # what a crash mid-write leaves
    assert len(lake.read_bars(tmp_path)) == 1
    assert lake.available_symbols(tmp_path, DAY1) == [A]
    lake.write_bars(tmp_path, [bar(0), bar(1)])
    assert not stray.exists()
    assert len(lake.read_bars(tmp_path)) == 2


FAILING_WRITER = """
import resource, signal, sys
from datetime import date
from pixity.errors import StoreError
from pixity.sample import SampleMarket
from pixity.stores.lake import write_bars

bars = SampleMarket([sys.argv[2]], seed=99).bars_1m(date(2024, 1, 2))
# A real I/O failure part way through the file: the disk "fills up" at 4 KiB.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_bars(sys.argv[1], bars)
except StoreError as exc:
    print("StoreError:", exc)
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE fault injection is Linux-only")
def test_a_failed_write_leaves_the_previous_file_intact(
    tmp_path: Path, two_days: list[Bar]
) -> None:
    lake.write_bars(tmp_path, two_days)
    target = lake.file_path(tmp_path, lake.BARS, DAY1, A)
    before = target.read_bytes()
    assert len(before) > 4096
    result = subprocess.run(
        [sys.executable, "-c", FAILING_WRITER, str(tmp_path), A],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "could not write lake file" in result.stdout
    assert target.read_bytes() == before
    assert not list(target.parent.glob("*.tmp"))
    assert lake.bars_from_frame(lake.read_bars(tmp_path, [A], DAY1, DAY1)) == [
        b for b in two_days if b.symbol == A and b.ts.date() == DAY1
    ]


READER = """
import json, sys, time
from pixity.stores.lake import read_bars

data_dir, seconds, allowed = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
reads, deadline = 0, time.monotonic() + seconds
while time.monotonic() < deadline:
    frame = read_bars(data_dir)
    for symbol, rows in frame.groupby("symbol"):
        seen = [len(rows), round(float(rows["close"].sum()), 4)]
        if seen not in allowed[symbol]:
            print("torn read:", symbol, seen, allowed[symbol])
            sys.exit(1)
    reads += 1
print(reads)
"""


def test_a_reader_in_another_process_never_sees_a_torn_file(
    tmp_path: Path, market: SampleMarket
) -> None:
    # Each file is atomic on its own: a reader sees every (date, symbol) whole, old or new.
    old = market.bars_1m(DAY1)
    new = shifted(old, 0.5)
    allowed = {
        symbol: [
            [len(rows), round(sum(b.close for b in rows), 4)]
            for rows in ([b for b in v if b.symbol == symbol] for v in (old, new))
        ]
        for symbol in (A, B)
    }
    lake.write_bars(tmp_path, old)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), "2.5", json.dumps(allowed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writes, deadline = 0, time.monotonic() + 60
    while reader.poll() is None and time.monotonic() < deadline:
        lake.write_bars(tmp_path, new if writes % 2 else old)
        writes += 1
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, out + err
    assert int(out.strip()) > 5 and writes > 5


# ---------------------------------------------------------------- ticks


def test_ticks_round_trip_in_receive_order(tmp_path: Path, market: SampleMarket) -> None:
    ticks = market.ticks(DAY1)
    ticks[5] = dataclasses.replace(ticks[5], cum_volume=None)  # a feed without vtt
    lake.write_ticks(tmp_path, ticks)
    frame = lake.read_ticks(tmp_path)
    assert dict(frame.dtypes) == TICK_DTYPES
    assert lake.ticks_from_frame(frame) == ticks
    assert lake.available_dates(tmp_path, lake.TICKS) == [DAY1]
    assert lake.available_dates(tmp_path) == []


def test_ticks_filter_by_symbol_and_exchange_time(tmp_path: Path, market: SampleMarket) -> None:
    lake.write_ticks(tmp_path, market.ticks_frame(DAY1))
    start, end = ist(2024, 1, 2, 10, 0), ist(2024, 1, 2, 10, 5)
    got = lake.ticks_from_frame(lake.read_ticks(tmp_path, [B], start, end))
    assert got == [t for t in market.ticks(DAY1) if t.symbol == B and start <= t.ts < end]
    assert lake.read_ticks(tmp_path, [A], DAY2, DAY2).empty


def test_bad_ticks_are_rejected(tmp_path: Path) -> None:
    tick = Tick(
        symbol=A, ts=ist(2024, 1, 2, 9, 15), price=10.0, last_qty=1, cum_volume=1, volume=1, seq=1
    )
    with pytest.raises(InvalidValueError, match="two ticks of one symbol and day with seq 1"):
        lake.write_ticks(tmp_path, [tick, tick])
    frame = lake.frame_from_ticks([tick]).assign(ltp=-1.0)
    with pytest.raises(InvalidValueError, match="ltp -1.0 must be finite and > 0"):
        lake.write_ticks(tmp_path, frame)
    assert not (tmp_path / "history").exists()


def test_a_broken_file_is_a_store_error(tmp_path: Path) -> None:
    lake.write_bars(tmp_path, [bar()])
    lake.file_path(tmp_path, lake.BARS, DAY1, A).write_bytes(b"not parquet at all")
    with pytest.raises(StoreError, match="could not read lake file"):
        lake.read_bars(tmp_path)


def test_unknown_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="unknown lake dataset"):
        lake.available_dates(tmp_path, "bars_5m")


# ---------------------------------------------------------------- a day as columns


def test_a_day_as_columns_holds_what_read_bars_gives(tmp_path: Path, two_days: list[Bar]) -> None:
    lake.write_bars(tmp_path, two_days)
    for day in (DAY1, DAY2):
        for symbols in ([A, B], [B], [B, A, "NSE_EQ|INE000000000"]):
            columns = lake.read_day_bars(tmp_path, symbols, day)
            assert columns is not None and columns.day == day
            frame = lake.read_bars(tmp_path, symbols, day, day)
            assert columns.to_bars() == lake.bars_from_frame(frame)
    empty = lake.read_day_bars(tmp_path, [A], date(2024, 1, 4))
    assert empty is not None and empty.rows == 0 and empty.symbols == ()
    with pytest.raises(InvalidValueError, match="not one string"):
        lake.read_day_bars(tmp_path, A, DAY1)


def test_a_file_the_columns_cannot_take_gives_none(tmp_path: Path) -> None:
    path = lake.file_path(tmp_path, lake.BARS, DAY1, A)
    lake.write_bars(tmp_path, [bar(0), bar(1)])
    table = pq.read_table(path)
    ts_type = table.schema.field("bar_ts").type
    two_days = pa.array([ist(2024, 1, 2, 9, 15), ist(2024, 1, 3, 9, 15)], type=ts_type)
    cases = {
        "another symbol's rows": table.set_column(0, "symbol", pa.array([A, B])),
        "rows out of order": table.take(pa.array([1, 0])),
        "a missing value": table.set_column(5, "close", pa.array([100.5, None])),
        "another day's row": table.set_column(1, "bar_ts", two_days),
    }
    for why, odd in cases.items():
        pq.write_table(odd, path)
        assert lake.read_day_bars(tmp_path, [A], DAY1) is None, why
        assert len(lake.read_bars(tmp_path, [A])) == 2  # the general read still takes it
    path.write_bytes(b"not parquet at all")
    with pytest.raises(StoreError, match="could not read lake file"):
        lake.read_day_bars(tmp_path, [A], DAY1)


def test_a_day_file_is_read_the_same_with_or_without_statistics(tmp_path: Path) -> None:
    """The symbol column is skipped only where the statistics prove it; files written without
    statistics, with several row groups, or with another symbol in one group read as ever."""
    path = lake.file_path(tmp_path, lake.BARS, DAY1, A)
    lake.write_bars(tmp_path, [bar(0), bar(1), bar(2)])
    assert lake._one_symbol_by_statistics(pq.ParquetFile(path).metadata, 0, A)
    expected = lake.read_day_bars(tmp_path, [A], DAY1)
    assert expected is not None and expected.rows == 3
    table = pq.read_table(path)
    for why, kwargs in {
        "pyarrow's defaults": {},
        "no statistics": {"write_statistics": False},
        "a row group per row": {"row_group_size": 1},
        "statistics of other columns only": {"write_statistics": ["close"]},
    }.items():
        pq.write_table(table, path, **kwargs)
        assert pq.ParquetFile(path).metadata.num_rows == 3, why
        got = lake.read_day_bars(tmp_path, [A], DAY1)
        assert got is not None and got.to_bars() == expected.to_bars(), why
    # Row groups of one symbol each, the second another's: the statistics say so, and so does
    # the column once read.
    mixed = table.set_column(0, "symbol", pa.array([A, A, B]))
    pq.write_table(mixed, path, row_group_size=2)
    assert not lake._one_symbol_by_statistics(pq.ParquetFile(path).metadata, 0, A)
    assert lake.read_day_bars(tmp_path, [A], DAY1) is None
    pq.write_table(mixed, path, write_statistics=False)
    assert lake.read_day_bars(tmp_path, [A], DAY1) is None


def test_bar_files_are_lz4_with_the_statistics_reads_use_and_duckdb_reads_them(tmp_path: Path, two_days: list[Bar]) -> None:  # fmt: skip
    written = lake.write_bars(tmp_path, two_days)
    group = pq.ParquetFile(written[0]).metadata.row_group(0)
    by_name = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert {c.compression for c in by_name.values()} == {"LZ4"}  # LZ4_RAW in the file
    assert by_name["symbol"].statistics.min == by_name["symbol"].statistics.max
    assert by_name["bar_ts"].is_stats_set and not by_name["close"].is_stats_set
    assert "RLE_DICTIONARY" in by_name["symbol"].encodings
    assert "RLE_DICTIONARY" not in by_name["close"].encodings
    glob = str(tmp_path / "history" / "bars_1m" / "*" / "*.parquet")
    con = duckdb.connect()
    try:
        codecs = {c for (c,) in con.execute("SELECT DISTINCT compression FROM parquet_metadata(?)", [glob]).fetchall()}  # fmt: skip
        assert codecs == {"LZ4_RAW"}
        got = con.execute(
            "SELECT symbol, count(*), sum(volume), max(high) FROM read_parquet(?) GROUP BY symbol ORDER BY symbol",
            [glob],
        ).fetchall()  # fmt: skip
    finally:
        con.close()
    frame = lake.read_bars(tmp_path)
    expected = frame.groupby("symbol").agg(
        n=("close", "size"), v=("volume", "sum"), h=("high", "max")
    )
    assert got == [(k, int(r.n), int(r.v), float(r.h)) for k, r in expected.iterrows()]
    assert len(got) == 2
