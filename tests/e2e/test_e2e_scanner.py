"""The scanner in a real headless Chromium, over a running feed-server, ingest and live session.

Chromium and its driver come from Debian's packages (``make test`` installs them). The test
saves a screenshot of the page to ``artifacts/scanner.png``.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from procs import Proc, poll, running

from pixity.sample import SampleMarket
from pixity.stores.lake import write_bars

pytestmark = pytest.mark.slow
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

KEYS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
need_browser = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="Debian's chromium and chromium-driver are missing: `make test` installs them",
)


def browser() -> object:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--window-size=1400,1300",
        f"--user-data-dir={tempfile.mkdtemp(prefix='pixity-chromium-')}",
    ):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_scanner(tmp: Path, data: Path, health_port: int) -> tuple[Proc, str]:
    port = free_port()
    args = ["scanner", "--data-dir", str(data), "--port", str(port),
            "--health-port", str(health_port), "--orphan-grace", "10"]  # fmt: skip
    proc = Proc(args, tmp / "scanner.log")
    url = proc.wait_for(r"(http://127\.0\.0\.1:\d+/)", timeout=60).group(1)
    poll(lambda: "Voilà is running" in "".join(proc.lines), timeout=60, what="voila up")
    return proc, url


# The page's HTML widgets are replaced every refresh: read them in one script call each, so no
# element goes stale between finding it and reading it.
ROWS_JS = """return Array.from(document.querySelectorAll('#pixity-overview tr.pixity-row')).map(
  tr => [tr.dataset.symbol, Object.fromEntries(Array.from(tr.cells).map(
    td => [td.className.replace('pixity-', ''), td.textContent]))]);"""
TEXTS_JS = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent);"
LIGHT_JS = "const e = document.getElementById('pixity-health-light'); return e ? e.className : '';"


def rows(driver: object) -> dict[str, dict[str, str]]:
    """Return the overview's rows by symbol: column -> text."""
    return {symbol: cells for symbol, cells in driver.execute_script(ROWS_JS)}  # type: ignore[attr-defined]


def texts(driver: object, css: str) -> list[str]:
    return list(driver.execute_script(TEXTS_JS, css))  # type: ignore[attr-defined]


def light(driver: object) -> str:
    return str(driver.execute_script(LIGHT_JS))  # type: ignore[attr-defined]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[Path, Proc, int]]:
    data = tmp_path / "data"
    write_bars(data, SampleMarket(KEYS, seed=7).bars_frame([date(2025, 5, 30), date(2025, 6, 2)]))
    fs_args = ["feed-server", "--symbols", *KEYS, "--port", "0", "--seed", "7", "--speed", "120",
               "--start", "2025-06-03 10:00", "--data-dir", str(tmp_path / "fs")]  # fmt: skip
    with running(fs_args, tmp_path / "fs.log") as fs:
        url = fs.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)").group(1)
        ingest_args = ["ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
                       "--data-dir", str(data), "--health-port", "0"]  # fmt: skip
        with running(ingest_args, tmp_path / "ingest.log") as ingest:
            health = ingest.wait_for(r"http://127\.0\.0\.1:(\d+)/health")
            live_args = ["live", "--mode", "paper", "--symbols", *KEYS, "--strategies",
                         "ref_ema_cross", "--data-dir", str(data)]  # fmt: skip
            with running(live_args, tmp_path / "live.log"):
                yield data, ingest, int(health.group(1))


@need_browser
def test_scanner_shows_runners_signals_and_health(system: tuple[Path, Proc, int], tmp_path: Path) -> None:  # fmt: skip
    data, ingest, health_port = system
    scanner, url = start_scanner(tmp_path, data, health_port)
    driver = browser()
    try:
        driver.get(url)
        running_rows = poll(
            lambda: (r := rows(driver)) and set(r) == set(KEYS)
            and all(v["status"] == "RUNNING" and v["timeframe"] == "15m" for v in r.values()) and r,
            timeout=90, what="both keys RUNNING on 15m",
        )  # fmt: skip
        first_bar = {k: v["last_bar_ts"] for k, v in running_rows.items()}
        poll(lambda: all(rows(driver)[k]["last_bar_ts"] > first_bar[k] for k in KEYS),
             timeout=60, what="last_bar_ts advancing")  # fmt: skip
        poll(lambda: light(driver) == "pixity-light-ok", timeout=30, what="health light green")
        signalled = poll(
            lambda: next((k for k, v in rows(driver).items() if v["last_signal"] not in ("", "–")), None),
            timeout=120, what="a signal in the table",
        )  # fmt: skip

        # The table and the row picker are two widgets: the browser may show one refresh's
        # table before the same refresh's options reach the picker.
        def picker_option() -> str | None:
            picker = Select(driver.find_element(By.CSS_SELECTOR, ".pixity-row-select select"))
            return next((o.text for o in picker.options if o.text.startswith(signalled)), None)

        option = poll(picker_option, timeout=30, what=f"{signalled} among the row picker's options")
        select = Select(driver.find_element(By.CSS_SELECTOR, ".pixity-row-select select"))
        select.select_by_visible_text(option)
        cells = poll(
            lambda: texts(driver, "#pixity-drawer-signals td.pixity-bar_ts"),
            timeout=30, what="the drawer's signals",
        )  # fmt: skip
        assert re.fullmatch(r"2025-06-03 \d\d:(00|15|30|45):00\+0530", cells[0])
        assert texts(driver, "#pixity-chart rect") is not None
        assert poll(lambda: driver.execute_script("return document.querySelectorAll('#pixity-chart rect').length"), timeout=10, what="candles")  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "scanner.png"))
        ingest.popen.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        poll(lambda: light(driver) in ("pixity-light-degraded", "pixity-light-down"),
             timeout=10, what="health light red after the ingest stopped")  # fmt: skip
        assert time.monotonic() - stopped <= 10
        assert "Traceback" not in driver.page_source
    finally:
        driver.quit()
        scanner.stop()


def kernels_of(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "ipykernel_launcher"],
                           capture_output=True, text=True, timeout=10)  # fmt: skip
    return [int(p) for p in found.stdout.split()]


@need_browser
def test_closing_tabs_gives_their_kernels_back(tmp_path: Path) -> None:
    scanner, url = start_scanner(tmp_path, tmp_path / "empty-data", 9)
    driver = browser()
    try:
        before = len(kernels_of(scanner.popen.pid))
        for _ in range(10):
            driver.get(url)
            notes = poll(lambda: " ".join(texts(driver, "#pixity-notes li")),
                         timeout=60, what="the page's notes")  # fmt: skip
            assert "pixity ingest" in notes or "pixity live" in notes  # says what to start
            driver.get("about:blank")  # the tab closes the page: its kernel is asked to go
        poll(lambda: len(kernels_of(scanner.popen.pid)) <= before, timeout=30,
             what=f"kernels back to {before}")  # fmt: skip
    finally:
        driver.quit()
        scanner.stop()
