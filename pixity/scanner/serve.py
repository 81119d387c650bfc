"""Serve ``notebooks/scanner.ipynb`` with Voilà on 127.0.0.1, one kernel per viewer.

Two things keep kernels from outliving their tabs (Voilà 0.5.13):
- the shutdown request a closing page sends is refused for a missing ``_xsrf`` argument
  (voila issue 1458); the server listens on the loopback only, so the xsrf check is turned off
  for it, and a closing tab's kernel is shut down at once;
- a kernel whose page went away without saying so (a crashed browser, a lost network) is still
  "active" to Voilà's idle culler, because the dashboard's own refresh loop counts as activity.
  ``ScannerVoila`` therefore shuts down any kernel that has had no websocket connection for
  ``orphan_grace_s`` seconds (the kernel model's public ``connections`` count).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.web import HTTPError
from voila.app import Voila

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "scanner.ipynb"
REAP_EVERY_S = 5.0


class ScannerVoila(Voila):  # type: ignore[misc]
    """Voilà plus a reaper of kernels that no page is connected to."""

    orphan_grace_s: float = 30.0

    def start(self) -> None:
        self._orphaned_since: dict[str, float] = {}
        PeriodicCallback(self._reap, REAP_EVERY_S * 1000).start()
        super().start()

    async def _reap(self) -> None:
        manager: Any = self.kernel_manager
        now = time.monotonic()
        live = set(manager.list_kernel_ids())
        for kernel_id in list(self._orphaned_since):
            if kernel_id not in live:
                del self._orphaned_since[kernel_id]
        for kernel_id in live:
            try:
                connections = int(manager.kernel_model(kernel_id).get("connections", 0))
            except HTTPError:  # shut down between the listing and the look: nothing to reap
                log.debug("kernel %s went away while reaping", kernel_id)
                continue
            if connections:
                self._orphaned_since.pop(kernel_id, None)
                continue
            since = self._orphaned_since.setdefault(kernel_id, now)
            if now - since >= self.orphan_grace_s:
                log.info(
                    "shutting down kernel %s: no page connected for %.0f s", kernel_id, now - since
                )
                self._orphaned_since.pop(kernel_id, None)
                await manager.shutdown_kernel(kernel_id)


def voila_argv(port: int) -> list[str]:
    """Return Voilà's arguments: loopback only, xsrf off there, kernels culled when idle."""
    return [
        str(NOTEBOOK),
        f"--port={port}",
        "--Voila.port_retries=0",
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        "--Voila.tornado_settings={'xsrf_cookies': False, 'disable_check_xsrf': True}",
        "--MappingKernelManager.cull_idle_timeout=600",
        "--MappingKernelManager.cull_interval=30",
    ]


def serve(port: int, *, orphan_grace_s: float = 30.0) -> None:
    """Run the scanner server until interrupted."""
    ScannerVoila.orphan_grace_s = orphan_grace_s
    app = ScannerVoila()
    app.initialize(voila_argv(port))
    app.start()
