"""What every test of the reliability suite shares: the soak switch and how figures are kept."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# `make soak` (PIXITY_SOAK=1) runs the full versions; `make test` the short ones.
SOAK = os.environ.get("PIXITY_SOAK") == "1"


def record(tmp: Path, name: str, figures: dict[str, Any]) -> None:
    """Print the figures (RELIABILITY.md takes them from a PIXITY_SOAK=1 run) and keep a copy."""
    print(f"\n{name}: {json.dumps(figures, sort_keys=True)}")
    (tmp / f"{name}.json").write_text(json.dumps(figures, sort_keys=True))
