"""The local exchange as a companion script: same flags as ``pixity feed-server``."""

import sys

from pixity.cli import main

raise SystemExit(main(["feed-server", *sys.argv[1:]]))
