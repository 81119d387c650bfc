"""``paper.db``: the paper broker's orders, fills, positions, daily P&L and risk events."""

from __future__ import annotations

import logging
import os
from datetime import datetime

from pixity.domain import DayPnl, Fill, Order, OrderStatus, OrderType, Position, RiskEvent, Side
from pixity.errors import StoreError
from pixity.markettime import format_ts, parse_ts
from pixity.stores.sqlite import (
    DEFAULT_BUSY_TIMEOUT_S,
    Row,
    SqliteReader,
    SqliteWriter,
    StoreSpec,
    sql_migration,
    where_clause,
)

logger = logging.getLogger(__name__)

_V1 = sql_migration(
    """CREATE TABLE orders (
        order_id TEXT PRIMARY KEY,
        strategy_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        order_type TEXT NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT')),
        limit_price REAL CHECK (limit_price IS NULL OR limit_price > 0),
        ts TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('OPEN', 'FILLED', 'CANCELLED', 'REJECTED')),
        signal_id TEXT,
        reason TEXT,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    "CREATE INDEX orders_by_strategy ON orders (strategy_id, symbol)",
    """CREATE TABLE fills (
        fill_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        price REAL NOT NULL CHECK (price > 0),
        ts TEXT NOT NULL,
        costs REAL NOT NULL CHECK (costs >= 0),
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    "CREATE INDEX fills_by_order ON fills (order_id)",
    """CREATE TABLE positions (
        strategy_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        avg_price REAL CHECK ((quantity = 0) = (avg_price IS NULL)),
        realised_pnl REAL NOT NULL,
        ts TEXT NOT NULL,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (strategy_id, symbol)
    )""",
    """CREATE TABLE daily_pnl (
        session_date TEXT PRIMARY KEY,
        realised REAL NOT NULL,
        unrealised REAL NOT NULL,
        costs REAL NOT NULL CHECK (costs >= 0),
        killed INTEGER NOT NULL CHECK (killed IN (0, 1)),
        kill_reason TEXT,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE risk_events (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        symbol TEXT,
        detail TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    # NULLs are distinct in a UNIQUE constraint, so key on IFNULL(symbol, '') to make an event
    # without a symbol idempotent too.
    "CREATE UNIQUE INDEX risk_events_key ON risk_events (ts, kind, IFNULL(symbol, ''), detail)",
)

PAPER = StoreSpec(
    name="paper.db",
    writer="the live session (start `pixity live --mode paper`)",
    migrations=(_V1,),
)

_ORDER_COLUMNS = (
    "order_id, strategy_id, symbol, side, quantity, order_type, limit_price, ts, status, "
    "signal_id, reason"
)
_FILL_COLUMNS = "fill_id, order_id, symbol, side, quantity, price, ts, costs"
_POSITION_COLUMNS = "strategy_id, symbol, quantity, avg_price, realised_pnl, ts"
_PNL_COLUMNS = "session_date, realised, unrealised, costs, killed, kill_reason"
_RISK_COLUMNS = "ts, kind, symbol, detail"


def _order_row(order: Order) -> tuple[object, ...]:
    return (
        order.order_id,
        order.strategy_id,
        order.symbol,
        order.side.value,
        order.quantity,
        order.order_type.value,
        order.limit_price,
        format_ts(order.ts),
        order.status.value,
        order.signal_id,
        order.reason,
    )


class PaperStore(SqliteWriter):
    """The live session's writer of ``paper.db``."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, PAPER, busy_timeout_s=busy_timeout_s)

    def save_order(self, order: Order) -> bool:
        """Store a new ``order``; return False if an order with its id is already stored."""
        with self.transaction(f"save order {order.order_id}") as conn:
            inserted = conn.execute(
                f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 11)}) "
                "ON CONFLICT DO NOTHING",
                _order_row(order),
            ).rowcount
        return inserted == 1

    def update_order(self, order: Order) -> None:
        """Replace stored order ``order.order_id`` with ``order`` (e.g. its new status)."""
        row = _order_row(order)
        with self.transaction(f"update order {order.order_id}") as conn:
            changed = conn.execute(
                "UPDATE orders SET strategy_id = ?, symbol = ?, side = ?, quantity = ?, "
                "order_type = ?, limit_price = ?, ts = ?, status = ?, signal_id = ?, "
                "reason = ?, updated_at = CURRENT_TIMESTAMP WHERE order_id = ?",
                (*row[1:], row[0]),
            ).rowcount
        if not changed:
            raise StoreError(f"paper.db ({self.path}): no order {order.order_id} to update")

    def save_fill(self, fill: Fill) -> bool:
        """Store ``fill``; return False if a fill with its id is already stored."""
        row = (
            fill.fill_id,
            fill.order_id,
            fill.symbol,
            fill.side.value,
            fill.quantity,
            fill.price,
            format_ts(fill.ts),
            fill.costs,
        )
        with self.transaction(f"save fill {fill.fill_id}") as conn:
            inserted = conn.execute(
                f"INSERT INTO fills ({_FILL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                row,
            ).rowcount
        return inserted == 1

    def upsert_position(self, position: Position) -> None:
        """Store ``position`` as the current position of its (strategy, symbol)."""
        row = (
            position.strategy_id,
            position.symbol,
            position.quantity,
            position.avg_price,
            position.realised_pnl,
            format_ts(position.ts),
        )
        with self.transaction(f"upsert position {position.strategy_id}/{position.symbol}") as c:
            c.execute(
                f"INSERT INTO positions ({_POSITION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (strategy_id, symbol) DO UPDATE SET quantity = excluded.quantity, "
                "avg_price = excluded.avg_price, realised_pnl = excluded.realised_pnl, "
                "ts = excluded.ts, updated_at = CURRENT_TIMESTAMP",
                row,
            )

    def upsert_day_pnl(self, pnl: DayPnl) -> None:
        """Store ``pnl`` as the P&L and kill state of its session day."""
        row = (pnl.session_date, pnl.realised, pnl.unrealised, pnl.costs, int(pnl.killed))
        with self.transaction(f"upsert daily P&L {pnl.session_date}") as conn:
            conn.execute(
                f"INSERT INTO daily_pnl ({_PNL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session_date) DO UPDATE SET realised = excluded.realised, "
                "unrealised = excluded.unrealised, costs = excluded.costs, "
                "killed = excluded.killed, kill_reason = excluded.kill_reason, "
                "updated_at = CURRENT_TIMESTAMP",
                (*row, pnl.kill_reason),
            )

    def record_risk_event(self, event: RiskEvent) -> bool:
        """Store ``event``; return False if the same event was already stored."""
        row = (format_ts(event.ts), event.kind, event.symbol, event.detail)
        with self.transaction(f"record risk event {event.kind}") as conn:
            inserted = conn.execute(
                f"INSERT INTO risk_events ({_RISK_COLUMNS}) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                row,
            ).rowcount
        return inserted == 1


