"""``pixity health`` through ``pixity.cli.main``: exit codes, the summary and ``--json``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import pytest
from health_support import HEALTHY_INGEST, canned_ingest, free_port, write_all

from pixity.cli import main
from pixity.stores import StorePaths

TOKEN = "eyJ0eXAiOiJKV1Qi.health-test-token.Zm9v"


@contextmanager
def ingest_up() -> Iterator[int]:
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        yield port


def ingest_down() -> AbstractContextManager[int]:
    return nullcontext(free_port())


def fresh_stores(data_dir: Path) -> None:
    # The command runs on the wall clock: the runners were updated just now.
    write_all(StorePaths(data_dir), runner_update=datetime.now(UTC))


def no_stores(data_dir: Path) -> None:
    pass


SETUPS: dict[str, tuple[Callable[[Path], None], Callable[[], AbstractContextManager[int]]]] = {
    "ok": (fresh_stores, ingest_up),
    "degraded": (fresh_stores, ingest_down),
    "down": (no_stores, ingest_down),
}


@pytest.mark.parametrize(("status", "code"), [("ok", 0), ("degraded", 1), ("down", 2)])
def test_exit_code_and_json_follow_the_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str, code: int
) -> None:
    stores, ingest = SETUPS[status]
    stores(tmp_path)
    with ingest() as port:
        args = ["health", "--data-dir", str(tmp_path), "--health-port", str(port)]
        assert main([*args, "--json"]) == code
        out = capsys.readouterr().out
        assert main(args) == code
        summary = capsys.readouterr().out
    report = json.loads(out)
    assert report["status"] == status
    assert out == json.dumps(report, sort_keys=True, indent=2) + "\n"
    assert (report["reasons"] == []) is (status == "ok")
    assert summary.splitlines()[0].startswith(f"status:  {status.upper()}")
    for reason in report["reasons"]:
        assert f"  - {reason}" in summary


def test_the_summary_has_one_line_per_area(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_stores(tmp_path)
    with ingest_up() as port:
        assert main(["health", "--data-dir", str(tmp_path), "--health-port", str(port)]) == 0
    lines = capsys.readouterr().out.splitlines()
    areas = [line.split(":", 1)[0] for line in lines]
    assert areas == ["status", "ingest", "market", "session", "runners", "signals", "paper"]
    assert "37.5 ticks/s" in lines[1] and "bad_price 1, stale_ltt 3" in lines[1]
    assert lines[3].startswith("session: 2025-06-02 RUNNING, run t1: 90 1m and 12 15m bars, 0 late")
    assert lines[3].endswith("store WALs none")  # every writer has closed: no WAL left
    assert "2 runners (RUNNING 2)" in lines[4]


def test_the_token_never_reaches_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTOX_ACCESS_TOKEN", TOKEN)
    fresh_stores(tmp_path)
    # An ingest that (wrongly) echoes the token in an error must not get it printed.
    leaky = {**HEALTHY_INGEST, "feed_error": f"rejected token {TOKEN} (401)"}
    with canned_ingest(leaky) as (port, _):
        args = ["health", "--data-dir", str(tmp_path), "--health-port", str(port)]
        main([*args, "--json"])
        main(args)
    captured = capsys.readouterr()
    assert TOKEN not in captured.out and TOKEN not in captured.err
    assert (
        json.loads(captured.out.split("\nstatus:")[0])["feed_error"] == "rejected token *** (401)"
    )


def test_a_bad_port_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["health", "--health-port", "70000"])
    assert stopped.value.code == 2
    assert "70000" in capsys.readouterr().err
