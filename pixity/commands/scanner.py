"""``pixity scanner``: the read-only dashboard (``notebooks/scanner.ipynb`` under Voilà)."""

from __future__ import annotations

import argparse
import os
import socket

from pixity.commands.common import add_common, bounded
from pixity.errors import ConfigError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``scanner``."""
    parser = commands.add_parser("scanner", help="the live dashboard (Voilà, 127.0.0.1)")
    add_common(parser)
    parser.add_argument("--port", type=bounded(int, 1, 65535), default=8866)
    parser.add_argument(
        "--health-port", type=bounded(int, 1, 65535), default=8766,
        help="the ingest's health port, for the health panel (default 8766)",
    )  # fmt: skip
    parser.add_argument(
        "--orphan-grace", type=bounded(float, 5, 3600), default=30.0,
        help="seconds a kernel may live with no page connected (default 30)",
    )  # fmt: skip
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    port = int(args.port)
    with socket.socket() as probe:  # a clear message instead of Voilà's own port hunting
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(f"port {port} on 127.0.0.1 is in use: pass --port") from None
    os.environ["PIXITY_DATA_DIR"] = str(args.data_dir.resolve())
    os.environ["PIXITY_HEALTH_PORT"] = str(int(args.health_port))
    from pixity.scanner.serve import serve

    print(f"scanner: http://127.0.0.1:{port}/  (read-only; Ctrl-C stops it)", flush=True)
    serve(port, orphan_grace_s=float(args.orphan_grace))
    return 0
