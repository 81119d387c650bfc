"""Fakes for the history tests: bar makers, CSV writers, and a local Upstox candle server.

The server is a real HTTP server on 127.0.0.1 (port 0) that answers the documented v2 and
v3 historical-candle paths with the documented JSON shape, newest first; it checks the
bearer token and the Accept header, refuses a range longer than a month as Upstox does, and
can be scripted to answer 429, 5xx, 401, 400, a redirect, malformed JSON, a body echoing the
request's Authorization header, or to stall past the client's timeout.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

from pixity.domain import Bar
from pixity.frames import frame_from_bars
from pixity.markettime import IST, nse_calendar

KEY = "NSE_EQ|INE155A01022"
KEY2 = "NSE_EQ|INE467B01029"
TOKEN = "tok-9f3Kq2ZxS3cr3t-h1st0ry"
HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
# Minutes after 09:15 a day holds in the fakes: the first, some middle ones and the last.
SOME_MINUTES = (0, 1, 2, 100, 200, 374)


def make_bars(symbol: str, days: list[date], minutes: tuple[int, ...] = SOME_MINUTES) -> list[Bar]:
    """Return valid closed 1m bars on ``days`` at ``minutes`` past 09:15, seeded by symbol."""
    out = []
    for day in days:
        rng = random.Random(f"{symbol}|{day}")
        for minute in minutes:
            ts = datetime.combine(day, datetime.min.time(), IST) + timedelta(
                hours=9, minutes=15 + minute
            )
            cents = [rng.randint(10_000, 20_000) * 5 for _ in range(4)]
            low, high = min(cents), max(cents)
            o, c = cents[0], cents[1]
            out.append(
                Bar(
                    symbol=symbol,
                    ts=ts,
                    minutes=1,
                    open=o / 100,
                    high=high / 100,
                    low=low / 100,
                    close=c / 100,
                    volume=rng.randint(0, 5_000_000),
                    tick_count=0,
                    closed=True,
                )
            )
    return out


def expected_frame(bars: list[Bar]) -> pd.DataFrame:
    """Return the lake frame the bars should read back as, ordered like ``read_bars``."""
    frame = frame_from_bars(bars)
    return frame.sort_values(["symbol", "bar_ts"], kind="stable").reset_index(drop=True)


def ts_text(ts: datetime, style: str) -> str:
    """Return ``ts`` written in one of the timestamp styles broker exports use."""
    utc = ts.astimezone(UTC)
    return {
        "ist-offset": ts.isoformat(),
        "ist-offset-space": ts.strftime("%Y-%m-%d %H:%M:%S+05:30"),
        "ist-compact-offset": ts.strftime("%Y-%m-%dT%H:%M:%S+0530"),
        "ist-naive": ts.strftime("%Y-%m-%d %H:%M:%S"),
        "ist-naive-minutes": ts.strftime("%Y-%m-%d %H:%M"),
        "utc-z": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "utc-offset": utc.isoformat(),
        "utc-naive": utc.strftime("%Y-%m-%d %H:%M:%S"),
    }[style]


def bar_row(bar: Bar, style: str = "ist-naive") -> list[str]:
    """Return one CSV row for ``bar``; repr keeps every float exact."""
    prices = (repr(v) for v in (bar.open, bar.high, bar.low, bar.close))
    return [ts_text(bar.ts, style), *prices, str(bar.volume)]


def write_csv(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    """Write ``rows`` under ``header`` (the standard one by default) as a CSV file."""
    lines = [",".join(HEADER if header is None else header)] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def trading_days(first: date, last: date) -> list[date]:
    return nse_calendar().trading_days(first, last)


# ---------------------------------------------------------------- the fake Upstox server


@dataclass
class Seen:
    """One request the server received."""

    path: str
    key: str
    first: date
    last: date
    authorization: str | None
    accept: str | None


@dataclass
class FakeUpstox:
    """State of the fake server; tests set ``script`` and ``mutate`` and read ``requests``."""

    token: str = TOKEN
    minutes: tuple[int, ...] = SOME_MINUTES
    script: list[str] = field(default_factory=list)  # answers to give first, one per request
    mutate: Callable[[list[list[object]]], list[list[object]]] | None = None
    stall_s: float = 1.0
    retry_after: str | None = None
    fail_from: int | None = None  # answer 500 from this request number (1-based) on
    expire_after: int | None = None  # refuse the token after this many requests
    requests: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    @property
    def url_v3(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def bars(self, key: str, first: date, last: date) -> list[Bar]:
        return make_bars(key, trading_days(first, last), self.minutes)

    def candles(self, key: str, first: date, last: date) -> list[list[object]]:
        """Return the documented candle arrays, newest first, with oi 0."""
        rows: list[list[object]] = [
            [b.ts.isoformat(), b.open, b.high, b.low, b.close, b.volume, 0]
            for b in self.bars(key, first, last)
        ]
        return rows[::-1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        parsed = self._parse()
        if parsed is None:
            return self._send(404, {"status": "error", "errors": [{"errorCode": "UDAPI10000"}]})
        key, first, last = parsed
        seen = Seen(
            self.path, key, first, last, self.headers["Authorization"], self.headers["Accept"]
        )
        fake.requests.append(seen)
        expired = fake.expire_after is not None and len(fake.requests) > fake.expire_after
        if expired or seen.authorization != f"Bearer {fake.token}":
            return self._error(401, "UDAPI100050", "Invalid token used to access API")
        if seen.accept != "application/json":
            return self._error(406, "UDAPI100000", "Accept must be application/json")
        if (last - first).days > 30 or last < first:
            return self._error(400, "UDAPI1148", "Invalid date range")
        if fake.script:
            return self._scripted(fake.script.pop(0), seen)
        if fake.fail_from is not None and len(fake.requests) >= fake.fail_from:
            return self._error(500, "UDAPI100500", "Something went wrong")
        candles = fake.candles(key, first, last)
        if fake.mutate is not None:
            candles = fake.mutate(candles)
        self._send(200, {"status": "success", "data": {"candles": candles}})

    def _scripted(self, answer: str, seen: Seen) -> None:
        fake = self.server.fake
        if answer == "timeout":
            time.sleep(fake.stall_s)
            return self._send(200, {"status": "success", "data": {"candles": []}})
        if answer == "malformed":
            return self._send_raw(200, b'{"status": "success", "data": {"candles": [[')
        if answer == "not-success":
            return self._send(200, {"status": "error", "data": None})
        if answer == "echo":  # a careless server repeating the credential it was sent
            return self._error(500, "UDAPI100500", f"bad header {seen.authorization}")
        if answer == "redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{fake.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        code = int(answer)
        extra = {"Retry-After": fake.retry_after} if fake.retry_after and code == 429 else {}
        return self._error(code, f"UDAPI{code}", f"scripted {code}", extra)

    def _parse(self) -> tuple[str, date, date] | None:
        parts = self.path.split("/")
        # /v2/historical-candle/{key}/1minute/{to}/{from}
        # /v3/historical-candle/{key}/minutes/1/{to}/{from}
        if len(parts) == 7 and parts[1:3] == ["v2", "historical-candle"] and parts[4] == "1minute":
            key, to, frm = parts[3], parts[5], parts[6]
        elif (
            len(parts) == 8
            and parts[1:3] == ["v3", "historical-candle"]
            and parts[4:6]
            == [
                "minutes",
                "1",
            ]
        ):
            key, to, frm = parts[3], parts[6], parts[7]
        else:
            return None
        if "|" in key:  # the key must arrive URL-encoded
            return None
        return urllib.parse.unquote(key), date.fromisoformat(frm), date.fromisoformat(to)

    def _error(
        self, code: int, error_code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = {
            "status": "error",
            "errors": [
                {"errorCode": error_code, "message": message, "propertyPath": None,
                 "invalidValue": None}
            ],
        }  # fmt: skip
        self._send(code, body, headers)

    def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._send_raw(code, json.dumps(body).encode(), headers)

    def _send_raw(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeUpstox) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def running(fake: FakeUpstox) -> Iterator[FakeUpstox]:
    """Serve ``fake`` on 127.0.0.1 for the duration of the block."""
    server = _Server(fake)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
