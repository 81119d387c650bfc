"""The live paper session: the engine, its stores, and what the notebook calls."""

from pixity.live import report
from pixity.live.config import SessionConfig
from pixity.live.session import SessionResult, run_session, setup_logging

__all__ = ["SessionConfig", "SessionResult", "report", "run_session", "setup_logging"]
