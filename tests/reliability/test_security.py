"""Security (issue 8, item 6): loopback listeners, token-gated binds, a read-only scanner, no leak.

- Every listener binds to 127.0.0.1 by default. Only ``feed-server`` can be told another
  address (``--host``), and then only with ``--require-token``; the ingest's /health and
  /metrics server and the scanner's Voilà server have no such flag and serve the loopback only
  (the health server refuses any other host, even when asked from code).
- The scanner, through its own view model and dashboard, cannot write any store, and its
  refreshes leave every store file's bytes as they were.
- ``UPSTOX_ACCESS_TOKEN`` reaches no file, output or report of a whole running system.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import quote, quote_plus

import psutil
import pytest
from security_procs import LOOPBACK, ListenerWatch, Spawned
from security_stores import DAY, STRATEGY, SYM, clock, live_stores
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pixity.cli import build_parser, main
from pixity.errors import ConfigError
from pixity.feedserver.config import ServerConfig
from pixity.feedserver.server import FeedServer
from pixity.feedserver.source import sample_tape
from pixity.ingest.health import IngestHealth
from pixity.ingest.http import HealthServer
from pixity.markettime import ist, to_epoch_ms
from pixity.sample import SampleMarket
from pixity.scanner.dashboard import Dashboard
from pixity.scanner.view import ScannerView
from pixity.stores.lake import write_bars
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

# Distinctive, one word, and with characters that URL-encoding rewrites (+ / =).
TOKEN = "pxSEC.tok3n-9f4e2c7a_b81d+Zq/Wv8="
KEYS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025"]
FEED_DAY = "2025-06-03"  # the exchange's day; the live session warms up on the two before
NON_LOOPBACK = ["0.0.0.0", "::", "192.0.2.10", "feeds.example.com"]


# ------------------------------------------------------------------ helpers


def token_forms(token: str) -> dict[str, bytes]:
    """Return the token as it would appear raw, URL-encoded or base64'd inside other bytes."""
    raw = token.encode()
    forms = {
        "raw": raw,
        "url": quote(token, safe="").encode(),
        "url-lower": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(token, safe="")
        ).encode(),
        "url-plus": quote_plus(token).encode(),
        "json-slash": token.replace("/", "\\/").encode(),
    }
    # Base64 of a longer text shifts with the token's offset mod 3: take, for each offset, the
    # characters that depend on the token's bytes alone (whole 3-byte groups of it).
    for pad in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            full = encode(b"\0" * pad + raw)
            forms[f"{name}+{pad}"] = full[4 if pad else 0 : -4]
    return forms


def leaks(blob: bytes, forms: dict[str, bytes]) -> list[str]:
    """Return the names of the forms of the token found in ``blob``."""
    return [name for name, form in forms.items() if form in blob]


def listening_addresses(pid: int, port: int) -> set[str]:
    """Return the addresses process ``pid`` listens on at ``port``."""
    conns = psutil.Process(pid).net_connections(kind="inet")
    return {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def snapshot_files(root: Path) -> dict[str, bytes]:
    """Return each file under ``root`` (relative path -> sha256), SQLite's -shm index aside.

    Readers of a WAL database update their read marks in the -shm shared-memory index by
    design; it holds no stored data, so it is not compared.
    """
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).digest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith("-shm")
    }


# ------------------------------------------------------------------ the search itself


def test_the_token_search_finds_every_form_it_looks_for() -> None:
    forms = token_forms(TOKEN)
    for name, form in forms.items():
        assert leaks(b"log line: " + form + b" end", forms), name
    for prefix in (b"", b"a", b"ab"):  # base64 of a header carrying it, at every offset
        header = prefix + f"Authorization: Bearer {TOKEN}".encode()
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            assert leaks(encode(header), forms), (prefix, encode)
    assert leaks(f"ws://h/feed?token={quote_plus(TOKEN)}".encode(), forms)
    assert not leaks(b"Authorization: Bearer ***", forms)


# ------------------------------------------------------------------ listeners


def test_feed_server_is_the_only_command_with_a_bind_address_flag() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    bind_flags = {
        name: sorted(
            flag
            for action in sub._actions
            for flag in action.option_strings
            if re.search(r"host|bind|listen|addr|interface|\bip\b|--ip", flag)
        )
        for name, sub in commands.choices.items()  # type: ignore[attr-defined]
    }
    assert {name: flags for name, flags in bind_flags.items() if flags} == {
        "feed-server": ["--host"]
    }
    for action in commands.choices["feed-server"]._actions:  # type: ignore[attr-defined]
        if "--host" in action.option_strings:
            assert action.default == "127.0.0.1"


