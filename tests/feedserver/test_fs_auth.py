"""Bearer tokens, the authorize endpoint and its one-time redirect URI."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from fs_support import SYMS, client, frames, n_quotes, running, sub
from websockets.exceptions import InvalidStatus

from pixity.feeds.upstox_wire import FrameKind


def _get(url: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_authorize_returns_upstox_json_and_the_redirect_uri_works_once() -> None:
    async def go() -> None:
        async with running(speed=60) as server:
            http = server.url.replace("ws://", "http://") + "/authorize"
            status, body = await asyncio.to_thread(_get, http, "tok")
            assert status == 200 and body["status"] == "success"
            uri = body["data"]["authorizedRedirectUri"]
            assert uri.startswith(f"ws://127.0.0.1:{server.port}/v3/feed/market-data-feed?code=")
            ws = await client(server, token=None, url=uri)  # no Authorization header
            await sub(ws, [SYMS[0]])
            got = await frames(ws, n_quotes(1))
            assert got[0].kind is FrameKind.MARKET_INFO
            await ws.close()
            with pytest.raises(InvalidStatus) as refused:
                await client(server, token=None, url=uri)  # the code was used up
            assert refused.value.response.status_code == 401
            status, body = await asyncio.to_thread(_get, http, None)
            assert status == 401 and body["status"] == "error" and body["errors"]

    asyncio.run(go())


def test_require_token_refuses_other_tokens_with_401() -> None:
    async def go() -> None:
        async with running(require_token="sekret") as server:
            with pytest.raises(InvalidStatus) as refused:
                await client(server, token="wrong")
            assert refused.value.response.status_code == 401
            with pytest.raises(InvalidStatus):
                await client(server, token=None)
            ws = await client(server, token="sekret")
            await ws.close()
            http = server.url.replace("ws://", "http://") + "/authorize"
            status, _ = await asyncio.to_thread(_get, http, "wrong")
            assert status == 401
            assert server.counts["auth_rejected"] == 3

    asyncio.run(go())