def _order_of(row: Row) -> Order:
    order_id, strategy_id, symbol, side, quantity, order_type, limit_price, ts = row[:8]
    status, signal_id, reason = row[8:]
    return Order(
        order_id=order_id,
        strategy_id=strategy_id,
        symbol=symbol,
        side=Side(side),
        quantity=quantity,
        order_type=OrderType(order_type),
        limit_price=limit_price,
        ts=parse_ts(ts),
        status=OrderStatus(status),
        signal_id=signal_id,
        reason=reason,
    )


def _fill_of(row: Row) -> Fill:
    fill_id, order_id, symbol, side, quantity, price, ts, costs = row
    return Fill(
        fill_id=fill_id,
        order_id=order_id,
        symbol=symbol,
        side=Side(side),
        quantity=quantity,
        price=price,
        ts=parse_ts(ts),
        costs=costs,
    )


def _position_of(row: Row) -> Position:
    strategy_id, symbol, quantity, avg_price, realised_pnl, ts = row
    return Position(
        strategy_id=strategy_id,
        symbol=symbol,
        quantity=quantity,
        avg_price=avg_price,
        realised_pnl=realised_pnl,
        ts=parse_ts(ts),
    )


def _pnl_of(row: Row) -> DayPnl:
    session_date, realised, unrealised, costs, killed, kill_reason = row
    return DayPnl(
        session_date=session_date,
        realised=realised,
        unrealised=unrealised,
        costs=costs,
        killed=bool(killed),
        kill_reason=kill_reason,
    )


def _risk_of(row: Row) -> RiskEvent:
    ts, kind, symbol, detail = row
    return RiskEvent(ts=parse_ts(ts), kind=kind, symbol=symbol, detail=detail)


def _filters(**values: object) -> tuple[str, list[object]]:
    conds = [f"{column} = ?" for column, value in values.items() if value is not None]
    params = [value for value in values.values() if value is not None]
    return where_clause(conds), params


class PaperReader(SqliteReader):
    """A read-only view of ``paper.db`` for the scanner, reports and health."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, PAPER, busy_timeout_s=busy_timeout_s)

    def orders(
        self,
        strategy_id: str | None = None,
        symbol: str | None = None,
        status: OrderStatus | None = None,
    ) -> list[Order]:
        """Return orders in time order, filtered by whichever arguments are given."""
        where, params = _filters(
            strategy_id=strategy_id, symbol=symbol, status=None if status is None else status.value
        )
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders {where} ORDER BY ts, rowid"
        return self._rows("orders", sql, params, _order_of)

    def fills(self, order_id: str | None = None, symbol: str | None = None) -> list[Fill]:
        """Return fills in time order, for one order or symbol or all."""
        where, params = _filters(order_id=order_id, symbol=symbol)
        sql = f"SELECT {_FILL_COLUMNS} FROM fills {where} ORDER BY ts, rowid"
        return self._rows("fills", sql, params, _fill_of)

    def positions(self, strategy_id: str | None = None) -> list[Position]:
        """Return current positions (flat ones included), by strategy and symbol."""
        where, params = _filters(strategy_id=strategy_id)
        sql = f"SELECT {_POSITION_COLUMNS} FROM positions {where} ORDER BY strategy_id, symbol"
        return self._rows("positions", sql, params, _position_of)

    def day_pnl(self, session_date: str) -> DayPnl | None:
        """Return the P&L of session day ``session_date`` (YYYY-MM-DD), or None."""
        sql = f"SELECT {_PNL_COLUMNS} FROM daily_pnl WHERE session_date = ?"
        found = self._rows("daily_pnl", sql, (session_date,), _pnl_of)
        return found[0] if found else None

    def risk_events(self, since: datetime | None = None) -> list[RiskEvent]:
        """Return risk events in time order, at or after market time ``since`` if given."""
        where, params = "", []
        if since is not None:
            where, params = "WHERE ts >= ?", [format_ts(since.replace(microsecond=0))]
        sql = f"SELECT {_RISK_COLUMNS} FROM risk_events {where} ORDER BY ts, event_id"
        return self._rows("risk_events", sql, params, _risk_of)
