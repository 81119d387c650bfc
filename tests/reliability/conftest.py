"""The reliability suite runs pixity's commands with the e2e tests' process runner (procs)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
