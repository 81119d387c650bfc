"""Companion script: ``python runners/ingest.py --feed upstox --symbols ...`` = ``pixity ingest``."""

import sys

from pixity.cli import main

raise SystemExit(main(["ingest", *sys.argv[1:]]))
