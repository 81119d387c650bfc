"""The health server: ``GET /health`` (JSON) and ``GET /metrics`` (Prometheus) on loopback.

A ``ThreadingHTTPServer`` in a daemon thread: a slow client never stalls the ingest loop, and
each connection has a socket timeout.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pixity.errors import ConfigError
from pixity.ingest.health import IngestHealth
from pixity.ingest.metrics import build_registry, render

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HealthServer:
    """Serve one ingest's health on ``host:port`` (port 0 = any free port)."""

    def __init__(self, health: IngestHealth, *, host: str = "127.0.0.1", port: int = 8766) -> None:
        _require_loopback(host)
        registry = build_registry(health)

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S

            def do_GET(self) -> None:
                try:
                    self._route(self.path.split("?", 1)[0])
                except Exception as exc:  # the server's I/O boundary: log, answer 500
                    log.error("health server: GET %s failed: %s", self.path, exc, exc_info=True)
                    body = json.dumps({"status": "down", "health_error": str(exc)}).encode()
                    self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "application/json", body)

            def _route(self, path: str) -> None:
                if path == "/health":
                    body = json.dumps(health.snapshot(), sort_keys=True).encode()
                    self._send(HTTPStatus.OK, "application/json", body)
                elif path == "/metrics":
                    self._send(HTTPStatus.OK, PROMETHEUS_TYPE, render(registry))
                else:
                    self._send(HTTPStatus.NOT_FOUND, "text/plain", b"try /health or /metrics\n")

            def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("health server: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve health on {host}:{port}: {exc}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ingest-health", daemon=True
        )

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:8766``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=REQUEST_TIMEOUT_S)


def _require_loopback(host: str) -> None:
    """Refuse a non-loopback ``host``: /health and /metrics take no token, so nobody else may ask."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        loopback = False
    if not loopback:
        raise ConfigError(
            f"health server host {host!r} is not loopback: /health and /metrics have no "
            "token, so they are served on 127.0.0.1 only"
        )
