"""Fetch 1m candles from the Upstox historical-candle API into the history lake.

What Upstox documents (pages cited by address; the SDK is upstox-python-sdk, a dependency):

- V2, https://upstox.com/developer/api-documentation/get-historical-candle-data (marked
  deprecated in favour of V3): ``GET https://api.upstox.com/v2/historical-candle/
  {instrument_key}/{interval}/{to_date}/{from_date}``, interval ``1minute``, ``30minute``,
  ``day``, ``week``, ``month``; ``to_date`` is inclusive, dates ``YYYY-MM-DD``; the key
  URL-encoded (``NSE_EQ%7CINE848E01016``). 1minute gives "the candles from the final month
  leading up to the endDate". The SDK's docs say the same ("1minute: last 1 month candles
  till endDate", github.com/upstox/upstox-python docs/HistoryApi.md).
- V3, https://upstox.com/developer/api-documentation/v3/get-historical-candle-data:
  ``GET https://api.upstox.com/v3/historical-candle/{instrument_key}/minutes/1/{to_date}/
  {from_date}``; minutes 1-15 are available from January 2022, at most one month per
  request, and a request past the limit is refused as invalid. Used when ``--api-url`` ends
  in ``/v3``.
- Both: headers ``Authorization: Bearer <token>``, ``Accept: application/json``; the answer
  is ``{"status": "success", "data": {"candles": [[time, open, high, low, close, volume,
  oi], ...]}}``, newest first, ``time`` the candle's start (``2023-10-19T15:15:00+05:30``).
- Errors, https://upstox.com/developer/api-documentation/error-codes: 401 for a wrong or
  missing token (``UDAPI100050`` "Invalid token used to access API"), 429 past the rate
  limits (``UDAPI10005``), 500/503 to retry later; the body is ``{"status": "error",
  "errors": [{"errorCode", "message", "propertyPath", "invalidValue"}]}`` (the SDK's
  ``ApiGatewayErrorResponse`` and ``Problem`` models). No ``Retry-After`` is documented; one
  is honoured, within the backoff cap, if sent.
- A token lasts until 03:30 IST the next day, https://upstox.com/developer/api-documentation/get-token.

A range is fetched in chunks of at most ``chunk_days`` (28) calendar days, which lies within
"one month" before any ``to_date`` whatever the month's length, trimmed to NSE trading days
(a range with none asks nothing). The HTTP side, with its bounded timeouts and retries and
the token kept to the request header, is ``pixity.history.upstox_http``. Every candle goes
through the same checks as a CSV row (``pixity.history.validate``), plus one: it must lie in
the chunk asked for. A symbol is written only once all its chunks arrived and checked.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import date, timedelta

from pixity.errors import ConfigError
from pixity.history.upstox_http import UpstoxCandles, UpstoxResponseError, shown
from pixity.history.validate import BadRow, RawCandle, check_candles, merge_checked
from pixity.history.writer import ImportSummary, write_checked
from pixity.markettime import IST, nse_calendar

log = logging.getLogger(__name__)


def chunk_ranges(first: date, last: date, days: int) -> list[tuple[date, date]]:
    """Split ``first .. last`` (both included) into ranges of at most ``days`` days, oldest first."""
    out = []
    while first <= last:
        end = min(first + timedelta(days=days - 1), last)
        out.append((first, end))
        first = end + timedelta(days=1)
    return out


def fetch_symbol(
    client: UpstoxCandles,
    key: str,
    first: date,
    last: date,
    *,
    data_dir: str | os.PathLike[str],
    skip_bad: bool = False,
) -> ImportSummary:
    """Fetch ``key``'s 1m candles from ``first`` to ``last``, check them all, then write them.

    Nothing of ``key`` is written unless every chunk arrived and every candle checked (or
    ``skip_bad``); the days are then written together.
    """
    if last < first:
        raise ConfigError(f"--to {last} is before --from {first}")
    days = nse_calendar().trading_days(first, last)
    source = f"Upstox {first}..{last}"
    parts = []
    if days:
        for low, high in chunk_ranges(days[0], days[-1], client.policy.chunk_days):
            place = f"{low}..{high} candle"
            body = client.get(key, low, high)
            candles, malformed = parse_candles(
                body, client.where(key, low, high), place, client.scrub
            )
            checked = check_candles(
                candles, symbol=key, naive_tz=IST, place=place, window=(low, high),
                unreadable=malformed,
            )  # fmt: skip
            log.info("fetched %d candles of %s %s..%s", checked.rows, key, low, high)
            parts.append(checked)
    hint = "--skip-bad writes the good candles"
    return write_checked(
        data_dir, merge_checked(parts), symbol=key, source=source, skip_bad=skip_bad, hint=hint
    )


def parse_candles(
    body: bytes, where: str, place: str, scrub: Callable[[str], str]
) -> tuple[list[RawCandle], list[BadRow]]:
    """Return the candles of an answer, and those of the wrong shape as bad rows."""
    try:
        answer = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise UpstoxResponseError(
            f"{where}: the answer is not JSON (starts {scrub(shown(body))!r})"
        ) from None
    data = answer.get("data") if isinstance(answer, dict) else None
    rows = data.get("candles") if isinstance(data, dict) else None
    if (
        not isinstance(answer, dict)
        or answer.get("status") != "success"
        or not isinstance(rows, list)
    ):
        raise UpstoxResponseError(
            f"{where}: the answer is not {{'status': 'success', 'data': {{'candles': [...]}}}}"
        )
    candles, malformed = [], []
    for line, row in enumerate(rows, start=1):
        if isinstance(row, list) and len(row) in (6, 7):
            ts, o, h, lo, c, v = row[:6]
            candles.append(RawCandle(line=line, ts=ts, open=o, high=h, low=lo, close=c, volume=v))
        else:
            reason = f"candle {scrub(shown(json.dumps(row).encode()))} is not [time, open, high, low, close, volume, oi]"
            malformed.append(BadRow(place=place, line=line, reason=reason))
    return candles, malformed