def test_feed_server_listens_on_127_0_0_1_by_default() -> None:
    async def go() -> None:
        server = FeedServer(
            ServerConfig(port=0), sample_tape(KEYS, 7, DAY), to_epoch_ms(ist(2025, 6, 2, 9, 15))
        )
        await server.start()
        task = asyncio.ensure_future(server.run())
        try:
            assert listening_addresses(os.getpid(), server.port) == {"127.0.0.1"}
        finally:
            server.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(go())


@pytest.mark.parametrize("host", NON_LOOPBACK)
def test_feed_server_refuses_a_non_loopback_host_without_a_token(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {c.laddr for c in psutil.Process().net_connections(kind="inet")}
    code = main(["feed-server", "--symbols", KEYS[0], "--host", host, "--port", "0"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("pixity: error:") and host in err and "--require-token" in err
    assert "Traceback" not in err and "listening" not in out
    after = {c.laddr for c in psutil.Process().net_connections(kind="inet")}
    assert after <= before  # nothing was bound
    with pytest.raises(ConfigError):
        ServerConfig(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_a_loopback_host_needs_no_token(host: str) -> None:
    assert ServerConfig(host=host).require_token is None


def _http_status(url: str, token: str | None) -> int:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_feed_server_bound_off_loopback_admits_only_its_token() -> None:
    async def go() -> None:
        config = ServerConfig(host="0.0.0.0", port=0, require_token=TOKEN)
        server = FeedServer(config, sample_tape(KEYS, 7, DAY), to_epoch_ms(ist(2025, 6, 2, 9, 15)))
        await server.start()
        task = asyncio.ensure_future(server.run())
        url = f"ws://127.0.0.1:{server.port}/v3/feed/market-data-feed"
        try:
            assert listening_addresses(os.getpid(), server.port) == {"0.0.0.0"}  # as asked
            for headers in (
                {},
                {"Authorization": "Bearer not-the-token"},
                {"Authorization": TOKEN},
            ):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(url, additional_headers=headers, open_timeout=5)
                assert refused.value.response.status_code == 401
            http = url.replace("ws://", "http://") + "/authorize"
            assert await asyncio.to_thread(_http_status, http, None) == 401
            assert await asyncio.to_thread(_http_status, http, "not-the-token") == 401
            ws = await connect(
                url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, open_timeout=5
            )
            await ws.close()
            assert await asyncio.to_thread(_http_status, http, TOKEN) == 200
            assert server.counts["auth_rejected"] == 5
        finally:
            server.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(go())


def test_feed_server_debug_log_of_requests_shows_no_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets.server")  # it logs request headers

    async def go() -> None:
        config = ServerConfig(port=0, require_token=TOKEN)
        server = FeedServer(config, sample_tape(KEYS, 7, DAY), to_epoch_ms(ist(2025, 6, 2, 9, 15)))
        await server.start()
        task = asyncio.ensure_future(server.run())
        url = f"ws://127.0.0.1:{server.port}/v3/feed/market-data-feed"
        try:
            with pytest.raises(InvalidStatus):
                await connect(url, additional_headers={"Authorization": "Bearer wrong-one"})
            ws = await connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"})
            await ws.close()
        finally:
            server.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(go())
    logged = [r for r in caplog.records if r.name == "websockets.server"]
    assert len(logged) > 10  # the handshakes were logged, headers and all
    text = "\n".join(r.getMessage() for r in logged).encode()
    assert leaks(text, token_forms(TOKEN)) == [] and b"wrong-one" not in text


def test_ingest_health_server_listens_on_127_0_0_1_only() -> None:
    server = HealthServer(IngestHealth(), port=0)
    server.start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        assert listening_addresses(os.getpid(), port) == {"127.0.0.1"}
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
            assert json.loads(response.read())["status"]
    finally:
        server.stop()


@pytest.mark.parametrize("host", NON_LOOPBACK)
def test_ingest_health_server_refuses_any_other_host(host: str) -> None:
    before = {c.laddr for c in psutil.Process().net_connections(kind="inet")}
    with pytest.raises(ConfigError, match=re.escape(repr(host))):
        HealthServer(IngestHealth(), host=host, port=0)
    assert {c.laddr for c in psutil.Process().net_connections(kind="inet")} <= before


# ------------------------------------------------------------------ the scanner is read-only

TABLES = {"market": "bars_1m", "config": "runner_state", "signals": "signals", "paper": "fills"}


def write_attempts(table: str) -> list[str]:
    """Return statements that would change a store holding ``table``."""
    return [
        f"INSERT INTO {table} SELECT * FROM {table}",
        f"UPDATE {table} SET symbol = 'NSE_EQ|INE000X00000'",
        f"DELETE FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table} ADD COLUMN pwned TEXT",
        "CREATE TABLE pwned (x)",
        "PRAGMA user_version = 999",
        "VACUUM",
    ]


def test_the_scanner_views_connections_refuse_every_write(tmp_path: Path) -> None:
    with live_stores(tmp_path, keep_writers_open=True):
        before = snapshot_files(tmp_path)
        with ScannerView(tmp_path, clock=clock()) as view:
            assert view.refresh().errors == {}
            assert not view.drawer(SYM, STRATEGY)["candles"].empty
            readers = view.open_readers()
            assert set(readers) == set(TABLES)
            for key, reader in readers.items():
                conn = reader.connection
                # query_only refuses first; with it switched off, mode=ro still refuses.
                for query_only in ("ON", "OFF"):
                    conn.execute(f"PRAGMA query_only = {query_only}")
                    for sql in write_attempts(TABLES[key]):
                        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
                            conn.execute(sql)
                assert not reader.in_transaction()
            assert view.refresh().errors == {}  # the failed writes broke nothing
        assert snapshot_files(tmp_path) == before


@pytest.mark.parametrize("writers_open", [True, False], ids=["while-writing", "at-rest"])
def test_dashboard_refreshes_leave_every_store_file_unchanged(
    tmp_path: Path, writers_open: bool
) -> None:
    with live_stores(tmp_path, keep_writers_open=writers_open) as paths:
        before = snapshot_files(tmp_path)
        board = Dashboard(tmp_path, health_port=9, refresh_s=0.05, clock=clock())

        async def run_the_page() -> None:
            board.start()  # the refresh loops, as under Voilà
            await asyncio.sleep(0.5)
            board.row.value = f"{SYM} · {STRATEGY}"  # open the drawer too
            await asyncio.sleep(2.5)  # the health panel refreshes every 2 s
            board.stop()

        asyncio.run(run_the_page())
        assert board.counters.failures == 0 and board.counters.refreshes >= 20
        assert board.counters.health is not None
        assert board.counters.health["runner_state_count"] == 1
        assert 'id="pixity-drawer-signals"' in board.signals.value
        after = snapshot_files(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    # At rest, opening a WAL store read-only makes SQLite create an empty -wal beside it.
    created = {Path(tmp_path, k) for k in set(after) - set(before)}
    assert all(p.name.endswith(".db-wal") and p.stat().st_size == 0 for p in created), created
    with MarketReader(paths.market) as reader:
        assert len(reader.bars_1m()) == 41


# ------------------------------------------------------------------ no token anywhere


def _get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def _fetch_when_up(url: str, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get(url, timeout=max(1.0, deadline - time.monotonic()))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def procs() -> Iterator[list[Spawned]]:
    started: list[Spawned] = []
    yield started
    for proc in reversed(started):
        proc.kill_tree()


@pytest.mark.slow
def test_the_access_token_appears_in_no_file_output_or_report(
    tmp_path: Path, procs: list[Spawned]
) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    out.mkdir()
    write_bars(data, SampleMarket(KEYS, seed=7).bars_frame([date(2025, 5, 30), date(2025, 6, 2)]))
    # A Jupyter config asking Voilà to serve every interface: the scanner must not listen there.
    jupyter_config = tmp_path / "jupyter-config"
    jupyter_config.mkdir()
    (jupyter_config / "voila.json").write_text(
        json.dumps({"Voila": {"ip": "0.0.0.0"}, "ServerApp": {"ip": "0.0.0.0"}})
    )
    env = {
        **os.environ,
        "UPSTOX_ACCESS_TOKEN": TOKEN,
        "JUPYTER_CONFIG_DIR": str(jupyter_config),
        # Kernels' connection files and IPython's history land under tmp_path, to be searched.
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    watch = ListenerWatch()
    debug = ["--log-level", "DEBUG"]  # the level at which headers and payloads get logged

    def spawn(name: str, *args: str) -> Spawned:
        proc = Spawned(name, args, out, env)
        procs.append(proc)
        return watch.watch(proc)

    fs = spawn("feed-server", "feed-server", "--symbols", *KEYS, "--port", "0", "--seed", "7",
               "--speed", "180", "--start", f"{FEED_DAY} 10:00", "--require-token", TOKEN,
               "--data-dir", str(tmp_path / "fs"), "--stats", str(tmp_path / "fs" / "stats.json"),
               "--record", str(tmp_path / "fs" / "sent.journal"), *debug)  # fmt: skip
    feed_url = fs.wait_for(r"(ws://127\.0\.0\.1:(\d+)/v3/feed/market-data-feed)", 60)
    watch.start()
    ingest = spawn("ingest", "ingest", "--feed", "upstox", "--feed-url", feed_url.group(1),
                   "--symbols", *KEYS, "--data-dir", str(data), "--health-port", "0", *debug)  # fmt: skip
    health_url = ingest.wait_for(r"(http://127\.0\.0\.1:(\d+))/health", 60)
    health_port = health_url.group(2)
    scanner_port = _free_port()
    scanner = spawn("scanner", "scanner", "--data-dir", str(data), "--port", str(scanner_port),
                    "--health-port", health_port, "--orphan-grace", "60", *debug)  # fmt: skip
    live = spawn("live", "live", "--mode", "paper", "--symbols", *KEYS, "--strategies",
                 "ref_ema_cross", "--max-capital", "100000", "--max-daily-loss", "5000",
                 "--data-dir", str(data), "--until", "10:45", *debug)  # fmt: skip
    page = _fetch_when_up(f"http://127.0.0.1:{scanner_port}/", timeout=60)
    assert b"pixity" in page
    assert live.wait(timeout=120) == 0, live.stderr_path.read_text()[-3000:]
    health_cmd = [sys.executable, "-m", "pixity", "health", "--json", "--data-dir", str(data),
                  "--health-port", health_port]  # fmt: skip
    health = subprocess.run(health_cmd, capture_output=True, env=env, timeout=30)
    report = json.loads(health.stdout)
    ingest_health = _get(f"{health_url.group(1)}/health", 5)
    metrics = _get(f"{health_url.group(1)}/metrics", 5)
    seen = watch.stop()
    for proc in (scanner, ingest, fs):
        assert proc.stop(timeout=30) == 0, (proc.name, proc.stderr_path.read_text()[-3000:])

    # The token was in use: the exchange admits only it, and the ingest got data through it.
    assert report["feed_connected"] is True and report["runner_state_count"] == 2
    with MarketReader(StorePaths(data).market) as reader:
        assert reader.count_ticks() > 0
    assert json.loads((tmp_path / "fs" / "stats.json").read_text()).get("auth_rejected", 0) == 0

    # Every listener of every process (kernels included) is on the loopback.
    assert seen and {x for x in seen if x.ip not in LOOPBACK} == set()
    by_command = {(x.command, x.port) for x in seen}
    assert ("feed-server", int(feed_url.group(2))) in by_command
    assert ("ingest", int(health_port)) in by_command
    assert ("scanner", scanner_port) in by_command
    # Papermill's kernel and the scanner's Voilà kernel were looked at too (ZMQ ports).
    assert any(x.command == "live" for x in seen)
    assert {x.port for x in seen if x.command == "scanner"} - {scanner_port}

    # No form of the token in any file, any output, the page or the health answers.
    forms = token_forms(TOKEN)
    files = [p for p in sorted(tmp_path.rglob("*")) if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.suffix == ".log" for p in files)
    found = {
        str(p.relative_to(tmp_path)): hit for p in files if (hit := leaks(p.read_bytes(), forms))
    }
    found |= {str(p): ["in its name"] for p in files if leaks(str(p).encode(), forms)}
    outputs = {
        "health stdout": health.stdout,
        "health stderr": health.stderr,
        "scanner page": page,
        "GET /health": ingest_health,
        "GET /metrics": metrics,
        "health report": json.dumps(report).encode(),
    }
    found |= {name: hit for name, blob in outputs.items() if (hit := leaks(blob, forms))}
    assert found == {}
