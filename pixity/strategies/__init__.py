"""Strategies: the interface and registry (``base``) and the built-in strategies."""

from pixity.strategies.base import (
    ClosedBarGate,
    Decision,
    StrategySpec,
    SymbolStrategy,
    available,
    get_strategy,
    quiet,
    register,
)

__all__ = [
    "ClosedBarGate",
    "Decision",
    "StrategySpec",
    "SymbolStrategy",
    "available",
    "get_strategy",
    "quiet",
    "register",
]
