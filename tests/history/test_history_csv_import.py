"""`pixity history import`: broker CSV exports into the lake, on real files in tmp_path."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from history_fakes import (
    HEADER,
    KEY,
    bar_row,
    expected_frame,
    make_bars,
    trading_days,
    write_csv,
)
from hypothesis import given
from hypothesis import strategies as st

from pixity import cli
from pixity.domain import Bar
from pixity.errors import ConfigError, InvalidValueError
from pixity.history.csv_import import import_csv
from pixity.history.validate import REPORT_LIMIT, BadRowsError
from pixity.markettime import IST
from pixity.stores.lake import available_dates, read_bars, write_bars

DAYS = trading_days(date(2025, 6, 2), date(2025, 6, 3))
STYLES = [
    ("ist-offset", IST),
    ("ist-offset-space", IST),
    ("ist-compact-offset", UTC),  # an offset wins over --tz
    ("ist-naive", IST),
    ("ist-naive-minutes", IST),
    ("utc-z", IST),
    ("utc-offset", IST),
    ("utc-naive", UTC),
]


def lake_files(data_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}


def run_import(path: Path, data_dir: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"symbol": KEY, "data_dir": data_dir, "naive_tz": IST}
    options.update(kwargs)
    return import_csv(path, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- round trips


def test_import_round_trip_equals_the_rows(tmp_path: Path) -> None:
    bars = make_bars(KEY, DAYS)
    csv = write_csv(tmp_path / "export.csv", [bar_row(b) for b in reversed(bars)])
    summary = run_import(csv, tmp_path / "data")
    got = read_bars(tmp_path / "data", [KEY])
    pd.testing.assert_frame_equal(got, expected_frame(bars))
    assert (summary.rows, summary.written, summary.skipped) == (len(bars), len(bars), ())
    assert summary.days == tuple(DAYS)
    assert (summary.first, summary.last) == (bars[0].ts, bars[-1].ts)
    assert available_dates(tmp_path / "data") == DAYS


@pytest.mark.parametrize(("style", "naive_tz"), STYLES)
def test_ist_utc_and_offset_timestamps_give_the_same_bars(
    tmp_path: Path, style: str, naive_tz: object
) -> None:
    bars = make_bars(KEY, DAYS)
    csv = write_csv(tmp_path / "export.csv", [bar_row(b, style) for b in bars])
    run_import(csv, tmp_path / "data", naive_tz=naive_tz)
    pd.testing.assert_frame_equal(read_bars(tmp_path / "data", [KEY]), expected_frame(bars))


@pytest.mark.parametrize(
    ("header", "shape"),
    [
        (["Timestamp", "OPEN", "High", "low", "Close", "VOLUME"], "plain"),
        (["date", "open", "high", "low", "close", "volume"], "plain"),
        (["DateTime", "open", "high", "low", "close", "volume"], "plain"),
        (["time", "open", "high", "low", "close", "volume"], "plain"),
        (["timestamp", "open", "high", "low", "close", "volume", "oi"], "oi"),
        (["volume", "close", "low", "high", "open", "timestamp"], "reversed"),
        (["Date", "Time", "open", "high", "low", "close", "volume"], "split"),
        ([" timestamp ", "open", "high", "low", "close", "volume", ""], "trailing-comma"),
    ],
)
def test_header_variants_are_understood(tmp_path: Path, header: list[str], shape: str) -> None:
    bars = make_bars(KEY, DAYS[:1])
    rows = []
    for bar in bars:
        row = bar_row(bar)
        if shape == "oi":
            row.append("123456")
        elif shape == "reversed":
            row.reverse()
        elif shape == "split":
            row = row[0].split(" ") + row[1:]
        elif shape == "trailing-comma":
            row.append("")
        rows.append(row)
    run_import(write_csv(tmp_path / "x.csv", rows, header), tmp_path / "data")
    pd.testing.assert_frame_equal(read_bars(tmp_path / "data", [KEY]), expected_frame(bars))


def test_a_byte_order_mark_and_blank_lines_are_fine(tmp_path: Path) -> None:
    bars = make_bars(KEY, DAYS[:1])
    text = ",".join(HEADER) + "\n\n" + "\n".join(",".join(bar_row(b)) for b in bars) + "\n\n"
    csv = tmp_path / "x.csv"
    csv.write_text("\ufeff" + text, encoding="utf-8")
    run_import(csv, tmp_path / "data")
    pd.testing.assert_frame_equal(read_bars(tmp_path / "data", [KEY]), expected_frame(bars))


def test_importing_again_replaces_the_same_days_and_says_so(tmp_path: Path) -> None:
    bars = make_bars(KEY, DAYS)
    csv = write_csv(tmp_path / "x.csv", [bar_row(b) for b in bars])
    first = run_import(csv, tmp_path / "data")
    second = run_import(csv, tmp_path / "data")
    assert first.replaced == ()
    assert second.replaced == tuple(DAYS)
    pd.testing.assert_frame_equal(read_bars(tmp_path / "data", [KEY]), expected_frame(bars))


bar_values = st.tuples(
    st.integers(1, 4_000_000),  # four prices in paise
    st.integers(1, 4_000_000),
    st.integers(1, 4_000_000),
    st.integers(1, 4_000_000),
    st.integers(0, 2**40),
)


@given(
    minutes=st.lists(st.integers(0, 374), min_size=1, max_size=40, unique=True),
    values=st.lists(bar_values, min_size=40, max_size=40),
    styles=st.lists(
        st.sampled_from([s for s, tz in STYLES if tz is IST]), min_size=40, max_size=40
    ),
    day=st.sampled_from(trading_days(date(2024, 1, 1), date(2025, 12, 31))),
)
def test_any_valid_rows_in_any_mix_of_styles_round_trip(
    minutes: list[int], values: list[tuple[int, ...]], styles: list[str], day: date
) -> None:
    bars = []
    for minute, (a, b, c, d, volume) in zip(minutes, values, strict=False):
        low, high = min(a, b, c, d) / 100, max(a, b, c, d) / 100
        ts = datetime.combine(day, datetime.min.time(), IST) + timedelta(
            hours=9, minutes=15 + minute
        )
        bars.append(
            Bar(symbol=KEY, ts=ts, minutes=1, open=a / 100, high=high, low=low, close=b / 100,
                volume=volume, tick_count=0, closed=True)
        )  # fmt: skip
    rows = [bar_row(bar, style) for bar, style in zip(bars, styles, strict=False)]
    with tempfile.TemporaryDirectory() as tmp:
        run_import(write_csv(Path(tmp) / "x.csv", rows), Path(tmp) / "data")
        got = read_bars(Path(tmp) / "data", [KEY])
    pd.testing.assert_frame_equal(got, expected_frame(bars))


# ---------------------------------------------------------------- bad rows


GOOD = ["2025-06-02 09:15:00", "100.0", "101.0", "99.5", "100.5", "1200"]


def row(**changes: str) -> list[str]:
    fields = dict(zip(HEADER, GOOD, strict=True))
    fields.update(changes)
    return [fields[name] for name in HEADER]


BAD_ROWS = {
    "unparseable time": row(timestamp="02/06/2025 09:16"),
    "impossible date": row(timestamp="2025-06-31 09:16:00"),
    "off a minute": row(timestamp="2025-06-02 09:16:30"),
    "before the open": row(timestamp="2025-06-02 09:14:00"),
    "at the close": row(timestamp="2025-06-02 15:30:00"),
    "utc outside the session": row(timestamp="2025-06-02T10:00:00Z"),
    "a saturday": row(timestamp="2025-06-07 10:00:00"),
    "a holiday": row(timestamp="2025-08-15 10:00:00"),
    "price not a number": row(open="abc"),
    "price nan": row(close="nan"),
    "price zero": row(low="0"),
    "price negative": row(open="-1"),
    "high below low": row(high="99.0"),
    "open below low": row(open="99.0"),
    "close above high": row(close="101.5"),
    "volume fractional": row(volume="12.5"),
    "volume negative": row(volume="-3"),
    "volume missing": row(volume=""),
    "too few fields": row()[:5],
    "too many fields": [*row(), "1", "2"],
    "duplicate time": row(),  # the same time as line 2
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_each_kind_of_bad_row_is_reported_with_its_line_and_nothing_is_written(
    tmp_path: Path, kind: str
) -> None:
    data = tmp_path / "data"
    write_bars(data, make_bars(KEY, DAYS[:1]))  # a day already in the lake must survive
    before = lake_files(data)
    rows = [row(), row(timestamp="2025-06-02 09:17:00"), BAD_ROWS[kind]]
    rows.append(row(timestamp="2025-06-02 09:18:00"))
    csv = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(BadRowsError) as caught:
        run_import(csv, data)
    assert [(bad.place, bad.line) for bad in caught.value.bad] == [("line", 4)]
    assert "line 4:" in str(caught.value)
    assert lake_files(data) == before


def test_every_bad_row_is_kept_and_the_report_lists_the_first_fifty(tmp_path: Path) -> None:
    rows = [row(timestamp=f"2025-06-02 10:{m:02d}:00", volume="-1") for m in range(60)]
    rows.append(row(timestamp="2025-06-02 11:00:00"))
    with pytest.raises(BadRowsError) as caught:
        run_import(write_csv(tmp_path / "x.csv", rows), tmp_path / "data")
    assert [bad.line for bad in caught.value.bad] == list(range(2, 62))
    message = str(caught.value)
    assert "line 51:" in message and "line 52:" not in message
    assert f"{60 - REPORT_LIMIT} more" in message
    assert not (tmp_path / "data").exists()


def test_a_row_with_several_problems_names_them_all(tmp_path: Path) -> None:
    csv = write_csv(
        tmp_path / "x.csv", [row(timestamp="2025-06-07 10:00:00", open="x", volume="-1")]
    )
    with pytest.raises(BadRowsError) as caught:
        run_import(csv, tmp_path / "data")
    (bad,) = caught.value.bad
    assert all(word in bad.reason for word in ("2025-06-07", "open", "volume"))


def test_skip_bad_writes_the_good_rows_and_lists_the_bad(tmp_path: Path) -> None:
    bars = make_bars(KEY, DAYS)
    rows = [bar_row(b) for b in bars]
    rows.insert(3, row(timestamp="2025-06-02 15:30:00"))  # line 5
    rows.insert(6, row(high="1"))  # line 8
    summary = run_import(write_csv(tmp_path / "x.csv", rows), tmp_path / "data", skip_bad=True)
    pd.testing.assert_frame_equal(read_bars(tmp_path / "data", [KEY]), expected_frame(bars))
    assert [bad.line for bad in summary.skipped] == [5, 8]
    assert (summary.rows, summary.written) == (len(bars) + 2, len(bars))
    assert any("skipped" in line for line in summary.lines())


def test_skip_bad_with_no_good_row_left_writes_nothing_and_fails(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "x.csv", [row(volume="x"), row(open="0")])
    with pytest.raises(BadRowsError):
        run_import(csv, tmp_path / "data", skip_bad=True)
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------- files that are not exports


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", InvalidValueError),
        ("\n\n", InvalidValueError),
        (",".join(HEADER) + "\n", InvalidValueError),  # a header and no data
        (",".join(GOOD) + "\n", InvalidValueError),  # no header
        ("timestamp,open,high,low,close\n" + ",".join(GOOD[:5]), InvalidValueError),
        (
            "timestamp,open,high,low,close,volume,symbol\n" + ",".join([*GOOD, KEY]),
            InvalidValueError,
        ),
        ("timestamp;open;high;low;close;volume\n" + ";".join(GOOD), InvalidValueError),
        ("timestamp,date,open,high,low,close,volume\n", InvalidValueError),
        ("open,high,low,close,volume\n1,1,1,1,1\n", InvalidValueError),
        ("timestamp,open,open,high,low,close,volume\n", InvalidValueError),
    ],
)
def test_a_file_that_is_no_candle_export_gets_a_clear_error(
    tmp_path: Path, text: str, error: type[Exception]
) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(error) as caught:
        run_import(csv, tmp_path / "data")
    assert not isinstance(caught.value, BadRowsError)
    assert str(csv) in str(caught.value)
    assert not (tmp_path / "data").exists()


def test_a_missing_file_and_non_utf8_bytes_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        run_import(tmp_path / "nope.csv", tmp_path / "data")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"timestamp,open,high,low,close,volume\n\xe9\n")
    with pytest.raises(InvalidValueError, match="UTF-8"):
        run_import(latin, tmp_path / "data")


# ---------------------------------------------------------------- the command


def test_the_command_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = make_bars(KEY, DAYS)
    rows = [bar_row(b, "utc-naive") for b in bars]
    csv = write_csv(tmp_path / "x.csv", rows)
    code = cli.main(
        ["history", "import", "--csv", str(csv), "--symbol", KEY, "--tz", "UTC",
         "--data-dir", str(tmp_path / "data")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    pd.testing.assert_frame_equal(read_bars(tmp_path / "data", [KEY]), expected_frame(bars))
    assert str(len(bars)) in out and "2025-06-02 09:15:00+05:30" in out
    assert "2025-06-03 15:29:00+05:30" in out


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (",".join(HEADER) + "\n" + ",".join(GOOD) + "\n" + ",".join(row(volume="-1")), ["line 3"]),
        ("", []),
        (",".join(GOOD), []),
    ],
)
def test_the_command_exits_2_on_bad_input_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, lines: list[str]
) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text(text, encoding="utf-8")
    code = cli.main(
        ["history", "import", "--csv", str(csv), "--symbol", KEY, "--data-dir", str(tmp_path / "d")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pixity: error:") and "Traceback" not in err
    assert all(line in err for line in lines)
    assert not (tmp_path / "d").exists()
